"""What the command line prints: result lines, one-line errors, progress bars, exit codes.

Shared by the command modules (:mod:`meetsep.cli.commands`, :mod:`meetsep.cli.batch`). ``--quiet`` and
``--verbose`` (set on the ``meetsep`` group) decide what shows.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

EXIT_INPUT_ERROR = 1
EXIT_USAGE = 2


def fail(message: str) -> None:
    """``meetsep: error: <message>`` on stderr, always one line (control characters in file names escaped)."""
    click.echo(f"meetsep: error: {printable(message)}", err=True)


def printable(text: str) -> str:
    """``text`` with characters that are not printable (newlines, lone surrogates of odd file names) escaped."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


def verbosity() -> int:
    """-1 with --quiet, 1 with --verbose, else 0 (set by the top-level options)."""
    context = click.get_current_context(silent=True)
    return context.meta.get("meetsep.verbosity", 0) if context is not None else 0


def say(message: str, err: bool = False) -> None:
    """A result or status line; nothing with --quiet (errors always print, by :func:`_fail`)."""
    if verbosity() >= 0:
        click.echo(message, err=err)


def show_progress(requested: bool | None) -> bool:
    """Progress bars: as requested, else on a terminal unless --quiet."""
    if requested is not None:
        return requested
    return sys.stderr.isatty() and verbosity() >= 0


class ProgressHook:
    """Turns pipeline events into one tqdm bar per stage on a terminal (silent otherwise)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bar: Any = None

    def __call__(self, event: Any) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        if event.kind == "start":
            self.bar = tqdm(
                desc=f"{event.session_id}: {event.stage}", total=None, leave=False, file=sys.stderr, unit="step"
            )
        elif event.kind == "progress" and self.bar is not None:
            if event.total is not None and self.bar.total != event.total:
                self.bar.total = event.total
            self.bar.n = event.completed
            self.bar.refresh()
        elif event.kind == "end" and self.bar is not None:
            self.bar.close()
            self.bar = None


# Options that several commands share, declared once.
progress_option = click.option(
    "--progress/--no-progress", default=None, help="Progress bars (default: when stderr is a terminal)."
)
analytics_option = click.option(
    "--analytics",
    is_flag=True,
    help="Add call analytics to the JSON output (metadata.analytics; meetsep.analysis.analytics).",
)
_OUTPUT_OPTIONS = (
    click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path), help="Output folder."),
    click.option("--format", "formats", default="json,seglst,rttm,srt,vtt,txt", show_default=True,
                 help="Comma-separated output formats; html: the report page with the audio (not in the default)."),
    click.option("--config", "configs", multiple=True,
                 help="YAML config file or preset name (configs/); repeatable, later wins."),
    click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
                 help="Override a config value, e.g. asr.model=tiny.en."),
)  # fmt: skip


def output_options(command: Any) -> Any:
    """``--out``, ``--format``, ``--config`` and ``--set`` (transcribe and batch)."""
    for option in reversed(_OUTPUT_OPTIONS):
        command = option(command)
    return command


def chosen_formats(text: str) -> list[str]:
    """``--format``'s value as a list of formats; an unknown one is a usage error."""
    from meetsep.io.formats import parse_formats

    try:
        return parse_formats(text)
    except ValueError as error:
        raise click.UsageError(str(error)) from None
