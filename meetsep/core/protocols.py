"""The call shapes the pipeline relies on: a signal read by slices, a speaker's audio, a
speaker-embedding model, an embedder of units of speech, a separator. Any object with these
attributes and calls fits (structural typing); meetsep's own implementations live in the stages.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    from meetsep.core.hooks import StageReporter
    from meetsep.core.records import SeparationJob, SpeechUnits, Stream


class Signal(Protocol):
    """A mono float32 signal read by contiguous slices: a NumPy array or a
    :class:`meetsep.io.audio.SignalFile` (the long mixture, kept on disk)."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: slice) -> np.ndarray: ...


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
    """Embeddings of the units of speech diarization clusters (meetsep's: :class:`meetsep.stages.embedding.VoiceAndPlaceEmbedder`).

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


class Separator(Protocol):
    """Speaker segments → one 16 kHz :class:`Stream` per segment, carrying that speaker's speech.

    Every separator (speaker beams alone, guided source separation, a separation network) has this
    one call.
    """

    def __call__(self, job: SeparationJob, reporter: StageReporter | None = None) -> list[Stream]: ...
