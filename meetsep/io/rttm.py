"""A given who-spoke-when: RTTM files read strictly, for ``--diarization`` (the rest of the chain runs on it).

A conferencing platform's active-speaker log, a person's annotation or another system's output, as
RTTM (NIST RT-09: ``SPEAKER <file> <channel> <onset> <duration> <NA> <NA> <speaker> <NA> <NA>``; only
``SPEAKER`` lines are used, other line types such as ``SPKR-INFO`` are skipped; ``#`` starts a comment).
One file may hold several recordings: the lines whose file id is the recording's session id are
taken, or every line when the file names one recording only.

Every problem is one line naming the file and the line: not RTTM, a negative or non-finite time, an
empty speaker name, a segment that ends after the recording, no segment for this recording.
Segments shorter than a millisecond are dropped; a speaker's overlapping or touching segments are
joined.
"""

from __future__ import annotations

import math
from pathlib import Path

from meetsep.core.errors import ConfigError
from meetsep.schema import SpeakerSegment

END_TOLERANCE = 1.0  # s: a segment may end this far after the recording (annotation tools round up)
MAX_BYTES = 64 * 1024 * 1024  # a larger "RTTM" is refused before it is read


def read_rttm(path: str | Path, session_id: str | None = None, duration: float | None = None) -> list[SpeakerSegment]:
    """The speaker segments of ``session_id`` in the RTTM file ``path``, sorted by start.

    ``duration``: the recording's length in seconds; a segment ending more than ``END_TOLERANCE``
    after it is an error, one ending within it is cut at the end.

    Raises:
        ConfigError: one line naming the file (and line) and the problem.
    """
    path = Path(path)
    try:
        if path.stat().st_size > MAX_BYTES:
            raise ConfigError(f"{path}: diarization file over {MAX_BYTES // 2**20} MB")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: diarization file not found") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not an RTTM file (not UTF-8 text)") from None
    except OSError as error:
        raise ConfigError(f"{path}: diarization file unreadable ({error.strerror or type(error).__name__})") from None
    by_file: dict[str, list[tuple[int, SpeakerSegment]]] = {}
    for number, line in enumerate(text.splitlines(), 1):
        fields = line.split("#", 1)[0].split()
        if not fields or fields[0] != "SPEAKER":
            if fields and not fields[0].isupper():
                raise ConfigError(f"{path}:{number}: not an RTTM line (expected SPEAKER <file> <channel> <onset> ...)")
            continue
        if len(fields) < 8:
            raise ConfigError(f"{path}:{number}: an RTTM SPEAKER line has at least 8 fields, this one {len(fields)}")
        try:
            onset, length = float(fields[3]), float(fields[4])
        except ValueError:
            raise ConfigError(f"{path}:{number}: onset and duration must be numbers") from None
        if not (math.isfinite(onset) and math.isfinite(length)) or onset < 0 or length < 0:
            raise ConfigError(f"{path}:{number}: onset and duration must be finite and not negative")
        speaker = fields[7]
        if speaker in ("<NA>", ""):
            raise ConfigError(f"{path}:{number}: no speaker name")
        if duration is not None and onset + length > duration + END_TOLERANCE:
            raise ConfigError(
                f"{path}:{number}: segment ends at {onset + length:.2f} s, after the recording's end ({duration:.2f} s)"
            )
        end = onset + length if duration is None else min(onset + length, duration)
        if end - onset >= 0.001:
            by_file.setdefault(fields[1], []).append((number, SpeakerSegment(speaker=speaker, start=onset, end=end)))
    if session_id is not None and session_id in by_file:
        chosen = by_file[session_id]
    elif len(by_file) == 1:
        chosen = next(iter(by_file.values()))
    elif not by_file:
        raise ConfigError(f"{path}: no SPEAKER segments")
    else:
        names = ", ".join(sorted(by_file)[:5]) + (", ..." if len(by_file) > 5 else "")
        raise ConfigError(f"{path}: no segments for {session_id!r} (the file holds {names})")
    return _joined([segment for _, segment in chosen])


def _joined(segments: list[SpeakerSegment]) -> list[SpeakerSegment]:
    """Each speaker's overlapping or touching segments joined; all sorted by start, then speaker."""
    out: list[SpeakerSegment] = []
    last: dict[str, int] = {}
    for segment in sorted(segments, key=lambda s: (s.start, s.end, s.speaker)):
        index = last.get(segment.speaker)
        if index is not None and segment.start <= out[index].end:
            out[index] = out[index].model_copy(update={"end": max(out[index].end, segment.end)})
            continue
        last[segment.speaker] = len(out)
        out.append(segment)
    return sorted(out, key=lambda s: (s.start, s.speaker))
