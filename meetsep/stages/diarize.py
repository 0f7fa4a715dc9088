"""Stage 4: Diarization: global speakers from each window's local speakers, with overlaps.

Stage "diarize" of the chain. Each 10 s segmentation window's local speakers are cut into units
(contiguous runs, at most ``attribute.max_unit_seconds``, 3 s); their embeddings (voice, and where the
speech comes from on an array; :mod:`meetsep.stages.embedding`) are clustered over the whole recording
by spectral clustering (NME-SC, :mod:`meetsep.core.clustering`; ``attribute.clustering=ahc``: pyannote's
agglomerative clustering, cosine, with the cannot-link constraint that two local speakers of one window
differ) inside pyannote's clustering frame (automatic count or the ``attribute.*_speakers`` bounds,
and two speakers at least where overlapped speech is heard: :meth:`Diarizer.fewest_speakers`);
pyannote's reconstruction turns clustered windows plus the speaker count into a diarization with
overlaps, and an exclusive one (one speaker per frame) for word assignment.

Only every ``attribute.embed_every``-th window is embedded: the units of the others take the
cluster of the units next door that share their speech frames (a unit no embedded window saw is
embedded and goes to the nearest centroid). Since units that repeat an earlier window's unit reuse its
embedding (:mod:`meetsep.stages.embedding`), this saves little (13 → 11 CAM++ calls in the tests).

:meth:`Diarizer.detail` also gives the units and embeddings clustered (tuning recipes cache them), and a
clustering passed to :class:`Diarizer` replaces the configured one (e.g. an oracle that knows who speaks).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from meetsep.core.clustering import MAX_UNITS, absorb_small, merge_similar, nme_spectral
from meetsep.core.config import AttributeConfig
from meetsep.core.hooks import StageReporter
from meetsep.core.intervals import mask_runs, overlapping_parts
from meetsep.core.protocols import Signal, UnitEmbedder
from meetsep.core.records import Diarization, SegmentationResult, SpeechUnits
from meetsep.schema import SpeakerSegment

MAX_SPEAKERS = 10  # spectral clustering: most speakers counted when no bound is given
RUN_GAP_SECONDS = 0.2  # a local speaker's pauses shorter than this do not split it into two units
MIN_OVERLAP_SECONDS = 1.5  # overlapped speech that counts two speakers at least (attribute.two_from_overlap)
ASSIGN_BLOCK = 2048  # units compared with the centroids at a time


@dataclass(frozen=True)
class DiarizationDetail:
    """A diarization and what it was made from (:meth:`Diarizer.detail`).

    Attributes:
        audio: the segmented signal, ``(samples,)`` float32 at 16 kHz.
        segmentation: its segmentation.
        units: the units clustered (:meth:`Diarizer.units`); None when there was no speech (or the
            pipeline dropped them once it had the diarization).
        embeddings: ``(num_windows, units, dimension)``, the units' embeddings as clustered: NaN for
            padding, units with too little speech and windows ``attribute.embed_every`` skips; None when
            there was no speech.
        diarization: who speaks when.
    """

    audio: Signal
    segmentation: SegmentationResult
    units: SpeechUnits | None
    embeddings: np.ndarray | None
    diarization: Diarization


class Diarizer:
    """Segmentation + unit embeddings → who speaks when (see the module docstring).

    Args:
        config: the ``attribute`` section.
        clustering: clusters the units instead of the clustering ``config.clustering`` names (e.g. an
            oracle that knows who speaks). It is called as pyannote's clusterings are,
            ``clustering(embeddings=, segmentations=, num_clusters=, min_clusters=, max_clusters=)``, and
            returns ``(hard_clusters, soft_clusters, centroids)``: ``(num_windows, units)`` cluster indices
            (soft clusters and centroids may be None); its ``confidence`` attribute, if any, becomes the
            diarization's ``count_confidence``.
    """

    sample_rate = 16000

    def __init__(self, config: AttributeConfig, clustering: Callable[..., Any] | None = None) -> None:
        self.config = config
        self.clustering = clustering

    def units(self, segmentation: SegmentationResult) -> SpeechUnits:
        """Split each window's local speakers into contiguous runs of activity: the units to cluster.

        The segmentation model sometimes gives two different voices the same local label within a
        10 s window (seen with voices of similar pitch); a pause or another speaker almost always
        separates two people's turns, so each run is embedded and clustered on its own.

        Returns:
            the units: ``(num_windows, frames, max_runs)`` binary activity and, per unit, the index of
            the local speaker it came from (``(num_windows, max_runs)``, -1 for padding).
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
                spans: list[list[int]] = []
                for start, end in mask_runs(masks[:, speaker]):
                    if spans and start - spans[-1][1] <= bridge:
                        spans[-1][1] = end
                    else:
                        spans.append([start, end])
                for start, end in spans:
                    # long runs are cut into equal parts no longer than attribute.max_unit_seconds: a turn
                    # change the model missed then spoils at most one part, and overlapping windows outvote it
                    parts = int(np.ceil((end - start) * frame_seconds / self.config.max_unit_seconds))
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
        return SpeechUnits(SlidingWindowFeature(data, local.sliding_window), origin, local)

    def fewest_speakers(self, segmentation: SegmentationResult) -> int | None:
        """The fewest speakers the diarization may have: ``attribute.min_speakers``, and two where the
        segmentation hears two voices at once in ``attribute.two_from_overlap`` of the speech or more (and
        ``MIN_OVERLAP_SECONDS``); where the clustering finds fewer, it clusters again with that bound.

        Overlapped speech needs two people. One person's speech is rarely heard as overlapped (at most
        1.5 % of it in the dev recordings of one real voice, by phone or in a room), while two people who
        sound alike may form one cluster of voices."""
        config = self.config
        fewest = config.min_speakers
        if config.num_speakers is not None or config.two_from_overlap is None or (config.max_speakers or 2) < 2:
            return fewest
        overlapped = sum(end - start for start, end in segmentation.overlap)
        speech = sum(end - start for start, end in segmentation.speech)
        if overlapped >= MIN_OVERLAP_SECONDS and overlapped >= config.two_from_overlap * speech:
            return max(fewest or 1, 2)
        return fewest

    def __call__(
        self,
        audio: Signal,
        segmentation: SegmentationResult,
        embed: UnitEmbedder,
        reporter: StageReporter | None = None,
    ) -> Diarization:
        """Speakers of ``audio`` (``(samples,)`` float32 at 16 kHz, the segmented signal), from the
        units of its segmentation embedded by ``embed`` (voice, and where it comes from when
        ``embed.spatial`` is set)."""
        return self.detail(audio, segmentation, embed, reporter).diarization

    def detail(
        self,
        audio: Signal,
        segmentation: SegmentationResult,
        embed: UnitEmbedder,
        reporter: StageReporter | None = None,
    ) -> DiarizationDetail:
        """What :meth:`__call__` does, with the units and embeddings it clustered."""
        count = segmentation.count
        if not segmentation.speech or np.nanmax(count.data) == 0:
            return DiarizationDetail(audio, segmentation, None, None, Diarization([], [], []))
        speech = self.units(segmentation)
        units, origin = speech.activity, speech.origin
        # Windows overlap (10 s, sliding by segment.step), so every stretch of speech is seen by several
        # windows; only every `embed_every`-th window is embedded, the others are stitched to it below.
        embedded = np.arange(units.data.shape[0]) % self.config.embed_every == 0
        embeddings = embed(audio, speech, np.repeat(embedded[:, None], origin.shape[1], axis=1), reporter)
        config = self.config
        threshold = config.spatial_threshold if embed.spatial is not None else config.threshold
        clustering = self.clustering
        if clustering is None:
            clustering = _clustering(
                config.clustering,
                embed.min_clean_seconds,
                threshold,
                config.min_cluster_size,
                config.merge_threshold,
                config.min_speaker_units,
            )
        bounds = dict(
            embeddings=embeddings,
            segmentations=units,
            num_clusters=config.num_speakers,
            max_clusters=config.max_speakers or (MAX_SPEAKERS if config.clustering == "spectral" else None),
        )
        try:
            hard_clusters, _, centroids = clustering(min_clusters=config.min_speakers, **bounds)
            fewest = self.fewest_speakers(segmentation)
            if fewest is not None and int(np.max(hard_clusters)) + 1 < fewest:  # one voice found, two heard at once
                hard_clusters, _, centroids = clustering(min_clusters=fewest, **bounds)
        except ValueError:
            # too few clean embeddings to cluster (very short input): one speaker
            hard_clusters, centroids = np.zeros(embeddings.shape[:2], dtype=np.int8), None
        hard_clusters = hard_clusters.astype(np.int64)
        hard_clusters[(np.sum(units.data, axis=1) == 0) | np.isnan(embeddings[..., 0])] = -2
        if not embedded.all():
            self._stitch(audio, speech, embed, embedded, hard_clusters, centroids)
        # never more simultaneous speakers than speakers found (or allowed): no phantom speakers
        limit = min(int(hard_clusters.max()) + 1, config.num_speakers or config.max_speakers or 255)
        count = type(count)(np.minimum(count.data, max(limit, 1)).astype(np.int8), count.sliding_window)
        duration = len(audio) / self.sample_rate
        full = _annotation_segments(_reconstruct(units, hard_clusters, count), duration)
        exclusive_count = type(count)(np.minimum(count.data, 1).astype(np.int8), count.sliding_window)
        exclusive = _annotation_segments(_reconstruct(units, hard_clusters, exclusive_count), duration)
        names = _names_by_first_appearance(full)
        full = [SpeakerSegment(speaker=names[s], start=a, end=b) for s, a, b in full]
        exclusive = [SpeakerSegment(speaker=names[s], start=a, end=b) for s, a, b in exclusive if s in names]
        confidence = getattr(clustering, "confidence", None) if config.num_speakers is None else None
        diarization = Diarization(full, exclusive, overlapping_parts(full), confidence)
        return DiarizationDetail(audio, segmentation, speech, embeddings, diarization)

    def _stitch(
        self,
        audio: Signal,
        speech: SpeechUnits,
        embed: UnitEmbedder,
        embedded: np.ndarray,
        hard_clusters: np.ndarray,
        centroids: np.ndarray | None,
    ) -> None:
        """Give the units of windows that were not embedded the cluster of the same speech next door.

        A unit takes the cluster whose units, in the nearest embedded window on each side, share most
        of its active frames (the windows' frame grids are aligned on absolute time). A unit that
        shares less than half of its frames there (speech no embedded window saw) is embedded and
        goes to the nearest centroid (embedded as the clustered units were).
        """
        units, origin = speech.activity, speech.origin
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
                    vector = embed(audio, speech, only)[window, unit]
                    if not np.isnan(vector).any():
                        similarity = centroids @ vector / (np.linalg.norm(centroids, axis=1) + 1e-12)
                        hard_clusters[window, unit] = int(np.argmax(similarity))


def _clustering(
    method: str,
    min_clean_seconds: float,
    threshold: float,
    min_cluster_size: int,
    merge_threshold: float | None = None,
    min_speaker_units: int = 1,
) -> Any:
    """pyannote's clustering of the units (``ahc``: agglomerative with a cosine ``threshold``; ``spectral``:
    NME-SC, :mod:`meetsep.core.clustering`), with units (≤ 3 s) allowed to form clusters from
    ``min_clean_seconds`` of single-speaker speech. Units that do not form clusters join the nearest
    centroid."""
    from pyannote.audio.pipelines.clustering import AgglomerativeClustering, BaseClustering

    def filter_embeddings(
        self: Any, embeddings: np.ndarray, segmentations: Any = None, min_active_ratio: float = 0.2
    ) -> Any:
        ratio = min_clean_seconds / segmentations.sliding_window.duration
        return BaseClustering.filter_embeddings(self, embeddings, segmentations, min_active_ratio=ratio)

    def assign_embeddings(
        self: Any,
        embeddings: np.ndarray,
        chunks: np.ndarray,
        speakers: np.ndarray,
        clusters: np.ndarray,
        constrained: bool = False,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        # pyannote's assignment to the nearest centroid, its distances computed ASSIGN_BLOCK units at a
        # time (the same values): no float64 copy of every unit's embedding (400 MB per hour of array input)
        from scipy.spatial.distance import cdist

        num_chunks, num_speakers, dimension = embeddings.shape
        train = embeddings[chunks, speakers]
        centroids = np.vstack([np.mean(train[clusters == k], axis=0) for k in range(int(np.max(clusters)) + 1)])
        flat = embeddings.reshape(-1, dimension)
        blocks = [
            cdist(flat[i : i + ASSIGN_BLOCK], centroids, metric=self.metric) for i in range(0, len(flat), ASSIGN_BLOCK)
        ]
        soft = 2 - np.concatenate(blocks).reshape(num_chunks, num_speakers, len(centroids))
        return (self.constrained_argmax(soft) if constrained else np.argmax(soft, axis=2)), soft, centroids

    methods = {"filter_embeddings": filter_embeddings, "assign_embeddings": assign_embeddings}
    if method == "ahc":
        ahc = type("UnitAgglomerativeClustering", (AgglomerativeClustering,), methods)
        clustering = ahc(metric="cosine")
        clustering.instantiate({"method": "centroid", "min_cluster_size": min_cluster_size, "threshold": threshold})
        return clustering

    def cluster(
        self: Any, embeddings: np.ndarray, min_clusters: int, max_clusters: int, num_clusters: int | None = None
    ) -> np.ndarray:
        # the spectral analysis runs on at most MAX_UNITS units spread over the recording; the others
        # take the nearest of their centroids
        chosen = np.unique(np.linspace(0, len(embeddings) - 1, min(len(embeddings), MAX_UNITS)).round().astype(int))
        result = nme_spectral(embeddings[chosen], min_clusters, max_clusters, num_clusters)
        self.confidence = result.confidence
        found = result.labels
        if num_clusters is None and merge_threshold is not None:
            found = merge_similar(embeddings[chosen], found, merge_threshold, min_clusters)
        if num_clusters is None and len(np.unique(found)) > (min_clusters or 1):
            found = absorb_small(embeddings[chosen], found, min_speaker_units)
        centroids = np.stack([embeddings[chosen][found == k].mean(axis=0) for k in range(int(found.max()) + 1)])
        labels = np.concatenate(  # a block of units at a time: no normalized copy of every embedding
            [
                np.argmax(block / (np.linalg.norm(block, axis=1, keepdims=True) + 1e-12) @ centroids.T, axis=1)
                for block in (embeddings[i : i + ASSIGN_BLOCK] for i in range(0, len(embeddings), ASSIGN_BLOCK))
            ]
        )
        labels[chosen] = found
        return labels

    spectral = type(
        "UnitSpectralClustering",
        (BaseClustering,),
        {**methods, "cluster": cluster, "confidence": None},
    )
    return spectral(metric="cosine")


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
