"""Two-way clustering of block directions: two places are told apart, the same answer every time."""

from __future__ import annotations

import numpy as np

from meetsep.core.directions import direction_features, principal_directions, split_in_two


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)


def _blocks(rng: np.random.Generator, center: np.ndarray, count: int, noise: float) -> np.ndarray:
    """``count`` blocks whose direction in every bin is ``center``'s plus complex noise."""
    shape = (count, *center.shape)
    jitter = rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
    return _unit(center[None] + noise * jitter)


def test_features_give_the_mean_squared_inner_product():
    rng = np.random.default_rng(0)
    u = _unit(rng.standard_normal((3, 5, 4)) + 1j * rng.standard_normal((3, 5, 4)))
    features = direction_features(u)
    expected = np.mean(np.abs(np.einsum("fc,fc->f", u[0].conj(), u[1])) ** 2)
    assert np.isclose(features[0] @ features[1] / 5, expected)
    assert np.isclose(features[2] @ features[2] / 5, 1.0)


def test_principal_direction_of_a_rank_one_covariance_is_its_vector():
    rng = np.random.default_rng(1)
    u = _unit(rng.standard_normal((2, 3, 4)) + 1j * rng.standard_normal((2, 3, 4)))
    covariances = np.einsum("bfc,bfd->bfcd", u, u.conj()) + 1e-3 * np.eye(4)
    found = principal_directions(covariances)
    assert np.allclose(np.abs(np.einsum("bfc,bfc->bf", found.conj(), u)), 1.0, atol=1e-6)


def test_two_places_are_told_apart_whatever_the_order():
    rng = np.random.default_rng(2)
    a, b = (_unit(rng.standard_normal((40, 4)) + 1j * rng.standard_normal((40, 4))) for _ in range(2))
    blocks = np.concatenate([_blocks(rng, a, 30, 0.4), _blocks(rng, b, 8, 0.4)])
    order = rng.permutation(len(blocks))
    labels = split_in_two(blocks[order])
    assert labels is not None
    truth = (order >= 30).astype(int)  # the smaller group is labelled 1
    assert (labels == truth).all()
    assert (split_in_two(blocks[order]) == labels).all()


def test_nothing_to_split_in_fewer_than_two_blocks():
    assert split_in_two(np.ones((1, 3, 4), dtype=complex) / 2) is None


def test_solo_directions_take_blocks_of_solo_frames_and_stay_bounded():
    """One speaker alone then with another: only its solo frames make blocks, in time order, and a
    long recording keeps at most twice ``most`` of them."""
    from meetsep.core.directions import solo_directions
    from meetsep.core.intervals import overlapping_parts
    from meetsep.core.records import Diarization
    from meetsep.schema import SpeakerSegment

    rng = np.random.default_rng(3)
    times = np.arange(400) * 0.016
    spectrum = (rng.standard_normal((2, 400, 6)) + 1j * rng.standard_normal((2, 400, 6))).astype(np.complex64)
    segments = [SpeakerSegment(speaker="a", start=0.0, end=6.4), SpeakerSegment(speaker="b", start=3.2, end=6.4)]
    diarization = Diarization(segments, [], overlapping_parts(segments))
    chunks = [(times[i : i + 150], spectrum[:, i : i + 150]) for i in range(0, 400, 150)]
    found = solo_directions(chunks, diarization, frames_per_block=8, most=100)
    directions, frame_times = found["a"]
    assert len(directions) == 200 // 8 and found["b"] == ([], [])  # "a" is alone in its first 200 frames only
    assert all(len(t) == 8 for t in frame_times) and np.all(np.concatenate(frame_times) < 3.2)
    assert directions[0].shape == (6, 2)
    thinned, thinned_times = solo_directions(chunks, diarization, frames_per_block=2, most=10)["a"]
    assert 10 <= len(thinned) < 20
    starts = [t[0] for t in thinned_times]
    assert starts == sorted(starts) and starts[0] == 0.0
