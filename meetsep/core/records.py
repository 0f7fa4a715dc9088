"""Internal records that pass between the stages (not part of the public schema: they may change).

Times are float seconds from the start of the recording. Audio is ``float32`` with shape
``(channels, samples)`` (one channel: ``(samples,)``). The intermediate results of the stages
(segmentation, diarization, recognized and attributed words, separation jobs, speech carried between
ASR batches) are plain dataclasses; the call shapes the pipeline relies on are in
:mod:`meetsep.core.protocols`, the transcript they end in is :mod:`meetsep.schema`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from meetsep.schema import ChannelLayout, SpeakerSegment

if TYPE_CHECKING:
    from pyannote.core import SlidingWindow, SlidingWindowFeature

    from meetsep.core.protocols import Signal, SpeakerSource


Interval = tuple[float, float]  # (start, end) seconds


@dataclass
class Recording:
    """A recording and what its channels mean; its samples are read lazily, block by block.

    Either ``path`` (read in blocks by :func:`meetsep.io.audio.iter_blocks`, never whole) or ``samples``
    (already in memory) is set.

    Attributes:
        sample_rate: samples per second.
        num_channels: channels as stored.
        num_samples: samples per channel.
        layout: what the channels mean.
        session_id: name used in outputs (the file stem for files).
        source: the path the audio came from, or ``"<array>"``.
        path: the file, when read from disk.
        samples: ``(channels, samples)`` float32 in [-1, 1], when in memory.
        mic_positions: optional ``(3, channels)`` microphone coordinates in metres (array layout).
    """

    sample_rate: int
    num_channels: int
    num_samples: int
    layout: ChannelLayout
    session_id: str = "recording"
    source: str = "<array>"
    path: Path | None = None
    samples: np.ndarray | None = None
    mic_positions: np.ndarray | None = None

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.num_samples / self.sample_rate


@dataclass
class Stream:
    """One mono signal to transcribe, e.g. the enhanced mixture or one call-center channel.

    Attributes:
        audio: ``(samples,)`` float32 at ``sample_rate``, starting ``offset`` seconds into the recording
            (a NumPy array, or a :class:`meetsep.io.audio.SignalFile` for the long mixture: only
            ``len()`` and contiguous slices are used).
        sample_rate: samples per second.
        name: stream name used in diagnostics (``"mix"``, ``"channel-0"``, ``"gss-SPEAKER_01-12.30"``).
        speaker: set when the stream is known to carry one speaker (call-center channels, GSS output).
        regions: ``(start, end)`` seconds (recording time) of speech that ASR should transcribe.
        offset: recording time of the first sample, in seconds.
    """

    audio: np.ndarray
    sample_rate: int
    name: str
    speaker: str | None = None
    regions: list[tuple[float, float]] = field(default_factory=list)
    offset: float = 0.0


@dataclass
class SegmentationResult:
    """What the segmentation stage found in one mono signal.

    Attributes:
        local: ``(num_windows, frames_per_window, 3)`` binary local-speaker activity (its sliding
            window gives each window's time).
        count: ``(num_frames, 1)`` speakers active per frame, aggregated over windows.
        frames: the model's frame grid.
        speech: speech intervals in seconds.
        overlap: intervals with two or more speakers, in seconds.
    """

    local: SlidingWindowFeature
    count: SlidingWindowFeature
    frames: SlidingWindow
    speech: list[Interval]
    overlap: list[Interval]


@dataclass
class SpeechUnits:
    """The units of speech diarization clusters: each segmentation window's local speakers cut into runs.

    Attributes:
        activity: ``(num_windows, frames, max_units)`` binary activity of each unit (its sliding
            window gives each window's time).
        origin: ``(num_windows, max_units)`` the local speaker each unit came from (-1: padding).
        local: the segmentation's ``(num_windows, frames, 3)`` local-speaker activity.
    """

    activity: SlidingWindowFeature
    origin: np.ndarray
    local: SlidingWindowFeature


@dataclass
class Diarization:
    """Who speaks when.

    Attributes:
        segments: speaker activity, possibly overlapping between speakers (RTTM).
        exclusive: the same with at most one speaker at a time (the most active one).
        overlap: intervals where two or more diarized speakers are active.
        count_confidence: how clearly the speaker count stood out (spectral clustering's eigengap
            margin, 0-1); None when the count was given or not estimated that way.
    """

    segments: list[SpeakerSegment]
    exclusive: list[SpeakerSegment]
    overlap: list[Interval]
    count_confidence: float | None = None

    @property
    def speakers(self) -> list[str]:
        return sorted({s.speaker for s in self.segments})

    def spans(self, speaker: str) -> list[Interval]:
        """``speaker``'s segments as ``(start, end)`` seconds."""
        return [(s.start, s.end) for s in self.segments if s.speaker == speaker]


@dataclass(frozen=True)
class Voiceprint:
    """What one person's voice sounds like: a unit-norm ``(dimension,)`` float32 embedding, and the
    seconds of speech it was made from."""

    vector: np.ndarray
    seconds: float


@dataclass(frozen=True)
class SpeakerNames:
    """Diarized speakers matched to enrolled people: ``names`` label → name (matched ones only),
    ``scores`` label → cosine similarity to the name given, or to the closest enrolled voice if none;
    ``voiceprints`` label → voiceprint (``attribute.voiceprints``)."""

    names: dict[str, str]
    scores: dict[str, float]
    voiceprints: dict[str, Voiceprint] = field(default_factory=dict)  # label → voiceprint, when kept
    model: str = ""  # what made the voiceprints (VoicePrinter.id)


@dataclass(frozen=True)
class RecognizedWord:
    """A word from one stream, before speakers are attributed. Times in seconds of the recording."""

    text: str
    start: float
    end: float
    probability: float
    stream: str
    speaker: str | None = None


@dataclass(frozen=True)
class LanguageChoice:
    """The language speech is decoded in: ``code`` for the recording (``speakers``: per speaker,
    where each speaker's own language was identified), with the share of Whisper's language
    probability it won over the sampled speech (1.0 when pinned by the config; ``fallback``: the
    identification was not confident and ``asr.language_fallback`` is used)."""

    code: str
    probability: float
    speakers: dict[str, str] = field(default_factory=dict)
    fallback: bool = False

    def for_speaker(self, speaker: str | None) -> str:
        return self.speakers.get(speaker or "", self.code)


@dataclass
class AsrResult:
    """The words of some streams, in time order, and the language they were decoded in."""

    words: list[RecognizedWord]
    language: LanguageChoice | None


@dataclass(frozen=True)
class AttributedWord:
    """A recognized word with its speaker; ``overlap`` when another speaker is active then too."""

    word: RecognizedWord
    speaker: str
    overlap: bool


@dataclass
class SeparationJob:
    """What a separator is asked for: ``targets`` (speaker segments of one batch) of ``recording``,
    taken from each speaker's audio (``source``), guided by ``diarization``."""

    recording: Recording
    source: SpeakerSource
    diarization: Diarization
    targets: list[SpeakerSegment]


@dataclass(frozen=True)
class Piece:
    """A stretch ``[start, end)`` s (recording time) of ``stream`` placed at ``offset`` s of its pack."""

    stream: Stream
    start: float
    end: float
    offset: float


@dataclass
class HeldSpeech:
    """Speech carried from one batch of streams to the next (:meth:`meetsep.stages.asr.Recognizer.__call__` with ``held``).

    A batch's last pack of each speaker is rarely full; decoding it would cost a whole 30 s encoder
    pass for a few seconds of speech, once per speaker and batch. Its pieces are held instead and
    start that speaker's first pack in the next batch; ``ends`` keeps where each speaker's decoded
    speech ends, so padding is cut there as within a batch.
    """

    pieces: list[Piece] = field(default_factory=list)
    ends: dict[str, float] = field(default_factory=dict)


class MixtureSource:
    """A :class:`~meetsep.core.protocols.SpeakerSource` without speaker beams: everyone's audio is the
    16 kHz mixture (``(samples,)`` float32, the one that was diarized)."""

    rate = 16000
    per_speaker = False

    def __init__(self, mixture: Signal) -> None:
        self.mixture = mixture

    def __call__(self, speaker: str | None, first: int, last: int) -> np.ndarray:
        """Samples ``[first, last)`` (clipped to the recording) of the mixture, whoever ``speaker`` is."""
        first, last = max(0, first), min(len(self.mixture), last)
        return self.mixture[first:last].copy()
