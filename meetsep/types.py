"""The data model shared by every stage.

Times are float seconds from the start of the recording. Audio is ``float32`` with shape
``(channels, samples)``. Transcript objects are pydantic models so they serialize to JSON exactly
and validate when read back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field


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

    Either ``path`` (read in blocks by :func:`meetsep.audio.iter_blocks`, never whole) or ``samples``
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
            (a NumPy array, or a :class:`meetsep.audio.SignalFile` for the long mixture: only
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
    speakers: list[str]
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
