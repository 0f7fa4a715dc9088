"""Separation models: SpeechBrain folder layout, safe loading, the shipped checkpoint, training resume."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from meetsep.loading.models import find_model, load_separation, resolve_model
from meetsep.loading.sepmodels import (
    build_modules,
    convtasnet_hparams,
    convtasnet_yaml,
    load_separation_model,
    save_speechbrain_folder,
)

ROOT = Path(__file__).resolve().parents[2]

TINY = convtasnet_hparams(N=16, B=8, H=16, X=2, R=1, kernel_size=16)


def tiny_folder(folder: Path, seed: int = 0, **changes) -> Path:
    torch.manual_seed(seed)
    yaml_text = convtasnet_yaml({**TINY, **changes})
    _, modules = build_modules(yaml_text)
    return save_speechbrain_folder(folder, yaml_text, modules)


def test_speechbrain_folder_round_trip_matches_speechbrains_own_loader(tmp_path):
    from speechbrain.inference.separation import SepformerSeparation

    folder = tiny_folder(tmp_path / "model")
    assert sorted(p.name for p in folder.iterdir()) == [
        "decoder.ckpt",
        "encoder.ckpt",
        "hyperparams.yaml",
        "masknet.ckpt",
    ]
    ours = load_separation_model(folder)
    mixture = np.random.default_rng(0).standard_normal(8000).astype(np.float32) * 0.1
    separated = ours.separate(mixture, 16000)
    assert separated.shape == (2, 8000) and ours.sample_rate == 16000
    theirs = SepformerSeparation.from_hparams(source=str(folder), savedir=str(tmp_path / "sb"))
    with torch.inference_mode():
        reference = theirs.separate_batch(torch.from_numpy(mixture)[None])[0].numpy().T
    np.testing.assert_allclose(separated, reference, atol=1e-5)


def test_8khz_model_is_resampled_around(tmp_path):
    model = load_separation_model(tiny_folder(tmp_path / "m8", sample_rate=8000))
    assert model.sample_rate == 8000
    assert model.separate(np.zeros(16000, dtype=np.float32) + 0.01, 16000).shape == (2, 16000)


def test_unsafe_hyperparams_are_refused_before_anything_runs(tmp_path):
    folder = tiny_folder(tmp_path / "evil")
    marker = tmp_path / "pwned"
    text = (folder / "hyperparams.yaml").read_text()
    (folder / "hyperparams.yaml").write_text(text + f"\nboom: !apply:os.system ['touch {marker}']\n")
    with pytest.raises(ValueError, match="os.system"):  # a ModelFileError (tests/security has every payload)
        load_separation_model(folder)
    assert not marker.exists()


def test_pickled_code_in_a_checkpoint_is_refused(tmp_path):
    folder = tiny_folder(tmp_path / "evil")

    class Payload:
        def __reduce__(self):
            return (print, ("ran",))

    torch.save({"weight": Payload()}, folder / "decoder.ckpt")
    with pytest.raises(ValueError, match="decoder.ckpt: not a safe state dict"):
        load_separation_model(folder)


def test_mismatched_checkpoint_and_missing_files_are_clear_errors(tmp_path):
    folder = tiny_folder(tmp_path / "a")
    other = tiny_folder(tmp_path / "b", N=32)
    (folder / "masknet.ckpt").write_bytes((other / "masknet.ckpt").read_bytes())
    with pytest.raises(ValueError, match="masknet.ckpt: does not fit hyperparams.yaml"):
        load_separation_model(folder)
    (folder / "encoder.ckpt").unlink()
    with pytest.raises(ValueError, match="encoder.ckpt is missing"):
        load_separation_model(folder)
    with pytest.raises(ValueError, match="no such separation model"):
        load_separation_model(tmp_path / "nothing")


@pytest.mark.integration
def test_shipped_checkpoint_is_found_and_separates():
    found = find_model("convtasnet-16k")
    assert found is not None and found.source == "package", found
    assert found.size_bytes < 8_000_000
    model = load_separation(resolve_model("convtasnet-16k", "separation"))
    assert model.sample_rate == 16000 and model.num_sources == 2


@pytest.mark.integration
def test_shipped_checkpoint_loads_as_data_with_the_outputs_hyperpyyaml_gives():
    """The shipped folder goes through the safe loader; HyperPyYAML (trust_model_code) builds the same network."""
    folder = resolve_model("convtasnet-16k", "separation").path
    mixture = np.random.default_rng(2).standard_normal(24000).astype(np.float32) * 0.1
    safe = load_separation_model(folder).separate(mixture, 16000)
    trusted = load_separation_model(folder, trust_model_code=True).separate(mixture, 16000)
    assert np.array_equal(safe, trusted)


# The smallest training run of pipelines/train_separator.py: two voices, one sentence, two rooms,
# half-second mixtures, and a tiny Conv-TasNet.
TINY_RUN = ["--voices", "2", "--sentences", "1", "--variants", "1", "--rooms", "2", "--seconds", "0.5",
            "--batch", "2", "--valid-every", "0", "--save-every", "1", "--threads", "1", "--quiet"]  # fmt: skip
TINY_NET = ["--N", "16", "--B", "8", "--H", "16", "--X", "2", "--R", "1", "--kernel", "16"]  # fmt: skip


def train(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    """``pipelines/train_separator.py ARGS`` in a new process, with this checkout's meetsep."""
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    command = [sys.executable, str(ROOT / "pipelines" / "train_separator.py"), *args]
    result = subprocess.run(command, capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=path))
    assert not check or result.returncode == 0, result.stderr[-2000:]
    return result


def checkpoint(out: Path) -> dict:
    return torch.load(out / "checkpoint.pt", weights_only=True)


def test_training_resumes_where_it_stopped_and_matches_an_uninterrupted_run(tmp_path):
    common = [*TINY_RUN, *TINY_NET]
    train("--out", str(tmp_path / "a"), "--steps", "4", *common)
    train("--out", str(tmp_path / "b"), "--steps", "2", *common)
    train("--out", str(tmp_path / "b"), "--steps", "4", *common)
    straight, resumed = checkpoint(tmp_path / "a"), checkpoint(tmp_path / "b")
    assert straight["step"] == resumed["step"] == 4
    for name, tensor in straight["model"].items():
        assert torch.equal(tensor, resumed["model"][name]), name


def test_a_cached_corpus_and_batch_workers_train_exactly_as_the_run_that_made_the_cache(tmp_path):
    common = [*TINY_RUN, "--corpus", str(tmp_path / "corpus"), *TINY_NET, "--steps", "3"]
    train("--out", str(tmp_path / "a"), *common)
    assert sorted(p.name for p in (tmp_path / "corpus").iterdir()) == ["train.flac", "train.npz"]
    train("--out", str(tmp_path / "b"), "--workers", "2", *common)
    made, cached = checkpoint(tmp_path / "a"), checkpoint(tmp_path / "b")
    for name, tensor in made["model"].items():
        assert torch.equal(tensor, cached["model"][name]), name
    refused = train("--out", str(tmp_path / "c"), *common, "--rooms", "3", check=False)
    assert refused.returncode == 1 and refused.stderr.strip().endswith(
        "was made from another recipe; delete it or use another --corpus folder"
    )


def test_separate_command_writes_streams_and_rejects_bad_input(tmp_path, tts):
    import soundfile as sf
    from click.testing import CliRunner

    from meetsep.cli.commands import cli

    mix = tts("Please remember to book the large meeting room.", "awb")
    other = tts("The workshop is on Tuesday.", "slt")
    mix[: len(other)] += other
    sf.write(str(tmp_path / "two.wav"), mix, 16000)
    result = CliRunner().invoke(
        cli, ["separate", str(tmp_path / "two.wav"), "--out", str(tmp_path / "out"), "--start", "0.5", "--end", "2.0"]
    )
    assert result.exit_code == 0, result.output
    lengths = [len(sf.read(str(tmp_path / "out" / f"two.s{i}.wav"))[0]) for i in (1, 2)]
    assert lengths == [24000, 24000]
    (tmp_path / "bad.wav").write_bytes(b"RIFF0000WAVEfmt nonsense")
    result = CliRunner().invoke(cli, ["separate", str(tmp_path / "bad.wav"), "--out", str(tmp_path / "out2")])
    assert result.exit_code == 1 and "bad.wav" in result.output and len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "out2").exists() or not list((tmp_path / "out2").iterdir())
