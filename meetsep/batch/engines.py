"""Batch engines: where the items of a batch run are transcribed, local processes or a Ray cluster.

- ``local``: N worker processes, each loading the models once; a worker that passes the per-file
  timeout or dies is replaced.
- ``ray``: one actor per job, models loaded once per actor; ``ray_address="auto"`` joins a running
  cluster, none starts a local runtime. Files must be reachable at the same path from every Ray
  node (shared storage).

:func:`run_batch` runs the chosen engine and records every result (:mod:`meetsep.batch.run`). It holds
``OUT/.meetsep/lock`` for the whole run: a second batch run into the same folder is refused with
one line instead of transcribing the same files again (the lock goes with the process, even on
SIGKILL, so a killed run never blocks the next). Each run has a unique id in the report.
"""

from __future__ import annotations

import os
import secrets
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from meetsep.batch.run import LOCK_NAME, BatchSummary, ItemResult, Pipelines, append_report, process_item
from meetsep.core.config import PipelineConfig
from meetsep.core.errors import MeetsepError
from meetsep.io.files import check_writable_folder, folder_lock
from meetsep.io.formats import parse_formats
from meetsep.io.manifest import BatchItem


@dataclass
class BatchSettings:
    out_dir: Path
    formats: list[str]
    config: PipelineConfig
    jobs: int
    timeout: float | None = None
    overwrite: bool = False
    engine: Literal["local", "ray"] = "local"
    ray_address: str | None = None
    analytics: bool = False


def default_jobs() -> int:
    """Worker count from cores and memory: about 2.5 GB per worker (Whisper base + pyannote + CAM++)."""
    cores = os.cpu_count() or 1
    try:
        memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9
    except (ValueError, OSError):
        memory_gb = 8.0
    return max(1, min(cores, int(memory_gb // 2.5)))


def _worker_config(settings: BatchSettings) -> dict[str, Any]:
    threads = settings.config.runtime.threads or max(1, (os.cpu_count() or 1) // settings.jobs)
    config = settings.config.model_copy(
        update={"runtime": settings.config.runtime.model_copy(update={"threads": threads})}
    )
    return dict(
        config=config.model_dump(mode="json"),
        out_dir=str(settings.out_dir),
        formats=settings.formats,
        overwrite=settings.overwrite,
        analytics=settings.analytics,
    )


def _local_worker(connection: Any, setup: dict[str, Any]) -> None:
    """Worker process: build the pipeline once, then transcribe the items it is sent."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    config = PipelineConfig.model_validate(setup["config"])
    pipelines = Pipelines()
    pipelines.get(config)  # load the models before the first item
    connection.send("ready")
    while True:
        item = connection.recv()
        if item is None:
            return
        result = process_item(
            item, config, Path(setup["out_dir"]), setup["formats"], setup["overwrite"], setup["analytics"], pipelines
        )
        connection.send(result)


@dataclass
class _Slot:
    process: Any
    connection: Any
    item: BatchItem | None = None
    started: float = 0.0
    ready: bool = False


def run_local(items: list[BatchItem], settings: BatchSettings, on_result: Callable[[ItemResult], None]) -> None:
    import multiprocessing
    from multiprocessing.connection import wait

    context = multiprocessing.get_context("spawn")
    setup = _worker_config(settings)
    queue = deque(items)

    def start() -> _Slot:
        parent, child = context.Pipe()
        process = context.Process(target=_local_worker, args=(child, setup), daemon=True)
        process.start()
        child.close()
        return _Slot(process, parent)

    slots = [start() for _ in range(min(settings.jobs, len(items)) or 0)]
    try:
        while queue or any(slot.item is not None for slot in slots):
            for slot in slots:
                if slot.ready and slot.item is None and queue:
                    slot.item, slot.started = queue.popleft(), time.perf_counter()
                    slot.connection.send(slot.item)
            ready = wait([slot.connection for slot in slots], timeout=0.5)
            for index, slot in enumerate(slots):
                died = False
                if slot.connection in ready:
                    try:
                        message = slot.connection.recv()
                    except (EOFError, OSError):
                        died = True
                    else:
                        if message == "ready":
                            slot.ready = True
                        else:
                            on_result(message)
                            slot.item = None
                timed_out = (
                    slot.item is not None and settings.timeout and time.perf_counter() - slot.started > settings.timeout
                )
                if died or timed_out or not slot.process.is_alive():
                    item = slot.item
                    slot.process.kill()
                    slot.process.join()
                    if item is not None:
                        reason = (
                            f"timed out after {settings.timeout:g} s"
                            if timed_out
                            else f"worker died (exit code {slot.process.exitcode})"
                        )
                        on_result(
                            ItemResult(
                                item.id,
                                str(item.path),
                                "timeout" if timed_out else "failed",
                                f"{item.path}: {reason}",
                                round(time.perf_counter() - slot.started, 3),
                            )
                        )
                    elif not slot.ready:
                        raise MeetsepError(f"batch worker failed to start (exit code {slot.process.exitcode})")
                    slots[index] = start()
    finally:
        for slot in slots:
            try:
                slot.connection.send(None)
            except (OSError, ValueError):
                pass
        for slot in slots:
            slot.process.join(timeout=5)
            if slot.process.is_alive():
                slot.process.kill()


class _RayWorker:
    """Ray actor body: the pipeline is built once per actor."""

    def __init__(self, setup: dict[str, Any]) -> None:
        self.setup = setup
        self.config = PipelineConfig.model_validate(setup["config"])
        self.pipelines = Pipelines()
        self.pipelines.get(self.config)

    def process(self, item: BatchItem) -> ItemResult:
        setup = self.setup
        return process_item(
            item,
            self.config,
            Path(setup["out_dir"]),
            setup["formats"],
            setup["overwrite"],
            setup["analytics"],
            self.pipelines,
        )


def run_ray(items: list[BatchItem], settings: BatchSettings, on_result: Callable[[ItemResult], None]) -> None:
    try:
        import ray
    except ImportError:
        raise MeetsepError("the ray engine needs Ray: pip install 'meetsep[ray]'") from None
    started_here = not ray.is_initialized()
    if started_here:
        init: dict[str, Any] = dict(include_dashboard=False, log_to_driver=False, configure_logging=False)
        if settings.ray_address:
            init["address"] = settings.ray_address
        else:
            init["num_cpus"] = max(settings.jobs, os.cpu_count() or 1)
        # workers must import the same meetsep: ship this process's search path to them
        init["runtime_env"] = {"env_vars": {"PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}}
        ray.init(**init)
    setup = _worker_config(settings)
    threads = setup["config"]["runtime"]["threads"]
    Worker = ray.remote(num_cpus=threads, max_restarts=0)(_RayWorker)
    queue = deque(items)
    idle = [Worker.remote(setup) for _ in range(min(settings.jobs, len(items)))]
    running: dict[Any, tuple[Any, BatchItem, float]] = {}
    try:
        while queue or running:
            while idle and queue:
                actor, item = idle.pop(), queue.popleft()
                running[actor.process.remote(item)] = (actor, item, time.perf_counter())
            done, _ = ray.wait(list(running), num_returns=1, timeout=0.5)
            for reference in done:
                actor, item, began = running.pop(reference)
                try:
                    on_result(ray.get(reference))
                    idle.append(actor)
                except ray.exceptions.RayError as error:
                    on_result(
                        ItemResult(
                            item.id,
                            str(item.path),
                            "failed",
                            f"{item.path}: ray worker failed ({type(error).__name__})",
                            round(time.perf_counter() - began, 3),
                        )
                    )
                    ray.kill(actor)
                    idle.append(Worker.remote(setup))
            if settings.timeout:
                for reference, (actor, item, began) in list(running.items()):
                    if time.perf_counter() - began > settings.timeout:
                        running.pop(reference)
                        ray.kill(actor)
                        on_result(
                            ItemResult(
                                item.id,
                                str(item.path),
                                "timeout",
                                f"{item.path}: timed out after {settings.timeout:g} s",
                                round(time.perf_counter() - began, 3),
                            )
                        )
                        idle.append(Worker.remote(setup))
    finally:
        for actor in idle + [a for a, _, _ in running.values()]:
            ray.kill(actor)
        if started_here:
            ray.shutdown()


def run_batch(
    items: list[BatchItem],
    settings: BatchSettings,
    progress: Callable[[ItemResult, BatchSummary], None] | None = None,
) -> BatchSummary:
    """Transcribe ``items`` into ``settings.out_dir``; returns counts. Never stops for a bad file.

    Raises:
        OutputError: the folder cannot be written, or another batch run holds it.
    """
    parse_formats(settings.formats)
    check_writable_folder(settings.out_dir)
    with folder_lock(settings.out_dir, LOCK_NAME, "another meetsep batch run"):
        summary = BatchSummary(total=len(items))
        run_id = f"{time.strftime('%Y-%m-%dT%H:%M:%S')}-{secrets.token_hex(4)}"
        started = time.perf_counter()

        def on_result(result: ItemResult) -> None:
            summary.add(result)
            summary.wall_seconds = time.perf_counter() - started
            append_report(settings.out_dir, {"run": run_id, **asdict(result)})
            if progress is not None:
                progress(result, summary)

        engine = run_ray if settings.engine == "ray" else run_local
        if items:
            engine(items, settings, on_result)
        summary.wall_seconds = time.perf_counter() - started
    return summary
