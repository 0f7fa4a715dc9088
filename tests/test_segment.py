"""Voice activity and overlap from the real segmentation-3.0 weights, against a mix with known timing."""

from __future__ import annotations

import pytest

from meetsep.config import RuntimeConfig, SegmentConfig
from meetsep.segment import Segmenter

pytestmark = pytest.mark.integration


def test_overlap_region_is_found_within_a_fifth_of_a_second(two_speaker_mix):
    result = Segmenter(SegmentConfig(step=1.0), RuntimeConfig())(two_speaker_mix.audio)
    first, second = two_speaker_mix.reference[0], two_speaker_mix.reference[1]
    truth = (second["start_time"], first["end_time"])  # turn 2 starts 1 s before turn 1 ends
    assert len(result.overlap) == 1, result.overlap
    start, end = result.overlap[0]
    assert abs(start - truth[0]) <= 0.2 and abs(end - truth[1]) <= 0.2, (result.overlap, truth)
    # speech covers every reference turn
    for entry in two_speaker_mix.reference:
        covered = sum(max(0.0, min(b, entry["end_time"]) - max(a, entry["start_time"])) for a, b in result.speech)
        assert covered >= 0.95 * (entry["end_time"] - entry["start_time"])


def test_silence_has_no_speech():
    import numpy as np

    result = Segmenter(SegmentConfig(), RuntimeConfig())(np.zeros(16000 * 12, dtype=np.float32))
    assert result.speech == [] and result.overlap == []
