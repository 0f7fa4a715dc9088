"""A given who-spoke-when: RTTM files read strictly, every problem one line naming the file and line."""

from __future__ import annotations

import pytest

from meetsep.core.errors import ConfigError
from meetsep.io.rttm import read_rttm


def rttm(tmp_path, text: str, name: str = "given.rttm"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_segments_of_the_recording_are_read_sorted_and_joined(tmp_path):
    path = rttm(
        tmp_path,
        "SPKR-INFO call 1 <NA> <NA> <NA> unknown alice <NA> <NA>\n"
        "SPEAKER call 1 5.0 2.0 <NA> <NA> bob <NA> <NA>\n"
        "# a comment\n\n"
        "SPEAKER call 1 0.5 2.0 <NA> <NA> alice <NA> <NA>\n"
        "SPEAKER call 1 2.5 1.0 <NA> <NA> alice <NA> <NA>  # touching: joined\n"
        "SPEAKER call 1 6.0 0.0005 <NA> <NA> carol <NA> <NA>\n"
        "SPEAKER other 1 0.0 9.0 <NA> <NA> dave <NA> <NA>\n",
    )
    segments = read_rttm(path, "call", duration=10.0)
    assert [(s.speaker, s.start, s.end) for s in segments] == [("alice", 0.5, 3.5), ("bob", 5.0, 7.0)]
    assert [s.speaker for s in read_rttm(path, "other")] == ["dave"]


def test_a_file_naming_one_recording_is_taken_whatever_its_id(tmp_path):
    path = rttm(tmp_path, "SPEAKER x 1 0.0 1.0 <NA> <NA> a <NA> <NA>\n")
    assert [s.speaker for s in read_rttm(path, "meeting")] == ["a"]


def test_a_segment_just_past_the_end_is_cut_there(tmp_path):
    path = rttm(tmp_path, "SPEAKER x 1 9.0 1.5 <NA> <NA> a <NA> <NA>\n")
    assert read_rttm(path, "x", duration=10.0)[0].end == 10.0


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("hello world\n", "given.rttm:1: not an RTTM line"),
        ("SPEAKER x 1 0.0 1.0\n", "given.rttm:1: an RTTM SPEAKER line has at least 8 fields, this one 5"),
        ("SPEAKER x 1 zero 1.0 <NA> <NA> a <NA> <NA>\n", "given.rttm:1: onset and duration must be numbers"),
        ("SPEAKER x 1 -1 1.0 <NA> <NA> a <NA> <NA>\n", "given.rttm:1: onset and duration must be finite"),
        ("SPEAKER x 1 nan 1.0 <NA> <NA> a <NA> <NA>\n", "given.rttm:1: onset and duration must be finite"),
        ("SPEAKER x 1 0 inf <NA> <NA> a <NA> <NA>\n", "given.rttm:1: onset and duration must be finite"),
        ("SPEAKER x 1 0 1 <NA> <NA> <NA> <NA> <NA>\n", "given.rttm:1: no speaker name"),
        (
            "SPEAKER x 1 0 30 <NA> <NA> a <NA> <NA>\n",
            "given.rttm:1: segment ends at 30.00 s, after the recording's end",
        ),
        ("# nothing\n", "given.rttm: no SPEAKER segments"),
        (
            "SPEAKER a 1 0 1 <NA> <NA> s <NA> <NA>\nSPEAKER b 1 0 1 <NA> <NA> s <NA> <NA>\n",
            "given.rttm: no segments for 'call' (the file holds a, b)",
        ),
    ],
)
def test_every_problem_is_one_line_naming_the_file_and_line(tmp_path, text, problem):
    with pytest.raises(ConfigError) as refused:
        read_rttm(rttm(tmp_path, text), "call", duration=10.0)
    message = str(refused.value)
    assert problem in message and "\n" not in message


def test_missing_binary_and_huge_files_are_refused_in_one_line(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="diarization file not found"):
        read_rttm(tmp_path / "none.rttm")
    binary = tmp_path / "b.rttm"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ConfigError, match="not an RTTM file"):
        read_rttm(binary)
    monkeypatch.setattr("meetsep.io.rttm.MAX_BYTES", 10)
    with pytest.raises(ConfigError, match="diarization file over"):
        read_rttm(rttm(tmp_path, "SPEAKER x 1 0 1 <NA> <NA> a <NA> <NA>\n"))
