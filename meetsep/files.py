"""Atomic file writes: a file (or a set of files, or a folder) appears whole or not at all.

Everything meetsep writes — transcripts, separated streams, converted or joined model weights,
simulated meetings, batch state — goes through a temporary name in the destination folder and a
rename, so a crash, a kill or a failing writer never leaves a partial file under the final name.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_paths(finals: list[Path]) -> Iterator[list[Path]]:
    """Temporary paths, one per final path, renamed onto them only when the block succeeds.

    All temporaries sit in their final folders (same file system, so the renames are atomic) and
    are removed if the block raises. The renames run one after another at the end, once every file
    was written: a failure of any writer leaves none of the files.
    """
    temporaries: list[Path] = []
    try:
        for final in finals:
            final.parent.mkdir(parents=True, exist_ok=True)
            handle, name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
            os.close(handle)
            os.chmod(name, 0o666 & ~_umask())  # mkstemp creates 0600; outputs get ordinary permissions
            temporaries.append(Path(name))
        yield temporaries
        for temporary, final in zip(temporaries, finals):
            os.replace(temporary, final)
    finally:
        for temporary in temporaries:
            temporary.unlink(missing_ok=True)


@contextmanager
def atomic_path(final: Path) -> Iterator[Path]:
    """One temporary path renamed onto ``final`` when the block succeeds (see :func:`atomic_paths`)."""
    with atomic_paths([final]) as (temporary,):
        yield temporary


def atomic_write_text(path: Path, text: str) -> Path:
    """Write ``text`` (UTF-8, ``\n`` line ends) to ``path`` through a temporary file and a rename."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file (flushed to disk) and a rename."""
    with atomic_path(path) as temporary, open(temporary, "wb") as stream:
        stream.write(data)
        stream.flush()
        os.fsync(stream.fileno())
    return path


@contextmanager
def atomic_directory(final: Path) -> Iterator[Path]:
    """A temporary folder beside ``final``, renamed onto it when the block succeeds (removed if not).

    ``final`` must not exist yet (a folder is not replaced by a rename once it holds files).
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=final.parent))
    try:
        yield staging
        staging.chmod(0o777 & ~_umask())  # mkdtemp makes it private; a model folder may be shared
        os.replace(staging, final)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
