"""Stage 4b: Spatial second pass for arrays: where each speaker's voice comes from corrects who is active when.

Stage "spatial" of the chain (array input, ``attribute.spatial_pass``): takes the recording and the
first diarization and returns a corrected diarization. People sit still in a meeting, so the frames
where the diarization has one speaker alone give that speaker's spatial model: the covariance of the
multichannel STFT per frequency, used as the parameter of a complex angular central Gaussian (the
distribution of a frame's direction, as in the cACGMM that guided source separation fits); frames
where nobody speaks give the noise class. A second pass over the file gives, for every frame, each
speaker's share of the frame's energy between 200 Hz and 4 kHz: the posterior of the speaker's class
in each time-frequency bin, weighted by the bin's power (all classes equally likely a priori), then
averaged over ``SMOOTH_SECONDS``. Then, only in frames where the diarization has someone:

- a speaker the diarization left out there whose share reaches ``attribute.spatial_add`` for at least
  ``MIN_RUN_SECONDS`` is added (the second voice of overlapped speech that the segmentation heard as
  one, or the right speaker where the clustering put another);
- a diarized speaker whose share stays below ``attribute.spatial_keep`` for ``MIN_RUN_SECONDS`` is
  removed (the wrong speaker of such a frame); a frame that had a speaker keeps at least its most
  likely one.

A speaker whose median share, where another speaker talks alone, already reaches
``attribute.spatial_add`` cannot be told apart from that one by place (a model fitted on little
speech, or two people in one direction) and is not added where that one is active. The models are
then fitted again on the frames where the first and the corrected diarization agree (a model is
cleaned of frames a correction took away, never given new ones) and the decisions taken once more
on the first diarization (``ROUNDS``). The exclusive diarization (one speaker per frame, for word
assignment) is rebuilt in the changed frames from the most likely active speaker. A speaker with
less than ``MIN_SOLO_SECONDS`` of solo speech has no model and is left as diarized.

Before all that, two people under one label are split (``attribute.spatial_split``, :meth:`split`):
a speaker's solo speech is cut into blocks of ``SPLIT_FRAMES`` frames and the blocks clustered in two
by direction (``meetsep.core.directions``); a part of at least ``SPLIT_MIN_BLOCKS`` blocks becomes a
new speaker if, with models fitted for it, its own median share where it was split off reaches
``SPLIT_OWN`` and no speaker found (the one it came from included) keeps ``attribute.spatial_keep``
there: a talker from a direction nobody found owns, whom the clustering joined to another voice.

This is the "mask-to-VAD" of the strongest CHiME/NOTSOFAR systems, with each speaker's spatial model
fitted once on the whole recording instead of per segment. The file is read block by block; the
band's spectra are kept between passes while they fit in ``CACHE_BYTES``, else the file is read
again for each pass (two per round). Memory holds per-frequency matrices, a few numbers per frame
and at most that cache, never the multichannel recording.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import numpy as np

from meetsep.core.config import AttributeConfig
from meetsep.core.directions import solo_directions, split_in_two
from meetsep.core.dsp import StftSettings, covariance, diagonal_load, frame_centers, stft
from meetsep.core.intervals import frame_spans, inside, mask_runs, merge_spans, overlapping_parts, subtract_intervals
from meetsep.core.records import Diarization, Recording
from meetsep.io.audio import iter_blocks
from meetsep.schema import ChannelLayout, SpeakerSegment

SMOOTH_SECONDS = 0.5  # shares averaged over this long before any decision
MIN_RUN_SECONDS = 0.3  # shortest stretch added to or removed from a speaker
MIN_SOLO_SECONDS = 0.8  # solo speech a speaker needs for a spatial model
BAND_HZ = (200.0, 4000.0)  # frequencies whose bins vote (speech energy, enough spatial detail)
ROUNDS = 2  # models fitted on the first diarization, then once more on the corrected one (3: no better)
LOADING = 1e-2  # diagonal loading of each model, relative to its mean power per bin
BLOCK_SECONDS = 20.0  # audio transformed at a time (8 channels: 40 MB of STFT)
SHARE_FRAMES = 500  # frames whose shares are computed at once (8 channels: about 30 MB of features)
CACHE_BYTES = 128 * 2**20  # band spectra kept between passes (about 4.5 minutes of 4 channels)
SPLIT_FRAMES = 32  # solo frames per direction block of the split (0.5 s at the default hop)
SPLIT_MIN_BLOCKS = 4  # solo blocks the smaller part of a split needs (2 s), the larger part as many
SPLIT_MAX_BLOCKS = 300  # blocks kept per speaker, 150 s (every other one dropped when twice as many: 8 channels, 37 MB)
SPLIT_OWN = 0.4  # a split-off part's median share where it was split off must reach this (and every speaker
# found fall below attribute.spatial_keep there); dev TTS + real meetings: of the candidate parts, 6 of the 15 that
# were another person kept, none of the 14 that were not


class SpatialActivity:
    """Array recording + diarization → diarization corrected by where speech comes from (module docstring)."""

    def __init__(self, config: AttributeConfig, fft_size: int = 1024, hop: int = 256) -> None:
        self.config = config
        self.settings = StftSettings(fft_size=fft_size, hop=hop)

    def __call__(self, recording: Recording, diarization: Diarization) -> Diarization:
        """The diarization with speakers added and removed frame by frame (unchanged without an array,
        with fewer than two speakers, or when fewer than two speakers have a spatial model)."""
        if recording.layout is not ChannelLayout.ARRAY or not diarization.speakers:
            return diarization
        blocks = self.band_spectra(recording)
        diarization, first = self.split(blocks, recording, diarization)
        if len(diarization.speakers) < 2:
            return diarization
        corrected = diarization
        for _ in range(ROUNDS):  # models refitted where both agree, decisions on the first diarization
            agreeing = () if corrected is diarization else (corrected,)
            if first is not None and not agreeing:
                models = self.fit(*first, recording)
            else:
                models = self.models(blocks(), recording, diarization, *agreeing)
            if sum(model is not None for model in models[:-1]) < 2:
                return corrected
            times, shares = self.shares(blocks(), recording, models)
            corrected = self.decide(diarization, times, shares)
            if corrected is diarization:  # nothing changed: another round would fit the same models again
                break
        return corrected

    # ------------------------------------------------------------------ two people under one label

    def split(
        self,
        blocks: Callable[[], Iterable[tuple[np.ndarray, np.ndarray]]],
        recording: Recording,
        diarization: Diarization,
    ) -> tuple[Diarization, tuple[list[np.ndarray | int], np.ndarray] | None]:
        """The diarization with speakers whose solo speech comes from two places split in two (the
        clustering joined two people whose voices it could not tell apart): each speaker's solo
        blocks clustered by direction (``meetsep.core.directions``); every candidate part taken out
        as a new speaker at once, models fitted and shares computed; a part is kept where its own
        median share reaches ``SPLIT_OWN`` and every speaker found, the one it came from included,
        falls below ``attribute.spatial_keep`` there (a direction nobody found owns), else given back.
        Never beyond ``attribute.max_speakers`` or with a given count. With it, the :meth:`sums` of
        the result's speakers when candidates were judged (the first round's models need no pass of
        their own), else None."""
        config = self.config
        room = (config.max_speakers or 10**6) - len(diarization.speakers)
        if not config.spatial_split or config.num_speakers is not None or room <= 0:
            return diarization, None
        parts: dict[str, list[tuple[float, float]]] = {}
        for name, (directions, frame_times) in solo_directions(
            blocks(), diarization, SPLIT_FRAMES, SPLIT_MAX_BLOCKS
        ).items():
            if len(directions) < 2 * SPLIT_MIN_BLOCKS:
                continue
            labels = split_in_two(np.stack(directions))
            if labels is not None and (labels == 1).sum() >= SPLIT_MIN_BLOCKS:
                chosen = np.sort(np.concatenate([t for t, label in zip(frame_times, labels) if label == 1]))
                parts[name] = frame_spans(chosen, self.settings.hop / recording.sample_rate)
        if not parts:
            return diarization, None
        taken = dict(zip(parts, _new_names(diarization.speakers, len(parts))))
        candidate = _relabel(diarization, parts, taken)
        sums, counts = self.sums(blocks(), candidate)
        times, shares = self.shares(blocks(), recording, self.fit(sums, counts, recording))
        speakers = candidate.speakers
        kept = {}
        found = [row for row, speaker in enumerate(speakers) if speaker not in taken.values()]
        for name, spans in parts.items():
            where = inside(times, np.array(spans).reshape(-1, 2))
            own = shares[speakers.index(taken[name]), where]
            if not where.any() or np.isnan(own).all() or np.nanmedian(own) < SPLIT_OWN:
                continue
            # a direction no found speaker owns (else a stretch of that speaker's, which decide() moves back)
            owned = [np.nanmedian(shares[row, where]) for row in found if not np.isnan(shares[row, where]).all()]
            if max(owned, default=0.0) < config.spatial_keep:
                kept[name] = spans
        kept = dict(sorted(kept.items(), key=lambda item: -sum(b - a for a, b in item[1]))[:room])
        names = dict(zip(kept, _new_names(diarization.speakers, len(kept))))
        result = _relabel(diarization, kept, names) if kept else diarization
        # the candidates' sums regrouped for the result (a part given back adds to its speaker's again)
        row = {name: index for index, name in enumerate(candidate.speakers)}
        origin = {new: old for old, new in names.items()}
        rows = [
            [row[taken[origin[name]]]]
            if name in origin
            else [row[name]] + ([row[taken[name]]] if name in taken and name not in kept else [])
            for name in result.speakers
        ] + [[len(sums) - 1]]
        regrouped = [sum((sums[index] for index in group), start=0) for group in rows]
        return result, (regrouped, np.array([counts[group].sum() for group in rows]))

    # ------------------------------------------------------------------ the passes over the file

    def _spectra(self, recording: Recording) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """``(frame times in s, (channels, frames, band bins) STFT)`` block by block."""
        offset, rate = 0, recording.sample_rate
        low, high = (int(round(hz * self.settings.fft_size / rate)) for hz in BAND_HZ)
        band = slice(max(low, 1), min(high, self.settings.fft_size // 2) + 1)
        for block in iter_blocks(recording, BLOCK_SECONDS):
            if block.shape[1] >= self.settings.fft_size:
                spectrum = stft(block, self.settings, bins=band, phase=False)  # yyᴴ needs no common phase
                centers = frame_centers(spectrum.shape[1], self.settings)
                own = (centers >= 0) & (centers < block.shape[1])  # each frame once across blocks
                yield (offset + centers[own]) / rate, np.ascontiguousarray(spectrum[:, own])
            offset += block.shape[1]

    def band_spectra(self, recording: Recording) -> Callable[[], Iterable[tuple[np.ndarray, np.ndarray]]]:
        """The band's spectra block by block, as often as asked: kept in memory while they fit in
        ``CACHE_BYTES``, else the file is read and transformed again for every pass."""
        kept, size = [], 0
        for item in self._spectra(recording):
            size += item[1].nbytes
            if size > CACHE_BYTES:
                kept.clear()
                return lambda: self._spectra(recording)
            kept.append(item)
        return lambda: kept

    def models(
        self,
        blocks: Iterable[tuple[np.ndarray, np.ndarray]],
        recording: Recording,
        diarization: Diarization,
        *others: Diarization,
    ) -> list[np.ndarray | None]:
        """Per speaker (``diarization.speakers`` order), then noise: ``(band bins, C, C)`` covariances
        normalized to trace C per bin, or None for a speaker with too little solo speech. With
        ``others`` (a corrected diarization), a frame counts only where all of them agree: a model is
        cleaned of frames a correction took away, never given frames it did not have at first."""
        return self.fit(*self.sums(blocks, diarization, *others), recording)

    def sums(
        self, blocks: Iterable[tuple[np.ndarray, np.ndarray]], diarization: Diarization, *others: Diarization
    ) -> tuple[list[np.ndarray | int], np.ndarray]:
        """What :meth:`models` fits: per speaker, then noise, the sum of ``yyᴴ`` over its frames
        (0 without any) and how many frames."""
        speakers = diarization.speakers
        every = (diarization, *others)
        spans = [[np.array(d.spans(name)).reshape(-1, 2) for name in speakers] for d in every]
        sums: list[np.ndarray | int] = [0] * (len(speakers) + 1)
        counts = np.zeros(len(speakers) + 1, dtype=np.int64)
        for times, spectrum in blocks:
            chosen = np.ones((len(speakers) + 1, len(times)), dtype=bool)
            for rows in spans:
                active = np.stack([inside(times, speaker) for speaker in rows])
                talking = active.sum(axis=0)
                chosen &= np.concatenate([active & (talking == 1), (talking == 0)[None]])
            for row, frames in enumerate(chosen):
                if frames.any():
                    sums[row] = sums[row] + covariance(spectrum, frames)
                    counts[row] += int(frames.sum())
        return sums, counts

    def fit(self, sums: list[np.ndarray | int], counts: np.ndarray, recording: Recording) -> list[np.ndarray | None]:
        """:meth:`sums` → :meth:`models`."""
        minimum = MIN_SOLO_SECONDS * recording.sample_rate / self.settings.hop
        models: list[np.ndarray | None] = []
        for row, total in enumerate(sums):
            if counts[row] < (minimum if row < len(sums) - 1 else 1) or isinstance(total, int):
                models.append(None)
                continue
            matrix = diagonal_load(total / counts[row], LOADING)
            trace = np.trace(matrix, axis1=-2, axis2=-1).real
            models.append(matrix * (recording.num_channels / np.maximum(trace, 1e-20))[:, None, None])
        return models

    def shares(
        self, blocks: Iterable[tuple[np.ndarray, np.ndarray]], recording: Recording, models: list[np.ndarray | None]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Frame times ``(frames,)`` and each speaker's smoothed share ``(speakers, frames)`` (NaN
        for a speaker without a model)."""
        present = [row for row, model in enumerate(models) if model is not None]
        weights = np.stack([_quadratic_weights(np.linalg.inv(models[row])) for row in present], axis=-1)  # type: ignore[arg-type]
        log_determinants = np.stack([np.linalg.slogdet(models[row])[1] for row in present], axis=-1)  # (F, K)
        log_determinants, weights = log_determinants.astype(np.float32), weights.astype(np.float32)
        channels = recording.num_channels
        all_times, all_shares = [], []
        for times, spectrum in blocks:
            block = np.full((len(models) - 1, len(times)), np.nan)
            for first in range(0, len(times), SHARE_FRAMES):  # bounded copies (C² features per bin and frame)
                frames = slice(first, first + SHARE_FRAMES)
                observation = np.transpose(spectrum[:, frames], (2, 1, 0))  # (F, T, C)
                power = np.sum(observation.real**2 + observation.imag**2, axis=-1)  # (F, T)
                features = _hermitian_features(observation / (np.sqrt(power)[..., None] + 1e-12))
                quadratic = np.matmul(features, weights)  # (F, T, K): zᴴ B⁻¹ z per class
                log_likelihood = -log_determinants[:, None, :] - channels * np.log(np.maximum(quadratic, 1e-12))
                log_likelihood -= log_likelihood.max(axis=-1, keepdims=True)
                posterior = np.exp(log_likelihood)
                posterior /= posterior.sum(axis=-1, keepdims=True)
                weight = power / (power.sum(axis=0, keepdims=True) + 1e-20)  # (F, T)
                for index, row in enumerate(present):
                    if row < len(models) - 1:
                        block[row, frames] = np.sum(posterior[..., index] * weight, axis=0)
            all_times.append(times)
            all_shares.append(block)
        times = np.concatenate(all_times)
        shares = np.concatenate(all_shares, axis=1)
        width = max(1, int(round(SMOOTH_SECONDS * recording.sample_rate / self.settings.hop)))
        kernel = np.ones(width) / width
        smoothed = np.array([np.convolve(row, kernel, mode="same") for row in shares])
        return times, smoothed

    # ------------------------------------------------------------------ decisions

    def decide(self, diarization: Diarization, times: np.ndarray, shares: np.ndarray) -> Diarization:
        """Add and remove speakers frame by frame (module docstring); ``shares`` NaN = no model."""
        speakers = diarization.speakers
        frame = float(np.median(np.diff(times))) if len(times) > 1 else 0.0
        if frame <= 0.0:
            return diarization
        active = np.stack([inside(times, np.array(diarization.spans(name)).reshape(-1, 2)) for name in speakers])
        known = ~np.isnan(shares).all(axis=1)
        evidence = np.nan_to_num(shares, nan=0.0)
        talking = active.any(axis=0)
        shortest = int(np.ceil(MIN_RUN_SECONDS / frame))
        # a speaker whose median share where another one talks alone already reaches the add threshold
        # cannot be told apart from that one by place (a model from little speech, or two people in one
        # direction): it is not added where that one is active
        alone = active & (active.sum(axis=0) == 1)
        blocked = np.zeros_like(active)
        for row in range(len(speakers)):
            for other in range(len(speakers)):
                if other != row and alone[other].any():
                    if np.median(evidence[row, alone[other]]) >= self.config.spatial_add:
                        blocked[row] |= active[other]
        addable = (evidence >= self.config.spatial_add) & ~active & talking & known[:, None] & ~blocked
        add = _long_runs(addable, shortest)
        remove = _long_runs((evidence < self.config.spatial_keep) & active & known[:, None], shortest)
        result = (active | add) & ~remove
        emptied = talking & ~result.any(axis=0)
        if emptied.any():  # a frame that had speech keeps its most likely speaker
            candidates = np.where(active | add, evidence, -1.0)
            result[candidates[:, emptied].argmax(axis=0), np.flatnonzero(emptied)] = True
        changed = (result != active).any(axis=0)
        if not changed.any():
            return diarization
        segments: list[SpeakerSegment] = []
        for row, name in enumerate(speakers):
            spans = merge_spans(
                subtract_intervals(diarization.spans(name), _spans(times, remove[row] & ~result[row], frame))
                + _spans(times, add[row] & result[row], frame)
            )
            segments += [SpeakerSegment(speaker=name, start=a, end=b) for a, b in spans]
        segments.sort(key=lambda s: (s.start, s.end, s.speaker))
        # exclusive: unchanged frames keep theirs, changed frames get their most likely active speaker
        changed_spans = _spans(times, changed, frame)
        exclusive: list[SpeakerSegment] = []  # none given (assignment then uses the segments): none made
        for segment in diarization.exclusive:
            for a, b in subtract_intervals([(segment.start, segment.end)], changed_spans):
                exclusive.append(SpeakerSegment(speaker=segment.speaker, start=a, end=b))
        best = np.where(result, evidence + 1.0, 0.0).argmax(axis=0)  # +1: any active speaker beats inactive ones
        for row, name in enumerate(speakers if diarization.exclusive else []):
            for a, b in _spans(times, changed & result.any(axis=0) & (best == row), frame):
                exclusive.append(SpeakerSegment(speaker=name, start=a, end=b))
        exclusive.sort(key=lambda s: (s.start, s.end, s.speaker))
        return Diarization(segments, exclusive, overlapping_parts(segments), diarization.count_confidence)


def _new_names(speakers: list[str], count: int) -> list[str]:
    """``count`` labels ``SPEAKER_NN`` that no speaker has, numbered on from the speakers'."""
    names, number = [], len(speakers)
    while len(names) < count:
        if (name := f"SPEAKER_{number:02d}") not in speakers:
            names.append(name)
        number += 1
    return names


def _relabel(
    diarization: Diarization, parts: dict[str, list[tuple[float, float]]], names: dict[str, str]
) -> Diarization:
    """``parts[speaker]``'s spans of ``speaker`` (segments and exclusive) given to ``names[speaker]``."""

    def moved(segments: list[SpeakerSegment]) -> list[SpeakerSegment]:
        out: list[SpeakerSegment] = []
        for segment in segments:
            spans = parts.get(segment.speaker)
            if spans is None:
                out.append(segment)
                continue
            whole = [(segment.start, segment.end)]
            for a, b in subtract_intervals(whole, spans):
                out.append(SpeakerSegment(speaker=segment.speaker, start=a, end=b))
            for a, b in subtract_intervals(whole, subtract_intervals(whole, spans)):
                out.append(SpeakerSegment(speaker=names[segment.speaker], start=a, end=b))
        return sorted(out, key=lambda s: (s.start, s.end, s.speaker))

    segments = moved(diarization.segments)
    return Diarization(
        segments, moved(diarization.exclusive), overlapping_parts(segments), diarization.count_confidence
    )


def _long_runs(mask: np.ndarray, shortest: int) -> np.ndarray:
    """``mask`` ``(rows, frames)`` with runs shorter than ``shortest`` frames cleared."""
    kept = np.zeros_like(mask)
    for row in range(mask.shape[0]):
        for start, stop in mask_runs(mask[row]):
            if stop - start >= shortest:
                kept[row, start:stop] = True
    return kept


def _spans(times: np.ndarray, mask: np.ndarray, frame: float) -> list[tuple[float, float]]:
    """Runs of ``mask`` over the frame grid ``times`` as ``(start, end)`` seconds."""
    return frame_spans(times[mask], frame)


def _hermitian_features(observation: np.ndarray) -> np.ndarray:
    """``(F, T, C)`` complex → ``(F, T, C²)`` real: |y_i|², then Re and Im of conj(y_i)·y_j (i < j), so that
    yᴴ A y for a Hermitian A is one real product with :func:`_quadratic_weights` (all classes at once)."""
    first, second = np.triu_indices(observation.shape[-1], 1)
    cross = observation[..., first].conj() * observation[..., second]
    return np.concatenate([np.abs(observation) ** 2, cross.real, cross.imag], axis=-1).astype(np.float32)


def _quadratic_weights(matrix: np.ndarray) -> np.ndarray:
    """``(F, C, C)`` Hermitian → ``(F, C²)`` real weights of :func:`_hermitian_features`."""
    first, second = np.triu_indices(matrix.shape[-1], 1)
    upper = matrix[:, first, second]
    return np.concatenate([np.diagonal(matrix, axis1=1, axis2=2).real, 2 * upper.real, -2 * upper.imag], axis=-1)
