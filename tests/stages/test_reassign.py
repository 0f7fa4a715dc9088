"""Speakers checked on their own streams: a segment whose enhanced voice is another speaker's goes to them."""

from __future__ import annotations

import numpy as np
import pytest

from meetsep.core.config import AttributeConfig
from meetsep.core.intervals import overlapping_parts
from meetsep.core.records import Diarization, RecognizedWord, SegmentPrint, Stream, Voiceprint
from meetsep.schema import SpeakerSegment
from meetsep.stages.reassign import StreamSpeakerCheck

RATE = 16000
VOICES = {"A": np.array([1.0, 0.0, 0.0]), "B": np.array([0.0, 1.0, 0.0]), "C": np.array([0.0, 0.0, 1.0])}


def unit(vector):
    vector = np.asarray(vector, dtype=np.float32)
    return vector / np.linalg.norm(vector)


def seg(speaker, start, end):
    return SpeakerSegment(speaker=speaker, start=start, end=end)


def printed(stream, speaker, start, end, vector, seconds=3.0):
    return SegmentPrint(stream, speaker, (start, end), unit(vector), seconds)


def word(text, start, end, stream, speaker):
    return RecognizedWord(text=text, start=start, end=end, probability=1.0, stream=stream, speaker=speaker)


def check(margin=0.1, printer=None):
    return StreamSpeakerCheck(AttributeConfig(reassign_margin=margin), printer or (lambda audio, spans: None))


def test_a_segment_that_sounds_like_another_speaker_moves_with_its_words_and_activity():
    full = [seg("A", 0, 4), seg("B", 5, 9), seg("A", 10, 14), seg("A", 15, 18), seg("B", 19, 22)]
    diarization = Diarization(full, list(full), overlapping_parts(full), 0.7)
    prints = [
        printed("a1", "A", 0, 4, VOICES["A"]),
        printed("b1", "B", 5, 9, VOICES["B"]),
        printed("a2", "A", 10, 14, VOICES["A"] + 0.1),
        printed("a3", "A", 15, 18, VOICES["B"] + 0.2 * VOICES["A"]),  # B's voice, clustered as A
        printed("b2", "B", 19, 22, VOICES["B"]),
    ]
    words = [word("hello", 1, 1.5, "a1", "A"), word("it's", 15.5, 16, "a3", "A"), word("me", 16.1, 16.4, "a3", "A")]
    moved_words, moved = check()(words, diarization, prints)
    assert [(w.text, w.speaker) for w in moved_words] == [("hello", "A"), ("it's", "B"), ("me", "B")]
    assert [(s.speaker, s.start, s.end) for s in moved.segments] == [
        ("A", 0, 4),
        ("B", 5, 9),
        ("A", 10, 14),
        ("B", 15, 18),
        ("B", 19, 22),
    ]
    assert moved.exclusive == moved.segments and moved.overlap == [] and moved.count_confidence == 0.7


def test_a_segment_within_the_margin_or_a_speaker_heard_once_stays():
    full = [seg("A", 0, 4), seg("B", 5, 9), seg("A", 10, 14), seg("C", 15, 18)]
    diarization = Diarization(full, list(full), [])
    between = unit(VOICES["A"] + VOICES["B"])  # as like B as like A: no margin
    prints = [
        printed("a1", "A", 0, 4, VOICES["A"]),
        printed("b1", "B", 5, 9, VOICES["B"]),
        printed("a2", "A", 10, 14, between + 0.01 * VOICES["B"]),
        printed("c1", "C", 15, 18, VOICES["B"]),  # C's only segment: nothing of C's to compare with
    ]
    assert check(margin=0.1).moves(prints) == {}
    assert check(margin=0.0).moves(prints) == {"a2": "B"}
    words = [word("x", 1, 2, "a1", "A")]
    assert check(margin=0.1)(words, diarization, prints) == (words, diarization)


def test_only_the_part_of_a_longer_activity_inside_the_moved_segment_changes_hands():
    full = [seg("A", 0, 10), seg("B", 8, 12), seg("A", 20, 24)]
    exclusive = [seg("A", 0, 9), seg("B", 9, 12), seg("A", 20, 24)]
    diarization = Diarization(full, exclusive, overlapping_parts(full))
    prints = [
        printed("a1", "A", 4, 10, VOICES["B"]),  # the stream of A's segment 4-10 (the merged target)
        printed("a2", "A", 20, 24, VOICES["A"]),
        printed("b1", "B", 8, 12, VOICES["B"]),
    ]
    _, moved = check()([], diarization, prints)
    assert [(s.speaker, s.start, s.end) for s in moved.segments] == [("A", 0, 4), ("B", 4, 12), ("A", 20, 24)]
    assert [(s.speaker, s.start, s.end) for s in moved.exclusive] == [("A", 0, 4), ("B", 4, 12), ("A", 20, 24)]
    assert moved.overlap == []


def test_prints_hear_each_stream_where_its_speaker_talks_alone_in_stream_time():
    heard = []

    def printer(audio, spans):
        heard.append((len(audio), spans))
        return Voiceprint(unit(VOICES["A"]), sum(b - a for a, b in spans))

    full = [seg("A", 2, 8), seg("B", 6, 7), seg("A", 9, 9.5)]
    diarization = Diarization(full, [], overlapping_parts(full))
    streams = [
        Stream(np.zeros(7 * RATE, np.float32), RATE, "beam-A-2.00", "A", [(2.0, 8.0)], 1.5),
        Stream(np.zeros(RATE, np.float32), RATE, "beam-A-9.00", "A", [(9.0, 9.5)], 8.8),  # 0.5 s: too short
        Stream(np.zeros(RATE, np.float32), RATE, "mix", None, [(0.0, 1.0)], 0.0),  # no speaker
    ]
    prints = check(printer=printer).prints(streams, diarization)
    assert heard == [(7 * RATE, [(0.5, 4.5), (5.5, 6.5)])]  # A alone: 2-6 and 7-8, from the stream's 1.5 s
    assert [(p.stream, p.speaker, p.span, p.seconds) for p in prints] == [("beam-A-2.00", "A", (2.0, 8.0), 5.0)]


def test_the_check_is_off_without_a_margin():
    with pytest.raises(ValueError, match="reassign_margin"):
        StreamSpeakerCheck(AttributeConfig(), lambda audio, spans: None)
