"""Override text (``section.key=value``) parsed into config data: values are YAML scalars read with a safe
loader that refuses aliases, keys are checked before they reach the config's validation."""

from __future__ import annotations

import re
from typing import Any

import yaml

from meetsep.core.errors import ConfigError


class ValueLoader(yaml.SafeLoader):
    """YAML's safe loader without aliases: an override is one value, not a graph that could expand."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            raise ConfigError("YAML aliases (*name) are not accepted in an override value")
        return super().compose_node(parent, index)


def parse_value(text: str) -> Any:
    """An override's value as a YAML scalar or structure (``1``, ``true``, ``null``, ``[1, 2]``), else the text."""
    try:
        return yaml.load(text, Loader=ValueLoader)  # a SafeLoader subclass: data only
    except yaml.YAMLError:
        return text


KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


def set_path(data: dict[str, Any], dotted: str, value: Any) -> None:
    if not isinstance(dotted, str) or not KEY.fullmatch(dotted):
        raise ConfigError(f"cannot set {str(dotted)[:80]!r}: expected section.key, e.g. asr.beam_size")
    keys = dotted.split(".")
    node = data
    for key in keys[:-1]:
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            raise ConfigError(f"cannot set {dotted!r}: {key!r} is not a section")
        node = child
    node[keys[-1]] = value


def one_line(error: BaseException | str) -> str:
    text = " ".join(str(error).split())
    return (text[:297] + "...") if len(text) > 300 else text or type(error).__name__


def split_override(text: str) -> tuple[str, Any]:
    """``"asr.beam_size=1"`` → ``("asr.beam_size", 1)``.

    Raises:
        ConfigError: no ``=``, or a value nested too deeply to read.
    """
    if "=" not in text:
        raise ConfigError(f"override {text[:80]!r} is not key=value")
    key, value = text.split("=", 1)
    try:
        return key.strip(), parse_value(value)
    except RecursionError:
        raise ConfigError(f"override {key.strip()[:80]!r}: value nested too deeply") from None
    except ConfigError as error:
        raise ConfigError(f"override {key.strip()[:80]!r}: {error}") from None


def merge(base: dict[str, Any], update: dict[str, Any]) -> None:
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merge(base[key], value)
        else:
            base[key] = value


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"asr": {"beam_size": 1}}`` → ``{"asr.beam_size": 1}``."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, path + "."))
        else:
            flat[path] = value
    return flat
