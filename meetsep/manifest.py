"""What a batch run transcribes: items from a folder or a manifest, and shards of them.

Items come from a folder (recursive, by audio extension) or a manifest (JSONL or CSV with a ``path``
column and optional ``id``, ``layout``, ``num_speakers``, ``min_speakers``, ``max_speakers``; other
columns are metadata passed through to the JSON output). ``--shard I/N`` keeps every N-th item.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from meetsep.audio import AUDIO_EXTENSIONS
from meetsep.errors import ConfigError

ITEM_OPTIONS = ("layout", "num_speakers", "min_speakers", "max_speakers")


@dataclass(frozen=True)
class BatchItem:
    """One recording to transcribe. ``id`` names its outputs: ``OUT/<id>.<ext>``."""

    id: str
    path: Path
    options: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)


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
