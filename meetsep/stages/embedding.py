"""Stage 3: Speaker embeddings: what a stretch of speech sounds like (CAM++), and where it comes from (array).

Stage "embed" of the chain: takes the segmented mixture and the units of speech that diarization
clusters (each window's local speakers cut into runs, see :mod:`meetsep.stages.diarize`), and returns one
vector per unit. :class:`SpeakerEmbedder` is the voice model (also used by the separation network
to match its outputs to speakers); :class:`SpatialFeatures` describes where a unit's speech comes
from on a microphone array; :class:`VoiceAndPlaceEmbedder` cuts each unit's single-speaker speech out of
its window and embeds it, joined by its spatial feature when asked.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

import numpy as np

from meetsep.core.config import AttributeConfig, RuntimeConfig
from meetsep.core.dsp import StftSettings, stft
from meetsep.core.hooks import StageReporter
from meetsep.core.parallel import map_single_threaded
from meetsep.core.protocols import Signal
from meetsep.core.records import Recording, SpeechUnits
from meetsep.io.audio import read_window, resample
from meetsep.loading.models import load_embedding_model, load_embedding_onnx, resolve_model

MIN_EMBEDDING_SECONDS = 0.4
MIN_CLEAN_SECONDS = 1.0  # clean speech a unit needs to help form the clusters
EMBED_BLOCK = 64  # units cut out and embedded at a time (bounded memory, all workers busy)
SPATIAL_BAND = (200.0, 4000.0)  # Hz used for spatial features: speech energy, and phase differences below aliasing
# A unit whose clean speech covers the same time as a unit already embedded (intersection over union of
# at least REUSE_OVERLAP, on a REUSE_TICK grid) takes that unit's embedding instead of running CAM++ on
# the same samples again: windows overlap (10 s every 2 s), so each stretch of speech is a unit of up
# to 5 windows. Chosen on the dev families: 0.8 embeds 41 % fewer units with the same DER (19.8 %) and
# count; 0.7 embeds 51 % fewer, DER 20.2 %.
REUSE_OVERLAP = 0.8
REUSE_TICK = 0.02  # s
REUSE_WINDOWS = 4  # earlier windows searched for a match


class SpeakerEmbedder:
    """CAM++ embeddings of 16 kHz audio (80-bin Kaldi fbank, dither 0, mean-normalized over time).

    CAM++ runs with oneDNN (mkldnn) off: the units it embeds have a new length nearly every call,
    oneDNN builds its kernels per input shape, and PyTorch's own convolutions are then about 1.6x
    faster on a CPU (attribution of a 10-minute meeting 74 → 44 s) and hold less memory. Inputs
    are not padded into batches: padding changes CAM++'s output, and the clustering is sensitive
    to that (DER on the dev meetings 15.6 → 17.8 % with inputs repeated up to a whole 0.5 s).
    Several units are embedded at once instead, one per core on a single PyTorch thread each
    (:func:`meetsep.core.parallel.map_single_threaded`): the same embeddings, 1.9x faster on 2 cores for
    300 units alone; the attribution stage of a 10-minute meeting went from 39.7 to 31.3 s (what
    remains, beside clustering, is Python work in CAM++'s many small modules, which one thread at a
    time can do). That Python work is gone with ``attribute.embedding_backend=onnx`` (the default): the
    same network exported once to ONNX Runtime (:func:`meetsep.loading.models.load_embedding_onnx`), embeddings
    within 1e-5, one unit per core as before; attribution of a 10-minute 8-channel recording 56 → 24 s.
    """

    sample_rate = 16000
    dimension = 192

    def __init__(self, config: AttributeConfig, runtime: RuntimeConfig) -> None:
        self.resolved = resolve_model(
            config.model or "campplus", "embedding", model_dir=runtime.model_dir, allow_download=runtime.allow_download
        )
        self.workers = runtime.threads or os.cpu_count() or 1
        self.backend = config.embedding_backend

    @property
    def model_id(self) -> str:
        """What the weights are: ``campplus-<SHA-256 of the weight files, 16 digits>`` (voiceprints made
        with other weights cannot be compared)."""
        return f"campplus-{_digest(self.resolved.path)}"

    def embed_many(self, audios: list[np.ndarray]) -> list[np.ndarray]:
        """``[self(audio) for audio in audios]``, ``self.workers`` at a time."""
        import torch

        # oneDNN's switch is global to the process: set once here, never inside the workers
        with torch.backends.mkldnn.flags(enabled=False):
            return map_single_threaded(self._embed, audios, self.workers)

    def __call__(self, audio: np.ndarray) -> np.ndarray:
        """``(samples,)`` float32 → ``(192,)`` unit-norm embedding; NaN when too short to embed."""
        import torch

        with torch.backends.mkldnn.flags(enabled=False):
            return self._embed(audio)

    def _embed(self, audio: np.ndarray) -> np.ndarray:
        import torch
        from torchaudio.compliance.kaldi import fbank

        if len(audio) < MIN_EMBEDDING_SECONDS * self.sample_rate:
            return np.full(self.dimension, np.nan, dtype=np.float32)
        session = load_embedding_onnx(self.resolved) if self.backend == "onnx" else None
        with torch.inference_mode():
            features = fbank(
                torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))[None] * 32768.0,
                num_mel_bins=80,
                sample_frequency=self.sample_rate,
                dither=0.0,
            )
            features = features - features.mean(dim=0, keepdim=True)
            if session is not None:
                embedding = session.run(None, {"features": features[None].numpy()})[0][0]
            else:
                embedding = load_embedding_model(self.resolved)(features[None]).squeeze(0).numpy()
        return (embedding / (np.linalg.norm(embedding) + 1e-12)).astype(np.float32)


@cache
def _digest(path: Path) -> str:
    import hashlib

    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    digest = hashlib.sha256()
    for file in files:
        with open(file, "rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]


class SpatialFeatures:
    """Where a stretch of speech comes from, as the microphone array hears it (no geometry needed).

    The feature of a set of frames is, per frequency bin between ``SPATIAL_BAND`` Hz, the principal
    eigenvector of their spatial covariance (the source's relative transfer function, up to scale),
    phase-aligned to microphone 0, stacked as real numbers and normalized: two stretches from the same
    place in the room have a dot product near 1, from places apart much less. People in a meeting
    stay in their seats, so this tells apart voices that speaker embeddings confuse.
    """

    rate = 16000
    fft_size = 512
    hop = 256

    def __init__(self, recording: Recording) -> None:
        self.recording = recording
        self.settings = StftSettings(fft_size=self.fft_size, hop=self.hop)
        frequencies = np.fft.rfftfreq(self.fft_size, 1.0 / self.rate)
        self.band = (frequencies >= SPATIAL_BAND[0]) & (frequencies <= SPATIAL_BAND[1])
        self.dimension = int(self.band.sum()) * recording.num_channels * 2

    def window(self, start: float, duration: float) -> np.ndarray:
        """The array's STFT of ``[start, start + duration)`` s: ``(channels, frames, band bins)``, frames every ``hop``."""
        piece = resample(
            read_window(self.recording, max(0.0, start), start + duration), self.recording.sample_rate, self.rate
        )
        if start < 0:
            piece = np.pad(piece, ((0, 0), (int(round(-start * self.rate)), 0)))
        return stft(piece, self.settings)[:, :, self.band]

    def __call__(self, spectrum: np.ndarray, frames: np.ndarray) -> np.ndarray:
        """Feature ``(dimension,)`` of the selected ``frames`` (bool over the spectrum's frames); NaN if none."""
        if frames.sum() < 2:
            return np.full(self.dimension, np.nan, dtype=np.float32)
        chosen = np.ascontiguousarray(np.transpose(spectrum[:, frames, :], (2, 0, 1)))  # (F, C, T)
        covariance = np.matmul(chosen, np.conj(np.swapaxes(chosen, 1, 2)))
        _, vectors = np.linalg.eigh(covariance)
        principal = vectors[..., -1]  # (F, C), unit norm
        phase = principal[:, :1] / (np.abs(principal[:, :1]) + 1e-12)
        aligned = principal / phase
        feature = np.concatenate([aligned.real.ravel(), aligned.imag.ravel()])
        return (feature / (np.linalg.norm(feature) + 1e-12)).astype(np.float32)


class VoiceAndPlaceEmbedder:
    """Embeddings of units of speech: each unit's clean (single-speaker) speech in its window.

    Args:
        embedder: the voice model.
        config: ``exclude_overlap`` and ``spatial_weight``.
        spatial: where each unit's speech comes from (array input), joined to its voice embedding.
    """

    def __init__(
        self, embedder: SpeakerEmbedder, config: AttributeConfig, spatial: SpatialFeatures | None = None
    ) -> None:
        self.embedder, self.config, self.spatial = embedder, config, spatial
        self.min_clean_seconds = MIN_CLEAN_SECONDS
        self.dimension = embedder.dimension + (spatial.dimension if spatial is not None else 0)

    def __call__(
        self,
        audio: Signal,
        speech: SpeechUnits,
        selected: np.ndarray | None = None,
        reporter: StageReporter | None = None,
    ) -> np.ndarray:
        """``(num_windows, units, dimension)`` embeddings of each unit's clean (single-speaker) speech.

        Args:
            audio: ``(samples,)`` float32 at 16 kHz, the signal that was segmented.
            speech: the units (see :meth:`meetsep.stages.diarize.Diarizer.units`).
            selected: ``(num_windows, units)`` bool, embed only these units (the others stay NaN).

        A unit with less than 1 s of clean speech falls back to its local speaker's clean speech in
        the window, then to its own speech including overlap; NaN when nothing usable remains.
        """
        units, origin, local = speech.activity, speech.origin, speech.local
        rate = self.embedder.sample_rate
        num_windows, num_frames, width = units.data.shape
        frame_seconds = local.sliding_window.duration / num_frames
        window_samples = int(round(local.sliding_window.duration * rate))
        frame_of_sample = np.minimum((np.arange(window_samples) * num_frames) // window_samples, num_frames - 1)
        result = np.full((num_windows, width, self.dimension), np.nan, dtype=np.float32)
        windows: list[tuple[int, float, list[tuple[int, np.ndarray]]]] = []  # window, start, units to embed
        embedded = _EmbeddedUnits()

        def cut(request: tuple[int, float, list[tuple[int, np.ndarray]]]) -> list[tuple[np.ndarray, np.ndarray | None]]:
            """A window's units: the clean speech of each and its spatial part (run on a worker)."""
            _, window_start, new = request
            start = int(round(window_start * rate))
            chunk = np.zeros(window_samples, dtype=np.float32)
            piece = audio[start : start + window_samples]
            chunk[: len(piece)] = piece
            if self.config.embedding_rate < rate:  # the voice as a telephone would carry it (see AttributeConfig)
                chunk = resample(resample(chunk, rate, self.config.embedding_rate), self.config.embedding_rate, rate)
            places = self._places(window_start, frame_seconds, new)
            return [(chunk[mask[frame_of_sample]], place) for (_, mask), place in zip(new, places)]

        def embed_windows() -> None:
            # windows cut and units embedded several at a time, in order: the same vectors as one by one
            pieces = map_single_threaded(cut, windows, self.embedder.workers)
            jobs = [
                (index, unit, speech, place)
                for (index, _, new), cuts in zip(windows, pieces)
                for (unit, _), (speech, place) in zip(new, cuts)
            ]
            for (index, unit, _, place), embedding in zip(jobs, self.embedder.embed_many([job[2] for job in jobs])):
                if place is not None:  # both parts unit-norm: cosine similarity = weighted mean of the two
                    weight = self.config.spatial_weight
                    embedding = np.concatenate([embedding, weight * place]) / np.sqrt(1 + weight**2)
                result[index, unit] = embedding
            windows.clear()

        for index, ((window, masks), speakers) in enumerate(zip(units, np.nan_to_num(local.data, nan=0.0) > 0.5)):
            if selected is not None and not selected[index].any():
                continue
            single = speakers.sum(axis=1) == 1 if self.config.exclude_overlap else np.ones(num_frames, dtype=bool)
            new: list[tuple[int, np.ndarray]] = []  # units of this window to embed, with their clean frames
            for unit in range(width):
                if origin[index, unit] < 0 or (selected is not None and not selected[index, unit]):
                    continue
                own = masks[:, unit] > 0.5
                candidates = (own & single, speakers[:, origin[index, unit]] & single, own)
                mask = next((m for m in candidates if m.sum() * frame_seconds >= self.min_clean_seconds), own)
                if mask.any() and not embedded.reuse(
                    index, unit, window.start + (np.flatnonzero(mask) + 0.5) * frame_seconds
                ):
                    new.append((unit, mask))
            if new:
                windows.append((index, window.start, new))
            if sum(len(waiting) for _, _, waiting in windows) >= EMBED_BLOCK:
                embed_windows()
            if reporter is not None:
                reporter.progress(index + 1, num_windows)
        embed_windows()
        for (index, unit), (other_index, other_unit) in embedded.copies:
            result[index, unit] = result[other_index, other_unit]
        return result

    def _places(
        self, start: float, frame_seconds: float, units: list[tuple[int, np.ndarray]]
    ) -> list[np.ndarray | None]:
        """Spatial features of a window's ``(unit, frames)``, from the array's STFT of only the part of
        the window those frames span (with reuse, mostly the speech the window adds to the last one)."""
        spatial = self.spatial
        if spatial is None or not units:
            return [None] * len(units)
        active = np.flatnonzero(np.any([mask for _, mask in units], axis=0))
        hop = spatial.hop / spatial.rate
        # on the whole window's frame grid, from two frames before the first active one (full frames)
        skip = max(0, int(active[0] * frame_seconds / hop) - 2)
        first = start + skip * hop
        spectrum = spatial.window(first, (active[-1] + 1) * frame_seconds - skip * hop + 2 * hop)
        times = (skip + np.arange(spectrum.shape[1])) * hop
        frame_of_stft = np.clip((times / frame_seconds).astype(int), 0, len(units[0][1]) - 1)
        inside = (times >= 0) & (times < len(units[0][1]) * frame_seconds)
        return [spatial(spectrum, mask[frame_of_stft] & inside) for _, mask in units]


class _EmbeddedUnits:
    """The units embedded so far, by the time their clean speech covers, to find a unit that repeats one
    (see ``REUSE_OVERLAP``)."""

    def __init__(self) -> None:
        self.recent: list[tuple[int, int, np.ndarray]] = []  # window, unit, sorted ticks of its clean speech
        self.copies: list[tuple[tuple[int, int], tuple[int, int]]] = []  # (window, unit) takes (window, unit)

    def reuse(self, window: int, unit: int, times: np.ndarray) -> bool:
        """True (and noted in ``copies``) when an earlier unit covers ``times`` (s) well enough; else
        the unit is remembered as embedded."""
        ticks = np.unique((times / REUSE_TICK).astype(np.int64))
        self.recent = [entry for entry in self.recent if entry[0] >= window - REUSE_WINDOWS]
        best, match = REUSE_OVERLAP, None
        for other_window, other_unit, other in self.recent:
            common = len(np.intersect1d(ticks, other, assume_unique=True))
            overlap = common / (len(ticks) + len(other) - common)
            if overlap >= best:
                best, match = overlap, (other_window, other_unit)
        if match is None:
            self.recent.append((window, unit, ticks))
            return False
        self.copies.append(((window, unit), match))
        return True
