"""Time intervals in seconds: overlaps between speakers, set differences, membership, merging, coverage.

An interval is ``(start, end)`` in seconds of the recording; a speaker's activity is a list of
:class:`~meetsep.schema.SpeakerSegment`. Shared by every stage that reasons about who speaks when.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable

import numpy as np

from meetsep.core.records import Interval
from meetsep.schema import SpeakerSegment


def overlapping_parts(segments: list[SpeakerSegment]) -> list[Interval]:
    """Intervals where segments of two or more different speakers overlap (merged, sorted)."""
    events = sorted(
        [(s.start, 1, s.speaker) for s in segments] + [(s.end, -1, s.speaker) for s in segments],
        key=lambda e: (e[0], e[1]),
    )
    active: dict[str, int] = {}
    found: list[list[float]] = []
    start: float | None = None
    for time, delta, speaker in events:
        active[speaker] = active.get(speaker, 0) + delta
        speaking = sum(1 for n in active.values() if n > 0)
        if speaking >= 2 and start is None:
            start = time
        elif speaking < 2 and start is not None:
            if time > start:
                if found and start <= found[-1][1]:
                    found[-1][1] = time
                else:
                    found.append([start, time])
            start = None
    return [(round(a, 3), round(b, 3)) for a, b in found]


def overlap_seconds(start: float, end: float, intervals: list[Interval]) -> float:
    return sum(max(0.0, min(end, b) - max(start, a)) for a, b in intervals)


def subtract_intervals(
    spans: list[tuple[float, float]], removed: list[tuple[float, float]]
) -> list[tuple[float, float]]:
    """``spans`` minus ``removed`` (pyannote.core timelines)."""
    from pyannote.core import Segment, Timeline

    kept = Timeline([Segment(a, b) for a, b in spans if b > a]).support()
    return [(s.start, s.end) for s in kept.extrude(Timeline([Segment(a, b) for a, b in removed if b > a]))]


def merge_segments(segments: list[SpeakerSegment], gap: float) -> list[SpeakerSegment]:
    """Merge each speaker's segments that are closer than ``gap`` seconds; sorted by start."""
    merged: list[SpeakerSegment] = []
    for speaker in sorted({s.speaker for s in segments}):
        own = sorted((s for s in segments if s.speaker == speaker), key=lambda s: s.start)
        current = own[0]
        for segment in own[1:]:
            if segment.start - current.end <= gap:
                current = SpeakerSegment(speaker=speaker, start=current.start, end=max(current.end, segment.end))
            else:
                merged.append(current)
                current = segment
        merged.append(current)
    return sorted(merged, key=lambda s: (s.start, s.end, s.speaker))


def inside(times: np.ndarray, spans: np.ndarray) -> np.ndarray:
    """Which of ``times`` fall in any ``(start, end)`` row of ``spans``."""
    if len(spans) == 0:
        return np.zeros(len(times), dtype=bool)
    order = np.argsort(spans[:, 0])
    starts, ends = spans[order, 0], np.maximum.accumulate(spans[order, 1])
    index = np.searchsorted(starts, times, side="right") - 1
    return (index >= 0) & (times < ends[np.clip(index, 0, None)])


def mask_runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """``(start, stop)`` index pairs of the runs of True in a 1-D boolean ``mask`` (stop exclusive)."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], np.asarray(mask).astype(np.int8), [0]])))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2])]


def merge_spans(spans: Iterable[Interval], gap: float = 0.0) -> list[Interval]:
    """Sorted union of ``spans``, also joining spans less than ``gap`` seconds apart."""
    merged: list[list[float]] = []
    for start, end in sorted(s for s in spans if s[1] > s[0]):
        if merged and (start - merged[-1][1] < gap or start <= merged[-1][1]):
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(a, b) for a, b in merged]


def spans_length(spans: Iterable[Interval]) -> float:
    """Summed length of ``spans`` in seconds (disjoint spans: the time they cover)."""
    return sum(b - a for a, b in spans)


def covered_by_at_least(tracks: Iterable[list[Interval]], count: int) -> list[Interval]:
    """Where at least ``count`` of ``tracks`` are active (each track a list of disjoint spans)."""
    events = sorted((time, delta) for spans in tracks for a, b in spans for time, delta in ((a, 1), (b, -1)))
    found: list[Interval] = []
    active, opened = 0, 0.0
    for time, delta in events:  # at equal times ends come first: touching spans do not overlap
        before = active
        active += delta
        if before < count <= active:
            opened = time
        elif active < count <= before and time > opened:
            found.append((opened, time))
    return merge_spans(found)


class SpanIndex:
    """Sorted, disjoint spans (e.g. one speaker's activity), searchable by time in O(log n)."""

    def __init__(self, spans: list[Interval]) -> None:
        self.spans = spans
        self.starts = [a for a, _ in spans]
        self.ends = [b for _, b in spans]

    def active_at(self, time: float) -> Interval | None:
        """The span that holds ``time`` (start inclusive, end exclusive), if any."""
        index = bisect_right(self.starts, time) - 1
        return self.spans[index] if index >= 0 and self.ends[index] > time else None

    def any_within(self, start: float, end: float) -> bool:
        """Whether any span intersects the open interval ``(start, end)``."""
        index = bisect_right(self.ends, start)
        return index < len(self.spans) and self.starts[index] < end


def frame_spans(times: np.ndarray, frame: float) -> list[tuple[float, float]]:
    """Sorted frame centres → the ``(start, end)`` seconds they cover, each frame ``frame`` s around its
    centre (frames further apart than 1.5 frames begin a new span)."""
    breaks = np.flatnonzero(np.diff(times) > 1.5 * frame) + 1
    return [
        (max(0.0, float(run[0]) - frame / 2), float(run[-1]) + frame / 2) for run in np.split(times, breaks) if len(run)
    ]
