from __future__ import annotations

import numpy as np
import pytest

from meetsep.asr import RecognizedWord, speech_windows
from meetsep.attribute import (
    FRAME_SECONDS,
    Diarization,
    assign_words,
    attribute_channels,
    frame_levels_db,
    overlapping_parts,
    own_speech,
)
from meetsep.types import SpeakerSegment


def seg(speaker, start, end):
    return SpeakerSegment(speaker=speaker, start=start, end=end)


def rw(text, start, end, speaker=None):
    return RecognizedWord(text=text, start=start, end=end, probability=1.0, stream="mix", speaker=speaker)


def test_overlapping_parts():
    segments = [seg("A", 0, 5), seg("B", 4, 6), seg("A", 5.5, 7), seg("C", 10, 11), seg("A", 10.5, 10.6)]
    assert overlapping_parts(segments) == [(4.0, 5.0), (5.5, 6.0), (10.5, 10.6)]
    assert overlapping_parts([seg("A", 0, 2), seg("A", 1, 3)]) == []


def test_assign_words_by_exclusive_activity_and_nearest():
    full = [seg("A", 0, 5), seg("B", 4, 8)]
    exclusive = [seg("A", 0, 4.5), seg("B", 4.5, 8)]
    diarization = Diarization(full, exclusive, overlapping_parts(full))
    words = [rw("a", 1, 1.5), rw("b", 4.1, 4.3), rw("c", 4.6, 4.9), rw("d", 9, 9.2)]
    result = [(x.word.text, x.speaker, x.overlap) for x in assign_words(words, diarization)]
    assert result == [("a", "A", False), ("b", "A", True), ("c", "B", True), ("d", "B", False)]


def test_speech_windows_merge_and_cap():
    regions = [(0, 5), (6, 10), (13, 20), (20.5, 45), (46, 47), (50, 51)]
    assert speech_windows(regions, max_window=30, merge_gap=2) == [(0, 10), (13, 20), (20.5, 47), (50, 51)]
    assert speech_windows([(0, 50)], max_window=30, merge_gap=2) == [(0, 50)]


def test_crosstalk_is_not_anyones_own_speech_and_words_are_dropped():
    rate = 16000
    t = np.arange(rate * 2) / rate
    speech = (0.3 * np.sin(2 * np.pi * 300 * t)).astype(np.float32)
    left = np.concatenate([speech, np.zeros(rate * 2, np.float32)])
    right = np.concatenate([np.zeros(rate * 2, np.float32), speech])
    leak = 10 ** (-25 / 20)
    stereo = np.stack([left + leak * right, right + leak * left])
    levels = frame_levels_db(stereo, rate)
    dominance = {"agent": levels[0] - levels[1], "customer": levels[1] - levels[0]}
    assert levels.shape == (2, int(4 / FRAME_SECONDS))
    # each channel's VAD fires everywhere (crosstalk is audible); own speech is only where it dominates
    agent_own = own_speech([(0.0, 4.0)], dominance["agent"] > -10)
    customer_own = own_speech([(0.0, 4.0)], dominance["customer"] > -10)
    assert len(agent_own) == 1 and abs(agent_own[0][1] - 2.0) < 0.2
    assert len(customer_own) == 1 and abs(customer_own[0][0] - 2.0) < 0.2
    words = [rw("hello", 0.5, 0.9, "agent"), rw("hello", 0.5, 0.9, "customer"), rw("bye", 3.0, 3.3, "customer")]
    diarization, kept = attribute_channels(words, {"agent": agent_own, "customer": customer_own}, dominance, 10.0)
    assert [(k.word.text, k.speaker) for k in kept] == [("hello", "agent"), ("bye", "customer")]
    assert diarization.speakers == ["agent", "customer"]


@pytest.mark.integration
def test_embeddings_without_onednn_equal_those_with_it(tts, monkeypatch):
    """CAM++ runs with oneDNN off (faster for inputs of ever new lengths): the embeddings do not change."""
    import torch

    from meetsep.attribute import SpeakerEmbedder
    from meetsep.config import AttributeConfig, RuntimeConfig

    embedder = SpeakerEmbedder(AttributeConfig(), RuntimeConfig())
    awb = tts("The design team finished the first version last week.", "awb")
    slt = tts("Then we can move the testing phase forward by a few days.", "slt")
    pieces = [awb[:20800], slt[:19200], awb[16000 : 16000 + 35200]]
    without = np.stack([embedder(piece) for piece in pieces])
    original = torch.backends.mkldnn.flags
    monkeypatch.setattr(
        torch.backends.mkldnn, "flags", lambda enabled: original(enabled=True)
    )  # the same code, oneDNN on
    with_onednn = np.stack([embedder(piece) for piece in pieces])
    np.testing.assert_allclose(without, with_onednn, atol=1e-4)
    assert float(without[0] @ without[2]) > float(without[0] @ without[1]) + 0.3  # same voice closer than the other


@pytest.mark.integration
def test_units_embedded_side_by_side_equal_those_embedded_one_at_a_time(tts):
    """Two single-threaded workers (2 cores): bit-identical embeddings to one unit at a time, run
    after run (oneDNN's process-wide switch is not flipped by the workers), and the caller's
    PyTorch thread count and oneDNN setting are left as they were."""
    import torch

    from meetsep.attribute import SpeakerEmbedder
    from meetsep.config import AttributeConfig, RuntimeConfig

    awb = tts("The design team finished the first version last week.", "awb")
    slt = tts("Then we can move the testing phase forward by a few days.", "slt")
    pieces = [awb[:20800], slt[:19200], awb[16000 : 16000 + 35200], slt[8000:40000], awb[:6000]]
    pieces = pieces + [piece[::-1].copy() for piece in pieces] + [piece[: len(piece) * 3 // 4] for piece in pieces]
    before = (torch.get_num_threads(), torch.backends.mkldnn.enabled)
    one = np.stack([SpeakerEmbedder(AttributeConfig(), RuntimeConfig(threads=1))(piece) for piece in pieces])
    embedder = SpeakerEmbedder(AttributeConfig(), RuntimeConfig(threads=2))
    for _ in range(3):
        np.testing.assert_array_equal(one, np.stack(embedder.embed_many(pieces)))
    assert (torch.get_num_threads(), torch.backends.mkldnn.enabled) == before
    assert np.isnan(one[4]).all() and not np.isnan(one[:4]).any()  # 0.375 s: too short to embed


@pytest.mark.integration
def test_stitched_windows_give_the_diarization_of_embedding_every_window(two_speaker_mix):
    """embed_every=2 embeds half the windows and stitches the others by shared speech: same answer."""
    from pyannote.core import Annotation, Segment
    from pyannote.metrics.diarization import DiarizationErrorRate

    from meetsep.attribute import Attributor
    from meetsep.config import AttributeConfig, RuntimeConfig, SegmentConfig
    from meetsep.segment import Segmenter

    segmentation = Segmenter(SegmentConfig(), RuntimeConfig())(two_speaker_mix.audio)
    results = {}
    for every in (1, 2):
        attributor = Attributor(AttributeConfig(embed_every=every), RuntimeConfig())
        calls = []
        embed_many = attributor.embedder.embed_many
        attributor.embedder.embed_many = lambda audios, embed_many=embed_many, calls=calls: (
            calls.extend(map(len, audios)) or embed_many(audios)
        )
        annotation = Annotation()
        for segment in attributor.diarize(two_speaker_mix.audio, segmentation).segments:
            annotation[Segment(segment.start, segment.end)] = segment.speaker
        results[every] = (annotation, len(calls))
    (all_windows, calls_all), (stitched, calls_stitched) = results[1], results[2]
    assert len(stitched.labels()) == len(all_windows.labels()) == 2
    assert calls_stitched < 0.65 * calls_all, (calls_stitched, calls_all)
    assert DiarizationErrorRate()(all_windows, stitched) < 0.02


def test_speech_no_embedded_window_saw_is_embedded_like_the_clustered_units_and_takes_the_nearest_centroid():
    """The fallback of stitching: embedded with the same features as the clustered units (spatial ones too)."""
    from pyannote.core import SlidingWindow, SlidingWindowFeature

    from meetsep.attribute import Attributor

    data = np.zeros((3, 10, 1), dtype=np.float32)
    data[:, 2:8, 0] = 1.0
    units = SlidingWindowFeature(data, SlidingWindow(start=0.0, duration=10.0, step=20.0))  # windows share no frames
    embedded = np.array([True, False, True])
    hard_clusters = np.array([[0], [-2], [1]])
    seen = []

    def embeddings(audio, segmentation, units_, origin, selected=None, spatial=None):  # noqa: ANN001, ANN202
        seen.append((np.flatnonzero(selected.ravel()).tolist(), spatial))
        result = np.full((3, 1, 2), np.nan, dtype=np.float32)
        result[1, 0] = [0.1, 0.9]
        return result

    attributor = Attributor.__new__(Attributor)
    attributor.embeddings = embeddings
    spatial = object()
    attributor._stitch(
        None, None, units, np.zeros((3, 1), dtype=int), embedded, hard_clusters, np.eye(2, dtype=np.float32), spatial
    )
    assert hard_clusters[:, 0].tolist() == [0, 1, 1]
    assert seen == [([1], spatial)]
