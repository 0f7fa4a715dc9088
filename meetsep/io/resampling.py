"""Resampling: a whole signal, or one that arrives block by block (the same samples, bit for bit)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from math import gcd

import numpy as np


def resample(audio: np.ndarray, source_rate: int, target_rate: int) -> np.ndarray:
    """Resample along the last axis with a polyphase filter (scipy), keeping float32.

    Args:
        audio: ``(..., samples)`` array.
    """
    if source_rate == target_rate:
        return audio.astype(np.float32, copy=False)
    from scipy.signal import resample_poly

    divisor = gcd(int(source_rate), int(target_rate))
    out = resample_poly(audio, target_rate // divisor, source_rate // divisor, axis=-1)
    return out.astype(np.float32, copy=False)


def resample_blocks(blocks: Iterable[np.ndarray], source_rate: int, target_rate: int) -> Iterator[np.ndarray]:
    """:func:`resample` of the concatenated 1-D ``blocks``, given block by block (memory of a block; see
    :class:`StreamResampler`)."""
    resampler = StreamResampler(source_rate, target_rate)
    for block in blocks:
        yield resampler.push(block)
    yield resampler.finish()


class StreamResampler:
    """:func:`resample` of a signal that arrives in pieces: :meth:`push` each piece, :meth:`finish` at the end.

    The same samples as resampling the whole signal at once, bit for bit: each output sample is
    scipy's polyphase sum over the same input samples in the same order (``upfirdn`` with
    ``resample_poly``'s filter), given once all of its input has arrived; only the few input samples
    the filter still needs are kept.
    """

    def __init__(self, source_rate: int, target_rate: int) -> None:
        from scipy.signal import firwin

        divisor = gcd(int(source_rate), int(target_rate))
        self.up, self.down = target_rate // divisor, source_rate // divisor
        self.same = source_rate == target_rate
        if self.same:
            return
        half = 10 * max(self.up, self.down)
        pre_pad = self.down - half % self.down
        self.kernel = np.concatenate(
            [
                np.zeros(pre_pad, np.float32),
                firwin(2 * half + 1, 1.0 / max(self.up, self.down), window=("kaiser", 5.0)).astype(np.float32)
                * self.up,
            ]
        )
        self.skip = (half + pre_pad) // self.down  # leading outputs resample_poly drops
        self.buffer, self.start = (
            np.zeros(0, np.float32),
            0,
        )  # input kept, index of its first sample (a multiple of down)
        self.received, self.emitted = 0, 0  # input samples seen, output samples given

    def push(self, block: np.ndarray) -> np.ndarray:
        """The output samples whose input has all arrived with ``block`` (1-D)."""
        return self._step(np.asarray(block, dtype=np.float32))

    def finish(self) -> np.ndarray:
        """The remaining output samples (the signal is zero after its end)."""
        return self._step(None)

    def _step(self, block: np.ndarray | None) -> np.ndarray:
        if self.same:
            return block if block is not None else np.zeros(0, np.float32)  # nothing held back
        from scipy.signal import upfirdn

        up, down = self.up, self.down
        if block is not None:
            self.buffer = np.concatenate([self.buffer, block])
            self.received += len(block)
        total = -(-self.received * up // down)  # resample_poly's output length once the input ends
        if block is None:  # zeros after the end let every remaining output be computed
            self.buffer = np.concatenate([self.buffer, np.zeros(len(self.kernel) // up + 2, np.float32)])
            ready = total
        else:  # outputs whose last input sample has arrived: (m + skip) * down // up < received
            ready = max(0, total - self.skip - 1)
        out = np.zeros(0, np.float32)
        if ready > self.emitted:
            outputs = upfirdn(self.kernel, self.buffer, up, down)
            shift = self.start * up // down  # output index of the buffer's first input
            out = outputs[self.emitted + self.skip - shift : ready + self.skip - shift].astype(np.float32, copy=False)
            self.emitted = ready
        # keep the input the next output's filter reaches back to, from a multiple of `down`
        first_needed = max(0, ((self.emitted + self.skip) * down - len(self.kernel) + 1) // up)
        keep = first_needed - first_needed % down
        if keep > self.start:
            self.buffer, self.start = self.buffer[keep - self.start :], keep
        return out
