"""Degradations that make a TTS voice vary the way a real speaker's recordings do.

A TTS voice says every sentence with the same timbre, level and pace; a person does not, and their
voice reaches a recording through different channels. Evaluations (and the defaults chosen on them)
must hold under such variation, so the simulator (:mod:`meetsep.sim.simulate`) can apply:

- a **channel** per speaker: ``telephone`` (300-3400 Hz band, through 8 kHz, G.711 µ-law),
  ``mp3`` / ``opus`` (low-bitrate codecs), ``tilt`` (a cheap microphone: spectral tilt and a
  low cut), or ``none``;
- per **utterance**: level (dB) and speed (tempo, applied at synthesis) changes;
- **noise** (white or pink) and **reverberation** come from the simulated room.

All functions take and return ``(samples,)`` float32 at 16 kHz and are deterministic.
"""

from __future__ import annotations

import io

import numpy as np

from meetsep.io.audio import resample

RATE = 16000
CHANNELS = ("none", "telephone", "mp3", "opus", "tilt")


def telephone(audio: np.ndarray) -> np.ndarray:
    """Narrowband telephone: 300-3400 Hz, resampled through 8 kHz, 8-bit µ-law (G.711) quantization."""
    from scipy.signal import butter, sosfilt

    narrow = resample(audio, RATE, 8000)
    band = butter(4, [300, 3400], btype="bandpass", fs=8000, output="sos")
    narrow = sosfilt(band, narrow).astype(np.float32)
    peak = max(float(np.abs(narrow).max()), 1e-9)
    mu = 255.0
    companded = np.sign(narrow / peak) * np.log1p(mu * np.abs(narrow / peak)) / np.log1p(mu)
    quantized = np.round(companded * 127.0) / 127.0
    expanded = np.sign(quantized) * ((1.0 + mu) ** np.abs(quantized) - 1.0) / mu * peak
    return resample(expanded.astype(np.float32), 8000, RATE)


def codec(audio: np.ndarray, kind: str) -> np.ndarray:
    """Encode and decode with a lossy codec at a low bitrate: ``mp3`` or ``opus`` (libsndfile)."""
    import soundfile as sf

    buffer = io.BytesIO()
    peak = max(float(np.abs(audio).max()), 1e-9)
    scaled = audio * (0.9 / peak)  # codecs clip above full scale
    if kind == "mp3":
        sf.write(buffer, scaled, RATE, format="MP3", subtype="MPEG_LAYER_III", compression_level=0.99)
    elif kind == "opus":
        sf.write(buffer, scaled, RATE, format="OGG", subtype="OPUS", compression_level=0.99)
    else:
        raise ValueError(f"unknown codec {kind!r} (mp3, opus)")
    buffer.seek(0)
    decoded, rate = sf.read(buffer, dtype="float32")
    decoded = resample(decoded, rate, RATE)
    # codecs add a few ms of delay: keep the original length and alignment to the utterance start
    delay = _delay(audio, decoded)
    out = np.zeros_like(audio)
    piece = decoded[delay : delay + len(audio)]
    out[: len(piece)] = piece
    return out * (peak / 0.9)


def tilt(audio: np.ndarray) -> np.ndarray:
    """A cheap microphone: low cut at 200 Hz and a first-order tilt toward high frequencies."""
    from scipy.signal import butter, lfilter, sosfilt

    low_cut = butter(2, 200, btype="highpass", fs=RATE, output="sos")
    tilted = lfilter([1.0, -0.6], [1.0], sosfilt(low_cut, audio))
    return (tilted * (np.std(audio) / max(float(np.std(tilted)), 1e-9))).astype(np.float32)


def apply_channel(audio: np.ndarray, channel: str) -> np.ndarray:
    """``audio`` through one of :data:`CHANNELS`."""
    if channel == "none":
        return audio
    if channel == "telephone":
        return telephone(audio)
    if channel in ("mp3", "opus"):
        return codec(audio, channel)
    if channel == "tilt":
        return tilt(audio)
    raise ValueError(f"unknown channel {channel!r} (choose from {', '.join(CHANNELS)})")


def pink_noise(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Noise with a 1/f power spectrum (like room and babble noise, unlike white noise), unit variance."""
    white = rng.standard_normal(shape)
    spectrum = np.fft.rfft(white, axis=-1)
    frequencies = np.fft.rfftfreq(shape[-1])
    frequencies[0] = frequencies[1]
    pink = np.fft.irfft(spectrum / np.sqrt(frequencies), n=shape[-1], axis=-1)
    return pink / np.std(pink)


def _delay(reference: np.ndarray, delayed: np.ndarray, search: int = 4000) -> int:
    """Samples by which ``delayed`` lags ``reference`` (cross-correlation over the first second)."""
    length = min(len(reference), len(delayed) - search, RATE)
    if length <= 0:
        return 0
    head = reference[:length]
    scores = [float(np.dot(head, delayed[lag : lag + length])) for lag in range(0, search, 8)]
    coarse = int(np.argmax(scores)) * 8
    fine = range(max(0, coarse - 8), min(search, coarse + 9))
    return max(fine, key=lambda lag: float(np.dot(head, delayed[lag : lag + length])))
