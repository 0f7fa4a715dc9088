"""Words to speakers: each recognized word gets the speaker the diarization has at its time."""

from __future__ import annotations

from meetsep.core.intervals import overlapping_parts
from meetsep.core.records import Diarization, RecognizedWord
from meetsep.schema import SpeakerSegment
from meetsep.stages.assign import assign_words


def seg(speaker, start, end):
    return SpeakerSegment(speaker=speaker, start=start, end=end)


def rw(text, start, end, speaker=None):
    return RecognizedWord(text=text, start=start, end=end, probability=1.0, stream="mix", speaker=speaker)


def test_assign_words_by_exclusive_activity_and_nearest():
    full = [seg("A", 0, 5), seg("B", 4, 8)]
    exclusive = [seg("A", 0, 4.5), seg("B", 4.5, 8)]
    diarization = Diarization(full, exclusive, overlapping_parts(full))
    words = [rw("a", 1, 1.5), rw("b", 4.1, 4.3), rw("c", 4.6, 4.9), rw("d", 9, 9.2)]
    result = [(x.word.text, x.speaker, x.overlap) for x in assign_words(words, diarization)]
    assert result == [("a", "A", False), ("b", "A", True), ("c", "B", True), ("d", "B", False)]


def test_a_stream_word_outside_its_speakers_activity_goes_to_the_speaker_active_then():
    """Beams leak: a word in the padding of A's stream, where only B talks, is B's; in overlap each
    stream keeps its own words."""
    full = [seg("A", 0, 5), seg("B", 4, 9)]
    exclusive = [seg("A", 0, 4.5), seg("B", 4.5, 9)]
    diarization = Diarization(full, exclusive, overlapping_parts(full))
    words = [rw("mine", 1.0, 1.4, "A"), rw("both", 4.2, 4.4, "A"), rw("also", 4.6, 4.8, "B"), rw("leak", 6.0, 6.3, "A")]
    result = [(x.word.text, x.speaker, x.overlap) for x in assign_words(words, diarization)]
    assert result == [("mine", "A", False), ("both", "A", True), ("also", "B", True), ("leak", "B", False)]
