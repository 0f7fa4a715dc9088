"""Stage 8: words with speakers → a :class:`~meetsep.schema.Transcript` of speaker turns.

Takes the attributed words and the diarization and returns the typed result that the writers
(:mod:`meetsep.io.formats`) serialize.
"""

from __future__ import annotations

from meetsep.core.records import AttributedWord, Diarization, LanguageChoice, SpeakerNames
from meetsep.schema import ChannelLayout, SpeakerSegment, TimeSpan, Transcript, Turn, Word
from meetsep.version import __version__

TURN_GAP = 1.0


def build_turns(words: list[Word], turn_gap: float = TURN_GAP) -> list[Turn]:
    """Group words into turns: one speaker's consecutive words.

    A speaker's turn continues while their pauses are shorter than ``turn_gap`` seconds and nobody
    else said a non-overlapped word in between; words another speaker says in overlap (back-channels,
    interruptions) do not cut it. Turns come out sorted by start time.
    """
    ordered = sorted(words, key=lambda w: (w.start, w.end, w.speaker, w.text))
    open_turns: dict[str, list[Word]] = {}
    last_clean_other: dict[str, float] = {}
    finished: list[list[Word]] = []
    for word in ordered:
        current = open_turns.get(word.speaker)
        interrupted = current is not None and last_clean_other.get(word.speaker, -1.0) > current[-1].end - 1e-9
        if current is not None and (word.start - current[-1].end > turn_gap or interrupted):
            finished.append(current)
            current = None
        if current is None:
            open_turns[word.speaker] = current = []
            last_clean_other[word.speaker] = -1.0
        current.append(word)
        if not word.overlap:
            for other in open_turns:
                if other != word.speaker:
                    last_clean_other[other] = max(last_clean_other.get(other, -1.0), word.start)
    finished.extend(open_turns.values())
    turns = [
        Turn(
            speaker=group[0].speaker,
            start=group[0].start,
            end=max(w.end for w in group),
            text=" ".join(w.text for w in group),
            overlap=any(w.overlap for w in group),
            words=group,
        )
        for group in finished
        if group
    ]
    return sorted(turns, key=lambda t: (t.start, t.end, t.speaker))


def build_transcript(
    *,
    session_id: str,
    duration: float,
    layout: ChannelLayout,
    language: LanguageChoice | None,
    diarization: Diarization,
    words: list[AttributedWord],
    config_hash: str,
    names: SpeakerNames | None = None,
) -> Transcript:
    """The transcript; speakers matched to enrolled people (``names``) are shown by their names."""
    shown = names.names if names else {}

    def show(label: str) -> str:
        return shown.get(label, label)

    typed = [
        Word(
            text=item.word.text,
            start=item.word.start,
            end=item.word.end,
            speaker=show(item.speaker),
            probability=item.word.probability,
            overlap=item.overlap,
            stream=item.word.stream,
        )
        for item in words
    ]
    turns = build_turns(typed)
    speakers = sorted({show(s.speaker) for s in diarization.segments} | {t.speaker for t in turns})
    return Transcript(
        session_id=session_id,
        duration=round(duration, 3),
        layout=layout,
        language=language.code if language else None,
        language_probability=language.probability if language else None,
        speaker_languages={show(k): v for k, v in language.speakers.items()} if language else {},
        speakers=speakers,
        speaker_count_confidence=diarization.count_confidence,
        speaker_names=dict(sorted(shown.items())),
        speaker_scores={show(k): v for k, v in sorted(names.scores.items())} if names else {},
        speaker_voiceprints={
            show(k): [round(float(x), 6) for x in v.vector] for k, v in sorted(names.voiceprints.items())
        }
        if names
        else {},
        voiceprint_model=names.model if names and names.voiceprints else None,
        turns=turns,
        diarization=[SpeakerSegment(speaker=show(s.speaker), start=s.start, end=s.end) for s in diarization.segments],
        overlaps=[TimeSpan(start=a, end=b) for a, b in diarization.overlap],
        meetsep_version=__version__,
        config_hash=config_hash,
    )
