"""What a batch run transcribes: items from a folder or a manifest, and shards of them.

Items come from a folder (recursive, by audio extension) or a manifest (JSONL or CSV with a ``path``
column and optional ``id``, ``layout``, ``num_speakers``, ``min_speakers``, ``max_speakers``,
``diarization`` (an RTTM file of who spoke when, relative to the manifest like ``path``); other columns are
metadata passed through to the JSON output). ``--shard I/N`` keeps every N-th item.

An id names the item's outputs (``OUT/<id>.<ext>``), so it is normalized and checked here, before
anything runs (:func:`meetsep.io.files.normalized_name`: no absolute paths, no ``..``, no hidden
parts such as ``.meetsep``); ``x`` and ``./x`` are one id, and two items with one id are an error.
A folder's hidden files and folders (``.name``) are not items. Every problem with a manifest is one
line naming the file and the line.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from meetsep.core.errors import ConfigError
from meetsep.io.audio import AUDIO_EXTENSIONS
from meetsep.io.files import normalized_name

ITEM_OPTIONS = ("layout", "num_speakers", "min_speakers", "max_speakers")
LAYOUTS = ("auto", "mono", "array", "stereo-speakers")
MAX_SPEAKERS = 1000


@dataclass(frozen=True)
class BatchItem:
    """One recording to transcribe. ``id`` names its outputs: ``OUT/<id>.<ext>``."""

    id: str
    path: Path
    options: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    diarization: Path | None = None  # a given who-spoke-when (RTTM)


def discover(source: str | Path) -> list[BatchItem]:
    """Items of a folder (recursive) or a JSONL / CSV manifest, sorted by id.

    Raises:
        ConfigError: unreadable manifest, a row without ``path``, or two items with one id.
    """
    source = Path(source)
    if source.is_dir():
        files = sorted(
            p
            for p in source.rglob("*")
            if p.is_file()
            and p.suffix.lower() in AUDIO_EXTENSIONS
            and not any(part.startswith(".") for part in p.relative_to(source).parts)
        )
        items = [BatchItem(_checked_id(p.relative_to(source).with_suffix("").as_posix(), str(p)), p) for p in files]
    elif source.suffix.lower() in (".jsonl", ".csv") and source.is_file():
        try:
            items = [_item_from_row(row, source, number) for number, row in _manifest_rows(source)]
        except UnicodeDecodeError:
            raise ConfigError(f"{source}: not UTF-8 text") from None
        except (OSError, csv.Error) as error:
            raise ConfigError(f"{source}: unreadable manifest ({' '.join(str(error).split())[:200]})") from None
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


def _checked_id(text: str, where: str) -> str:
    try:
        return normalized_name(text)
    except ValueError as problem:
        raise ConfigError(f"{where}: id {text[:100]!r} {problem}") from None


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number JSON allows")


def _manifest_rows(path: Path) -> Iterable[tuple[int, dict[str, Any]]]:
    with open(path, newline="", encoding="utf-8") as stream:
        if path.suffix.lower() == ".csv":
            reader = csv.DictReader(stream)
            for row in reader:
                number = reader.line_num
                if None in row:
                    raise ConfigError(f"{path}:{number}: more fields than the header names")
                yield number, {k: v for k, v in row.items() if v not in (None, "")}
            return
        for number, line in enumerate(stream, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line, parse_constant=_refuse_constant)
            except json.JSONDecodeError as error:
                raise ConfigError(f"{path}:{number}: invalid JSON ({error.msg})") from None
            except (ValueError, RecursionError) as error:
                raise ConfigError(f"{path}:{number}: invalid JSON ({' '.join(str(error).split())[:100]})") from None
            if not isinstance(row, dict):
                raise ConfigError(f"{path}:{number}: each line must be a JSON object")
            yield number, row


def _item_from_row(row: dict[str, Any], manifest: Path, number: int) -> BatchItem:
    where = f"{manifest}:{number}"
    if row.get("path") is None:
        raise ConfigError(f"{where}: no 'path'")
    path = _file(row["path"], manifest, where, "path")
    diarization = _file(row["diarization"], manifest, where, "diarization") if "diarization" in row else None
    options: dict[str, Any] = {}
    for key in ITEM_OPTIONS:
        if key in row:
            options[key] = _layout(row[key], where) if key == "layout" else _positive_int(row[key], where, key)
    metadata = {k: v for k, v in row.items() if k not in ("path", "id", "diarization", *ITEM_OPTIONS)}
    given_id = row.get("id")
    if given_id in (None, ""):
        given_id = path.stem
    elif isinstance(given_id, bool) or not isinstance(given_id, (str, int)):
        raise ConfigError(f"{where}: 'id' must be a text or an integer")
    return BatchItem(_checked_id(str(given_id), where), path, options, metadata, diarization)


def _file(given: Any, manifest: Path, where: str, key: str) -> Path:
    """A manifest's file name: non-empty text without NUL; relative names are relative to the manifest."""
    if not isinstance(given, str) or not given.strip():
        raise ConfigError(f"{where}: {key!r} must be a non-empty text")
    if "\0" in given:
        raise ConfigError(f"{where}: {key!r} contains a NUL character")
    path = Path(given).expanduser()
    return path if path.is_absolute() else manifest.parent / path


def _layout(value: Any, where: str) -> str:
    if value not in LAYOUTS:
        raise ConfigError(f"{where}: layout must be one of {', '.join(LAYOUTS)}, got {str(value)[:40]!r}")
    return str(value)


def _positive_int(value: Any, where: str, key: str) -> int:
    try:
        result = int(value)
    except (TypeError, ValueError, OverflowError):
        result = 0
    if isinstance(value, float) and not math.isfinite(value):
        result = 0
    if not 1 <= result <= MAX_SPEAKERS or str(value).strip() != str(result):
        raise ConfigError(
            f"{where}: {key} must be a positive integer (at most {MAX_SPEAKERS}), got {str(value)[:40]!r}"
        )
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
