"""Stage 5: Guided source separation (GSS) for microphone arrays: diarization-guided cACGMM masks + MVDR.

A separator (``separate.kind=gss``, :class:`GuidedSeparator`): takes the array recording, the
diarization and a batch of speaker segments, and returns one enhanced 16 kHz stream per segment.
For each diarized speaker segment (with ``separate.context`` seconds around it), a complex angular
central Gaussian mixture model (one component per speaker active in the window, plus noise) is
fitted per frequency on the normalized multichannel STFT; its mixture weights are fixed to the
diarization's activity ("guided"), so each component follows one speaker. The target's mask and the
others' masks give speech and interference spatial covariance matrices, and a Souden MVDR beam
(reference microphone chosen by estimated SNR) extracts the target. This is the CHiME-6/7/8
front-end (Boeddeker et al., 2018), written for the CPU with numpy. Windows are read from the file
one at a time, so memory stays bounded.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from meetsep.core.config import SeparateConfig
from meetsep.core.dsp import EPS, StftSettings, istft, mvdr_souden, stft
from meetsep.core.errors import AudioInputError
from meetsep.core.hooks import StageReporter
from meetsep.core.records import SeparationJob, Stream
from meetsep.io.audio import in_range, read_window, resample, speaker_stream
from meetsep.schema import ChannelLayout, SpeakerSegment


@dataclass(frozen=True)
class GssSettings:
    """STFT and EM settings (the window around a segment is chosen by the caller)."""

    fft_size: int = 1024
    hop: int = 256
    iterations: int = 10
    reference_channel: int | None = None  # None: the microphone with the best estimated SNR

    @property
    def stft(self) -> StftSettings:
        return StftSettings(fft_size=self.fft_size, hop=self.hop)


def cacgmm_masks(spectrum: np.ndarray, activity: np.ndarray, iterations: int) -> np.ndarray:
    """Fit a guided cACGMM per frequency; return class posteriors.

    Args:
        spectrum: ``(channels, frames, bins)`` complex STFT.
        activity: ``(classes, frames)`` 0/1 prior (speakers then noise); weights are fixed to it.

    Returns:
        ``(classes, frames, bins)`` masks summing to 1 over classes.
    """
    channels, frames, bins = spectrum.shape
    classes = activity.shape[0]
    observation = np.ascontiguousarray(np.transpose(spectrum, (2, 1, 0))).astype(np.complex64)  # (F, T, D)
    observation /= np.linalg.norm(observation, axis=-1, keepdims=True) + EPS
    prior = activity.astype(np.float64) + 1e-4
    prior /= prior.sum(axis=0, keepdims=True)  # (K, T)
    posterior = np.repeat(prior[:, None, :], bins, axis=1)  # (K, F, T)
    quadratic = np.ones((classes, bins, frames))  # z^H B^-1 z under the previous covariances
    identity = np.eye(channels)[None]
    log_likelihood = np.empty_like(posterior)
    for _ in range(iterations):
        for k in range(classes):
            gamma = posterior[k]
            weighted = observation * (gamma / quadratic[k])[..., None]
            covariance = channels * np.matmul(np.swapaxes(weighted, 1, 2), observation.conj())  # Σ_t w y yᴴ, (F, D, D)
            covariance /= np.maximum(gamma.sum(axis=1), EPS)[:, None, None]
            covariance = 0.5 * (covariance + np.conj(np.swapaxes(covariance, -1, -2))) + 1e-6 * identity
            inverse = np.linalg.inv(covariance)
            _, log_determinant = np.linalg.slogdet(covariance)
            # zᴴ B⁻¹ z for every frame: rows of Z·B⁻ᵀ times conj(Z)
            quadratic[k] = np.maximum(
                np.sum(np.matmul(observation, np.swapaxes(inverse, 1, 2)) * observation.conj(), axis=-1).real, EPS
            )
            log_likelihood[k] = -log_determinant[:, None] - channels * np.log(quadratic[k])
        log_posterior = log_likelihood + np.log(prior)[:, None, :]  # weights stay fixed to the guide
        log_posterior -= log_posterior.max(axis=0, keepdims=True)
        posterior = np.exp(log_posterior)
        posterior /= posterior.sum(axis=0, keepdims=True)
    return np.transpose(posterior, (0, 2, 1)).astype(np.float32)  # (K, T, F)


def activity_matrix(
    segments: list[SpeakerSegment], speakers: list[str], start: float, frames: int, settings: GssSettings, rate: int
) -> np.ndarray:
    """``(len(speakers) + 1, frames)`` 0/1 activity from the diarization, noise class always on."""
    activity = np.zeros((len(speakers) + 1, frames), dtype=np.float32)
    frame_seconds = settings.hop / rate
    for segment in segments:
        if segment.speaker not in speakers:
            continue
        row = speakers.index(segment.speaker)
        first = max(0, int(np.floor((segment.start - start) / frame_seconds)))
        last = min(frames, int(np.ceil((segment.end - start) / frame_seconds)) + 1)
        if last > first:
            activity[row, first:last] = 1.0
    activity[-1] = 1.0
    return activity


def enhance_segment(
    piece: np.ndarray,
    rate: int,
    piece_start: float,
    segments: list[SpeakerSegment],
    target: str,
    settings: GssSettings = GssSettings(),
) -> np.ndarray:
    """Extract speaker ``target`` from a multichannel window, guided by the diarization.

    Args:
        piece: ``(channels, samples)`` window of the recording at ``rate``, starting at ``piece_start`` s.
        segments: diarization segments (recording time); those inside the window guide the masks.
        target: the speaker to extract.

    Returns:
        ``(samples,)`` float32: the target speaker's enhanced signal over the whole window.
    """
    spectrum = stft(piece, settings.stft)
    frames = spectrum.shape[1]
    piece_end = piece_start + piece.shape[1] / rate
    window = [s for s in segments if s.end > piece_start and s.start < piece_end]
    speakers = sorted({s.speaker for s in window} | {target})
    activity = activity_matrix(window, speakers, piece_start, frames, settings, rate)
    masks = cacgmm_masks(spectrum, activity, settings.iterations)
    target_mask = masks[speakers.index(target)]
    enhanced = mvdr_souden(spectrum, target_mask, 1.0 - target_mask, settings.reference_channel)
    return istft(enhanced, piece.shape[1], settings.stft)


class GuidedSeparator:
    """Array recording + diarization → one enhanced 16 kHz stream per speaker segment."""

    sample_rate = 16000

    def __init__(self, config: SeparateConfig) -> None:
        self.config = config
        self.settings = GssSettings(fft_size=config.fft_size, hop=config.hop, iterations=config.iterations)

    def __call__(self, job: SeparationJob, reporter: StageReporter | None = None) -> list[Stream]:
        """Targets that overlap another speaker are extracted by GSS from the multichannel file; with
        ``separate.gss_overlapped_only`` the others come from ``source`` (their beam, or the mixture)."""
        recording, source, diarization, targets = job.recording, job.source, job.diarization, job.targets
        if recording.layout is not ChannelLayout.ARRAY:
            raise AudioInputError(
                recording.source,
                f"separate.kind=gss needs array input (2+ channels, layout array), got {recording.layout.value}",
            )
        segments, rate = diarization.segments, self.sample_rate
        streams = []
        for index, target in enumerate(targets):
            if self.config.gss_overlapped_only and not any(
                a < target.end and b > target.start for a, b in diarization.overlap
            ):
                # nobody else speaks here: the speaker's audio (its MVDR beam, or the mixture) is enough
                streams.append(speaker_stream(source, target, self.config.pad))
            else:
                start = max(0.0, target.start - self.config.context)
                end = min(recording.duration, target.end + self.config.context)
                piece = resample(read_window(recording, start, end), recording.sample_rate, rate)
                enhanced = in_range(enhance_segment(piece, rate, start, segments, target.speaker, self.settings))
                streams.append(
                    Stream(
                        enhanced,
                        rate,
                        f"gss-{target.speaker}-{target.start:.2f}",
                        target.speaker,
                        [(target.start, target.end)],
                        start,
                    )
                )
            if reporter is not None:
                reporter.progress(index + 1, len(targets))
        return streams
