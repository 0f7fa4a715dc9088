"""SpeechBrain hyperparameters as data: references, the allow-list, and modules equal to HyperPyYAML's."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from meetsep.core.errors import ModelFileError
from meetsep.loading.sepmodels import build_modules, load_separation_model, save_speechbrain_folder
from meetsep.loading.speechbrain_yaml import New, Ref, read_hyperparams, resolve

# The layout of speechbrain/sepformer-whamr16k's hyperparams.yaml, shrunk: a dual-path transformer
# masknet whose blocks are referenced, and arithmetic and text in !ref.
SEPFORMER = """\
sample_rate: 16000
num_spks: 2
N_encoder_out: 16
out_channels: 16
kernel_size: 16
Encoder: !new:speechbrain.lobes.models.dual_path.Encoder
    kernel_size: !ref <kernel_size>
    out_channels: !ref <N_encoder_out>
SBtfintra: !new:speechbrain.lobes.models.dual_path.SBTransformerBlock
    num_layers: 1
    d_model: !ref <out_channels>
    nhead: 2
    d_ffn: 32
    dropout: 0
    use_positional_encoding: True
    norm_before: True
SBtfinter: !new:speechbrain.lobes.models.dual_path.SBTransformerBlock
    num_layers: 1
    d_model: !ref <out_channels>
    nhead: 2
    d_ffn: 32
    dropout: 0
    use_positional_encoding: True
    norm_before: True
MaskNet: !new:speechbrain.lobes.models.dual_path.Dual_Path_Model
    num_spks: !ref <num_spks>
    in_channels: !ref <N_encoder_out>
    out_channels: !ref <out_channels>
    num_layers: 1
    K: 25
    intra_model: !ref <SBtfintra>
    inter_model: !ref <SBtfinter>
    norm: ln
    linear_layer_after_inter_intra: False
    skip_around_intra: True
Decoder: !new:speechbrain.lobes.models.dual_path.Decoder
    in_channels: !ref <N_encoder_out>
    out_channels: 1
    kernel_size: !ref <kernel_size>
    stride: !ref <kernel_size> // 2
    bias: False
modules:
    encoder: !ref <Encoder>
    decoder: !ref <Decoder>
    masknet: !ref <MaskNet>
pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer
    loadables:
        encoder: !ref <Encoder>
        masknet: !ref <MaskNet>
        decoder: !ref <Decoder>
    paths:
        encoder: !ref <out_channels>/encoder.ckpt
"""


def test_a_sepformer_folder_loads_as_data_and_separates_as_hyperpyyaml_builds_it(tmp_path):
    torch.manual_seed(0)
    settings, modules = build_modules(SEPFORMER, trust_model_code=True)  # HyperPyYAML, as SpeechBrain loads it
    assert settings == {"sample_rate": 16000, "num_spks": 2}
    folder = save_speechbrain_folder(tmp_path / "sepformer", SEPFORMER, modules)
    mixture = np.random.default_rng(0).standard_normal(16000).astype(np.float32) * 0.1
    safe = load_separation_model(folder).separate(mixture, 16000)
    trusted = load_separation_model(folder, trust_model_code=True).separate(mixture, 16000)
    assert safe.shape == (2, 16000) and np.array_equal(safe, trusted)


def test_references_resolve_to_values_numbers_and_text():
    data = read_hyperparams("a: 16\nb: !ref <a>\nc: !ref <a> // 2 + 1\nd: !ref <a>/x.ckpt\ne: !ref <b>\n", "h.yaml")
    assert isinstance(data["b"], Ref)
    assert [resolve(data[k], data, "h.yaml") for k in "bcde"] == [16, 9, "16/x.ckpt", 16]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("a: !ref <a>\n", "refers to itself"),
        ("a: !ref <missing>\n", "no top-level key 'missing'"),
        ("a: !ref nothing\n", "names nothing"),
    ],
)
def test_bad_references_are_one_line(text, problem):
    data = read_hyperparams(text, "h.yaml")
    with pytest.raises(ModelFileError, match=problem):
        resolve(data["a"], data, "h.yaml")


def test_new_records_are_data_until_meetsep_builds_them():
    data = read_hyperparams("E: !new:speechbrain.lobes.models.dual_path.Encoder\n    kernel_size: 4\n", "h.yaml")
    assert data["E"] == New("speechbrain.lobes.models.dual_path.Encoder", {"kernel_size": 4}, 1)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("a: [1\n", "invalid YAML"),
        ("- 1\n", "a mapping of names"),
        ("a: " + "[" * 3000 + "]" * 3000 + "\n", "nested too deeply|invalid YAML"),
        ("E: !new:speechbrain.lobes.models.dual_path.Encoder [4]\n", "keyword arguments"),
    ],
)
def test_malformed_files_are_one_line(text, problem):
    with pytest.raises(ModelFileError, match=problem) as refused:
        read_hyperparams(text, "h.yaml")
    assert "\n" not in str(refused.value)


def test_modules_must_be_built_from_the_allow_list(tmp_path):
    base = SEPFORMER.replace("    masknet: !ref <MaskNet>", "    masknet: 3")
    with pytest.raises(ModelFileError, match="modules.masknet must be a !new:"):
        build_modules(base)
    wrong = SEPFORMER.replace("intra_model: !ref <SBtfintra>", "intra_model: !ref <Encoder>")
    with pytest.raises(ModelFileError, match="intra_model must be a !new: of"):
        build_modules(wrong)
    with pytest.raises(ModelFileError, match="num_spks says 3"):
        build_modules(
            SEPFORMER.replace("num_spks: 2", "num_spks: 3", 1).replace("num_spks: !ref <num_spks>", "num_spks: 2")
        )
