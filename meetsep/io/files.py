"""Where and how meetsep writes: names confined to the output folder, atomic writes, folder locks.

Everything meetsep writes — transcripts, separated streams, converted or joined model weights,
simulated meetings, batch state — goes through a temporary name in the destination folder and a
rename, so a crash, a kill or a failing writer never leaves a partial file under the final name.
Names that come from inputs (batch ids, session ids) are checked before anything is written:
:func:`normalized_name` cleans a relative name or says why it is unsafe, :func:`confined` refuses a
path that resolves outside its folder. :func:`check_writable_folder` finds an unusable ``--out``
before any model loads; :func:`folder_lock` keeps a second batch run out of a folder.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from meetsep.core.errors import OutputError

MAX_NAME_BYTES = 200  # a name part; the longest extension (".seglst.json") and a temporary prefix still fit 255
MAX_NAME_PARTS = 32


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


def normalized_name(text: str) -> str:
    """A relative output name (``call``, ``site_a/call``) in its one clean spelling.

    ``./x``, ``x`` and ``a//x/.`` style variants become the same name (so they are seen as duplicates).

    Raises:
        ValueError: saying why the name is unsafe: empty, absolute, with a ``..`` or hidden
            (``.name``) part, control characters, a backslash, not encodable, or too long.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError("is empty")
    if any(ord(char) < 32 or ord(char) == 127 for char in text):
        raise ValueError("contains control characters")
    if "\\" in text:
        raise ValueError("contains a backslash")
    try:
        text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raise ValueError("is not valid text for a file name") from None
    if text.startswith("/"):
        raise ValueError("is an absolute path")
    parts = [part for part in text.split("/") if part not in ("", ".")]
    if not parts:
        raise ValueError("names no file")
    if len(parts) > MAX_NAME_PARTS:
        raise ValueError(f"has more than {MAX_NAME_PARTS} folder levels")
    for part in parts:
        if part == "..":
            raise ValueError("climbs out of the output folder (..)")
        if part.startswith("."):
            raise ValueError(f"has a hidden part {part!r} (names starting with '.' are meetsep's own)")
        if len(part.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES:
            raise ValueError(f"has a part longer than {MAX_NAME_BYTES} bytes")
    return "/".join(parts)


def confined(root: Path, relative: str | Path) -> Path:
    """``root / relative``, after checking that it resolves (symbolic links followed) inside ``root``.

    Raises:
        OutputError: the path would land outside ``root``.
    """
    target = Path(root) / relative
    base = Path(root).resolve()
    try:
        resolved = target.resolve()
    except (OSError, RuntimeError, ValueError) as error:  # a link loop, an embedded NUL, ...
        raise OutputError(f"{target}: not a usable output path ({error})") from None
    if resolved != base and base not in resolved.parents:
        raise OutputError(f"{target}: resolves outside the output folder {root}; refused")
    return target


def check_writable_folder(folder: Path) -> Path:
    """Create ``folder`` (and parents) if needed and check that files can be created in it.

    Called before models load, so an unusable ``--out`` is found in a second, not after the work.

    Raises:
        OutputError: naming the folder and the reason.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if not folder.is_dir():
            raise NotADirectoryError("not a folder")
        handle, name = tempfile.mkstemp(prefix=".meetsep-write-check-", dir=folder)
        os.close(handle)
        os.unlink(name)
    except OSError as error:
        reason = error.strerror or str(error) or type(error).__name__
        raise OutputError(f"{folder}: cannot write outputs there ({reason})") from None
    return folder


@contextmanager
def folder_lock(folder: Path, name: str, holder: str) -> Iterator[Path]:
    """Hold an exclusive lock on ``folder/name`` for the block (released by the system if the process dies).

    Args:
        holder: what the second comer is told holds the folder, e.g. "a meetsep batch run".

    Raises:
        OutputError: another process holds the lock.
    """
    path = Path(folder) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = os.pread(descriptor, 64, 0).decode("ascii", "replace").strip()
            pid = f" (process {other})" if other.isdigit() else ""
            raise OutputError(
                f"{folder}: {holder}{pid} is already writing into this folder; wait for it or choose another --out"
            ) from None
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, str(os.getpid()).encode(), 0)
        yield path
    finally:
        os.close(descriptor)  # closing releases the lock
