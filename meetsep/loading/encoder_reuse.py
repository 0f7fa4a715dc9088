"""Whisper's encoder run once per voting pack, not twice (faster-whisper models).

See :class:`VoteEncodings`: the ASR stage's language vote and its decoding of the same packs share
the encoder's outputs.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
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
        output = self.encode(first)
        with self.lock:
            self.kept[_digest(first)] = output
            while len(self.kept) > self.KEPT:
                self.kept.popitem(last=False)
        return {token[2:-2]: float(p) for token, p in self.model.model.detect_language(output)[0]}

    def __call__(self, features: np.ndarray) -> Any:
        with self.lock:
            output = self.kept.pop(_digest(features), None)
            self.hits += output is not None
        return output if output is not None else self.encode(features)


_INSTALLING = threading.Lock()


def vote_encodings(model: Any) -> VoteEncodings:
    """The :class:`VoteEncodings` of a faster-whisper model (installed on its first use)."""
    with _INSTALLING:
        return model.encode if isinstance(model.encode, VoteEncodings) else VoteEncodings(model)


def _digest(features: np.ndarray) -> bytes:
    array = np.ascontiguousarray(features)
    return hashlib.blake2b(array.tobytes() + repr((array.shape, array.dtype.str)).encode(), digest_size=16).digest()
