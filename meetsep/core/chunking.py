"""Long inputs in pieces: spans covering a range, overlap-add of consecutive chunks, batches in time.

Every stage that walks a recording piece by piece uses these, so memory is bounded by a piece and
not by the recording: blocks of audio read from disk, blocks of segmentation windows, beamformed
stretches, chunks of a separated file, batches of speaker segments.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

import numpy as np

Number = TypeVar("Number", int, float)
Item = TypeVar("Item")


def spans(start: Number, stop: Number, size: Number, overlap: Number = 0) -> list[tuple[Number, Number]]:
    """Consecutive ``(begin, end)`` pieces of at most ``size`` covering ``[start, stop)``.

    Each piece after the first begins ``overlap`` before the previous one ended; the last one ends
    at ``stop``. An empty range gives one empty piece ``(start, start)``, so a caller's loop still
    runs once. Works on sample counts (int) or seconds (float) alike.
    """
    if not size > overlap >= 0:
        raise ValueError(f"piece size {size} must exceed the overlap {overlap} (>= 0)")
    pieces = []
    begin = start
    while True:
        end = min(stop, begin + size)
        pieces.append((begin, end))
        if end >= stop:
            return pieces
        begin = end - overlap


def crossfade(tail: np.ndarray, head: np.ndarray, length: int | None = None) -> np.ndarray:
    """Overlap-add of two chunks over their shared samples: ``tail`` (the end of one chunk) fades
    out while ``head`` (the start of the next, same shape) fades in, along a linear ramp of
    ``length`` samples (default: the tail's) of which the first ``tail`` samples are used (a last
    chunk may share less). Shapes ``(..., samples)``."""
    samples = tail.shape[-1]
    fade = np.linspace(0.0, 1.0, samples if length is None else length, dtype=np.float32)[:samples]
    return tail * (1.0 - fade) + head * fade


def group_by_time(items: Iterable[Item], seconds: float, start: Callable[[Item], float]) -> list[list[Item]]:
    """Consecutive runs of ``items`` (sorted by ``start``) whose starts lie within ``seconds`` of the
    run's first item: batches of a few minutes of recording each."""
    batches: list[list[Item]] = []
    for item in items:
        if batches and start(item) - start(batches[-1][0]) < seconds:
            batches[-1].append(item)
        else:
            batches.append([item])
    return batches
