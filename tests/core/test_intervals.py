"""Time intervals: overlaps between speakers, membership, merging a speaker's segments."""

from __future__ import annotations

import numpy as np

from meetsep.core.intervals import inside, merge_segments, overlapping_parts
from meetsep.schema import SpeakerSegment


def seg(speaker, start, end):
    return SpeakerSegment(speaker=speaker, start=start, end=end)


def test_overlapping_parts():
    segments = [seg("A", 0, 5), seg("B", 4, 6), seg("A", 5.5, 7), seg("C", 10, 11), seg("A", 10.5, 10.6)]
    assert overlapping_parts(segments) == [(4.0, 5.0), (5.5, 6.0), (10.5, 10.6)]
    assert overlapping_parts([seg("A", 0, 2), seg("A", 1, 3)]) == []


def test_inside_handles_nested_and_unsorted_spans():
    spans = np.array([(5.0, 6.0), (0.0, 4.0), (1.0, 2.0)])
    assert inside(np.array([-1.0, 0.5, 1.5, 3.0, 4.5, 5.5, 7.0]), spans).tolist() == [
        False,
        True,
        True,
        True,
        False,
        True,
        False,
    ]
    assert inside(np.array([1.0]), np.zeros((0, 2))).tolist() == [False]


def test_merge_segments_joins_close_segments_per_speaker():
    segments = [
        SpeakerSegment(speaker="A", start=0, end=1),
        SpeakerSegment(speaker="B", start=0.5, end=2),
        SpeakerSegment(speaker="A", start=1.3, end=2),
        SpeakerSegment(speaker="A", start=4, end=5),
    ]
    merged = [(s.speaker, s.start, s.end) for s in merge_segments(segments, gap=0.5)]
    assert merged == [("A", 0, 2), ("B", 0.5, 2), ("A", 4, 5)]


def test_mask_runs_are_the_true_stretches_end_exclusive():
    from meetsep.core.intervals import mask_runs

    assert mask_runs(np.array([1, 1, 0, 0, 1, 0, 1, 1, 1], dtype=bool)) == [(0, 2), (4, 5), (6, 9)]
    assert mask_runs(np.zeros(4, dtype=bool)) == [] and mask_runs(np.ones(3, dtype=bool)) == [(0, 3)]
