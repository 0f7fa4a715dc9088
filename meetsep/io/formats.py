"""Transcript writers: JSON, SegLST (meeteval), RTTM, SRT, VTT and plain text.

The formats of one transcript are written all or none: every file goes to a temporary name in the
output folder and the set is renamed into place only when all were written, so a crash, a full disk
or a bad input never leaves a partial output. The output name (the session id) must be one plain
file name whose path stays inside the output folder; this is checked before anything is written.
Output is a pure function of the transcript (no dates, no timings), so the same input and config
give byte-identical files. In RTTM, whose fields are separated by spaces, white space inside the
session id or a speaker name is written as ``_``.

The HTML report (format ``html``) also needs the audio; :mod:`meetsep.analysis.report` renders it and hands
it to :func:`write_transcript` with the others.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

from meetsep.core.errors import OutputError
from meetsep.io.files import atomic_paths, confined
from meetsep.schema import Transcript, Turn, Word

FORMATS = ("json", "seglst", "rttm", "srt", "vtt", "txt")  # rendered from the transcript alone
PAGE_FORMATS = ("html",)  # rendered with the audio (meetsep.outputs.WRITERS)
EXTENSIONS = {
    "json": "json", "seglst": "seglst.json", "rttm": "rttm", "srt": "srt", "vtt": "vtt", "txt": "txt", "html": "html",
}  # fmt: skip
CAPTION_SECONDS = 7.0
CAPTION_CHARACTERS = 84


def to_json(transcript: Transcript) -> str:
    return transcript.model_dump_json(indent=2) + "\n"


def seglst_entries(transcript: Transcript) -> list[dict[str, object]]:
    """One meeteval SegLST entry per speaker turn."""
    return turn_entries(transcript.session_id, transcript.turns)


def turn_entries(session_id: str, turns: list[Turn]) -> list[dict[str, object]]:
    """SegLST entries of ``turns`` (one per turn) in session ``session_id``."""
    return [
        dict(session_id=session_id, speaker=t.speaker, start_time=t.start, end_time=t.end, words=t.text) for t in turns
    ]


def diarization_entries(transcript: Transcript) -> list[dict[str, object]]:
    """The diarization as SegLST-style entries without words (what DER scoring reads)."""
    return [dict(speaker=s.speaker, start_time=s.start, end_time=s.end) for s in transcript.diarization]


def to_seglst(transcript: Transcript) -> str:
    from meeteval.io import SegLST

    return SegLST(seglst_entries(transcript)).dumps() + "\n"


def rttm_field(text: str) -> str:
    """``text`` as one RTTM field: white space (which separates fields) becomes ``_``; empty is ``<NA>``."""
    return re.sub(r"\s+", "_", text) or "<NA>"


def to_rttm(transcript: Transcript) -> str:
    """Diarization (who speaks when, overlaps included) as NIST RTTM, one SPEAKER line per segment."""
    file_id = rttm_field(transcript.session_id)
    return "".join(
        f"SPEAKER {file_id} 1 {s.start:.3f} {s.end - s.start:.3f} <NA> <NA> {rttm_field(s.speaker)} <NA> <NA>\n"
        for s in transcript.diarization
    )


def _clock(seconds: float, separator: str) -> str:
    milliseconds = int(round(seconds * 1000))
    hours, rest = divmod(milliseconds, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def captions(turn: Turn) -> list[list[Word]]:
    """Split a turn's words into caption-sized pieces (≤ 7 s, ≤ 84 characters)."""
    pieces: list[list[Word]] = []
    for word in turn.words:
        if pieces:
            current = pieces[-1]
            length = sum(len(w.text) + 1 for w in current) + len(word.text)
            if word.end - current[0].start <= CAPTION_SECONDS and length <= CAPTION_CHARACTERS:
                current.append(word)
                continue
        pieces.append([word])
    return pieces


def _cues(transcript: Transcript) -> list[tuple[float, float, str, str]]:
    cues = []
    for turn in transcript.turns:
        for piece in captions(turn):
            cues.append((piece[0].start, max(w.end for w in piece), turn.speaker, " ".join(w.text for w in piece)))
    return sorted(cues, key=lambda c: (c[0], c[1], c[2]))


def to_srt(transcript: Transcript) -> str:
    blocks = [
        f"{index}\n{_clock(start, ',')} --> {_clock(end, ',')}\n[{speaker}] {text}\n"
        for index, (start, end, speaker, text) in enumerate(_cues(transcript), 1)
    ]
    return "\n".join(blocks)


def to_vtt(transcript: Transcript) -> str:
    blocks = [
        f"{_clock(start, '.')} --> {_clock(end, '.')}\n<v {speaker}>{text}\n"
        for start, end, speaker, text in _cues(transcript)
    ]
    return "WEBVTT\n\n" + "\n".join(blocks)


def to_txt(transcript: Transcript) -> str:
    lines = [
        f"[{_clock(t.start, '.')} - {_clock(t.end, '.')}] {t.speaker}{' (overlap)' if t.overlap else ''}: {t.text}"
        for t in transcript.turns
    ]
    return "\n".join(lines) + ("\n" if lines else "")


WRITERS: dict[str, Callable[[Transcript], str]] = {
    "json": to_json,
    "seglst": to_seglst,
    "rttm": to_rttm,
    "srt": to_srt,
    "vtt": to_vtt,
    "txt": to_txt,
}


def parse_formats(text: str | list[str]) -> list[str]:
    """``"json,srt"`` → ``["json", "srt"]``; raises ValueError naming an unknown format."""
    names = [n.strip().lower() for n in (text.split(",") if isinstance(text, str) else text) if n.strip()]
    unknown = [n for n in names if n not in EXTENSIONS]
    if unknown:
        raise ValueError(f"unknown output format {unknown[0]!r} (choose from {', '.join(FORMATS + PAGE_FORMATS)})")
    if not names:
        raise ValueError("no output format given")
    return list(dict.fromkeys(names))


def output_path(out_dir: Path, session_id: str, fmt: str) -> Path:
    """``out_dir/<session_id>.<ext>``, checked: one plain file name, resolving inside ``out_dir``.

    Raises:
        OutputError: a session id with a path separator, a NUL or control character, or one that
            lands outside ``out_dir``.
    """
    if not session_id or "/" in session_id or "\0" in session_id or (os.altsep and os.altsep in session_id):
        raise OutputError(f"{session_id!r}: not a plain file name for outputs in {out_dir}")
    if any(ord(char) < 32 for char in session_id):
        raise OutputError(f"{session_id!r}: control characters in an output name")
    return confined(out_dir, f"{session_id}.{EXTENSIONS[fmt]}")


def write_transcript(
    transcript: Transcript, out_dir: Path, formats: list[str], rendered: dict[str, str] | None = None
) -> list[Path]:
    """Write ``out_dir/<session_id>.<ext>`` for each format, all or none; returns the paths.

    ``rendered`` holds outputs already rendered elsewhere (every format, by :mod:`meetsep.outputs`).

    Raises:
        OutputError: an unsafe output name, or a file that could not be written (then none is).
    """
    given = rendered or {}
    missing = [fmt for fmt in formats if fmt not in WRITERS and fmt not in given]
    if missing:
        raise ValueError(f"format {missing[0]!r} needs the audio: write it with meetsep.outputs.write_outputs")
    finals = [output_path(out_dir, transcript.session_id, fmt) for fmt in formats]  # checked before any write
    # render all before writing any
    data = [(given[fmt] if fmt in given else WRITERS[fmt](transcript)).encode("utf-8") for fmt in formats]
    try:
        with atomic_paths(finals) as temporaries:
            for temporary, content in zip(temporaries, data):
                with open(temporary, "wb") as stream:
                    stream.write(content)
                    stream.flush()
                    os.fsync(stream.fileno())
    except OSError as error:
        reason = error.strerror or str(error) or type(error).__name__
        raise OutputError(f"{error.filename or out_dir}: cannot write outputs ({reason})") from None
    return finals


def read_transcript(path: Path) -> Transcript:
    return Transcript.model_validate_json(Path(path).read_text(encoding="utf-8"))
