"""The public output schema: what a transcript is made of. Stable across releases.

A :class:`Transcript` is what :func:`meetsep.transcribe` and :class:`meetsep.Pipeline` return and what
the JSON output holds (``Transcript.model_validate_json`` reads it back). Times are float seconds from
the start of the recording. Fields are only ever added (with defaults), never renamed or removed
without a major version; every model refuses unknown fields, so a misspelt key is an error.
"""

from __future__ import annotations

from enum import Enum
from typing import Any, Literal

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
    speaker_names: dict[str, str] = Field(
        default_factory=dict,
        description="attribute.speaker_db: diarized label → the enrolled person it was matched to; the name "
        "replaces the label everywhere in the transcript.",
    )
    speaker_scores: dict[str, float] = Field(
        default_factory=dict,
        description="attribute.speaker_db: per speaker as shown, the cosine similarity of its voice to the name "
        "given, or to the closest enrolled voice when it stayed unknown.",
    )
    speaker_voiceprints: dict[str, list[float]] = Field(
        default_factory=dict,
        description="attribute.voiceprints: per speaker as shown, its voiceprint (unit-norm) for linking one "
        "voice across recordings.",
    )
    voiceprint_model: str | None = Field(
        default=None, description="What made the voiceprints (voiceprints of different models cannot be compared)."
    )
    speaker_links: dict[str, str] = Field(
        default_factory=dict, description="meetsep link: per speaker as shown, its archive-wide voice id."
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


class LiveEvent(BaseModel):
    """What a live session (:class:`meetsep.streaming.LiveSession`, ``meetsep live``, ``meetsep serve``) says.

    - ``partial``: words heard but not settled; they may change (``speaker`` not yet known, None).
    - ``final``: settled words, never retracted, each with its speaker and overlap flag.
    - ``speaker``: a new speaker was found (``speaker``).
    - ``end``: the stream ended; ``transcript`` is the whole result, as the offline pipeline gives it.
    - ``error``: ``message`` says what went wrong in one line; the session is over.

    ``audio_time``: seconds of audio received when the event was made; ``emitted``: seconds since the
    session started (its clock), for latency: a final word's latency is ``emitted - word.end`` when audio
    arrives in real time.
    """

    model_config = ConfigDict(extra="forbid")
    type: Literal["partial", "final", "speaker", "end", "error"]
    audio_time: float
    emitted: float
    words: list[Word] = Field(default_factory=list)
    speaker: str | None = None
    message: str | None = None
    transcript: Transcript | None = None
