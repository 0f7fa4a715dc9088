"""asteroid ConvTasNet files, loaded without asteroid, against outputs of real asteroid.

The fixtures in tests/data were written by real asteroid 0.7.0 (see tests/data/make_asteroid_fixture.py).
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from meetsep.loading.asteroid_convtasnet import load_asteroid_convtasnet
from meetsep.loading.sepmodels import load_separation_model

DATA = Path(__file__).resolve().parents[1] / "data"
CHECKPOINT = DATA / "asteroid_convtasnet_tiny.pth"
OUTPUTS = DATA / "asteroid_convtasnet_tiny.npz"


def read_checkpoint() -> dict:
    from torch.torch_version import TorchVersion

    with torch.serialization.safe_globals([TorchVersion]):
        return torch.load(CHECKPOINT, map_location="cpu", weights_only=True)


def write(path: Path, conf: object) -> Path:
    torch.save(conf, path)
    return path


@pytest.mark.parametrize("name", ["even", "odd", "single"])
def test_reproduces_asteroids_output(name):
    """Batched input of a length that is a multiple of the stride, one that is not (asteroid right-pads
    the decoded signal to the input length), and 1-D input (asteroid returns ``(n_src, time)``)."""
    reference = np.load(OUTPUTS)
    model = load_separation_model(CHECKPOINT)
    with torch.inference_mode():
        ours = model.net(torch.from_numpy(reference[f"{name}_input"])).numpy()
    assert ours.shape == reference[f"{name}_output"].shape
    np.testing.assert_allclose(ours, reference[f"{name}_output"], atol=1e-5, rtol=0)


def test_reads_rate_and_sources_and_separates_at_the_callers_rate():
    model = load_separation_model(CHECKPOINT)
    assert (model.sample_rate, model.num_sources, model.source) == (16000, 2, str(CHECKPOINT))
    reference = np.load(OUTPUTS)
    mixture = reference["odd_input"][0]
    np.testing.assert_allclose(model.separate(mixture, 16000), reference["odd_output"][0], atol=1e-5, rtol=0)
    assert model.separate(mixture[:800], 8000).shape == (2, 800)


def test_checkpoint_holds_only_plain_data_and_a_torch_version_string():
    """serialize() stores ``torch.__version__`` (a TorchVersion), the one non-default class allowed."""
    with pytest.raises(pickle.UnpicklingError):
        torch.load(CHECKPOINT, map_location="cpu", weights_only=True)
    conf = read_checkpoint()
    assert conf["model_name"] == "ConvTasNet" and conf["model_args"]["fb_name"] == "FreeFB"
    assert conf["infos"]["software_versions"]["asteroid_version"] == "0.7.0"


def test_missing_sample_rate_defaults_to_8k_and_lightning_layout_loads(tmp_path):
    conf = read_checkpoint()
    args = dict(conf["model_args"])
    del args["sample_rate"]
    _, rate, sources = load_asteroid_convtasnet(write(tmp_path / "old.pth", {**conf, "model_args": args}))
    assert (rate, sources) == (8000, 2)

    # asteroid's System checkpoint: "model."-prefixed weights, the recipe config under training_config.
    model_args = conf["model_args"]
    config = {
        "filterbank": {k: model_args[k] for k in ("n_filters", "kernel_size", "stride")},
        "masknet": {
            k: model_args[k] for k in ("n_blocks", "n_repeats", "bn_chan", "hid_chan", "skip_chan", "mask_act")
        },
        "data": {"sample_rate": 16000, "n_src": 2},
    }
    state = {f"model.{k}": v for k, v in conf["state_dict"].items()}
    path = write(tmp_path / "epoch=1.ckpt", {"state_dict": state, "training_config": config, "epoch": 1})
    module, rate, sources = load_asteroid_convtasnet(path)
    reference = np.load(OUTPUTS)
    with torch.inference_mode():
        ours = module(torch.from_numpy(reference["even_input"])).numpy()
    assert (rate, sources) == (16000, 2)
    np.testing.assert_allclose(ours, reference["even_output"], atol=1e-5, rtol=0)


CALLED: list[str] = []


def _record_call() -> None:
    CALLED.append("unpickled code ran")


class Payload:
    def __reduce__(self):
        return (_record_call, ())


def test_pickled_code_is_refused_without_running(tmp_path):
    conf = read_checkpoint()
    path = write(tmp_path / "evil.pth", {**conf, "infos": Payload()})
    with pytest.raises(ValueError, match="^" + re.escape(f"{path}: not a safe torch checkpoint (")) as error:
        load_separation_model(path)
    assert "\n" not in str(error.value) and CALLED == []


@pytest.mark.parametrize(
    "content, message",
    [
        (b"not a torch file at all", "not a safe torch checkpoint"),
        ([1, 2, 3], "not an asteroid checkpoint"),
        ({"state_dict": {}}, "not an asteroid checkpoint (needs 'model_args' and 'state_dict'"),
        ({"model_args": {"n_src": 2}}, "not an asteroid checkpoint (needs 'model_args' and 'state_dict'"),
    ],
)
def test_non_checkpoints_are_refused(tmp_path, content, message):
    path = tmp_path / "model.pth"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        write(path, content)
    with pytest.raises(ValueError, match="^" + re.escape(f"{path}: {message}")) as error:
        load_asteroid_convtasnet(path)
    assert "\n" not in str(error.value)


def test_state_dict_that_does_not_fit_is_refused(tmp_path):
    conf = read_checkpoint()
    wrong_size = write(tmp_path / "wide.pth", {**conf, "model_args": {**conf["model_args"], "hid_chan": 32}})
    missing = dict(conf["state_dict"])
    del missing["masker.mask_net.1.bias"]
    incomplete = write(tmp_path / "incomplete.pth", {**conf, "state_dict": missing})
    for path in (wrong_size, incomplete):
        with pytest.raises(
            ValueError, match="^" + re.escape(f"{path}: state_dict does not fit its model_args (")
        ) as error:
            load_separation_model(path)
        assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"fb_name": "stft"}, "filterbank 'stft' is not supported"),
        ({"norm_type": "wLN"}, "norm_type 'wLN' is not supported"),
        ({"mask_act": "mish"}, "mask_act 'mish' is not supported"),
        ({"who_is_pinv": "decoder"}, "pseudo-inverse filterbanks"),
    ],
)
def test_unsupported_options_are_refused(tmp_path, change, message):
    conf = read_checkpoint()
    path = write(tmp_path / "model.pth", {**conf, "model_args": {**conf["model_args"], **change}})
    with pytest.raises(ValueError, match="^" + re.escape(f"{path}: {message}")):
        load_separation_model(path)


def test_other_asteroid_models_are_refused(tmp_path):
    conf = read_checkpoint()
    path = write(tmp_path / "dprnn.pth", {**conf, "model_name": "DPRNNTasNet"})
    with pytest.raises(ValueError, match="^" + re.escape(f"{path}: asteroid model 'DPRNNTasNet' is not supported")):
        load_separation_model(path)
