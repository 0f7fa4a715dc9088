"""Batch transcription of recording archives: manifest driven, resumable, parallel, local or on Ray.

- Items come from a folder (recursive, by audio extension) or a manifest (JSONL or CSV with a
  ``path`` column and optional ``id``, ``layout``, ``num_speakers``, ``min_speakers``,
  ``max_speakers``; other columns are metadata passed through to the JSON output).
- An item is done when ``OUT/.meetsep/state/<id>.json`` records the same key: a hash of the input's
  content and of the effective config (with the item's own overrides and the output formats). Such
  items are skipped; ``overwrite`` redoes them. Outputs and state records are written atomically, so
  after a kill (even SIGKILL of the whole process group) a re-run redoes only unfinished items and
  ends with outputs identical to an uninterrupted run.
- Every result (ok, failed, timeout, skipped) is appended to ``OUT/batch_report.jsonl`` with the
  error, processing seconds and audio seconds; a bad file never stops the run.
- Engines: ``local`` (N worker processes, each loading the models once; a worker that passes the
  per-file timeout or dies is replaced) and ``ray`` (one actor per job, models loaded once per actor;
  ``ray_address="auto"`` joins a running cluster, none starts a local runtime). Files must be
  reachable at the same path from every Ray node (shared storage).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from meetsep.audio import AUDIO_EXTENSIONS
from meetsep.config import PipelineConfig
from meetsep.errors import ConfigError, MeetsepError
from meetsep.formats import atomic_write_text, parse_formats

STATE_DIR = ".meetsep/state"
REPORT_NAME = "batch_report.jsonl"
ITEM_OPTIONS = ("layout", "num_speakers", "min_speakers", "max_speakers")
Status = Literal["ok", "failed", "timeout", "skipped"]


@dataclass(frozen=True)
class BatchItem:
    """One recording to transcribe. ``id`` names its outputs: ``OUT/<id>.<ext>``."""

    id: str
    path: Path
    options: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class ItemResult:
    id: str
    path: str
    status: Status
    error: str | None = None
    seconds: float = 0.0
    audio_seconds: float | None = None
    speakers: int | None = None
    key: str | None = None
    outputs: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------- discovering items


def discover(source: str | Path) -> list[BatchItem]:
    """Items of a folder (recursive) or a JSONL / CSV manifest, sorted by id.

    Raises:
        ConfigError: unreadable manifest, a row without ``path``, or two items with one id.
    """
    source = Path(source)
    if source.is_dir():
        files = sorted(p for p in source.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS)
        items = [BatchItem(p.relative_to(source).with_suffix("").as_posix(), p) for p in files]
    elif source.suffix.lower() in (".jsonl", ".csv") and source.is_file():
        items = [_item_from_row(row, source, number) for number, row in _manifest_rows(source)]
    else:
        raise ConfigError(f"{source}: not a folder or a .jsonl / .csv manifest")
    seen: dict[str, Path] = {}
    for item in items:
        if item.id in seen:
            raise ConfigError(
                f"{source}: two items would write the same outputs {item.id!r} ({seen[item.id]}, {item.path})"
            )
        seen[item.id] = item.path
    return sorted(items, key=lambda item: item.id)


def _manifest_rows(path: Path) -> Iterable[tuple[int, dict[str, Any]]]:
    with open(path, newline="", encoding="utf-8") as stream:
        if path.suffix.lower() == ".csv":
            for number, row in enumerate(csv.DictReader(stream), 2):
                yield number, {k: v for k, v in row.items() if v not in (None, "")}
            return
        for number, line in enumerate(stream, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise ConfigError(f"{path}:{number}: invalid JSON ({error.msg})") from None
            if not isinstance(row, dict):
                raise ConfigError(f"{path}:{number}: each line must be a JSON object")
            yield number, row


def _item_from_row(row: dict[str, Any], manifest: Path, number: int) -> BatchItem:
    if "path" not in row:
        raise ConfigError(f"{manifest}:{number}: no 'path'")
    path = Path(str(row["path"])).expanduser()
    if not path.is_absolute():
        path = manifest.parent / path
    options: dict[str, Any] = {}
    for key in ITEM_OPTIONS:
        if key in row:
            options[key] = row[key] if key == "layout" else _positive_int(row[key], manifest, number, key)
    metadata = {k: v for k, v in row.items() if k not in ("path", "id", *ITEM_OPTIONS)}
    return BatchItem(str(row.get("id") or path.stem), path, options, metadata)


def _positive_int(value: Any, manifest: Path, number: int, key: str) -> int:
    try:
        result = int(value)
    except (TypeError, ValueError):
        result = 0
    if result < 1 or str(value).strip() != str(result):
        raise ConfigError(f"{manifest}:{number}: {key} must be a positive integer, got {value!r}")
    return result


def parse_shard(text: str) -> tuple[int, int]:
    """``"2/8"`` → ``(2, 8)``: shard 2 of 8, counting from 0."""
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise ConfigError(f"--shard {text!r}: expected i/N, e.g. 0/4") from None
    if count < 1 or not 0 <= index < count:
        raise ConfigError(f"--shard {text!r}: need 0 <= i < N")
    return index, count


def select_shard(items: list[BatchItem], index: int, count: int) -> list[BatchItem]:
    """Every ``count``-th item starting at ``index`` (items are sorted by id, so shards are stable)."""
    return items[index::count]


# ---------------------------------------------------------------------------- keys and state


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def item_config(config: PipelineConfig, item: BatchItem) -> PipelineConfig:
    """The config with the item's own layout / speaker counts applied."""
    if not item.options:
        return config
    data = config.model_dump(mode="json")
    for key, value in item.options.items():
        data["audio" if key == "layout" else "attribute"][key] = value
    try:
        return PipelineConfig.model_validate(data)
    except ValueError as error:
        raise ConfigError(f"{item.path}: invalid manifest options {item.options} ({error})") from None


def item_key(content_digest: str, config: PipelineConfig, formats: list[str], metadata: dict[str, Any]) -> str:
    blob = json.dumps([content_digest, config.config_hash(), formats, metadata], sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:32]


def _state_path(out_dir: Path, item_id: str) -> Path:
    return out_dir / STATE_DIR / f"{item_id}.json"


def is_done(out_dir: Path, item_id: str, key: str) -> bool:
    path = _state_path(out_dir, item_id)
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return False
    return state.get("key") == key and all((out_dir / name).is_file() for name in state.get("outputs", []))


# ---------------------------------------------------------------------------- doing one item


def process_item(
    item: BatchItem, config: PipelineConfig, out_dir: Path, formats: list[str], overwrite: bool
) -> ItemResult:
    """Transcribe one item unless already done; never raises for a bad input."""
    from meetsep.formats import write_transcript
    from meetsep.pipeline import transcribe

    started = time.perf_counter()
    result = ItemResult(id=item.id, path=str(item.path), status="failed")
    try:
        effective = item_config(config, item)
        if not item.path.is_file():
            raise MeetsepError(f"{item.path}: file not found")
        result.key = key = item_key(file_digest(item.path), effective, formats, item.metadata)
        if not overwrite and is_done(out_dir, item.id, key):
            result.status = "skipped"
            return result
        transcript = transcribe(item.path, config=effective)
        transcript = transcript.model_copy(update={"session_id": Path(item.id).name, "metadata": item.metadata})
        target = out_dir / Path(item.id).parent
        written = write_transcript(transcript, target, formats)
        result.outputs = [p.relative_to(out_dir).as_posix() for p in written]
        atomic_write_text(
            _state_path(out_dir, item.id), json.dumps({"key": key, "outputs": result.outputs}, sort_keys=True) + "\n"
        )
        result.status = "ok"
        result.audio_seconds = transcript.duration
        result.speakers = len(transcript.speakers)
    except MeetsepError as error:
        result.error = str(error)
    except Exception as error:  # an unexpected failure of one file must not stop the batch
        result.error = (
            f"{item.path}: {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}".rstrip(": ")
        )
    finally:
        result.seconds = round(time.perf_counter() - started, 3)
    return result


# ---------------------------------------------------------------------------- engines


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
    )


def _local_worker(connection: Any, setup: dict[str, Any]) -> None:
    """Worker process: build the pipeline once, then transcribe the items it is sent."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    config = PipelineConfig.model_validate(setup["config"])
    from meetsep.pipeline import Pipeline

    Pipeline(config)  # load and cache the models before the first item
    connection.send("ready")
    while True:
        item = connection.recv()
        if item is None:
            return
        result = process_item(item, config, Path(setup["out_dir"]), setup["formats"], setup["overwrite"])
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
        from meetsep.pipeline import Pipeline

        self.setup = setup
        self.config = PipelineConfig.model_validate(setup["config"])
        Pipeline(self.config)

    def process(self, item: BatchItem) -> ItemResult:
        return process_item(
            item, self.config, Path(self.setup["out_dir"]), self.setup["formats"], self.setup["overwrite"]
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


# ---------------------------------------------------------------------------- the run and its report


@dataclass
class BatchSummary:
    total: int = 0
    ok: int = 0
    skipped: int = 0
    failed: int = 0
    timeout: int = 0
    audio_seconds: float = 0.0
    wall_seconds: float = 0.0
    failures: list[ItemResult] = field(default_factory=list)

    @property
    def success(self) -> bool:
        return self.failed == 0 and self.timeout == 0

    def add(self, result: ItemResult) -> None:
        setattr(self, result.status, getattr(self, result.status) + 1)
        if result.status == "ok" and result.audio_seconds:
            self.audio_seconds += result.audio_seconds
        if result.status in ("failed", "timeout"):
            self.failures.append(result)

    def line(self) -> str:
        hours = self.audio_seconds / 3600
        speed = f", {hours / (self.wall_seconds / 3600):.1f} audio h per wall h" if self.wall_seconds and hours else ""
        return (
            f"{self.total} files: {self.ok} done, {self.skipped} already done, {self.failed} failed, {self.timeout} timed out; "
            f"{hours:.2f} audio h in {self.wall_seconds:.0f} s{speed}"
        )


def append_report(out_dir: Path, record: dict[str, Any]) -> None:
    """Append one JSON line with a single write (a kill can cut only the last line, which readers skip)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(record, sort_keys=True) + "\n").encode()
    descriptor = os.open(out_dir / REPORT_NAME, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(descriptor, line)
    finally:
        os.close(descriptor)


def read_report(out_dir: Path) -> list[dict[str, Any]]:
    path = Path(out_dir) / REPORT_NAME
    records = []
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line cut by a kill
    return records


def run_batch(
    items: list[BatchItem],
    settings: BatchSettings,
    progress: Callable[[ItemResult, BatchSummary], None] | None = None,
) -> BatchSummary:
    """Transcribe ``items`` into ``settings.out_dir``; returns counts. Never stops for a bad file."""
    parse_formats(settings.formats)
    summary = BatchSummary(total=len(items))
    run_id = time.strftime("%Y-%m-%dT%H:%M:%S")
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


def summarize_reports(out_dirs: list[Path]) -> dict[str, Any]:
    """Latest status of every item over one or more batch folders, with totals and failures."""
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    runs: set[str] = set()
    for out_dir in out_dirs:
        for record in read_report(out_dir):
            runs.add(record.get("run", "?"))
            previous = latest.get((str(out_dir), record["id"]))
            if record["status"] == "skipped" and previous is not None and previous["status"] == "ok":
                continue  # keep the run that did the work
            latest[(str(out_dir), record["id"])] = record
    counts = {status: 0 for status in ("ok", "skipped", "failed", "timeout")}
    for record in latest.values():
        counts[record["status"]] += 1
    return dict(
        folders=[str(d) for d in out_dirs],
        runs=len(runs),
        items=len(latest),
        **counts,
        audio_hours=round(sum(r.get("audio_seconds") or 0 for r in latest.values() if r["status"] == "ok") / 3600, 4),
        processing_hours=round(sum(r.get("seconds") or 0 for r in latest.values()) / 3600, 4),
        failures=[
            dict(id=r["id"], status=r["status"], error=r.get("error"))
            for r in latest.values()
            if r["status"] in ("failed", "timeout")
        ],
    )
