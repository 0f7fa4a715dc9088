"""Atomic writes, confined names, writable folders and folder locks (tests/security attacks them)."""

from __future__ import annotations

import os

import pytest

from meetsep.core.errors import OutputError
from meetsep.io.files import (
    atomic_directory,
    atomic_path,
    atomic_paths,
    atomic_write_bytes,
    atomic_write_text,
    check_writable_folder,
    confined,
    folder_lock,
    normalized_name,
)


def everything(folder):
    """Every file and folder under ``folder``, relative to it, sorted."""
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*"))


def test_atomic_paths_write_every_file_when_the_block_succeeds(tmp_path):
    finals = [tmp_path / "a.txt", tmp_path / "deeper" / "b.txt"]
    with atomic_paths(finals) as temporaries:
        assert [t.parent for t in temporaries] == [f.parent for f in finals]  # same folder: the rename is atomic
        assert not any(final.exists() for final in finals)
        for index, temporary in enumerate(temporaries):
            temporary.write_text(f"file {index}")
    assert [final.read_text() for final in finals] == ["file 0", "file 1"]
    assert everything(tmp_path) == ["a.txt", "deeper", "deeper/b.txt"]  # no temporaries left


def test_atomic_paths_leave_none_of_the_files_when_the_block_raises(tmp_path):
    (tmp_path / "a.txt").write_text("old")
    finals = [tmp_path / "a.txt", tmp_path / "deeper" / "b.txt"]
    with pytest.raises(RuntimeError, match="writer failed"):
        with atomic_paths(finals) as temporaries:
            for temporary in temporaries:
                temporary.write_text("new")
            raise RuntimeError("writer failed")
    assert (tmp_path / "a.txt").read_text() == "old"  # the earlier file is kept as it was
    assert everything(tmp_path) == ["a.txt", "deeper"]  # neither new file, no temporaries


def test_atomic_path_renames_one_file_into_place(tmp_path):
    final = tmp_path / "one.bin"
    with atomic_path(final) as temporary:
        temporary.write_bytes(b"\x00\x01")
    assert final.read_bytes() == b"\x00\x01" and everything(tmp_path) == ["one.bin"]


def test_atomic_write_text_writes_exactly_the_bytes(tmp_path):
    path = tmp_path / "out" / "notes.txt"
    assert atomic_write_text(path, "héllo\nwörld\n") == path
    assert path.read_bytes() == b"h\xc3\xa9llo\nw\xc3\xb6rld\n"
    assert atomic_write_text(path, "again") == path  # replaces the file
    assert path.read_bytes() == b"again"
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # ordinary permissions, not a temporary's 0600
    assert atomic_write_bytes(tmp_path / "out" / "data.bin", b"\xff\x00") == tmp_path / "out" / "data.bin"
    assert (tmp_path / "out" / "data.bin").read_bytes() == b"\xff\x00"
    assert everything(tmp_path) == ["out", "out/data.bin", "out/notes.txt"]


def test_atomic_directory_renames_the_staged_folder_into_place(tmp_path):
    final = tmp_path / "models" / "campplus"
    with atomic_directory(final) as staging:
        assert staging.parent == final.parent and staging.is_dir() and not final.exists()
        (staging / "weights.bin").write_bytes(b"w")
        (staging / "sub").mkdir()
        (staging / "sub" / "config.json").write_text("{}")
    assert not staging.exists()
    assert (final / "weights.bin").read_bytes() == b"w" and (final / "sub" / "config.json").read_text() == "{}"
    assert everything(tmp_path) == [
        "models",
        "models/campplus",
        "models/campplus/sub",
        "models/campplus/sub/config.json",
        "models/campplus/weights.bin",
    ]


def test_atomic_directory_removes_the_staged_folder_on_failure(tmp_path):
    final = tmp_path / "models" / "campplus"
    with pytest.raises(RuntimeError, match="download failed"):
        with atomic_directory(final) as staging:
            (staging / "weights.bin").write_bytes(b"partial")
            raise RuntimeError("download failed")
    assert not staging.exists() and not final.exists()
    assert everything(tmp_path) == ["models"]


def test_atomic_write_leaves_old_file_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "out.txt"
    target.write_text("old")

    def broken_replace(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("meetsep.io.files.os.replace", broken_replace)
    with pytest.raises(OSError):
        atomic_write_text(target, "new")
    assert target.read_text() == "old" and list(tmp_path.iterdir()) == [target]


@pytest.mark.parametrize(
    ("name", "clean"), [("x", "x"), ("./x", "x"), ("a//b/./c", "a/b/c"), ("site a/call 1", "site a/call 1")]
)
def test_normalized_names_have_one_spelling(name, clean):
    assert normalized_name(name) == clean


@pytest.mark.parametrize(
    ("name", "problem"),
    [("", "empty"), ("/etc/x", "absolute"), ("a/../../b", "climbs"), (".meetsep/x", "hidden"), ("a\tb", "control")],
)
def test_unsafe_names_say_why(name, problem):
    with pytest.raises(ValueError, match=problem):
        normalized_name(name)


def test_confined_paths_stay_in_their_folder(tmp_path):
    assert confined(tmp_path, "a/b.json") == tmp_path / "a" / "b.json"
    with pytest.raises(OutputError, match="outside the output folder"):
        confined(tmp_path / "out", "../x")


def test_an_unusable_folder_is_found_before_any_work(tmp_path):
    assert check_writable_folder(tmp_path / "new" / "out").is_dir()
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="cannot write outputs there"):
        check_writable_folder(tmp_path / "file")
    assert sorted(p.name for p in (tmp_path / "new" / "out").iterdir()) == []  # the check leaves nothing behind


def test_a_folder_lock_is_exclusive_and_released(tmp_path):
    with folder_lock(tmp_path, ".meetsep/lock", "a batch run") as lock:
        assert lock.read_text() == str(os.getpid())
        with pytest.raises(OutputError, match=f"a batch run \\(process {os.getpid()}\\) is already writing"):
            with folder_lock(tmp_path, ".meetsep/lock", "a batch run"):
                pass
    with folder_lock(tmp_path, ".meetsep/lock", "a batch run"):
        pass
