"""NME-SC's speaker count: the eigengap rule and its confidence, and counts of clear clusters."""

from __future__ import annotations

import numpy as np
import pytest

from meetsep.core.clustering import GAP_SHARE, choose_gap, nme_spectral


def test_the_count_is_the_largest_whose_eigengap_is_at_least_half_the_largest():
    assert GAP_SHARE == 0.5
    # gaps for counts low, low + 1, ...: the largest says low, one of 60 % of it says low + 2
    index, confidence = choose_gap(np.array([10.0, 1.0, 6.0, 0.5]))
    assert index == 2 and confidence == 0.0  # another count's gap is larger: no confidence
    index, confidence = choose_gap(np.array([10.0, 1.0, 4.0]))
    assert index == 0 and confidence == pytest.approx(0.6)  # 4 < 5: the largest gap alone
    index, confidence = choose_gap(np.array([1.0, 8.0, 2.0, 1.0]))
    assert index == 1 and confidence == pytest.approx(0.75)
    assert choose_gap(np.array([3.0])) == (0, 1.0)  # a fixed count
    assert choose_gap(np.zeros(3)) == (0, 1.0)


@pytest.mark.parametrize("speakers", [2, 3, 4, 5])
def test_clearly_separate_voices_are_counted_exactly(speakers):
    rng = np.random.default_rng(speakers)
    centers = rng.standard_normal((speakers, 64))
    units = np.concatenate([center + 0.3 * rng.standard_normal((30, 64)) for center in centers])
    result = nme_spectral(units)
    assert result.num_clusters == speakers and result.confidence > 0.5
    truth = np.repeat(np.arange(speakers), 30)
    for k in range(speakers):  # each found cluster is one voice
        assert len(set(truth[result.labels == k])) == 1


def test_one_voice_is_one_speaker():
    rng = np.random.default_rng(0)
    result = nme_spectral(rng.standard_normal(64) + 0.3 * rng.standard_normal((60, 64)))
    assert result.num_clusters == 1
