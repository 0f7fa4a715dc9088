"""pyannote segmentation checkpoints read as data: the shipped model, built by meetsep, equals pyannote's."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from meetsep.core.errors import ModelFileError
from meetsep.loading.models import resolve_model
from meetsep.loading.segmentation_checkpoint import _hyperparameters, load_pyannote_segmentation


@pytest.mark.integration
def test_the_shipped_model_built_from_data_equals_pyannotes_loader_bit_for_bit():
    """The same network, weights, specifications and outputs as ``Model.from_pretrained`` (which unpickles)."""
    from pyannote.audio import Model

    path = resolve_model("segmentation-3.0", "segmentation").path
    ours, theirs = load_pyannote_segmentation(path), Model.from_pretrained(str(path)).eval()
    assert type(ours) is type(theirs) and not ours.training
    assert ours.specifications == theirs.specifications and dict(ours.hparams) == dict(theirs.hparams)
    mine, reference = ours.state_dict(), theirs.state_dict()
    assert mine.keys() == reference.keys() and all(torch.equal(mine[k], reference[k]) for k in mine)
    waves = torch.from_numpy(np.random.default_rng(1).standard_normal((3, 1, 160000)).astype(np.float32) * 0.1)
    with torch.inference_mode():
        assert torch.equal(ours(waves), theirs(waves))


@pytest.mark.integration
def test_the_pipeline_segments_the_same_with_either_loader(two_speaker_mix):
    from meetsep.core.config import RuntimeConfig, SegmentConfig
    from meetsep.stages.segment import Segmenter

    safe = Segmenter(SegmentConfig(), RuntimeConfig())(two_speaker_mix.audio)
    trusted = Segmenter(SegmentConfig(), RuntimeConfig(trust_model_code=True))(two_speaker_mix.audio)
    assert np.array_equal(safe.local.data, trusted.local.data)
    assert safe.speech == trusted.speech and safe.overlap == trusted.overlap


@pytest.mark.parametrize(
    "given",
    [
        {"lstm": {"hidden_size": "128"}},
        {"lstm": {"proj_size": 3}},
        {"sincnet": {"stride": -1}},
        {"num_channels": 2},
        {"task": "x"},
        {"linear": [1, 2]},
    ],
)
def test_hyperparameters_are_checked_key_by_key(given):
    with pytest.raises(ValueError):
        _hyperparameters(given)


def test_a_file_that_is_no_checkpoint_is_one_clear_line(tmp_path):
    junk = tmp_path / "pytorch_model.bin"
    junk.write_bytes(b"not a checkpoint")
    for path in (junk, tmp_path):
        with pytest.raises(ModelFileError, match=f"^{junk}: not a safe pyannote checkpoint") as refused:
            load_pyannote_segmentation(path)
        assert "\n" not in str(refused.value)
    torch.save({"state_dict": {}}, junk)
    with pytest.raises(ModelFileError, match="no 'pyannote.audio' section"):
        load_pyannote_segmentation(junk)
