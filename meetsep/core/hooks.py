"""Progress and timing reports from the pipeline, and the peak memory of the process that ran it.

A hook is any callable taking a :class:`StageEvent`. The CLI turns events into progress bars, tests
into assertions, benchmarks into per-stage tables (with :func:`peak_resident_mb` beside them).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal, Protocol


@dataclass(frozen=True)
class StageEvent:
    """One report: a stage started, made progress or ended.

    Attributes:
        stage: ``beamform``, ``segment``, ``attribute``, ``beams``, ``separate``, ``asr`` or ``write``.
        kind: ``start``, ``progress`` or ``end``.
        session_id: the recording being processed.
        completed / total: progress units within the stage (e.g. ASR windows), when known.
        elapsed: seconds since the stage started (wall clock).
    """

    stage: str
    kind: Literal["start", "progress", "end"]
    session_id: str
    completed: int = 0
    total: int | None = None
    elapsed: float = 0.0


class Hook(Protocol):
    def __call__(self, event: StageEvent) -> None: ...


def no_hook(event: StageEvent) -> None:
    """The hook used when none is given."""


@dataclass
class StageReporter:
    """Sends the events of one stage of one recording to a hook."""

    hook: Hook
    stage: str
    session_id: str
    started: float = 0.0

    def progress(self, completed: int, total: int | None = None) -> None:
        self.hook(
            StageEvent(self.stage, "progress", self.session_id, completed, total, time.perf_counter() - self.started)
        )


@contextmanager
def stage(hook: Hook, name: str, session_id: str) -> Iterator[StageReporter]:
    """Bracket a stage with start/end events; yields a reporter for progress events."""
    reporter = StageReporter(hook, name, session_id, time.perf_counter())
    hook(StageEvent(name, "start", session_id))
    yield reporter
    hook(StageEvent(name, "end", session_id, elapsed=time.perf_counter() - reporter.started))


class TimingHook:
    """Collects wall time per stage over any number of recordings; optionally forwards events."""

    def __init__(self, forward: Callable[[StageEvent], None] | None = None) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.forward = forward

    def __call__(self, event: StageEvent) -> None:
        if event.kind == "end":
            self.seconds[event.stage] += event.elapsed
        if self.forward is not None:
            self.forward(event)


class MemoryHook:
    """Peak resident memory per stage (MB) over any number of recordings, and ``before <stage>`` for what
    runs between stages (loading models, reading audio); forwards events to ``forward``, if given.

    Linux only: the process's peak (VmHWM) is read at each start and end and reset after it (writing 5
    to ``/proc/self/clear_refs``), so each entry is the highest resident memory within that stretch.
    The whole run's peak is the largest entry.
    """

    def __init__(self, forward: Callable[[StageEvent], None] | None = None) -> None:
        self.peaks: dict[str, float] = defaultdict(float)
        self.forward = forward
        self.last = "start"

    def __call__(self, event: StageEvent) -> None:
        if event.kind != "progress":
            name = f"before {event.stage}" if event.kind == "start" else event.stage
            self.peaks[name] = max(self.peaks[name], peak_resident_mb())
            _reset_peak()
            self.last = event.stage
        if self.forward is not None:
            self.forward(event)

    def finish(self) -> dict[str, float]:
        """The peaks, with the stretch after the last stage's end as ``after <stage>``."""
        name = f"after {self.last}"
        self.peaks[name] = max(self.peaks[name], peak_resident_mb())
        return dict(self.peaks)


def peak_resident_mb() -> float:
    """This process's peak resident memory (VmHWM): unlike ru_maxrss, which Linux carries over from
    the parent across exec, it belongs to this process alone."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource  # (Unix only) where /proc has no VmHWM

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _reset_peak() -> None:
    """Reset this process's peak resident memory to its current one (Linux); elsewhere peaks only grow."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def release_free_memory() -> None:
    """Hand memory that was freed back to the system (glibc's ``malloc_trim``; nothing elsewhere).

    NumPy arrays of a stage (a block's STFT, a batch's streams) are freed when it ends, but glibc keeps
    the pages of its heaps for reuse, scattered between live allocations, and a long recording's
    resident memory creeps up batch after batch; trimming between batches returns them.
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@cache
def _malloc_trim() -> Any:
    """The C library's ``malloc_trim`` among the process's own symbols (glibc), else None; looked up once."""
    import ctypes

    return getattr(ctypes.CDLL(None), "malloc_trim", None)
