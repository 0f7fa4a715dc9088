from __future__ import annotations

import json

import pytest

from meetsep.io.formats import FORMATS, parse_formats, read_transcript, write_transcript
from meetsep.schema import ChannelLayout, SpeakerSegment, TimeSpan, Transcript, Word
from meetsep.stages.transcript import build_turns


def word(text, start, end, speaker, overlap=False):
    return Word(text=text, start=start, end=end, speaker=speaker, probability=0.9, overlap=overlap)


def sample_transcript() -> Transcript:
    words = [
        word("hello", 0.5, 0.9, "SPEAKER_00"),
        word("there", 1.0, 1.4, "SPEAKER_00"),
        word("yes", 1.2, 1.5, "SPEAKER_01", overlap=True),
        word("right", 3000.0, 3000.5, "SPEAKER_01"),
    ]
    return Transcript(
        session_id="meeting",
        duration=3001.0,
        layout=ChannelLayout.MONO,
        language="en",
        speakers=["SPEAKER_00", "SPEAKER_01"],
        turns=build_turns(words),
        diarization=[
            SpeakerSegment(speaker="SPEAKER_00", start=0.4, end=1.5),
            SpeakerSegment(speaker="SPEAKER_01", start=1.1, end=1.6),
        ],
        overlaps=[TimeSpan(start=1.1, end=1.5)],
        meetsep_version="0",
        config_hash="x",
    )


def test_all_formats_written_and_readable(tmp_path):
    transcript = sample_transcript()
    paths = write_transcript(transcript, tmp_path, list(FORMATS))
    assert sorted(p.name for p in paths) == sorted(
        ["meeting.json", "meeting.seglst.json", "meeting.rttm", "meeting.srt", "meeting.vtt", "meeting.txt"]
    )
    assert read_transcript(tmp_path / "meeting.json") == transcript
    seglst = json.loads((tmp_path / "meeting.seglst.json").read_text())
    assert [e["speaker"] for e in seglst] == ["SPEAKER_00", "SPEAKER_01", "SPEAKER_01"]
    assert seglst[0] == dict(
        session_id="meeting", speaker="SPEAKER_00", start_time=0.5, end_time=1.4, words="hello there"
    )
    rttm = (tmp_path / "meeting.rttm").read_text().splitlines()
    assert rttm[1] == "SPEAKER meeting 1 1.100 0.500 <NA> <NA> SPEAKER_01 <NA> <NA>"
    srt = (tmp_path / "meeting.srt").read_text()
    assert "1\n00:00:00,500 --> 00:00:01,400\n[SPEAKER_00] hello there\n" in srt
    assert "00:50:00,000 --> 00:50:00,500" in srt
    vtt = (tmp_path / "meeting.vtt").read_text()
    assert vtt.startswith("WEBVTT\n\n00:00:00.500 --> 00:00:01.400\n<v SPEAKER_00>hello there\n")
    assert "SPEAKER_01 (overlap): yes" in (tmp_path / "meeting.txt").read_text()
    assert not list(tmp_path.glob(".*tmp"))


def test_meeteval_reads_our_seglst(tmp_path):
    from meeteval.io import SegLST

    write_transcript(sample_transcript(), tmp_path, ["seglst"])
    loaded = SegLST.load(tmp_path / "meeting.seglst.json")
    assert len(loaded) == 3


def test_parse_formats():
    assert parse_formats("json, SRT,json") == ["json", "srt"]
    with pytest.raises(ValueError, match="unknown output format 'docx'"):
        parse_formats("json,docx")
