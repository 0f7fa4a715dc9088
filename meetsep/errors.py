"""Errors that meetsep reports to users as one clear line."""

from __future__ import annotations

from pathlib import Path


class MeetsepError(Exception):
    """Base class for errors meant for the user: the message is one line, ready to print."""


class AudioInputError(MeetsepError):
    """An input recording cannot be used; the message names the file and the problem."""

    def __init__(self, source: str | Path, problem: str) -> None:
        self.source = str(source)
        self.problem = problem
        super().__init__(f"{self.source}: {problem}")


class ConfigError(MeetsepError):
    """A configuration value, preset or override is invalid."""


class ModelNotFoundError(MeetsepError):
    """A model is not available locally; the message says how to provide it."""
