"""Long inputs in pieces: spans covering a range, cross-fades between chunks, batches in time."""

from __future__ import annotations

import numpy as np
import pytest

from meetsep.core.chunking import crossfade, group_by_time, spans
from meetsep.schema import SpeakerSegment


def test_target_batches_cover_every_target_once_in_order():
    targets = [SpeakerSegment(speaker="A", start=start, end=start + 5) for start in (0, 100, 299, 300, 650, 651)]
    batches = group_by_time(targets, 300.0, start=lambda s: s.start)
    assert [[t.start for t in batch] for batch in batches] == [[0, 100, 299], [300], [650, 651]]
    assert group_by_time([], 300.0, start=lambda s: s.start) == []


def test_spans_of_sample_counts_cover_the_range():
    assert spans(0, 10, 4) == [(0, 4), (4, 8), (8, 10)]
    assert spans(0, 8, 4) == [(0, 4), (4, 8)]
    assert spans(3, 5, 4) == [(3, 5)]
    pieces = spans(0, 10, 4, 1)
    assert pieces == [(0, 4), (3, 7), (6, 10)]  # each piece begins `overlap` before the previous one ended
    assert all(type(value) is int for piece in pieces for value in piece)


def test_spans_of_seconds_cover_the_range():
    assert spans(0.0, 2.5, 1.0) == [(0.0, 1.0), (1.0, 2.0), (2.0, 2.5)]
    assert spans(0.0, 2.5, 1.0, 0.25) == [(0.0, 1.0), (0.75, 1.75), (1.5, 2.5)]
    assert spans(1.5, 2.0, 30.0, 2.0) == [(1.5, 2.0)]


def test_an_empty_range_gives_one_empty_piece():
    assert spans(5, 5, 3) == [(5, 5)]
    assert spans(2.0, 2.0, 1.0, 0.5) == [(2.0, 2.0)]


def test_spans_need_pieces_longer_than_their_overlap():
    for size, overlap in [(2, 2), (2, 3), (1.0, 1.0), (1.0, 1.5)]:
        with pytest.raises(ValueError, match="must exceed the overlap"):
            spans(0, 10, size, overlap)


def test_crossfade_goes_from_the_tail_to_the_head():
    tail = np.full((2, 5), 1.0, dtype=np.float32)
    head = np.full((2, 5), 3.0, dtype=np.float32)
    joined = crossfade(tail, head)
    assert joined.shape == (2, 5)
    np.testing.assert_array_equal(joined, np.tile(np.float32([1.0, 1.5, 2.0, 2.5, 3.0]), (2, 1)))
    rng = np.random.default_rng(0)
    tail, head = rng.standard_normal((2, 100)).astype(np.float32), rng.standard_normal((2, 100)).astype(np.float32)
    joined = crossfade(tail, head)
    np.testing.assert_array_equal(joined[:, 0], tail[:, 0])  # starts as the tail
    np.testing.assert_array_equal(joined[:, -1], head[:, -1])  # ends as the head


def test_crossfade_over_fewer_samples_than_the_ramp_uses_its_beginning():
    tail = np.full(3, 2.0, dtype=np.float32)
    head = np.zeros(3, dtype=np.float32)
    np.testing.assert_array_equal(crossfade(tail, head, 5), np.float32([2.0, 1.5, 1.0]))  # ramp 0, .25, .5 of 5
    np.testing.assert_array_equal(crossfade(tail, head, 3), np.float32([2.0, 1.0, 0.0]))  # the whole ramp
