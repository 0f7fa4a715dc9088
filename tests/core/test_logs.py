"""Known third-party warnings are silenced when meetsep is imported and shown again with --verbose."""

from __future__ import annotations

import logging
import warnings

import pytest

import meetsep  # noqa: F401  (importing meetsep silences the known warnings)
from meetsep.core import logs

TF32 = "TF32 acceleration on top of oneDNN is available for Intel GPUs. The current Torch version ..."


def emitted(message: str, category: type[Warning] = UserWarning) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        # record=True resets showwarning only; keep the filters meetsep installed
        warnings.warn(message, category, stacklevel=1)
    return [str(w.message) for w in caught]


@pytest.fixture
def restore_filters():
    saved, show = list(warnings.filters), warnings.showwarning
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    warnings.filters[:] = saved
    warnings._filters_mutated()
    warnings.showwarning = show
    root.handlers[:], root.level = handlers, level


def test_known_warnings_are_silenced_and_others_are_not(restore_filters):
    warnings.simplefilter("always")  # pytest's own "ignore UserWarning" would hide everything
    logs.silence_known_warnings()
    assert emitted(TF32) == []
    assert emitted("some other library warns about something") == ["some other library warns about something"]


def test_verbose_shows_the_known_warnings_again(restore_filters):
    warnings.simplefilter("always")
    logs.silence_known_warnings()
    logs.show_known_warnings()
    assert emitted(TF32) == [TF32]
    logs.silence_known_warnings()
    assert emitted(TF32) == []


def test_a_warning_that_shows_is_one_log_line(restore_filters, capsys):
    logs.configure(0)
    warnings.simplefilter("always")
    logs.silence_known_warnings()
    warnings.warn(TF32, UserWarning, stacklevel=1)
    warnings.warn("first line\nsecond line", UserWarning, stacklevel=1)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("meetsep: UserWarning: first line second line (")


def test_quiet_hides_warnings(restore_filters, capsys):
    logs.configure(-1)
    warnings.simplefilter("always")
    warnings.warn("a library warns", UserWarning, stacklevel=1)
    logs.logger.warning("a meetsep note")
    assert capsys.readouterr().err == ""
