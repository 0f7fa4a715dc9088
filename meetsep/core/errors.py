"""Errors that meetsep reports to users as one clear line."""

from __future__ import annotations

from pathlib import Path

# What a refusal to load a model file says the user may do about it.
TRUST_HINT = "only if you trust this file, set runtime.trust_model_code=true (meetsep separate: --trust-model-code)"


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


class ModelFileError(MeetsepError, ValueError):
    """A model file or folder cannot be used: unsafe (it would run code), malformed, or mismatched.

    The message names the file and the problem. It is a ``ValueError`` too, as the loaders raised before.
    """


class OutputError(MeetsepError):
    """An output cannot be written where asked: a path outside the output folder, an unwritable folder,
    or a batch folder another run holds."""
