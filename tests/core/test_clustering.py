"""NME-SC's speaker count: the eigengap rule and its confidence, and counts of clear clusters."""

from __future__ import annotations

import numpy as np
import pytest

from meetsep.core.clustering import GAP_SHARE, absorb_small, choose_gap, nme_spectral


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


def test_a_speaker_with_few_units_joins_the_nearest_unless_they_hold_a_share_of_the_recording():
    """absorb_small: a cluster under min_units units and under KEPT_SHARE (15 %) of all joins the cluster
    whose centroid its units are nearest; one with 15 % of the units stays (the third person of a 25 s
    meeting had 4 of 19 units), and so does the largest."""
    rng = np.random.default_rng(0)
    # two voices far apart; a third group of turns like the second voice (centroid cosine about 0.7)
    places = np.array([[4.0, 0.0, 0.0], [0.0, 4.0, 0.0], [0.0, 3.0, 3.0]])

    def units(sizes: list[int]) -> tuple[np.ndarray, np.ndarray]:
        labels = np.repeat(np.arange(len(sizes)), sizes)
        return places[labels] + rng.normal(0.0, 0.3, (len(labels), 3)), labels

    embeddings, labels = units([20, 16, 4])  # 4 of 40: 10 %
    kept = absorb_small(embeddings, labels, 6)
    assert len(np.unique(kept)) == 2 and (kept[labels == 0] == kept[0]).all()
    assert (kept[labels == 2] == kept[labels == 1][0]).all()
    embeddings, labels = units([8, 7, 4])  # 4 of 19: 21 %
    assert (absorb_small(embeddings, labels, 6) == labels).all()
    assert (absorb_small(embeddings, labels, 1) == labels).all()


def test_a_few_units_of_a_voice_like_no_other_stay_a_speaker():
    """A short call's second person (4 of 28 units, centroid cosine 0.16 to the first on a dev call) is not
    a turn of the first person: below ABSORB_FLOOR it keeps its own cluster."""
    rng = np.random.default_rng(1)
    places = np.eye(3) * 4.0  # three voices far apart: centroid cosines about 0
    labels = np.repeat(np.arange(3), [24, 20, 4])
    embeddings = places[labels] + rng.normal(0.0, 0.3, (len(labels), 3))
    assert (absorb_small(embeddings, labels, 6) == labels).all()
    like = embeddings.copy()
    like[labels == 2] = places[1] + rng.normal(0.0, 0.3, (4, 3)) + [0.0, 0.0, 2.0]  # cosine about 0.9 to voice 1
    kept = absorb_small(like, labels, 6)
    assert len(np.unique(kept)) == 2 and (kept[labels == 2] == kept[labels == 1][0]).all()
