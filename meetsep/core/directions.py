"""Where sound comes from, block by block: principal directions and their two-way clustering.

A block of frames from one talker in a still room has, in every frequency bin, a multichannel
covariance dominated by one direction (its principal eigenvector, the relative transfer function
of the direct path and early reflections). Two blocks come from the same place when these
directions agree across the band: ``|uᴴv|²`` averaged over bins (1: the same, 1/C: unrelated).
The speaker-by-speaker split of the spatial second pass (``meetsep/stages/spatial.py``) clusters
one speaker's solo blocks in two this way: a spherical 2-means over the bins jointly (one label per
block for all frequencies, so there is no permutation between bins), started from a few
deterministic pairs of far-apart blocks, the best start kept.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from meetsep.core.dsp import covariance
from meetsep.core.intervals import inside
from meetsep.core.records import Diarization

STARTS = 10  # deterministic starting pairs of the 2-means
ITERATIONS = 30  # most reassignments per start (it settles in a few)


def principal_directions(covariances: np.ndarray) -> np.ndarray:
    """``(blocks, bins, C, C)`` Hermitian → ``(blocks, bins, C)`` unit principal eigenvectors."""
    return np.linalg.eigh(covariances)[1][..., -1]


def direction_features(directions: np.ndarray) -> np.ndarray:
    """``(blocks, bins, C)`` unit vectors → ``(blocks, bins · C²)`` real features whose dot product,
    divided by the number of bins, is the mean over bins of ``|uᴴv|²`` (the projectors ``uuᴴ``
    flattened: diagonal, then √2 · Re and Im of the upper triangle)."""
    first, second = np.triu_indices(directions.shape[-1], 1)
    cross = directions[..., first].conj() * directions[..., second]
    parts = [np.abs(directions) ** 2, np.sqrt(2.0) * cross.real, np.sqrt(2.0) * cross.imag]
    return np.concatenate(parts, axis=-1).reshape(len(directions), -1).astype(np.float32)


def _centroids(directions: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """``(2, bins, C)``: per class and bin, the principal eigenvector of the sum of its blocks' ``uuᴴ``."""
    sums = [np.einsum("bfc,bfd->fcd", directions[labels == c], directions[labels == c].conj()) for c in (0, 1)]
    return np.stack([principal_directions(matrix) for matrix in sums])


def split_in_two(directions: np.ndarray) -> np.ndarray | None:
    """``(blocks, bins, C)`` principal directions → a 0/1 label per block (0: the larger class), or
    None when every start ends with one class empty. Deterministic: the starts are the blocks at
    ``STARTS`` evenly spaced positions, each paired with the block least like it."""
    count, bins = directions.shape[:2]
    if count < 2:
        return None
    features = direction_features(directions)
    similarity = features @ features.T / bins
    best: tuple[float, np.ndarray] | None = None
    for first in sorted({int(i * count // STARTS) for i in range(STARTS)}):
        second = int(np.argmin(similarity[first]))
        labels = (similarity[second] > similarity[first]).astype(int)
        score = None
        for _ in range(ITERATIONS):
            if labels.min() == labels.max():
                break
            centers = direction_features(_centroids(directions, labels))  # (2, bins · C²)
            scores = features @ centers.T / bins  # (blocks, 2)
            updated = scores.argmax(axis=1)
            score = float(scores.max(axis=1).sum())
            if (updated == labels).all():
                break
            labels = updated
        if labels.min() == labels.max() or score is None:
            continue
        if best is None or score > best[0]:
            best = (score, labels)
    if best is None:
        return None
    labels = best[1]
    return labels if (labels == 0).sum() >= (labels == 1).sum() else 1 - labels


def solo_directions(
    blocks: Iterable[tuple[np.ndarray, np.ndarray]], diarization: Diarization, frames_per_block: int, most: int
) -> dict[str, tuple[list[np.ndarray], list[np.ndarray]]]:
    """Per speaker of ``diarization``: the principal directions ``(bins, C)`` of each successive
    ``frames_per_block`` of its solo frames (frames where it alone is diarized), and those frames'
    times. ``blocks`` gives ``(frame times in s, (C, frames, bins) STFT)`` in time order. At most
    ``most`` to ``2 · most`` blocks per speaker, evenly thinned: memory does not grow with the
    recording's length."""
    speakers = diarization.speakers
    spans = [np.array(diarization.spans(name)).reshape(-1, 2) for name in speakers]
    found: dict[str, tuple[list[np.ndarray], list[np.ndarray]]] = {name: ([], []) for name in speakers}
    pending: list[tuple[np.ndarray | int, list[np.ndarray]]] = [(0, []) for _ in speakers]
    stride, seen = [1] * len(speakers), [0] * len(speakers)
    for times, spectrum in blocks:
        active = np.stack([inside(times, rows) for rows in spans])
        solo = active & (active.sum(axis=0) == 1)
        for row, name in enumerate(speakers):
            frames = np.flatnonzero(solo[row])
            while len(frames):
                total, held = pending[row]
                need = frames_per_block - sum(len(t) for t in held)
                take, frames = frames[:need], frames[need:]
                mask = np.zeros(len(times), dtype=bool)
                mask[take] = True
                total, held = total + covariance(spectrum, mask), [*held, times[take]]
                pending[row] = (total, held)
                if sum(len(t) for t in held) < frames_per_block:
                    continue
                pending[row] = (0, [])
                seen[row] += 1
                if (seen[row] - 1) % stride[row]:  # thinned: only every stride-th block from here on
                    continue
                directions, frame_times = found[name]
                directions.append(principal_directions(np.asarray(total)[None])[0].astype(np.complex64))
                frame_times.append(np.concatenate(held))
                if len(directions) >= 2 * most:  # keep every other block, and from now on every other one
                    del directions[1::2], frame_times[1::2]
                    stride[row] *= 2
    return found
