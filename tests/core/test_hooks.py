"""Stage hooks and the process's memory: freed pages go back to the system between batches."""

from __future__ import annotations

import ctypes
import re
from pathlib import Path

import numpy as np
import pytest

from meetsep.core.hooks import release_free_memory


def resident_mb() -> float:
    return int(re.search(r"VmRSS:\s+(\d+) kB", Path("/proc/self/status").read_text()).group(1)) / 1024


@pytest.mark.skipif(
    not Path("/proc/self/status").is_file() or not hasattr(ctypes.CDLL(None), "malloc_trim"), reason="Linux, glibc"
)
def test_memory_freed_between_live_arrays_goes_back_to_the_system():
    """Arrays below glibc's mmap threshold live in its heap: freeing most of them, with every 16th
    kept, leaves the heap's pages resident until they are trimmed."""
    arrays = [np.ones(8192, dtype=np.float32) for _ in range(6000)]  # 32 KB each, about 190 MB
    kept = arrays[::16]
    del arrays
    before = resident_mb()
    release_free_memory()
    after = resident_mb()
    assert len(kept) == 375 and float(kept[-1].sum()) == 8192.0
    assert after < before - 100, (before, after)


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="Linux: per-stage peaks need clear_refs")
def test_memory_hook_gives_each_stage_its_own_peak():
    from meetsep.core.hooks import MemoryHook, release_free_memory, stage

    forwarded = []
    memory = MemoryHook(forward=forwarded.append)
    with stage(memory, "big", "s"):
        block = np.ones(200 * 2**20 // 8)  # 200 MB, touched
        del block
    release_free_memory()
    with stage(memory, "small", "s"):
        np.ones(1024)
    peaks = memory.finish()
    assert set(peaks) == {"before big", "big", "before small", "small", "after small"}
    assert peaks["big"] > peaks["small"] + 150  # the second stage does not inherit the first one's peak
    assert [e.kind for e in forwarded] == ["start", "end", "start", "end"]
