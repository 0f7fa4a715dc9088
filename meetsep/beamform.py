"""Stage 1: reduce the recording to one enhanced channel, block by block.

For now two simple, documented methods for ``array`` input (MVDR lands with the separation chain):

- ``average``: the mean over channels. For a compact array it keeps the direct sound, averages out
  uncorrelated noise (+10·log10(M) dB for M mics), and cannot make a channel worse than silence.
- ``reference``: one microphone as it is.

``mono`` input passes through (several channels given as mono are averaged while reading).
The recording is read in blocks, so memory holds one mono signal, never the multichannel file.
"""

from __future__ import annotations

import numpy as np

from meetsep.audio import iter_blocks
from meetsep.config import BeamformConfig
from meetsep.errors import AudioInputError
from meetsep.types import ChannelLayout, Recording


class Beamformer:
    """Recording (mono or array) → ``(samples,)`` float32 at the recording's sample rate."""

    def __init__(self, config: BeamformConfig) -> None:
        self.config = config

    def __call__(self, recording: Recording) -> np.ndarray:
        if recording.layout is ChannelLayout.STEREO_SPEAKERS:
            raise ValueError("stereo-speakers recordings are not beamformed: each channel is one speaker")
        array = recording.layout is ChannelLayout.ARRAY
        if array and self.config.kind == "reference" and self.config.reference_channel >= recording.num_channels:
            raise AudioInputError(
                recording.source,
                f"beamform.reference_channel {self.config.reference_channel} but the audio has {recording.num_channels} channels",
            )
        mono = np.empty(recording.num_samples, dtype=np.float32)
        position = 0
        for block in iter_blocks(recording):
            if not array:
                reduced = block[0]
            elif self.config.kind == "reference":
                reduced = block[self.config.reference_channel]
            else:
                reduced = block.mean(axis=0, dtype=np.float64).astype(np.float32)
            mono[position : position + len(reduced)] = reduced
            position += len(reduced)
        return mono[:position]
