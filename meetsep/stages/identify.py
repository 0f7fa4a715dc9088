"""Stage 7b: who the diarized speakers are: their voices matched to enrolled people (``--speakers DB``).

:class:`VoicePrinter` makes a voiceprint from a person's speech (enrollment, :mod:`meetsep.enrollment`,
and each diarized speaker here): the speech is cut into pieces of at most ``PIECE_SECONDS``, each piece
embedded by CAM++ band-limited to 4 kHz (so a voice enrolled wideband and heard through a phone, or the
reverse, embed alike), and the embeddings averaged by duration; an enrollment is also heard as across two
simulated rooms (:meth:`VoicePrinter.enrollment`), as the people enrolled are later heard in meetings.
:class:`SpeakerIdentifier` makes one voiceprint per diarized speaker from the speech nobody else
overlaps, and gives each the enrolled person it is most like, one person per speaker (the assignment of
highest total similarity), when the cosine similarity reaches ``attribute.match_threshold``; otherwise
the speaker stays unknown (open set: a voice nobody enrolled must not get a name).
"""

from __future__ import annotations

import math
from functools import lru_cache

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
# rooms an enrollment is also heard in (VoicePrinter.enrollment): reverberation time (s), distance to the microphone (m)
ENROLLMENT_ROOMS = ((0.4, 1.2), (0.7, 1.8))
ROOM_SIZE = (6.0, 5.0, 3.0)  # m


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

    def __call__(self, audio: Signal, spans: list[Interval], rooms: bool = False) -> Voiceprint | None:
        """The voiceprint of the speech in ``spans`` of ``audio`` (``(samples,)`` at 16 kHz); None when
        there is too little speech to embed (less than half a second in one piece). ``rooms``: the
        speech is also heard as in each of ``ENROLLMENT_ROOMS`` (see :meth:`enrollment`)."""
        rate = self.embedder.sample_rate
        pieces = self.pieces(spans)
        heard = [np.asarray(audio[int(round(a * rate)) : int(round(b * rate))], dtype=np.float32) for a, b in pieces]
        conditions = [heard]
        if rooms:
            conditions += [[_reverberant(piece, response) for piece in heard] for response in _room_responses(rate)]
        signals = [resample(resample(x, rate, VOICEPRINT_RATE), VOICEPRINT_RATE, rate) for c in conditions for x in c]
        weights, vectors = [], []
        for (start, end), vector in zip(pieces * len(conditions), self.embedder.embed_many(signals)):
            if np.all(np.isfinite(vector)):
                weights.append(end - start)
                vectors.append(vector)
        if not vectors:
            return None
        mean = (np.stack(vectors) * np.asarray(weights, dtype=np.float32)[:, None]).sum(axis=0)
        seconds = round(float(sum(weights)) / len(conditions), 3)
        return Voiceprint((mean / (np.linalg.norm(mean) + 1e-12)).astype(np.float32), seconds)

    def enrollment(self, audio: Signal, spans: list[Interval]) -> Voiceprint | None:
        """The voiceprint of a person being enrolled: their speech as given and as if heard across each of
        ``ENROLLMENT_ROOMS`` (simulated rooms, pyroomacoustics), all embeddings averaged by duration.

        People enroll close to a microphone and are heard later across a meeting room, where CAM++
        hears a voice less like itself (dev real voices in the corpus's rooms matched their clean
        enrollment at 0.61-0.85, on the phone at 0.60-0.88); a voiceprint that has heard both sits
        between the two. Chosen on the dev voices (README, Named speakers)."""
        return self(audio, spans, rooms=True)


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


@lru_cache(maxsize=2)
def _room_responses(rate: int) -> tuple[np.ndarray, ...]:
    """Impulse responses from a talker to a microphone in each of ``ENROLLMENT_ROOMS`` (image method, fixed
    geometry: the same for every enrollment), scaled to a direct path of about 1."""
    import pyroomacoustics as pra

    pra.constants.set("num_threads", 1)  # its multithreaded builder sums in a varying order
    microphone = np.array([ROOM_SIZE[0] / 2, ROOM_SIZE[1] / 2, 1.0])  # mid-room, 1 m up
    responses = []
    for index, (rt60, distance) in enumerate(ENROLLMENT_ROOMS):
        absorption, order = pra.inverse_sabine(rt60, list(ROOM_SIZE))
        room = pra.ShoeBox(list(ROOM_SIZE), fs=rate, materials=pra.Material(absorption), max_order=order)
        angle = 2.0 * np.pi * (index + 1) / (len(ENROLLMENT_ROOMS) + 1)
        room.add_source((microphone + [distance * np.cos(angle), distance * np.sin(angle), 0.5]).tolist())
        room.add_microphone(microphone.tolist())
        room.compute_rir()
        response = np.asarray(room.rir[0][0], dtype=np.float64)
        responses.append((response / np.abs(response).max()).astype(np.float32))
    return tuple(responses)


def _reverberant(piece: np.ndarray, response: np.ndarray) -> np.ndarray:
    """``piece`` as heard through ``response`` (its length kept: the tail past its end is dropped)."""
    from scipy.signal import fftconvolve

    return fftconvolve(piece, response)[: len(piece)].astype(np.float32)
