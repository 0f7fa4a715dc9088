"""Time intervals in seconds: overlaps between speakers, set differences, membership, merging.

An interval is ``(start, end)`` in seconds of the recording; a speaker's activity is a list of
:class:`~meetsep.types.SpeakerSegment`. Shared by every stage that reasons about who speaks when.
"""

from __future__ import annotations

import numpy as np

from meetsep.types import Interval, SpeakerSegment


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
