r"""Stage 7: Words to speakers: each recognized word gets the speaker the diarization has at its time.

Stage "assign" of the chain: takes the recognized words (from the mixture, or from speaker streams
that already carry their speaker) and the diarization, and returns
:class:`~meetsep.core.records.AttributedWord`\ s. A word of the mixture goes to the speaker most active
during it in the *exclusive* diarization (one speaker per frame); words inside regions where two
diarized speakers are active are marked ``overlap``. Speaker streams leak, so the same word can
come out of two of them: :func:`drop_cross_stream_duplicates` keeps one.
"""

from __future__ import annotations

from meetsep.core.intervals import overlap_seconds
from meetsep.core.records import AttributedWord, Diarization, Interval, RecognizedWord

STREAM_TOLERANCE = 0.25  # s: a stream word this close to its speaker's diarized activity stays theirs


class WordAssigner:
    """Recognized words + diarization → attributed words (see the module docstring)."""

    def __call__(
        self, words: list[RecognizedWord], diarization: Diarization, separated: bool = False
    ) -> list[AttributedWord]:
        """``separated``: the words come from per-speaker streams (duplicates across them are dropped)."""
        attributed = assign_words(words, diarization)
        return drop_cross_stream_duplicates(attributed, diarization) if separated else attributed


def _exclusive_spans(diarization: Diarization) -> dict[str, list[Interval]]:
    """Each speaker's intervals in the exclusive diarization (the full one if there is none)."""
    spans: dict[str, list[Interval]] = {}
    for segment in diarization.exclusive or diarization.segments:
        spans.setdefault(segment.speaker, []).append((segment.start, segment.end))
    return spans


def assign_words(words: list[RecognizedWord], diarization: Diarization) -> list[AttributedWord]:
    """Each word to the speaker the diarization has at the word's own time.

    A word of the mixture goes to the speaker most active during it (exclusive diarization), else to
    the nearest speaker. A word of a speaker's own stream keeps that speaker while the diarization
    has them active then (within ``STREAM_TOLERANCE`` s): in overlap both speakers' streams keep
    their words. A stream word outside its speaker's activity (in the padding around a segment,
    where another person talks and leaked into the beam) goes to the speaker active at its time.
    """
    by_speaker = _exclusive_spans(diarization)
    full: dict[str, list[Interval]] = {}
    for segment in diarization.segments:
        full.setdefault(segment.speaker, []).append((segment.start - STREAM_TOLERANCE, segment.end + STREAM_TOLERANCE))
    result = []
    for word in words:
        speaker = word.speaker
        outside = speaker is not None and overlap_seconds(word.start, word.end, full.get(speaker, [])) <= 0.0
        if speaker is None or (outside and by_speaker):
            speaker = _speaker_at(word, by_speaker) or speaker or "SPEAKER_00"
        overlap = overlap_seconds(word.start, word.end, diarization.overlap) > 0.0
        result.append(AttributedWord(word, speaker, overlap))
    return result


def _speaker_at(word: RecognizedWord, by_speaker: dict[str, list[Interval]]) -> str | None:
    """The speaker most active during the word, else the nearest one (None without speakers)."""
    if not by_speaker:
        return None
    scores = {name: overlap_seconds(word.start, word.end, spans) for name, spans in by_speaker.items()}
    best = max(sorted(scores), key=lambda name: scores[name])
    if scores[best] > 0.0:
        return best
    middle = (word.start + word.end) / 2
    return min(
        sorted(by_speaker), key=lambda name: min(min(abs(middle - a), abs(middle - b)) for a, b in by_speaker[name])
    )


def drop_cross_stream_duplicates(words: list[AttributedWord], diarization: Diarization) -> list[AttributedWord]:
    """Remove a word that another speaker's stream also recognized at the same time.

    Separated streams leak: where the diarization wrongly gives one person's speech to two speakers,
    or separation is imperfect, the same word comes out of two streams. Two people rarely say the
    same word at the same moment, so of two equal words (case and punctuation ignored) overlapping by
    at least half of the shorter one, only the one whose speaker is more active then (exclusive
    diarization; then the higher probability) is kept.
    """
    spans = _exclusive_spans(diarization)

    def key(item: AttributedWord) -> str:
        return "".join(ch for ch in item.word.text.lower() if ch.isalnum())

    def strength(item: AttributedWord) -> tuple[float, float]:
        return (overlap_seconds(item.word.start, item.word.end, spans.get(item.speaker, [])), item.word.probability)

    ordered = sorted(range(len(words)), key=lambda i: (words[i].word.start, words[i].word.end))
    dropped: set[int] = set()
    for position, first in enumerate(ordered):
        a = words[first]
        for second in ordered[position + 1 :]:
            b = words[second]
            if b.word.start >= a.word.end:
                break
            if a.speaker == b.speaker or first in dropped or second in dropped or key(a) != key(b) or not key(a):
                continue
            shared = min(a.word.end, b.word.end) - max(a.word.start, b.word.start)
            shorter = min(a.word.end - a.word.start, b.word.end - b.word.start)
            if shorter > 0 and shared >= 0.5 * shorter:
                dropped.add(second if strength(a) >= strength(b) else first)
    return [item for index, item in enumerate(words) if index not in dropped]
