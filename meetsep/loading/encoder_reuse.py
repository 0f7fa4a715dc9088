"""Whisper's encoder run once per voting pack, not twice, and on a short pack's own length (faster-whisper).

See :class:`VoteEncodings`: the ASR stage's language vote and its decoding of the same packs share
the encoder's outputs. Within :func:`short_windows`, a window of less than 30 s of audio is encoded at
its own length (whole seconds, plus ``TRIM_MARGIN_FRAMES`` of the padding) instead of padded to Whisper's
30 s: the encoder's cost follows the audio's length (CTranslate2 takes any length; a 10 s window
encodes about 6x faster than the 30 s one), and the decoder attends to the audio's frames only.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np


class VoteEncodings:
    """Whisper's encoder run once per voting pack, not twice (faster-whisper).

    The language vote (:meth:`meetsep.stages.asr.Recognizer.identify_language`) runs the encoder on each
    chosen pack's first 30 s, and decoding that pack runs it again on the same input: on a 30 s call (two
    packs, both vote) that was about a third of the time (4.3 → 2.9 s per call). Meetings decoded from
    speaker beams or a separator vote on other packs than they decode, so nothing is reused there. Here
    the vote encodes the pack exactly as decoding will (faster-whisper's features of the pack, its first
    window cut and padded as ``WhisperModel.generate_segments`` does) and keeps the output; the model's
    ``encode`` is wrapped so that decoding takes a kept output for the same input (compared by content,
    then forgotten) instead of encoding again. The words are exactly those of decoding without the vote;
    at most ``KEPT`` outputs (about 3 MB each for ``base``) wait, the oldest dropped first.
    """

    KEPT = 8

    def __init__(self, model: Any) -> None:
        self.model = model
        self.encode = model.encode  # the model's own (bound) encoder
        self.kept: OrderedDict[bytes, Any] = OrderedDict()
        self.lock = threading.Lock()
        self.hits = 0
        model.encode = self  # an instance attribute: faster-whisper's own calls come here

    def language_probabilities(self, audio: np.ndarray) -> dict[str, float]:
        """Whisper's probability of each language for ``audio`` (its first window); the encoder output is kept."""
        from faster_whisper.audio import pad_or_trim

        features = self.model.feature_extractor(audio)
        frames = min(self.model.feature_extractor.nb_max_frames, features.shape[-1] - 1)
        first = pad_or_trim(features[:, :frames])  # the first window as generate_segments encodes it
        output = self.encode(_trimmed(first))
        with self.lock:
            self.kept[_digest(first)] = output
            while len(self.kept) > self.KEPT:
                self.kept.popitem(last=False)
        return {token[2:-2]: float(p) for token, p in self.model.model.detect_language(output)[0]}

    def __call__(self, features: np.ndarray) -> Any:
        with self.lock:
            output = self.kept.pop(_digest(features), None)
            self.hits += output is not None
        return output if output is not None else self.encode(_trimmed(features))


_INSTALLING = threading.Lock()


def vote_encodings(model: Any) -> VoteEncodings:
    """The :class:`VoteEncodings` of a faster-whisper model (installed on its first use)."""
    with _INSTALLING:
        return model.encode if isinstance(model.encode, VoteEncodings) else VoteEncodings(model)


TRIM_STEP_FRAMES = 100  # a short window is encoded in whole seconds (100 frames of 10 ms) ...
TRIM_MARGIN_FRAMES = 500  # ... with this much of its padding after the audio (5 s; 1 s: words less stable)
_SHORT = threading.local()  # per thread: whether windows are encoded at their own length


@contextmanager
def short_windows(model: Any = None, enabled: bool = True) -> Iterator[None]:
    """Within this block (this thread), short windows are encoded at their own length (module docstring);
    ``model``'s encoder (a faster-whisper model) is wrapped for it when it is not yet."""
    if enabled and model is not None:
        vote_encodings(model)
    before = getattr(_SHORT, "enabled", False)
    _SHORT.enabled = enabled
    try:
        yield
    finally:
        _SHORT.enabled = before


def _trimmed(features: np.ndarray) -> np.ndarray:
    """``features`` (``(..., mels, frames)``, padded with zeros to 30 s by faster-whisper) cut after the
    audio's frames (see :data:`TRIM_STEP_FRAMES`, :data:`TRIM_MARGIN_FRAMES`) in a :func:`short_windows` block."""
    if not getattr(_SHORT, "enabled", False):
        return features
    frames = features.shape[-1]
    columns = np.flatnonzero(np.abs(np.asarray(features)).reshape(-1, frames).max(axis=0) > 0)
    content = int(columns[-1]) + 1 if len(columns) else 0
    keep = -(-(content + TRIM_MARGIN_FRAMES) // TRIM_STEP_FRAMES) * TRIM_STEP_FRAMES
    return features[..., : min(frames, keep)]


def _digest(features: np.ndarray) -> bytes:
    array = np.ascontiguousarray(features)
    state = (array.shape, array.dtype.str, getattr(_SHORT, "enabled", False))
    return hashlib.blake2b(array.tobytes() + repr(state).encode(), digest_size=16).digest()
