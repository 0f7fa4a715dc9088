"""Diarization: global speakers from each window's units, and stitching the windows not embedded."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.mark.integration
def test_stitched_windows_give_the_diarization_of_embedding_every_window(two_speaker_mix):
    """embed_every=2 embeds half the windows and stitches the others by shared speech: same answer."""
    from pyannote.core import Annotation, Segment
    from pyannote.metrics.diarization import DiarizationErrorRate

    from meetsep.config import AttributeConfig, RuntimeConfig, SegmentConfig
    from meetsep.diarize import Diarizer
    from meetsep.embedding import SpeakerEmbedder, UnitEmbedder
    from meetsep.segment import Segmenter

    segmentation = Segmenter(SegmentConfig(), RuntimeConfig())(two_speaker_mix.audio)
    results = {}
    for every in (1, 2):
        config = AttributeConfig(embed_every=every)
        embedder = SpeakerEmbedder(config, RuntimeConfig())
        calls = []
        embed_many = embedder.embed_many
        embedder.embed_many = lambda audios, embed_many=embed_many, calls=calls: (
            calls.extend(map(len, audios)) or embed_many(audios)
        )
        annotation = Annotation()
        diarization = Diarizer(config)(two_speaker_mix.audio, segmentation, UnitEmbedder(embedder, config))
        for segment in diarization.segments:
            annotation[Segment(segment.start, segment.end)] = segment.speaker
        results[every] = (annotation, len(calls))
    (all_windows, calls_all), (stitched, calls_stitched) = results[1], results[2]
    assert len(stitched.labels()) == len(all_windows.labels()) == 2
    assert calls_stitched < 0.65 * calls_all, (calls_stitched, calls_all)
    assert DiarizationErrorRate()(all_windows, stitched) < 0.02


def test_speech_no_embedded_window_saw_is_embedded_like_the_clustered_units_and_takes_the_nearest_centroid():
    """The fallback of stitching: embedded with the same features as the clustered units (spatial ones too)."""
    from pyannote.core import SlidingWindow, SlidingWindowFeature

    from meetsep.config import AttributeConfig
    from meetsep.diarize import Diarizer
    from meetsep.types import SpeechUnits

    data = np.zeros((3, 10, 1), dtype=np.float32)
    data[:, 2:8, 0] = 1.0
    units = SlidingWindowFeature(data, SlidingWindow(start=0.0, duration=10.0, step=20.0))  # windows share no frames
    embedded = np.array([True, False, True])
    hard_clusters = np.array([[0], [-2], [1]])
    seen = []

    class Embed:
        """The unit embedder the clustered units were embedded with (voice and spatial features)."""

        spatial = object()
        min_clean_seconds = 1.0

        def __call__(self, audio, speech_, selected=None, reporter=None):
            assert speech_ is speech
            seen.append((np.flatnonzero(selected.ravel()).tolist(), self))
            result = np.full((3, 1, 2), np.nan, dtype=np.float32)
            result[1, 0] = [0.1, 0.9]
            return result

    embed = Embed()
    speech = SpeechUnits(units, np.zeros((3, 1), dtype=int), units)
    Diarizer(AttributeConfig())._stitch(None, speech, embed, embedded, hard_clusters, np.eye(2, dtype=np.float32))
    assert hard_clusters[:, 0].tolist() == [0, 1, 1]
    assert seen == [([1], embed)]
