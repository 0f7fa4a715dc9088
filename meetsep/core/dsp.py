"""Signal processing shared by the stages: STFT / iSTFT, spatial covariances, MVDR beamformers.

Arrays follow one convention: a multichannel STFT is ``(channels, frames, bins)`` complex; a
covariance per frequency is ``(bins, C, C)``; beamformer weights are ``(bins, C)``. Sample rates
are the caller's; nothing here resamples.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

SPEED_OF_SOUND = 343.0  # m/s
EPS = 1e-10
STFT_FRAMES = 128  # frames transformed at a time (float64) before they are stored as complex64 (8 channels: 8 MB)
COVARIANCE_FRAMES = 500  # STFT frames multiplied out at once for a covariance


@dataclass(frozen=True)
class StftSettings:
    """A Hann-window STFT: ``fft_size`` samples per frame, a new frame every ``hop`` samples."""

    fft_size: int = 1024
    hop: int = 256


def stft(audio: np.ndarray, settings: StftSettings, bins: slice | None = None, phase: bool = True) -> np.ndarray:
    """``(channels, samples)`` → ``(channels, frames, bins)`` complex64 (Hann, scipy ShortTimeFFT).

    The values of ``ShortTimeFFT.stft`` (bit for bit: the same frames, window, phase roll and
    ``scipy.fft.rfft``), but with all frames of a chunk in one FFT call instead of scipy's loop over
    frames (3x faster), and ``STFT_FRAMES`` frames at a time into the complex64 result (a minute of
    8-channel audio needs 123 MB, not a further 246 MB of complex128). ``bins``: only those bins are
    kept. ``phase=False`` skips the roll that aligns the phase with scipy's (each bin then differs by
    a phase common to all channels and frames, which spatial statistics ``yyᴴ`` do not see) and
    transforms float32 audio in single precision (twice as fast; differences of about 1e-7).
    """
    import scipy.fft
    from numpy.lib.stride_tricks import sliding_window_view

    transform = _short_time_fft(settings)
    samples, hop, size, middle = audio.shape[-1], transform.hop, transform.m_num, transform.m_num_mid
    if samples < size - middle:
        raise ValueError(f"{samples} samples: the STFT needs at least {size - middle}")
    first, last = transform.p_min, transform.p_max(samples)
    window = transform.win.conj() if phase else transform.win.astype(np.float32)  # float32 FFTs without the roll
    roll = (transform.phase_shift + middle) % size
    kept = range(transform.f_pts)[bins or slice(None)]
    out = np.empty((*audio.shape[:-1], last - first, len(kept)), dtype=np.complex64)
    for begin in range(first, last, STFT_FRAMES):
        end = min(begin + STFT_FRAMES, last)
        start, stop = begin * hop - middle, end * hop - middle + size  # samples the frames cover (zeros outside)
        piece = audio[..., max(start, 0) : min(stop, samples)]
        piece = np.pad(piece, [(0, 0)] * (audio.ndim - 1) + [(-min(start, 0), max(stop - samples, 0))])
        frames = sliding_window_view(piece, size, axis=-1)[..., : (end - begin) * hop : hop, :]
        windowed = frames * window
        spectrum = scipy.fft.rfft(np.roll(windowed, -roll, axis=-1) if phase else windowed, n=transform.mfft, axis=-1)
        out[..., begin - first : end - first, :] = spectrum if bins is None else spectrum[..., bins]
    return out


def frame_centers(frames: int, settings: StftSettings) -> np.ndarray:
    """Sample position of the centre of each of the first ``frames`` frames :func:`stft` returns."""
    return (np.arange(frames) + _short_time_fft(settings).p_min) * settings.hop


@lru_cache(maxsize=8)
def _short_time_fft(settings: StftSettings) -> Any:  # made once per settings (5 ms each, a call per block)
    from scipy.signal import ShortTimeFFT
    from scipy.signal.windows import hann

    return ShortTimeFFT(hann(settings.fft_size, sym=False), hop=settings.hop, fs=1.0, scale_to="magnitude")


def istft(spectrum: np.ndarray, samples: int, settings: StftSettings) -> np.ndarray:
    """``(frames, bins)`` → ``(samples,)`` float32, inverse of :func:`stft`."""
    transform = _short_time_fft(settings)
    return transform.istft(spectrum.T, k1=samples).astype(np.float32)


def covariance(spectrum: np.ndarray, selected: np.ndarray | None = None) -> np.ndarray:
    """Σ over the selected (default: all) frames of y yᴴ: ``(channels, frames, bins)`` → ``(bins, C, C)`` complex128.

    Frames are multiplied out ``COVARIANCE_FRAMES`` at a time (bounded copies)."""
    frames = np.arange(spectrum.shape[1]) if selected is None else np.flatnonzero(selected)
    channels = spectrum.shape[0]
    total = np.zeros((spectrum.shape[2], channels, channels), dtype=np.complex128)
    for first in range(0, len(frames), COVARIANCE_FRAMES):
        chosen = np.ascontiguousarray(
            np.transpose(spectrum[:, frames[first : first + COVARIANCE_FRAMES], :], (2, 0, 1))
        )  # (F, C, T')
        total += np.matmul(chosen, np.conj(np.swapaxes(chosen, 1, 2)))
    return total


def diagonal_load(matrix: np.ndarray, amount: float = 1e-3) -> np.ndarray:
    """Diagonal loading relative to the mean power per bin (keeps inverses finite)."""
    channels = matrix.shape[-1]
    power = np.trace(matrix, axis1=-2, axis2=-1).real / channels
    return matrix + (amount * power + 1e-12)[:, None, None] * np.eye(channels)[None]


def relative_transfer_function(target: np.ndarray, interference: np.ndarray, reference: int) -> np.ndarray:
    """RTF ``(bins, C)`` by covariance whitening: h = L u, u the principal eigenvector of L⁻¹Φₜ L⁻ᴴ (Φᵢ = LLᴴ)."""
    lower = np.linalg.cholesky(diagonal_load(interference))
    inverse = np.linalg.inv(lower)
    whitened = inverse @ target @ np.conj(np.swapaxes(inverse, -1, -2))
    whitened = 0.5 * (whitened + np.conj(np.swapaxes(whitened, -1, -2)))
    _, vectors = np.linalg.eigh(whitened)
    rtf = np.einsum("fcd,fd->fc", lower, vectors[..., -1])
    return rtf / np.where(np.abs(rtf[:, reference : reference + 1]) > 1e-12, rtf[:, reference : reference + 1], 1.0)


def far_field_steering(mic_positions: np.ndarray, azimuth: float, rate: int, fft_size: int) -> np.ndarray:
    """Plane-wave steering vector ``(bins, C)`` from ``azimuth`` (radians, x-y plane), relative to mic 0."""
    direction = np.array([np.cos(azimuth), np.sin(azimuth), 0.0])
    delays = -(mic_positions.T - mic_positions[:, 0]) @ direction / SPEED_OF_SOUND  # (C,) s, later = positive
    frequencies = np.fft.rfftfreq(fft_size, 1.0 / rate)
    return np.exp(-2j * np.pi * frequencies[:, None] * delays[None, :])


def mvdr_filters(steering: np.ndarray, interference: np.ndarray) -> np.ndarray:
    """w = Φᵢ⁻¹h / (hᴴΦᵢ⁻¹h), ``(bins, C)``."""
    solved = np.linalg.solve(diagonal_load(interference), steering[..., None])[..., 0]
    return solved / (np.einsum("fc,fc->f", steering.conj(), solved)[:, None] + 1e-12)


def apply_filters(spectrum: np.ndarray, filters: np.ndarray) -> np.ndarray:
    """``(C, frames, bins)`` and ``(bins, C)`` → ``(frames, bins)``: wᴴ y per bin."""
    return np.einsum("fc,ctf->tf", filters.conj(), spectrum)


def mvdr_souden(
    spectrum: np.ndarray, target_mask: np.ndarray, noise_mask: np.ndarray, reference: int | None = None
) -> np.ndarray:
    """Souden MVDR toward ``reference`` (default: the channel of highest estimated SNR).

    Args:
        spectrum: ``(channels, frames, bins)``; masks: ``(frames, bins)``.

    Returns:
        ``(frames, bins)`` enhanced STFT.
    """
    channels = spectrum.shape[0]
    observation = np.transpose(spectrum, (2, 1, 0)).astype(np.complex128)  # (F, T, D)

    def weighted_covariance(mask: np.ndarray) -> np.ndarray:
        weights = mask.T.astype(np.float64)  # (F, T)
        matrix = np.matmul(np.swapaxes(observation * weights[..., None], 1, 2), observation.conj())
        return matrix / np.maximum(weights.sum(axis=1), EPS)[:, None, None]

    speech, noise = weighted_covariance(target_mask), weighted_covariance(noise_mask)
    noise = noise + 1e-6 * np.trace(noise, axis1=-2, axis2=-1).real.mean() / channels * np.eye(channels)[None]
    numerator = np.linalg.solve(noise, speech)  # Φnn⁻¹ Φss, (F, D, D)
    filters = numerator / (np.trace(numerator, axis1=-2, axis2=-1)[:, None, None] + EPS)
    if reference is not None:
        return np.einsum("fd,ftd->tf", filters[..., reference].conj(), observation).astype(np.complex64)
    # reference microphone: the one with the best speech-to-noise power ratio after beamforming
    snr = [
        np.sum(np.einsum("fd,fde,fe->f", filters[..., r].conj(), speech, filters[..., r]).real)
        / max(np.sum(np.einsum("fd,fde,fe->f", filters[..., r].conj(), noise, filters[..., r]).real), EPS)
        for r in range(channels)
    ]
    weights = filters[..., int(np.argmax(snr))]  # (F, D)
    return np.einsum("fd,ftd->tf", weights.conj(), observation).astype(np.complex64)
