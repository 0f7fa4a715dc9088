"""Stage 7: Call-center stereo: the speaker is the channel; words a channel only heard as crosstalk are dropped.

Stage "channels" of the ``stereo-speakers`` chain. A channel's speech counts as its own unless the
other channel is louder by more than ``attribute.crosstalk_margin_db`` at that time (crosstalk leaks
in attenuated): :meth:`CallChannels.streams` gives one stream per channel with its own speech
regions; after ASR, :meth:`CallChannels.attribute` gives the diarization (each channel's own speech)
and drops a word recognized on a channel where it is crosstalk, so no word is transcribed twice.
The channels may be arrays or :class:`~meetsep.core.protocols.Signal` files read block by block, so a long
call is never held in memory.
"""

from __future__ import annotations

import numpy as np

from meetsep.core.chunking import spans
from meetsep.core.config import AttributeConfig
from meetsep.core.intervals import mask_runs, overlap_seconds, overlapping_parts
from meetsep.core.protocols import Signal
from meetsep.core.records import AttributedWord, Diarization, Interval, RecognizedWord, SegmentationResult, Stream
from meetsep.schema import SpeakerSegment

FRAME_SECONDS = 0.02
BLOCK_FRAMES = 3000  # frames of level measured per block read (60 s at 20 ms)


class CallChannels:
    """Two channels, one speaker each (``names``: left, right)."""

    sample_rate = 16000

    def __init__(self, config: AttributeConfig, names: list[str]) -> None:
        self.margin = config.crosstalk_margin_db
        self.names = names

    def dominance(self, channels: np.ndarray | list[Signal]) -> dict[str, np.ndarray]:
        """Per speaker, ``(frames,)`` own level minus the other channel's level (dB), every 20 ms.

        Args:
            channels: ``(2, samples)`` float32 at 16 kHz, or two such ``(samples,)`` signals
                (read a block at a time).
        """
        levels = frame_levels_db(channels, self.sample_rate)
        return {self.names[0]: levels[0] - levels[1], self.names[1]: levels[1] - levels[0]}

    def streams(
        self,
        channels: np.ndarray | list[Signal],
        segmentations: list[SegmentationResult],
        dominance: dict[str, np.ndarray],
    ) -> list[Stream]:
        """One stream per channel, its regions the channel's own speech (not crosstalk)."""
        return [
            Stream(
                channels[index],
                self.sample_rate,
                f"channel-{index}",
                speaker=name,
                regions=own_speech(segmentation.speech, dominance[name] > -self.margin),
            )
            for index, (name, segmentation) in enumerate(zip(self.names, segmentations))
        ]

    def attribute(
        self, words: list[RecognizedWord], streams: list[Stream], dominance: dict[str, np.ndarray]
    ) -> tuple[Diarization, list[AttributedWord]]:
        """Diarization = each channel's own speech; the words without crosstalk."""
        assert all(stream.speaker is not None for stream in streams)
        regions = {str(stream.speaker): stream.regions for stream in streams}
        return attribute_channels(words, regions, dominance, self.margin)


def frame_levels_db(
    audio: np.ndarray | list[Signal],
    sample_rate: int,
    frame_seconds: float = FRAME_SECONDS,
    smooth_seconds: float = 0.2,
) -> np.ndarray:
    """Smoothed frame energy in dB for each channel: ``(channels, samples)`` → ``(channels, frames)``.

    ``audio`` may also be a list of ``(samples,)`` signals of one length, read ``BLOCK_FRAMES`` frames
    at a time (the same values: each frame's power depends on its own samples only).
    """
    from scipy.ndimage import uniform_filter1d

    hop = max(1, int(frame_seconds * sample_rate))
    frames = len(audio[0]) // hop
    power = np.zeros((len(audio), frames), dtype=np.float64)
    for first, last in spans(0, frames, BLOCK_FRAMES):
        for row, channel in enumerate(audio):
            samples = np.asarray(channel[first * hop : last * hop], dtype=np.float64)
            power[row, first:last] = (samples**2).reshape(last - first, hop).mean(axis=1)
    power = uniform_filter1d(power, size=max(1, int(smooth_seconds / frame_seconds)), axis=1, mode="nearest")
    return 10.0 * np.log10(power + 1e-10)


def own_speech(
    regions: list[Interval], own: np.ndarray, frame_seconds: float = FRAME_SECONDS, min_duration: float = 0.1
) -> list[Interval]:
    """Parts of ``regions`` where the boolean frame mask ``own`` holds."""
    out: list[Interval] = []
    for start, end in regions:
        first, last = int(start / frame_seconds), min(len(own), int(np.ceil(end / frame_seconds)))
        mask = own[first:last]
        for a, b in mask_runs(mask):
            seg_start, seg_end = max(start, (first + a) * frame_seconds), min(end, (first + b) * frame_seconds)
            if seg_end - seg_start >= min_duration:
                out.append((round(seg_start, 3), round(seg_end, 3)))
    return out


def attribute_channels(
    words: list[RecognizedWord],
    own_regions: dict[str, list[Interval]],
    dominance_db: dict[str, np.ndarray],
    margin_db: float,
) -> tuple[Diarization, list[AttributedWord]]:
    """Call-center attribution: speaker = channel; drop words a channel only heard as crosstalk.

    Args:
        words: words with ``speaker`` set to their channel's speaker.
        own_regions: each speaker's own speech intervals.
        dominance_db: per speaker, ``(frames,)`` own level minus the other channel's level (dB).
    """
    segments = sorted(
        (SpeakerSegment(speaker=speaker, start=a, end=b) for speaker, spans in own_regions.items() for a, b in spans),
        key=lambda s: (s.start, s.end, s.speaker),
    )
    overlap = overlapping_parts(segments)
    kept = []
    for word in words:
        assert word.speaker is not None
        levels = dominance_db[word.speaker]
        first = int(word.start / FRAME_SECONDS)
        last = max(first + 1, int(np.ceil(word.end / FRAME_SECONDS)))
        span = levels[first:last]
        if span.size and float(np.median(span)) < -margin_db:
            continue  # the other channel is much louder: this word is crosstalk
        kept.append(AttributedWord(word, word.speaker, overlap_seconds(word.start, word.end, overlap) > 0.0))
    diarization = Diarization(segments, segments, overlap)
    return diarization, kept
