"""Guards around libsndfile's decoders: what they print, and what they do not check.

- libsndfile decodes MP3 with libmpg123, which writes notes and errors ("Illegal Audio-MPEG-Header",
  "dequantization failed") straight to the process's stderr, past Python. :func:`quiet_decoder`
  points file descriptor 2 at a temporary file for the duration of one decoder call (never longer,
  so meetsep's own messages are not caught) and logs what was captured as a debug note
  (``meetsep -v`` shows it). It is used for MPEG files only (:func:`is_mpeg`).
- libsndfile reads a cut WAV silently, shortened: :func:`wav_missing_bytes` compares the header's
  data size with the file's.
"""

from __future__ import annotations

import os
import struct
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from meetsep.core.logs import logger

MPEG_SUFFIXES = (".mp3", ".mp2", ".mpga")
_STDERR_LOCK = threading.RLock()  # one redirection at a time; a nested one (same thread) is harmless


def is_mpeg(path: Path) -> bool:
    """Whether libsndfile will hand ``path`` to its MPEG decoder: an MP3 name, an ID3 tag or an MPEG frame sync."""
    if Path(path).suffix.lower() in MPEG_SUFFIXES:
        return True
    try:
        with open(path, "rb") as stream:
            head = stream.read(3)
    except OSError:
        return False
    return head == b"ID3" or (len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0)


@contextmanager
def quiet_decoder(active: bool = True) -> Iterator[None]:
    """Capture what C code writes to stderr inside the block (when ``active``) and log it as a debug note."""
    if not active:
        yield
        return
    with _STDERR_LOCK, tempfile.TemporaryFile() as capture:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            noise = " ".join(capture.read(4000).decode("utf-8", "replace").split())
            if noise:
                logger.debug("audio decoder: %s", noise)


def wav_missing_bytes(path: Path) -> int:
    """Bytes a RIFF/WAVE header declares for its data chunk beyond the end of the file (0 if whole).

    libsndfile reads a cut WAV silently, shortening it; the header still tells the original size.
    Sizes 0 and 0xFFFFFFFF mean "unknown" (streamed writers) and are not checked.
    """
    size = path.stat().st_size
    with open(path, "rb") as stream:
        header = stream.read(12)
        if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"WAVE":
            return 0
        position = 12
        while position + 8 <= size:
            stream.seek(position)
            chunk_id, chunk_size = struct.unpack("<4sI", stream.read(8))
            if chunk_id == b"data":
                if chunk_size in (0, 0xFFFFFFFF):
                    return 0
                return max(0, position + 8 + chunk_size - size)
            position += 8 + chunk_size + (chunk_size & 1)
    return 0
