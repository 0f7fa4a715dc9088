"""Stage 1: reduce multichannel array audio to one enhanced channel.

For now two simple, documented methods (MVDR lands with the separation chain):

- ``average``: the mean over channels. For a compact array it keeps the direct sound, averages out
  uncorrelated noise (+10·log10(M) dB for M mics), and cannot make a channel worse than silence.
- ``reference``: one microphone as it is.
"""

from __future__ import annotations

import numpy as np

from meetsep.config import BeamformConfig
from meetsep.errors import AudioInputError
from meetsep.types import ChannelLayout, Recording


class Beamformer:
    """Array → mono. Other layouts pass through unchanged."""

    def __init__(self, config: BeamformConfig) -> None:
        self.config = config

    def __call__(self, recording: Recording) -> Recording:
        """Returns a recording with shape ``(1, samples)`` for array input, else the input."""
        if recording.layout is not ChannelLayout.ARRAY:
            return recording
        if self.config.kind == "reference":
            channel = self.config.reference_channel
            if channel >= recording.num_channels:
                raise AudioInputError(
                    recording.source, f"beamform.reference_channel {channel} but the audio has {recording.num_channels} channels"
                )
            mono = recording.audio[channel : channel + 1]
        else:
            mono = recording.audio.mean(axis=0, keepdims=True, dtype=np.float64).astype(np.float32)
        return Recording(mono, recording.sample_rate, ChannelLayout.MONO, recording.session_id, recording.source)
