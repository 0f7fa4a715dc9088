from __future__ import annotations

from meetsep.schema import Word
from meetsep.stages.transcript import build_turns


def w(text, start, speaker, overlap=False):
    return Word(text=text, start=start, end=start + 0.3, speaker=speaker, probability=1.0, overlap=overlap)


def test_back_channel_in_overlap_does_not_cut_a_turn():
    words = [w("we", 0.0, "A"), w("should", 0.4, "A"), w("yeah", 0.5, "B", overlap=True), w("go", 0.8, "A")]
    turns = build_turns(words)
    assert [(t.speaker, t.text) for t in turns] == [("A", "we should go"), ("B", "yeah")]
    assert turns[1].overlap and not turns[0].overlap


def test_clean_interjection_and_long_pause_cut_turns():
    words = [w("one", 0.0, "A"), w("no", 0.4, "B"), w("two", 0.8, "A"), w("three", 3.0, "A")]
    assert [t.text for t in build_turns(words)] == ["one", "no", "two", "three"]


def test_empty():
    assert build_turns([]) == []
