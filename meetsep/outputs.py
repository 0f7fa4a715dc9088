"""The one route from a recording to files: transcribe, add analytics when asked, write every format.

``meetsep transcribe``, ``meetsep batch`` and ``meetsep report`` all write through here, so a format
added to :data:`WRITERS` reaches every command. A writer renders one format from the transcript, the
path it will be written to and the recording (the HTML page embeds or links the audio); the text
formats need only the transcript (:mod:`meetsep.io.formats`). All formats of one recording are
rendered before any is written, then written all or none (:func:`meetsep.io.formats.write_transcript`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meetsep.core.hooks import Hook, no_hook
from meetsep.io import formats
from meetsep.io.files import atomic_write_text
from meetsep.schema import Transcript

if TYPE_CHECKING:
    from meetsep.pipeline import Pipeline

Writer = Callable[[Transcript, Path, "Path | None"], str]
"""``(transcript, where it will be written, the recording or None) → the file's text``."""


def _text(fmt: str) -> Writer:
    render = formats.WRITERS[fmt]
    return lambda transcript, target, audio_path: render(transcript)


def _page(transcript: Transcript, target: Path, audio_path: Path | None) -> str:
    from meetsep.analysis.report import report_html

    return report_html(transcript, audio_path, target)


WRITERS: dict[str, Writer] = {**{fmt: _text(fmt) for fmt in formats.WRITERS}, "html": _page}


def write_outputs(
    transcript: Transcript, out_dir: Path, chosen: list[str], audio_path: Path | None = None
) -> list[Path]:
    """Write ``out_dir/<session_id>.<ext>`` for each of ``chosen`` (all or none); returns the paths."""
    unknown = [fmt for fmt in chosen if fmt not in WRITERS]
    if unknown:
        raise ValueError(f"unknown output format {unknown[0]!r} (choose from {', '.join(WRITERS)})")
    rendered = {
        fmt: WRITERS[fmt](transcript, formats.output_path(out_dir, transcript.session_id, fmt), audio_path)
        for fmt in chosen
    }
    return formats.write_transcript(transcript, out_dir, chosen, rendered)


def write_page(
    transcript: Transcript, out_path: Path, audio_path: Path | None = None, link_audio: bool = False
) -> Path:
    """The HTML page alone at ``out_path`` (``meetsep report``); ``link_audio`` links instead of embedding."""
    from meetsep.analysis.report import report_html

    return atomic_write_text(Path(out_path), report_html(transcript, audio_path, Path(out_path), link_audio))


def transcribe_to_files(
    pipeline: Pipeline,
    path: Path,
    out_dir: Path,
    chosen: list[str],
    *,
    analytics: bool = False,
    session_id: str | None = None,
    metadata: dict[str, Any] | None = None,
    diarization: Path | None = None,
    hook: Hook = no_hook,
) -> tuple[Transcript, list[Path]]:
    """Transcribe ``path`` with ``pipeline`` and write ``chosen`` formats to ``out_dir``.

    ``session_id`` names the files (default: the file's stem); ``metadata`` goes into the JSON;
    ``analytics`` adds :mod:`meetsep.analysis.analytics` (``metadata.analytics``); ``diarization``: an RTTM
    file of who spoke when, which the chain then runs on (:meth:`meetsep.Pipeline.__call__`).
    """
    for fmt in chosen:  # an unsafe output name fails before the work
        formats.output_path(out_dir, session_id or Path(path).stem, fmt)
    transcript = pipeline(path, diarization=diarization, hook=hook)
    update: dict[str, Any] = {}
    if session_id is not None:
        update["session_id"] = session_id
    if metadata is not None:
        update["metadata"] = metadata
    if update:
        transcript = transcript.model_copy(update=update)
    if analytics:
        from meetsep.analysis.analytics import with_analytics

        config = pipeline.config
        transcript = with_analytics(
            transcript, channel_speakers=config.audio.channel_speakers, agent=config.attribute.agent
        )
    return transcript, write_outputs(transcript, out_dir, chosen, audio_path=Path(path))
