"""Batch transcription of recording archives: resumable, one record per result.

- An item is done when ``OUT/.meetsep/state/<id>.json`` records the same key: a hash of the input's
  content and of the effective config (with the item's own overrides and the output formats). Such
  items are skipped; ``overwrite`` redoes them. Outputs and state records are written atomically, so
  after a kill (even SIGKILL of the whole process group) a re-run redoes only unfinished items and
  ends with outputs identical to an uninterrupted run.
- Every result (ok, failed, timeout, skipped) is appended to ``OUT/batch_report.jsonl`` with the
  error, processing seconds and audio seconds; a bad file never stops the run.
- An item's id names its outputs, ``OUT/<id>.<ext>``: it is normalized (:func:`meetsep.io.files.normalized_name`)
  and its outputs and state record must resolve inside ``OUT``; both are checked before anything is
  transcribed or written.

Items come from :mod:`meetsep.io.manifest`; the engines that run them from :mod:`meetsep.batch.engines`.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from meetsep.analysis.analytics import Analytics, stored_or_computed
from meetsep.core.config import PipelineConfig
from meetsep.core.errors import ConfigError, MeetsepError, OutputError
from meetsep.io.files import atomic_write_text, confined, normalized_name
from meetsep.io.manifest import BatchItem

if TYPE_CHECKING:
    from meetsep.pipeline import Pipeline

STATE_DIR = ".meetsep/state"
LOCK_NAME = ".meetsep/lock"
REPORT_NAME = "batch_report.jsonl"
Status = Literal["ok", "failed", "timeout", "skipped"]


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
        problem = " ".join(str(error).split())[:200]
        raise ConfigError(f"{item.path}: invalid manifest options {item.options} ({problem})") from None


def item_key(
    content_digest: str, config: PipelineConfig, formats: list[str], metadata: dict[str, Any], analytics: bool = False
) -> str:
    parts: list[Any] = [content_digest, config.config_hash(), formats, metadata]
    blob = json.dumps(parts + ["analytics"] if analytics else parts, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:32]


def _state_path(out_dir: Path, item_id: str) -> Path:
    return confined(out_dir, f"{STATE_DIR}/{item_id}.json")


def item_targets(out_dir: Path, item_id: str) -> tuple[str, Path, str]:
    """``(normalized id, folder of the outputs, their file stem)``, checked to stay in ``out_dir`` (state record too).

    Raises:
        OutputError: an id that is not a safe relative name, or a path that resolves outside ``out_dir``.
    """
    try:
        name = normalized_name(item_id)
    except ValueError as problem:
        raise OutputError(f"{out_dir}: id {item_id!r} {problem}; refused") from None
    confined(out_dir, name)
    _state_path(out_dir, name)
    return name, (out_dir / name).parent, name.rsplit("/", 1)[-1]


def is_done(out_dir: Path, item_id: str, key: str) -> bool:
    try:
        state = json.loads(_state_path(out_dir, item_id).read_text(encoding="utf-8"))
    except (OSError, ValueError, MeetsepError):
        return False
    outputs = state.get("outputs", []) if isinstance(state, dict) else None
    if not isinstance(outputs, list) or not all(isinstance(name, str) for name in outputs):
        return False
    return state.get("key") == key and all((out_dir / name).is_file() for name in outputs)


class Pipelines:
    """A worker's own pipelines, one per effective config (a manifest item may override settings),
    built on first use by ``factory`` (default :class:`meetsep.pipeline.Pipeline`) and kept."""

    def __init__(self, factory: Callable[[PipelineConfig], Pipeline] | None = None) -> None:
        self.factory = factory
        self.built: dict[str, Pipeline] = {}

    def get(self, config: PipelineConfig) -> Pipeline:
        key = config.config_hash()
        if key not in self.built:
            if self.factory is None:
                from meetsep.pipeline import Pipeline

                self.factory = Pipeline
            self.built[key] = self.factory(config)
        return self.built[key]


def process_item(
    item: BatchItem,
    config: PipelineConfig,
    out_dir: Path,
    formats: list[str],
    overwrite: bool,
    analytics: bool = False,
    pipelines: Pipelines | None = None,
) -> ItemResult:
    """Transcribe one item unless already done; never raises for a bad input.

    ``analytics``: add :mod:`meetsep.analysis.analytics` to the JSON (``metadata.analytics``);
    ``pipelines``: the worker's pipelines (default: new ones for this item alone).
    """
    from meetsep.outputs import transcribe_to_files

    started = time.perf_counter()
    result = ItemResult(id=item.id, path=str(item.path), status="failed")
    try:
        name, target, stem = item_targets(out_dir, item.id)  # before any work: an unsafe id writes nothing
        effective = item_config(config, item)
        if not item.path.is_file():
            raise MeetsepError(f"{item.path}: file not found")
        content = file_digest(item.path)
        if item.diarization is not None:  # a changed who-spoke-when redoes the item
            if not item.diarization.is_file():
                raise MeetsepError(f"{item.diarization}: diarization file not found")
            content += ":" + file_digest(item.diarization)
        result.key = key = item_key(content, effective, formats, item.metadata, analytics)
        if not overwrite and is_done(out_dir, name, key):
            result.status = "skipped"
            return result
        pipeline = (pipelines or Pipelines()).get(effective)
        transcript, written = transcribe_to_files(
            pipeline,
            item.path,
            target,
            formats,
            analytics=analytics,
            session_id=stem,
            metadata=item.metadata,
            diarization=item.diarization,
        )
        result.outputs = [p.relative_to(out_dir).as_posix() for p in written]
        atomic_write_text(
            _state_path(out_dir, name), json.dumps({"key": key, "outputs": result.outputs}, sort_keys=True) + "\n"
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


def latest_records(out_dirs: list[Path]) -> tuple[dict[tuple[str, str], dict[str, Any]], set[str]]:
    """The latest record of every (folder, item id), and the runs seen."""
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    runs: set[str] = set()
    for out_dir in out_dirs:
        for record in read_report(out_dir):
            runs.add(record.get("run", "?"))
            previous = latest.get((str(out_dir), record["id"]))
            if record["status"] == "skipped" and previous is not None and previous["status"] == "ok":
                continue  # keep the run that did the work
            latest[(str(out_dir), record["id"])] = record
    return latest, runs


def summarize_reports(out_dirs: list[Path]) -> dict[str, Any]:
    """Latest status of every item over one or more batch folders, with totals and failures."""
    latest, runs = latest_records(out_dirs)
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


ANALYTICS_COLUMNS = (
    "duration", "speakers", "speech_seconds", "silence_seconds", "overlap_seconds",
    "overtalk_count", "overtalk_seconds", "overtalk_longest", "interruptions",
    "dead_air_count", "dead_air_seconds", "dead_air_longest",
    "agent", "customer", "agent_talk_seconds", "customer_talk_seconds", "agent_talk_to_listen",
    "agent_words_per_minute", "customer_words_per_minute", "agent_longest_monologue", "customer_longest_monologue",
    "agent_interruptions", "customer_interruptions", "agent_response_latency", "customer_response_latency",
)  # fmt: skip


def metric_row(analytics: Analytics) -> dict[str, Any]:
    """The call-level measures of ``analytics`` as one flat row (``ANALYTICS_COLUMNS``; agent and customer
    columns are None unless the recording is a call-center stereo one)."""
    row: dict[str, Any] = dict(
        duration=analytics.duration,
        speakers=len(analytics.speakers),
        speech_seconds=analytics.speech_seconds,
        silence_seconds=analytics.silence_seconds,
        overlap_seconds=analytics.overlap_seconds,
        overtalk_count=analytics.overtalk.count,
        overtalk_seconds=analytics.overtalk.total_seconds,
        overtalk_longest=analytics.overtalk.longest_seconds,
        interruptions=analytics.overtalk.interruptions,
        dead_air_count=analytics.dead_air.count,
        dead_air_seconds=analytics.dead_air.total_seconds,
        dead_air_longest=analytics.dead_air.longest_seconds,
        agent_talk_to_listen=analytics.agent_talk_to_listen,
    )
    roles = analytics.roles
    for role in ("agent", "customer"):
        name = getattr(roles, role) if roles else None
        stats = next((s for s in analytics.speakers if s.speaker == name), None)
        latencies = [x for x in analytics.response_latency if x.responder == name]
        count = sum(x.count for x in latencies)
        row[role] = name
        row[f"{role}_talk_seconds"] = stats.talk_seconds if stats else None
        row[f"{role}_words_per_minute"] = stats.words_per_minute if stats else None
        row[f"{role}_longest_monologue"] = stats.longest_monologue if stats else None
        row[f"{role}_interruptions"] = (
            sum(p.interruptions for p in analytics.overtalk.by_pair if p.by == name) if stats else None
        )
        row[f"{role}_response_latency"] = (
            round(sum(x.mean_seconds * x.count for x in latencies) / count, 3) if count else None
        )
    return {column: row[column] for column in ANALYTICS_COLUMNS}


# speaker_count_confidence and count_uncertain (below meetsep.analysis.report.LOW_COUNT_CONFIDENCE): which
# files of an archive to check, or to re-run with the number of speakers given
METRIC_COLUMNS = (
    "folder", "id", "path", "status", "error", "speaker_count_confidence", "count_uncertain", *ANALYTICS_COLUMNS,
)  # fmt: skip


def _json_output(out_dir: Path, item_id: str) -> Path | None:
    """The transcript JSON the state record of ``item_id`` lists, if any."""
    try:
        outputs = json.loads(_state_path(out_dir, item_id).read_text(encoding="utf-8")).get("outputs", [])
    except (OSError, json.JSONDecodeError):
        return None
    found = [name for name in outputs if name.endswith(".json") and not name.endswith(".seglst.json")]
    return out_dir / found[0] if found else None


def metric_rows(out_dirs: list[Path]) -> list[dict[str, Any]]:
    """One row per file of one or more batch folders: its latest status and its analytics.

    The analytics are those the JSON output holds (``--analytics``), else computed from it with the
    default settings; a file without a JSON output (or not done) gets empty analytics columns.
    """
    from meetsep.analysis.report import count_note
    from meetsep.io.formats import read_transcript

    latest, _ = latest_records(out_dirs)
    rows = []
    for (folder, item_id), record in sorted(latest.items()):
        row: dict[str, Any] = dict(folder=folder, id=item_id, path=record.get("path"), status=record["status"])
        row["error"] = record.get("error")
        output = _json_output(Path(folder), item_id) if record["status"] in ("ok", "skipped") else None
        if output is not None and output.is_file():
            transcript = read_transcript(output)
            row.update(metric_row(stored_or_computed(transcript)))
            row["speaker_count_confidence"] = transcript.speaker_count_confidence
            row["count_uncertain"] = count_note(transcript) is not None
        elif record["status"] in ("ok", "skipped"):
            row["error"] = "no transcript JSON (run the batch with --format json)"
        rows.append({column: row.get(column) for column in METRIC_COLUMNS})
    return rows


def metrics_csv(rows: list[dict[str, Any]]) -> str:
    """``rows`` as CSV text with a header; empty cells for None."""
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=METRIC_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: "" if v is None else v for k, v in row.items()} for row in rows)
    return buffer.getvalue()
