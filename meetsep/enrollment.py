"""Enrollment: a person's voice into a speaker database, from recordings of them (``meetsep enroll``).

Each recording is heard as one channel (the channels averaged), its speech found by the segmentation
(stretches where it hears two people at once left out) or given by a diarized speaker of a transcript
(``speaker_of``: their segments that nobody else overlaps), optionally within ``start``-``end`` seconds;
the speech becomes one voiceprint (:class:`meetsep.stages.identify.VoicePrinter`) stored under the name
(:class:`meetsep.io.speaker_db.SpeakerDB`). About 30 s of speech per person is enough; less than
``MIN_ENROLL_SECONDS`` is refused.
"""

from __future__ import annotations

from pathlib import Path

from meetsep.analysis.report import read_transcript_file
from meetsep.core.errors import MeetsepError
from meetsep.core.intervals import merge_spans, subtract_intervals
from meetsep.core.records import Diarization, Interval, Voiceprint
from meetsep.io.audio import SignalFile, load_recording, resample_blocks
from meetsep.io.speaker_db import EnrolledSpeaker, SpeakerDB, check_name
from meetsep.pipeline import SAMPLE_RATE, Pipeline
from meetsep.stages.identify import speech_alone

MIN_ENROLL_SECONDS = 3.0  # speech a voiceprint needs at least (30 s is recommended)


def enroll(
    db: str | Path,
    name: str,
    sources: list[str | Path],
    *,
    pipeline: Pipeline | None = None,
    start: float | None = None,
    end: float | None = None,
    speaker_of: tuple[str | Path, str] | None = None,
) -> EnrolledSpeaker:
    """Enroll ``name`` from ``sources`` into the database folder ``db`` (made if new); one enrollment per source.

    Args:
        pipeline: whose models hear the speech (default: a pipeline of the default config).
        start, end: only this part of each recording (seconds).
        speaker_of: ``(transcript JSON, label)``: the speech of that diarized speaker (one source, the
            recording the transcript was made from).

    Raises:
        MeetsepError: a bad database, name, recording or transcript; too little speech (nothing is stored then).
    """
    check_name(name)
    if not sources:
        raise MeetsepError(f"{name}: no recording to enroll from")
    if speaker_of is not None and len(sources) != 1:
        raise MeetsepError("--speaker-of: give the one recording the transcript was made from")
    pipeline = pipeline or Pipeline()
    printer = pipeline.voice_printer
    database = SpeakerDB(db, embedder=printer.id)  # a database of another model is refused before any work
    voiceprints = [(voiceprint_of(pipeline, Path(s), start, end, speaker_of), str(s)) for s in sources]
    for voiceprint, source in voiceprints:
        enrolled = database.add(name, voiceprint, _described(source, start, end, speaker_of))
    return enrolled


def voiceprint_of(
    pipeline: Pipeline,
    source: Path,
    start: float | None = None,
    end: float | None = None,
    speaker_of: tuple[str | Path, str] | None = None,
) -> Voiceprint:
    """One recording's voiceprint (see :func:`enroll`)."""
    audio = mono_signal(pipeline, source)
    duration = len(audio) / SAMPLE_RATE
    begin, finish = start or 0.0, min(end if end is not None else duration, duration)
    try:
        if finish - begin <= 0:
            raise MeetsepError(f"{source}: nothing between {begin:g} and {finish:g} s (it lasts {duration:.1f} s)")
        spans = _speech(pipeline, audio, speaker_of, source)
        spans = subtract_intervals(spans, [(0.0, begin), (finish, duration + 1.0)])
        seconds = sum(b - a for a, b in spans)
        if seconds < MIN_ENROLL_SECONDS:
            heard = "no speech" if seconds == 0 else f"only {seconds:.1f} s of speech"
            raise MeetsepError(f"{source}: {heard} to enroll (at least {MIN_ENROLL_SECONDS:g} s; 30 s recommended)")
        voiceprint = pipeline.voice_printer.enrollment(audio, spans)
    finally:
        audio.close()
    if voiceprint is None:
        raise MeetsepError(f"{source}: no speech long enough to embed")
    return voiceprint


def mono_signal(pipeline: Pipeline, source: str | Path) -> SignalFile:
    """A recording's channels averaged, at 16 kHz, in a temporary file read by slices (close it when done)."""
    recording = load_recording(source, layout="mono")
    return SignalFile(resample_blocks(pipeline.beamformer.blocks(recording), recording.sample_rate, SAMPLE_RATE))


def _speech(
    pipeline: Pipeline, audio: SignalFile, speaker_of: tuple[str | Path, str] | None, source: Path
) -> list[Interval]:
    """Where the person speaks alone: the segmentation's speech without overlap, or a diarized speaker's."""
    if speaker_of is None:
        found = pipeline.segmenter(audio)
        return subtract_intervals(merge_spans(found.speech), merge_spans(found.overlap))
    transcript_path, label = speaker_of
    transcript = read_transcript_file(Path(transcript_path))
    if label not in transcript.speakers:
        raise MeetsepError(f"{transcript_path}: no speaker {label!r} (speakers: {', '.join(transcript.speakers)})")
    if transcript.duration and abs(transcript.duration - len(audio) / SAMPLE_RATE) > 1.0:
        raise MeetsepError(f"{transcript_path}: made from a recording of {transcript.duration:.1f} s, not {source}")
    return speech_alone(Diarization(list(transcript.diarization), [], []), label)


def _described(source: str, start: float | None, end: float | None, speaker_of: tuple[str | Path, str] | None) -> str:
    """Where an enrollment came from, as the database lists it."""
    text = Path(source).name
    if start is not None or end is not None:
        text += f" [{start or 0:g}-{'end' if end is None else f'{end:g}'} s]"
    if speaker_of is not None:
        text += f" ({speaker_of[1]} of {Path(speaker_of[0]).name})"
    return text
