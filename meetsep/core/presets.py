"""Configurations from YAML presets and overrides (:func:`load_config`), and the options the CLI and the API share.

A preset holds only what differs from the defaults. ``--set asr.beam_size=1`` style overrides
address fields by their dotted path; values are parsed as YAML scalars (``1``, ``true``, ``null``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from meetsep.core.config import PipelineConfig
from meetsep.core.errors import ConfigError
from meetsep.core.overrides import merge, one_line, set_path, split_override

PRESET_DIR = Path(__file__).resolve().parents[2] / "configs"

# Options that the CLI and the Python API both take by name, and the config field each one sets.
OPTION_FIELDS = {
    "num_speakers": "attribute.num_speakers",
    "min_speakers": "attribute.min_speakers",
    "max_speakers": "attribute.max_speakers",
    "layout": "audio.layout",
    "beamforming": "beamform.kind",
    "separation": "separate.kind",
    "speakers": "attribute.speaker_db",
}


def option_overrides(**options: Any) -> dict[str, Any]:
    """``option_overrides(num_speakers=3, layout=None)`` → ``{"attribute.num_speakers": 3}``."""
    return {OPTION_FIELDS[name]: value for name, value in options.items() if value is not None}


def _resolve_preset(name_or_path: str | Path) -> Path:
    path = Path(name_or_path)
    if path.is_file():
        return path
    candidate = PRESET_DIR / f"{name_or_path}.yaml"
    if candidate.is_file():
        return candidate
    known = ", ".join(sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))) or "none"
    raise ConfigError(f"{name_or_path}: config file not found (presets: {known})")


def load_config(
    files: list[str | Path] | tuple[str | Path, ...] = (),
    overrides: dict[str, Any] | list[str] | tuple[str, ...] = (),
) -> PipelineConfig:
    """Build a config from defaults, YAML files (or preset names) in order, then overrides.

    Args:
        files: YAML files or names of presets in ``configs/``; later files win.
        overrides: ``{"asr.beam_size": 1}`` or ``["asr.beam_size=1", ...]``.
    """
    data: dict[str, Any] = {}
    for file in files:
        path = _resolve_preset(file)
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as error:
            raise ConfigError(f"{path}: invalid YAML ({str(error).splitlines()[0]})") from None
        except (OSError, UnicodeDecodeError, RecursionError) as error:
            raise ConfigError(f"{path}: unreadable config ({one_line(error)})") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: a config file must hold a mapping of sections")
        merge(data, loaded)
    items = overrides.items() if isinstance(overrides, dict) else (split_override(o) for o in overrides)
    for key, value in items:
        set_path(data, key, value)
    try:
        return PipelineConfig.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "config"
        raise ConfigError(f"config: {where[:200]}: {one_line(first['msg'])}") from None
    except RecursionError:
        raise ConfigError("config: a value is nested too deeply") from None
