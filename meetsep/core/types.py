"""The data model: every type that crosses a stage boundary.

Times are float seconds from the start of the recording. Audio is ``float32`` with shape
``(channels, samples)`` (one channel: ``(samples,)``). Transcript objects are pydantic models so
they serialize to JSON exactly and validate when read back; the intermediate results of the stages
(segmentation, diarization, recognized and attributed words) are plain dataclasses. The protocols
at the end are the call shapes the pipeline relies on: a signal read by slices, a speaker's audio,
a speaker-embedding model, a separator.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from pyannote.core import SlidingWindow, SlidingWindowFeature

    from meetsep.core.hooks import StageReporter

Interval = tuple[float, float]  # (start, end) seconds


class ChannelLayout(str, Enum):  # noqa: UP042  (StrEnum would change str() of a layout)
    """What the channels of a recording mean.

    - ``mono``: one channel (several channels given as ``mono`` are averaged).
    - ``array``: a microphone array; every channel hears every speaker.
    - ``stereo-speakers``: call-center style; each channel carries one speaker (agent, customer).
    """

    MONO = "mono"
    ARRAY = "array"
    STEREO_SPEAKERS = "stereo-speakers"


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


class TimeSpan(BaseModel):
    """A time interval in seconds."""

    model_config = ConfigDict(extra="forbid")
    start: float
    end: float


class SpeakerSegment(BaseModel):
    """A stretch of time in which one speaker is active (diarization output, RTTM rows)."""

    model_config = ConfigDict(extra="forbid")
    speaker: str
    start: float
    end: float


class Word(BaseModel):
    """One recognized word.

    ``overlap`` is true when the word lies in a region where two or more people speak at once.
    """

    model_config = ConfigDict(extra="forbid")
    text: str
    start: float
    end: float
    speaker: str
    probability: float = Field(ge=0.0, le=1.0)
    overlap: bool = False
    stream: str = "mix"


class Turn(BaseModel):
    """Consecutive words of one speaker (one SegLST entry)."""

    model_config = ConfigDict(extra="forbid")
    speaker: str
    start: float
    end: float
    text: str
    overlap: bool
    words: list[Word]


class Transcript(BaseModel):
    """Who said what, when: the result of the pipeline."""

    model_config = ConfigDict(extra="forbid")
    session_id: str
    duration: float
    layout: ChannelLayout
    language: str | None
    language_probability: float | None = Field(
        default=None, description="Share of Whisper's language vote the language won (1.0: pinned by the config)."
    )
    speaker_languages: dict[str, str] = Field(
        default_factory=dict, description="asr.language_per_speaker: each speaker's."
    )
    speakers: list[str]
    speaker_count_confidence: float | None = Field(
        default=None, description="How clearly the speaker count stood out (0-1; None: given or not estimated)."
    )
    turns: list[Turn]
    diarization: list[SpeakerSegment]
    overlaps: list[TimeSpan]
    meetsep_version: str
    config_hash: str
    metadata: dict[str, Any] = Field(default_factory=dict, description="Passed through from a batch manifest.")

    @property
    def words(self) -> list[Word]:
        """All words in time order."""
        return sorted((w for t in self.turns for w in t.words), key=lambda w: (w.start, w.end, w.speaker))

    @property
    def text(self) -> str:
        return " ".join(t.text for t in self.turns)


# ---------------------------------------------------------------------------- between the stages


class Signal(Protocol):
    """A mono float32 signal read by contiguous slices: a NumPy array or a
    :class:`meetsep.io.audio.SignalFile` (the long mixture, kept on disk)."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: slice) -> np.ndarray: ...


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


class SpeakerSource(Protocol):
    """Each speaker's audio at ``rate`` Hz: the speaker's own beam, or the mixture for everyone."""

    rate: int

    @property
    def per_speaker(self) -> bool:
        """Whether speakers get different audio (their own beams) rather than the one mixture."""
        ...

    def __call__(self, speaker: str | None, first: int, last: int) -> np.ndarray:
        """Samples ``[first, last)`` (clipped to the recording) of ``speaker``'s audio (None: the mixture)."""
        ...


class Embedder(Protocol):
    """A speaker-embedding model on mono audio at ``sample_rate`` Hz."""

    sample_rate: int
    dimension: int
    workers: int  # inputs embedded (and, by UnitEmbedder, cut out) at once

    def __call__(self, audio: np.ndarray) -> np.ndarray:
        """``(samples,)`` → ``(dimension,)`` unit-norm embedding; NaN when too short to embed."""
        ...

    def embed_many(self, audios: list[np.ndarray]) -> list[np.ndarray]:
        """``[self(audio) for audio in audios]``, possibly several at once."""
        ...


class UnitEmbedder(Protocol):
    """Embeddings of the units of speech diarization clusters (see :class:`meetsep.stages.embedding.UnitEmbedder`).

    ``spatial`` is set when each embedding is joined by where the unit's speech comes from;
    ``min_clean_seconds`` is the single-speaker speech a unit needs for a reliable embedding.
    """

    dimension: int
    spatial: object | None
    min_clean_seconds: float

    def __call__(
        self,
        audio: Signal,
        units: SpeechUnits,
        selected: np.ndarray | None = None,
        reporter: StageReporter | None = None,
    ) -> np.ndarray:
        """``(num_windows, units, dimension)`` embeddings of the ``selected`` units (NaN elsewhere)."""
        ...


@dataclass
class SeparationJob:
    """What a separator is asked for: ``targets`` (speaker segments of one batch) of ``recording``,
    taken from each speaker's audio (``source``), guided by ``diarization``."""

    recording: Recording
    source: SpeakerSource
    diarization: Diarization
    targets: list[SpeakerSegment]


class Separator(Protocol):
    """Speaker segments → one 16 kHz :class:`Stream` per segment, carrying that speaker's speech.

    Every separator (speaker beams alone, guided source separation, a separation network) has this
    one call.
    """

    def __call__(self, job: SeparationJob, reporter: StageReporter | None = None) -> list[Stream]: ...
