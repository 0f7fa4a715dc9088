"""Beamformer: the mixture of an array recording before diarization (average or reference channel)."""

from __future__ import annotations

import numpy as np
import pytest

from meetsep.core.config import BeamformConfig
from meetsep.core.errors import AudioInputError
from meetsep.io.audio import load_recording
from meetsep.stages.beamform import Beamformer


def test_beamformer_modes_and_errors(meeting):
    recording = load_recording(meeting.audio, sample_rate=meeting.sample_rate, layout="array")
    np.testing.assert_allclose(
        Beamformer(BeamformConfig(kind="average"))(recording), meeting.audio.mean(axis=0), atol=1e-6
    )
    np.testing.assert_array_equal(
        Beamformer(BeamformConfig(kind="reference", reference_channel=2))(recording), meeting.audio[2]
    )
    with pytest.raises(AudioInputError, match="reference_channel 9"):
        Beamformer(BeamformConfig(kind="reference", reference_channel=9))(recording)
