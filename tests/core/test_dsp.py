"""Signal processing shared by the stages: the STFT."""

from __future__ import annotations

import numpy as np
import pytest

from meetsep.core.dsp import StftSettings, stft


@pytest.mark.parametrize("fft_size, hop", [(1024, 256), (400, 160), (512, 512)])
def test_stft_equals_scipys_short_time_fft_bit_for_bit(fft_size, hop):
    """meetsep's STFT frames a chunk at a time and transforms it in one call; the values are
    scipy ShortTimeFFT's, exactly, for any length, channel count and chunk boundary."""
    from scipy.signal import ShortTimeFFT
    from scipy.signal.windows import hann

    import meetsep.core.dsp as dsp

    settings = StftSettings(fft_size=fft_size, hop=hop)
    reference = ShortTimeFFT(hann(fft_size, sym=False), hop=hop, fs=1.0, scale_to="magnitude")
    rng = np.random.default_rng(7)
    for shape in [
        (fft_size,),
        (3, 5 * fft_size + 13),
        (2, dsp.STFT_FRAMES * hop + 1),
        (4, 3 * dsp.STFT_FRAMES * hop - 5),
    ]:
        audio = rng.standard_normal(shape).astype(np.float32)
        expected = np.moveaxis(reference.stft(audio, axis=-1), -1, -2).astype(np.complex64)
        ours = stft(audio, settings)
        assert ours.shape == expected.shape and ours.dtype == np.complex64
        np.testing.assert_array_equal(ours, expected)
    with pytest.raises(ValueError, match="needs at least"):
        stft(np.zeros((2, fft_size // 4), np.float32), settings)


def test_band_stft_without_the_phase_roll_keeps_spatial_statistics():
    """``bins`` keeps only those bins; ``phase=False`` changes each bin by a phase common to all channels
    (and float32 rounding), so every covariance ``yyᴴ`` is the exact STFT's."""
    from meetsep.core.dsp import covariance

    rng = np.random.default_rng(5)
    audio = rng.standard_normal((4, 16000)).astype(np.float32)
    settings = StftSettings(fft_size=1024, hop=256)
    exact = stft(audio, settings)
    band = slice(13, 257)
    fast = stft(audio, settings, bins=band, phase=False)
    assert fast.shape == exact[:, :, band].shape and fast.dtype == np.complex64
    reference = covariance(exact[:, :, band])
    assert np.allclose(covariance(fast), reference, rtol=1e-4, atol=1e-4 * np.abs(reference).max())
    ratio = fast / exact[:, :, band]  # one phase per bin, the same for every channel and frame
    assert np.allclose(np.abs(ratio), 1.0, atol=1e-3)
    assert np.allclose(ratio, ratio[:1, :1, :], atol=1e-3)
