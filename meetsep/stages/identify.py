"""Stage 7b: who the diarized speakers are: their voices matched to enrolled people (``--speakers DB``).

:class:`VoicePrinter` makes a voiceprint from a person's speech (enrollment, :mod:`meetsep.enrollment`,
and each diarized speaker here): the speech is cut into pieces of at most ``PIECE_SECONDS``, each piece
embedded by CAM++ band-limited to 4 kHz (so a voice enrolled wideband and heard through a phone, or the
reverse, embed alike), and the embeddings averaged by duration. :class:`SpeakerIdentifier` makes one
voiceprint per diarized speaker from the speech nobody else overlaps, and gives each the enrolled person
it is most like, one person per speaker (the assignment of highest total similarity), when the cosine
similarity reaches ``attribute.match_threshold``; otherwise the speaker stays unknown (open set: a voice
nobody enrolled must not get a name).
"""

from __future__ import annotations

import math

import numpy as np

from meetsep.core.clustering import matched_pairs
from meetsep.core.config import AttributeConfig
from meetsep.core.errors import ConfigError
from meetsep.core.intervals import merge_spans, subtract_intervals
from meetsep.core.protocols import Embedder, Signal
from meetsep.core.records import Diarization, Interval, SpeakerNames, Voiceprint
from meetsep.io.audio import resample
from meetsep.io.speaker_db import SpeakerDB

PIECE_SECONDS = 6.0  # longest piece embedded at once (longer speech is cut into equal pieces)
MIN_PIECE_SECONDS = 1.0  # shorter pieces are left out while longer ones exist
VOICEPRINT_RATE = 8000  # the band every voiceprint hears (see the module's docstring)


class VoicePrinter:
    """Voiceprints of speech in a 16 kHz signal.

    Args:
        embedder: the speaker-embedding model (16 kHz).
        model_id: what identifies the model's weights (see :func:`meetsep.loading.models.fingerprint`).
        max_seconds: speech embedded per voiceprint at most; longer speech is sampled evenly over its time.
    """

    def __init__(self, embedder: Embedder, model_id: str, max_seconds: float = 60.0) -> None:
        self.embedder = embedder
        self.max_seconds = max_seconds
        self.id = f"{model_id}@{VOICEPRINT_RATE}Hz"

    def pieces(self, spans: list[Interval]) -> list[Interval]:
        """The stretches of ``spans`` (s) to embed: cut to at most ``PIECE_SECONDS``, the short ones left
        out while longer exist, at most ``max_seconds`` in all (every k-th, so they spread over the time)."""
        cut: list[Interval] = []
        for start, end in merge_spans(spans):
            parts = max(1, math.ceil((end - start) / PIECE_SECONDS))
            step = (end - start) / parts
            cut += [(start + k * step, start + (k + 1) * step) for k in range(parts)]
        shortest = MIN_PIECE_SECONDS if any(b - a >= MIN_PIECE_SECONDS for a, b in cut) else 0.5
        cut = [(a, b) for a, b in cut if b - a >= shortest]
        total = sum(b - a for a, b in cut)
        if total > self.max_seconds:
            stride = math.ceil(total / self.max_seconds)
            cut = cut[::stride]
        return cut

    def __call__(self, audio: Signal, spans: list[Interval]) -> Voiceprint | None:
        """The voiceprint of the speech in ``spans`` of ``audio`` (``(samples,)`` at 16 kHz); None when
        there is too little speech to embed (less than half a second in one piece)."""
        rate = self.embedder.sample_rate
        pieces = self.pieces(spans)
        signals = []
        for start, end in pieces:
            piece = np.asarray(audio[int(round(start * rate)) : int(round(end * rate))], dtype=np.float32)
            signals.append(resample(resample(piece, rate, VOICEPRINT_RATE), VOICEPRINT_RATE, rate))
        weights, vectors = [], []
        for (start, end), vector in zip(pieces, self.embedder.embed_many(signals)):
            if np.all(np.isfinite(vector)):
                weights.append(end - start)
                vectors.append(vector)
        if not vectors:
            return None
        mean = (np.stack(vectors) * np.asarray(weights, dtype=np.float32)[:, None]).sum(axis=0)
        return Voiceprint((mean / (np.linalg.norm(mean) + 1e-12)).astype(np.float32), round(float(sum(weights)), 3))


class SpeakerIdentifier:
    """Diarized speakers → voiceprints, and enrolled names when a database is given (see the module's docstring).

    Args:
        config: ``speaker_db`` (the folder, or None), ``match_threshold``, ``voiceprints`` (keep them in the result).
        printer: makes the voiceprints (its model must be the database's).
    """

    def __init__(self, config: AttributeConfig, printer: VoicePrinter) -> None:
        self.db = None
        if config.speaker_db:
            self.db = SpeakerDB(config.speaker_db, embedder=printer.id)
            if not len(self.db):
                raise ConfigError(
                    f"attribute.speaker_db: {config.speaker_db} has no enrolled speakers (meetsep enroll)"
                )
        self.printer = printer
        self.threshold = config.match_threshold
        self.keep = config.voiceprints

    def __call__(self, audio: Signal | dict[str, Signal], diarization: Diarization) -> SpeakerNames:
        """``audio``: the 16 kHz mixture, or each speaker's own signal (call-center channels)."""
        voiceprints = speaker_voiceprints(self.printer, audio, diarization)
        found = SpeakerNames({}, {})
        if self.db is not None:
            people, enrolled = self.db.voiceprints()
            found = match_speakers(voiceprints, people, enrolled, self.threshold)
        return SpeakerNames(found.names, found.scores, voiceprints if self.keep else {}, self.printer.id)


def speaker_voiceprints(
    printer: VoicePrinter, audio: Signal | dict[str, Signal], diarization: Diarization
) -> dict[str, Voiceprint]:
    """Each diarized speaker's voiceprint, from their speech that no other speaker overlaps (all their
    speech when everything they said is overlapped, or when ``audio`` gives each speaker's own signal);
    speakers with too little speech have none."""
    found = {}
    for speaker in diarization.speakers:
        own = diarization.spans(speaker)
        if isinstance(audio, dict):
            voiceprint = printer(audio[speaker], own)
        else:
            voiceprint = printer(audio, speech_alone(diarization, speaker) or own)
        if voiceprint is not None:
            found[speaker] = voiceprint
    return found


def speech_alone(diarization: Diarization, speaker: str) -> list[Interval]:
    """``speaker``'s speech that no other speaker of ``diarization`` overlaps (merged spans, seconds)."""
    others = [(s.start, s.end) for s in diarization.segments if s.speaker != speaker]
    return subtract_intervals(merge_spans(diarization.spans(speaker)), merge_spans(others))


def match_speakers(
    voiceprints: dict[str, Voiceprint], people: list[str], enrolled: np.ndarray, threshold: float
) -> SpeakerNames:
    """Speakers → enrolled ``people`` (voiceprints ``enrolled``, ``(people, dimension)``): one person per
    speaker at most, the assignment of highest total cosine similarity, a name given where it reaches
    ``threshold``."""
    labels = sorted(voiceprints)
    if not labels or not people:
        return SpeakerNames({}, {})
    scores = np.stack([voiceprints[label].vector for label in labels]) @ enrolled.T
    names, given = {}, {}
    for row, column in matched_pairs(scores, threshold):
        names[labels[row]] = people[column]
        given[labels[row]] = float(scores[row, column])
    return SpeakerNames(
        names, {label: round(given.get(label, float(scores[row].max())), 4) for row, label in enumerate(labels)}
    )
