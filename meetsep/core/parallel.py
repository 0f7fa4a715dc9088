"""Independent model calls and signal blocks run side by side on single-threaded workers.

PyTorch's own threading splits each operation over the cores; for the many short inputs of
meetsep's stages (a speaker embedding per unit of speech) that buys nothing on a CPU (CAM++ on
2 threads: 22.3 s for 300 units, on 1 thread 20.2 s), while two units on two single-threaded
workers take 11.6 s. Each operation then runs on one thread as it would with
``torch.set_num_threads(1)``, so results do not depend on the number of workers. NumPy / SciPy
work on large blocks (the STFTs and covariances of the beams' statistics) runs outside Python's
lock too and is mapped the same way.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


def imap_single_threaded(function: Callable[[Item], Result], items: Iterable[Item], workers: int) -> Iterator[Result]:
    """``function(item)`` for each item, in order, ``workers`` at a time, each with one PyTorch thread.

    Items are taken from ``items`` only as workers free up, so a generator of large blocks stays
    bounded in memory (``workers`` + 1 items at a time). The calling thread's PyTorch thread count
    is restored afterwards.
    """
    import torch

    if workers <= 1:
        yield from map(function, items)
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with ThreadPoolExecutor(
            workers, thread_name_prefix="meetsep-worker", initializer=torch.set_num_threads, initargs=(1,)
        ) as pool:
            pending: deque[Future[Result]] = deque()
            for item in items:
                pending.append(pool.submit(function, item))
                if len(pending) > workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
    finally:
        torch.set_num_threads(previous)


def map_single_threaded(function: Callable[[Item], Result], items: Sequence[Item], workers: int) -> list[Result]:
    """``[function(item) for item in items]`` by :func:`imap_single_threaded`."""
    if len(items) < 2:
        return [function(item) for item in items]
    return list(imap_single_threaded(function, items, workers))
