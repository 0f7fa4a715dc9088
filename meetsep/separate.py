"""Stage 3: separation of overlapped speech into one stream per speaker.

``gss`` (guided source separation, array input): after the mixture has been diarized, each
speaker's segments (a speaker's segments closer than ``separate.merge_gap`` merged) are extracted
from the multichannel recording with diarization-guided cACGMM masks and an MVDR beam
(:mod:`meetsep.gss`). Each becomes a :class:`~meetsep.types.Stream` carrying that speaker, which ASR
transcribes on its own: words said in overlap are kept for both speakers. Windows are read from the
file one at a time (segment plus ``separate.context`` on each side), so memory stays bounded.
"""

from __future__ import annotations

import numpy as np

from meetsep.audio import read_window, resample
from meetsep.config import SeparateConfig
from meetsep.errors import AudioInputError
from meetsep.gss import GssSettings, enhance_segment
from meetsep.hooks import StageReporter
from meetsep.types import ChannelLayout, Recording, SpeakerSegment, Stream


def merge_segments(segments: list[SpeakerSegment], gap: float) -> list[SpeakerSegment]:
    """Merge each speaker's segments that are closer than ``gap`` seconds; sorted by start."""
    merged: list[SpeakerSegment] = []
    for speaker in sorted({s.speaker for s in segments}):
        own = sorted((s for s in segments if s.speaker == speaker), key=lambda s: s.start)
        current = own[0]
        for segment in own[1:]:
            if segment.start - current.end <= gap:
                current = SpeakerSegment(speaker=speaker, start=current.start, end=max(current.end, segment.end))
            else:
                merged.append(current)
                current = segment
        merged.append(current)
    return sorted(merged, key=lambda s: (s.start, s.end, s.speaker))


class GuidedSeparator:
    """Array recording + diarization → one enhanced 16 kHz stream per speaker segment."""

    sample_rate = 16000

    def __init__(self, config: SeparateConfig) -> None:
        self.config = config
        self.settings = GssSettings(fft_size=config.fft_size, hop=config.hop, iterations=config.iterations)

    def __call__(self, recording: Recording, segments: list[SpeakerSegment], reporter: StageReporter | None = None) -> list[Stream]:
        if recording.layout is not ChannelLayout.ARRAY:
            raise AudioInputError(recording.source, f"separate.kind=gss needs array input (2+ channels, layout array), got {recording.layout.value}")
        targets = merge_segments(segments, self.config.merge_gap)
        streams = []
        for index, target in enumerate(targets):
            start = max(0.0, target.start - self.config.context)
            end = min(recording.duration, target.end + self.config.context)
            piece = resample(read_window(recording, start, end), recording.sample_rate, self.sample_rate)
            enhanced = enhance_segment(piece, self.sample_rate, start, segments, target.speaker, self.settings)
            peak = float(np.abs(enhanced).max())
            if peak > 0.99:  # MVDR output can exceed the input's level; keep Whisper's input in range
                enhanced = enhanced * (0.99 / peak)
            streams.append(
                Stream(enhanced, self.sample_rate, f"gss-{target.speaker}-{target.start:.2f}", target.speaker, [(target.start, target.end)], start)
            )
            if reporter is not None:
                reporter.progress(index + 1, len(targets))
        return streams
