"""Stage 5: global speaker labels for every word.

Mixture streams (mono / array input): for each 10 s segmentation window and each local speaker, a
CAM++ embedding of that speaker's single-speaker audio in the window; agglomerative clustering
(pyannote, cosine, with the cannot-link constraint that two local speakers of one window differ)
gives global speakers; pyannote's reconstruction turns clustered windows plus the speaker count into
a diarization. Each word goes to the speaker most active during it in the *exclusive* diarization
(one speaker per frame); words inside regions where two diarized speakers are active are marked
``overlap``.

Call-center streams (stereo-speakers): the speaker is the channel; the diarization is each channel's
own speech. A channel's speech counts as its own unless the other channel is louder by more than
``attribute.crosstalk_margin_db`` at that time (crosstalk leaks in attenuated), and a word recognized
on a channel where it is crosstalk is dropped, so no word is transcribed twice.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from meetsep.asr import RecognizedWord
from meetsep.config import AttributeConfig, RuntimeConfig
from meetsep.hooks import StageReporter
from meetsep.models import load_embedding_model, resolve_model
from meetsep.parallel import map_single_threaded
from meetsep.segment import SegmentationResult
from meetsep.types import ChannelLayout, Recording, SpeakerSegment

Interval = tuple[float, float]
MIN_EMBEDDING_SECONDS = 0.4
RUN_GAP_SECONDS = 0.2  # a local speaker's pauses shorter than this do not split it into two units
MAX_UNIT_SECONDS = 3.0  # longest stretch of one local speaker embedded as one unit
MIN_CLEAN_SECONDS = 1.0  # clean speech a unit needs to help form the clusters
FRAME_SECONDS = 0.02
EMBED_BLOCK = 64  # units cut out and embedded at a time (bounded memory, all workers busy)
SPATIAL_BAND = (200.0, 4000.0)  # Hz used for spatial features: speech energy, and phase differences below aliasing


@dataclass
class Diarization:
    """Who speaks when.

    Attributes:
        segments: speaker activity, possibly overlapping between speakers (RTTM).
        exclusive: the same with at most one speaker at a time (the most active one).
        overlap: intervals where two or more diarized speakers are active.
    """

    segments: list[SpeakerSegment]
    exclusive: list[SpeakerSegment]
    overlap: list[Interval]

    @property
    def speakers(self) -> list[str]:
        return sorted({s.speaker for s in self.segments})


@dataclass(frozen=True)
class AttributedWord:
    word: RecognizedWord
    speaker: str
    overlap: bool


class SpeakerEmbedder:
    """CAM++ embeddings of 16 kHz audio (80-bin Kaldi fbank, dither 0, mean-normalized over time).

    CAM++ runs with oneDNN (mkldnn) off: the units it embeds have a new length nearly every call,
    oneDNN builds its kernels per input shape, and PyTorch's own convolutions are then about 1.6x
    faster on a CPU (attribution of a 10-minute meeting 74 → 44 s) and hold less memory. Inputs
    are not padded into batches: padding changes CAM++'s output, and the clustering is sensitive
    to that (DER on the dev meetings 15.6 → 17.8 % with inputs repeated up to a whole 0.5 s).
    Several units are embedded at once instead, one per core on a single PyTorch thread each
    (:func:`meetsep.parallel.map_single_threaded`): the same embeddings, 1.9x faster on 2 cores for
    300 units alone; the attribution stage of a 10-minute meeting went from 39.7 to 31.3 s (what
    remains, beside clustering, is Python work in CAM++'s many small modules, which one thread at a
    time can do).
    """

    sample_rate = 16000
    dimension = 192

    def __init__(self, config: AttributeConfig, runtime: RuntimeConfig) -> None:
        self.resolved = resolve_model(
            config.model or "campplus", "embedding", model_dir=runtime.model_dir, allow_download=runtime.allow_download
        )
        self.workers = runtime.threads or os.cpu_count() or 1

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
        model = load_embedding_model(self.resolved)
        with torch.inference_mode():
            features = fbank(
                torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))[None] * 32768.0,
                num_mel_bins=80,
                sample_frequency=self.sample_rate,
                dither=0.0,
            )
            features = features - features.mean(dim=0, keepdim=True)
            embedding = model(features[None]).squeeze(0).numpy()
        return (embedding / (np.linalg.norm(embedding) + 1e-12)).astype(np.float32)


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
        from meetsep.gss import GssSettings

        self.recording = recording
        self.settings = GssSettings(fft_size=self.fft_size, hop=self.hop)
        frequencies = np.fft.rfftfreq(self.fft_size, 1.0 / self.rate)
        self.band = (frequencies >= SPATIAL_BAND[0]) & (frequencies <= SPATIAL_BAND[1])
        self.dimension = int(self.band.sum()) * recording.num_channels * 2

    def window(self, start: float, duration: float) -> np.ndarray:
        """The array's STFT of ``[start, start + duration)`` s: ``(channels, frames, band bins)``, frames every ``hop``."""
        from meetsep.audio import read_window, resample
        from meetsep.gss import stft

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


class Attributor:
    """Diarize a mixture from its segmentation and give every word a speaker."""

    def __init__(self, config: AttributeConfig, runtime: RuntimeConfig) -> None:
        self.config = config
        self.embedder = SpeakerEmbedder(config, runtime)

    def __call__(
        self,
        audio: np.ndarray,
        segmentation: SegmentationResult,
        words: list[RecognizedWord],
        reporter: StageReporter | None = None,
        recording: Recording | None = None,
    ) -> tuple[Diarization, list[AttributedWord]]:
        """``audio``: ``(samples,)`` float32 at 16 kHz, the signal that was segmented.

        ``recording``: the multichannel recording (array layout), for spatial features.
        """
        diarization = self.diarize(audio, segmentation, reporter, recording)
        return diarization, assign_words(words, diarization)

    def units(self, segmentation: SegmentationResult) -> Any:
        """Split each window's local speakers into contiguous runs of activity: the units to cluster.

        The segmentation model sometimes gives two different voices the same local label within a
        10 s window (seen with voices of similar pitch); a pause or another speaker almost always
        separates two people's turns, so each run is embedded and clustered on its own.

        Returns:
            ``(num_windows, frames, max_runs)`` binary ``SlidingWindowFeature`` and, per unit, the
            index of the local speaker it came from (``(num_windows, max_runs)``, -1 for padding).
        """
        from pyannote.core import SlidingWindowFeature

        local = segmentation.local
        num_windows, num_frames, num_local = local.data.shape
        frame_seconds = local.sliding_window.duration / num_frames
        bridge = int(round(RUN_GAP_SECONDS / frame_seconds))
        source = np.nan_to_num(local.data, nan=0.0) > 0.5
        runs_per_window: list[list[tuple[int, int, int]]] = []
        for masks in source:
            runs = []
            for speaker in range(num_local):
                edges = np.flatnonzero(np.diff(np.concatenate([[0], masks[:, speaker].astype(np.int8), [0]])))
                spans: list[list[int]] = []
                for start, end in zip(edges[::2], edges[1::2]):
                    if spans and start - spans[-1][1] <= bridge:
                        spans[-1][1] = end
                    else:
                        spans.append([start, end])
                for start, end in spans:
                    # long runs are cut into equal parts no longer than MAX_UNIT_SECONDS: a turn change
                    # the model missed then spoils at most one part, and overlapping windows outvote it
                    parts = int(np.ceil((end - start) * frame_seconds / MAX_UNIT_SECONDS))
                    bounds = np.linspace(start, end, parts + 1).round().astype(int)
                    runs.extend((speaker, int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:]))
            runs_per_window.append(runs)
        width = max(1, max(len(runs) for runs in runs_per_window))
        data = np.zeros((num_windows, num_frames, width), dtype=np.float32)
        origin = np.full((num_windows, width), -1, dtype=np.int64)
        for window, runs in enumerate(runs_per_window):
            for unit, (speaker, start, end) in enumerate(runs):
                data[window, start:end, unit] = source[window, start:end, speaker]
                origin[window, unit] = speaker
        return SlidingWindowFeature(data, local.sliding_window), origin

    def embeddings(
        self,
        audio: np.ndarray,
        segmentation: SegmentationResult,
        units: Any,
        origin: np.ndarray,
        reporter: StageReporter | None = None,
        selected: np.ndarray | None = None,
        spatial: SpatialFeatures | None = None,
    ) -> np.ndarray:
        """``(num_windows, units, 192)`` embeddings of each unit's clean (single-speaker) speech.

        A unit with less than 1 s of clean speech falls back to its local speaker's clean speech in
        the window, then to its own speech including overlap; NaN when nothing usable remains.
        ``selected``: ``(num_windows, units)`` bool, embed only these units (the others stay NaN).
        ``spatial``: join each embedding with where the unit's speech comes from (array input).
        """
        local = segmentation.local
        rate = self.embedder.sample_rate
        num_windows, num_frames, width = units.data.shape
        frame_seconds = local.sliding_window.duration / num_frames
        window_samples = int(round(local.sliding_window.duration * rate))
        frame_of_sample = np.minimum((np.arange(window_samples) * num_frames) // window_samples, num_frames - 1)
        dimension = self.embedder.dimension + (spatial.dimension if spatial is not None else 0)
        result = np.full((num_windows, width, dimension), np.nan, dtype=np.float32)
        jobs: list[tuple[int, int, np.ndarray, np.ndarray | None]] = []  # window, unit, speech, spatial part

        def embed_jobs() -> None:
            for (index, unit, _, place), embedding in zip(jobs, self.embedder.embed_many([job[2] for job in jobs])):
                if place is not None:  # both parts unit-norm: cosine similarity = weighted mean of the two
                    weight = self.config.spatial_weight
                    embedding = np.concatenate([embedding, weight * place]) / np.sqrt(1 + weight**2)
                result[index, unit] = embedding
            jobs.clear()

        for index, ((window, masks), speakers) in enumerate(zip(units, np.nan_to_num(local.data, nan=0.0) > 0.5)):
            if selected is not None and not selected[index].any():
                continue
            start = int(round(window.start * rate))
            chunk = np.zeros(window_samples, dtype=np.float32)
            piece = audio[start : start + window_samples]
            chunk[: len(piece)] = piece
            single = speakers.sum(axis=1) == 1 if self.config.exclude_overlap else np.ones(num_frames, dtype=bool)
            if spatial is not None:
                spectrum = spatial.window(window.start, local.sliding_window.duration)
                frame_of_stft = np.minimum(
                    (np.arange(spectrum.shape[1]) * spatial.hop / spatial.rate / frame_seconds).astype(int),
                    num_frames - 1,
                )
            for unit in range(width):
                if origin[index, unit] < 0 or (selected is not None and not selected[index, unit]):
                    continue
                own = masks[:, unit] > 0.5
                candidates = (own & single, speakers[:, origin[index, unit]] & single, own)
                mask = next((m for m in candidates if m.sum() * frame_seconds >= MIN_CLEAN_SECONDS), own)
                if mask.any():
                    place = spatial(spectrum, mask[frame_of_stft]) if spatial is not None else None
                    jobs.append((index, unit, chunk[mask[frame_of_sample]], place))
            if len(jobs) >= EMBED_BLOCK:
                embed_jobs()
            if reporter is not None:
                reporter.progress(index + 1, num_windows)
        embed_jobs()
        return result

    def diarize(
        self,
        audio: np.ndarray,
        segmentation: SegmentationResult,
        reporter: StageReporter | None = None,
        recording: Recording | None = None,
    ) -> Diarization:
        """Speakers of ``audio`` (16 kHz, the segmented signal); with an array ``recording`` and
        ``attribute.spatial_weight`` > 0, each unit's CAM++ embedding is joined by where it comes from."""
        count = segmentation.count
        if not segmentation.speech or np.nanmax(count.data) == 0:
            return Diarization([], [], [])
        use_space = recording is not None and recording.layout is ChannelLayout.ARRAY and self.config.spatial_weight > 0
        spatial = SpatialFeatures(recording) if use_space else None
        units, origin = self.units(segmentation)
        # Windows overlap (10 s, sliding by segment.step), so every stretch of speech is seen by several
        # windows; only every `embed_every`-th window is embedded, the others are stitched to it below.
        embedded = np.arange(units.data.shape[0]) % self.config.embed_every == 0
        embeddings = self.embeddings(
            audio, segmentation, units, origin, reporter, np.repeat(embedded[:, None], origin.shape[1], axis=1), spatial
        )
        clustering = _unit_clustering_class()(metric="cosine")
        threshold = self.config.spatial_threshold if spatial is not None else self.config.threshold
        clustering.instantiate(
            {"method": "centroid", "min_cluster_size": self.config.min_cluster_size, "threshold": threshold}
        )
        config = self.config
        try:
            hard_clusters, _, centroids = clustering(
                embeddings=embeddings,
                segmentations=units,
                num_clusters=config.num_speakers,
                min_clusters=config.min_speakers,
                max_clusters=config.max_speakers,
            )
        except ValueError:
            # too few clean embeddings to cluster (very short input): one speaker
            hard_clusters, centroids = np.zeros(embeddings.shape[:2], dtype=np.int8), None
        hard_clusters = hard_clusters.astype(np.int64)
        hard_clusters[(np.sum(units.data, axis=1) == 0) | np.isnan(embeddings[..., 0])] = -2
        if not embedded.all():
            self._stitch(audio, segmentation, units, origin, embedded, hard_clusters, centroids, spatial)
        # never more simultaneous speakers than speakers found (or allowed): no phantom speakers
        limit = min(int(hard_clusters.max()) + 1, config.num_speakers or config.max_speakers or 255)
        count = type(count)(np.minimum(count.data, max(limit, 1)).astype(np.int8), count.sliding_window)
        duration = len(audio) / self.embedder.sample_rate
        full = _annotation_segments(_reconstruct(units, hard_clusters, count), duration)
        exclusive_count = type(count)(np.minimum(count.data, 1).astype(np.int8), count.sliding_window)
        exclusive = _annotation_segments(_reconstruct(units, hard_clusters, exclusive_count), duration)
        names = _names_by_first_appearance(full)
        full = [SpeakerSegment(speaker=names[s], start=a, end=b) for s, a, b in full]
        exclusive = [SpeakerSegment(speaker=names[s], start=a, end=b) for s, a, b in exclusive if s in names]
        return Diarization(full, exclusive, overlapping_parts(full))

    def _stitch(
        self,
        audio: np.ndarray,
        segmentation: SegmentationResult,
        units: Any,
        origin: np.ndarray,
        embedded: np.ndarray,
        hard_clusters: np.ndarray,
        centroids: np.ndarray | None,
        spatial: SpatialFeatures | None = None,
    ) -> None:
        """Give the units of windows that were not embedded the cluster of the same speech next door.

        A unit takes the cluster whose units, in the nearest embedded window on each side, share most
        of its active frames (the windows' frame grids are aligned on absolute time). A unit that
        shares less than half of its frames there (speech no embedded window saw) is embedded and
        goes to the nearest centroid (embedded as the clustered units were, ``spatial`` features included).
        """
        data = units.data > 0.5
        num_windows, num_frames, width = data.shape
        frame_step = units.sliding_window.duration / num_frames
        first_frame = np.array([int(round(units.sliding_window[k].start / frame_step)) for k in range(num_windows)])
        done = np.flatnonzero(embedded)
        for window in np.flatnonzero(~embedded):
            neighbours = [
                n
                for n in (done[done < window][-1:].tolist() + done[done > window][:1].tolist())
                if abs(first_frame[n] - first_frame[window]) < num_frames
            ]
            for unit in range(width):
                active = data[window, :, unit]
                if origin[window, unit] < 0 or not active.any():
                    continue
                shared: dict[int, int] = {}
                for other in neighbours:
                    shift = first_frame[window] - first_frame[other]  # frame f here is frame f + shift there
                    here = np.arange(max(0, -shift), min(num_frames, num_frames - shift))
                    for candidate in np.flatnonzero(hard_clusters[other] >= 0):
                        common = int(np.sum(active[here] & data[other, here + shift, candidate]))
                        if common:
                            cluster = int(hard_clusters[other, candidate])
                            shared[cluster] = shared.get(cluster, 0) + common
                best = max(sorted(shared), key=lambda c: shared[c], default=None)
                if best is not None and shared[best] >= 0.5 * active.sum():
                    hard_clusters[window, unit] = best
                elif centroids is not None and len(centroids):
                    only = np.zeros(origin.shape, dtype=bool)
                    only[window, unit] = True
                    vector = self.embeddings(audio, segmentation, units, origin, selected=only, spatial=spatial)[
                        window, unit
                    ]
                    if not np.isnan(vector).any():
                        similarity = centroids @ vector / (np.linalg.norm(centroids, axis=1) + 1e-12)
                        hard_clusters[window, unit] = int(np.argmax(similarity))


def _unit_clustering_class() -> Any:
    from pyannote.audio.pipelines.clustering import AgglomerativeClustering

    class UnitClustering(AgglomerativeClustering):
        """pyannote's clustering, with units (≤ 3 s) allowed to form clusters from 1 s of clean speech."""

        def filter_embeddings(
            self, embeddings: np.ndarray, segmentations: Any = None, min_active_ratio: float = 0.2
        ) -> Any:
            ratio = MIN_CLEAN_SECONDS / segmentations.sliding_window.duration
            return super().filter_embeddings(embeddings, segmentations, min_active_ratio=ratio)

    return UnitClustering


def _reconstruct(local: Any, hard_clusters: np.ndarray, count: Any) -> Any:
    """pyannote's reconstruction: clustered local activity + speaker count → discrete diarization."""
    from pyannote.audio.pipelines.utils import SpeakerDiarizationMixin
    from pyannote.core import SlidingWindowFeature

    num_windows, num_frames, _ = local.data.shape
    num_clusters = int(max(hard_clusters.max(), 0)) + 1
    clustered = np.full((num_windows, num_frames, num_clusters), np.nan)
    for index, (clusters, (_, activity)) in enumerate(zip(hard_clusters, local)):
        for cluster in np.unique(clusters):
            if cluster < 0:
                continue
            clustered[index, :, cluster] = np.max(activity[:, clusters == cluster], axis=1)
    return SpeakerDiarizationMixin.to_diarization(SlidingWindowFeature(clustered, local.sliding_window), count)


def _annotation_segments(discrete: Any, duration: float) -> list[tuple[int, float, float]]:
    from pyannote.audio.pipelines.utils import SpeakerDiarizationMixin

    annotation = SpeakerDiarizationMixin.to_annotation(discrete)
    out = []
    for segment, _, label in annotation.itertracks(yield_label=True):
        start, end = max(0.0, segment.start), min(duration, segment.end)
        if end > start:
            out.append((int(label), round(start, 3), round(end, 3)))
    return sorted(out, key=lambda item: (item[1], item[2], item[0]))


def _names_by_first_appearance(segments: list[tuple[int, float, float]]) -> dict[int, str]:
    names: dict[int, str] = {}
    for label, _, _ in segments:
        if label not in names:
            names[label] = f"SPEAKER_{len(names):02d}"
    return names


def overlapping_parts(segments: list[SpeakerSegment]) -> list[Interval]:
    """Intervals where segments of two or more different speakers overlap (merged, sorted)."""
    events = sorted(
        [(s.start, 1, s.speaker) for s in segments] + [(s.end, -1, s.speaker) for s in segments],
        key=lambda e: (e[0], e[1]),
    )
    active: dict[str, int] = {}
    found: list[list[float]] = []
    start: float | None = None
    for time, delta, speaker in events:
        active[speaker] = active.get(speaker, 0) + delta
        speaking = sum(1 for n in active.values() if n > 0)
        if speaking >= 2 and start is None:
            start = time
        elif speaking < 2 and start is not None:
            if time > start:
                if found and start <= found[-1][1]:
                    found[-1][1] = time
                else:
                    found.append([start, time])
            start = None
    return [(round(a, 3), round(b, 3)) for a, b in found]


def _overlap_seconds(start: float, end: float, intervals: list[Interval]) -> float:
    return sum(max(0.0, min(end, b) - max(start, a)) for a, b in intervals)


def _exclusive_spans(diarization: Diarization) -> dict[str, list[Interval]]:
    """Each speaker's intervals in the exclusive diarization (the full one if there is none)."""
    spans: dict[str, list[Interval]] = {}
    for segment in diarization.exclusive or diarization.segments:
        spans.setdefault(segment.speaker, []).append((segment.start, segment.end))
    return spans


def assign_words(words: list[RecognizedWord], diarization: Diarization) -> list[AttributedWord]:
    """Each word to the speaker most active during it (exclusive diarization); nearest speaker if none."""
    by_speaker = _exclusive_spans(diarization)
    result = []
    for word in words:
        speaker = word.speaker
        if speaker is None:
            if not by_speaker:
                speaker = "SPEAKER_00"
            else:
                scores = {name: _overlap_seconds(word.start, word.end, spans) for name, spans in by_speaker.items()}
                best = max(sorted(scores), key=lambda name: scores[name])
                if scores[best] <= 0.0:
                    middle = (word.start + word.end) / 2
                    best = min(
                        sorted(by_speaker),
                        key=lambda name: min(min(abs(middle - a), abs(middle - b)) for a, b in by_speaker[name]),
                    )
                speaker = best
        overlap = _overlap_seconds(word.start, word.end, diarization.overlap) > 0.0
        result.append(AttributedWord(word, speaker, overlap))
    return result


def drop_cross_stream_duplicates(words: list[AttributedWord], diarization: Diarization) -> list[AttributedWord]:
    """Remove a word that another speaker's stream also recognized at the same time.

    Separated streams leak: where the diarization wrongly gives one person's speech to two speakers,
    or separation is imperfect, the same word comes out of two streams. Two people rarely say the
    same word at the same moment, so of two equal words (case and punctuation ignored) overlapping by
    at least half of the shorter one, only the one whose speaker is more active then (exclusive
    diarization; then the higher probability) is kept.
    """
    spans = _exclusive_spans(diarization)

    def key(item: AttributedWord) -> str:
        return "".join(ch for ch in item.word.text.lower() if ch.isalnum())

    def strength(item: AttributedWord) -> tuple[float, float]:
        return (_overlap_seconds(item.word.start, item.word.end, spans.get(item.speaker, [])), item.word.probability)

    ordered = sorted(range(len(words)), key=lambda i: (words[i].word.start, words[i].word.end))
    dropped: set[int] = set()
    for position, first in enumerate(ordered):
        a = words[first]
        for second in ordered[position + 1 :]:
            b = words[second]
            if b.word.start >= a.word.end:
                break
            if a.speaker == b.speaker or first in dropped or second in dropped or key(a) != key(b) or not key(a):
                continue
            shared = min(a.word.end, b.word.end) - max(a.word.start, b.word.start)
            shorter = min(a.word.end - a.word.start, b.word.end - b.word.start)
            if shorter > 0 and shared >= 0.5 * shorter:
                dropped.add(second if strength(a) >= strength(b) else first)
    return [item for index, item in enumerate(words) if index not in dropped]


# ---------------------------------------------------------------------------- call-center channels


def frame_levels_db(
    audio: np.ndarray, sample_rate: int, frame_seconds: float = FRAME_SECONDS, smooth_seconds: float = 0.2
) -> np.ndarray:
    """Smoothed frame energy in dB for each channel: ``(channels, samples)`` → ``(channels, frames)``."""
    from scipy.ndimage import uniform_filter1d

    hop = max(1, int(frame_seconds * sample_rate))
    frames = audio.shape[1] // hop
    power = (audio[:, : frames * hop].astype(np.float64) ** 2).reshape(audio.shape[0], frames, hop).mean(axis=2)
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
        edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
        for a, b in zip(edges[::2], edges[1::2]):
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
        kept.append(AttributedWord(word, word.speaker, _overlap_seconds(word.start, word.end, overlap) > 0.0))
    diarization = Diarization(segments, segments, overlap)
    return diarization, kept
