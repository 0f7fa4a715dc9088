"""Speaker embeddings: what a stretch of speech sounds like (CAM++), and where it comes from (array)."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.mark.integration
def test_embeddings_without_onednn_equal_those_with_it(tts, monkeypatch):
    """CAM++ runs with oneDNN off (faster for inputs of ever new lengths): the embeddings do not change."""
    import torch

    from meetsep.core.config import AttributeConfig, RuntimeConfig
    from meetsep.stages.embedding import SpeakerEmbedder

    embedder = SpeakerEmbedder(AttributeConfig(embedding_backend="torch"), RuntimeConfig())
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
def test_onnx_runtime_embeddings_equal_pytorch_ones(tts, tmp_path, monkeypatch):
    """CAM++ exported to ONNX Runtime (the default) gives PyTorch's embeddings; the export is kept in
    the cache and reused by a new process; without ``onnx`` the PyTorch network runs instead."""
    import sys

    import torch

    import meetsep.loading.models as models
    from meetsep.core.config import AttributeConfig, RuntimeConfig
    from meetsep.stages.embedding import SpeakerEmbedder

    awb = tts("The design team finished the first version last week.", "awb")
    slt = tts("Then we can move the testing phase forward by a few days.", "slt")
    pieces = [awb[:20800], slt[:19200], awb[16000 : 16000 + 35200], slt[4000:12000]]
    torch_embeddings = np.stack(
        [SpeakerEmbedder(AttributeConfig(embedding_backend="torch"), RuntimeConfig())(p) for p in pieces]
    )
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(models, "_LOADED", {})
    onnx = np.stack(SpeakerEmbedder(AttributeConfig(), RuntimeConfig(threads=2)).embed_many(pieces))
    np.testing.assert_allclose(onnx, torch_embeddings, atol=1e-4)
    exported = list((tmp_path / "meetsep" / "onnx").glob("campplus-*.onnx"))
    assert len(exported) == 1 and exported[0].stat().st_size > 1_000_000
    assert float(onnx[0] @ onnx[2]) > float(onnx[0] @ onnx[1]) + 0.3  # same voice closer than the other
    exports: list[int] = []
    export = torch.onnx.export
    monkeypatch.setattr(torch.onnx, "export", lambda *args, **kwargs: exports.append(1) or export(*args, **kwargs))
    monkeypatch.setattr(models, "_LOADED", {})  # a new process: the file is loaded, not exported again
    np.testing.assert_array_equal(
        np.stack(SpeakerEmbedder(AttributeConfig(), RuntimeConfig()).embed_many(pieces)), onnx
    )
    assert exports == []
    monkeypatch.setattr(models, "_LOADED", {})
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "empty"))
    monkeypatch.setitem(sys.modules, "onnx", None)  # not installed: the export fails, PyTorch runs
    fallback = np.stack([SpeakerEmbedder(AttributeConfig(), RuntimeConfig())(p) for p in pieces])
    np.testing.assert_array_equal(fallback, torch_embeddings)


@pytest.mark.integration
def test_units_embedded_side_by_side_equal_those_embedded_one_at_a_time(tts):
    """Two single-threaded workers (2 cores): bit-identical embeddings to one unit at a time, run
    after run (oneDNN's process-wide switch is not flipped by the workers), and the caller's
    PyTorch thread count and oneDNN setting are left as they were."""
    import torch

    from meetsep.core.config import AttributeConfig, RuntimeConfig
    from meetsep.stages.embedding import SpeakerEmbedder

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


def test_spatial_features_tell_apart_where_speech_comes_from(meeting, meeting_diarization):
    """Two stretches of one talker point the same way; two talkers do not (no geometry needed)."""
    from meetsep.io.audio import load_recording
    from meetsep.stages.embedding import SpatialFeatures

    recording = load_recording(meeting.audio, sample_rate=meeting.sample_rate, layout="array")
    spatial = SpatialFeatures(recording)
    solo = {}
    diarization = meeting_diarization
    for entry in meeting.reference:  # each sentence's part where nobody else speaks
        start, end = entry["start_time"], entry["end_time"]
        for a, b in diarization.overlap:
            if a <= start < b:
                start = b
            if a < end <= b:
                end = a
        if end - start > 1.0:
            solo.setdefault(entry["speaker"], []).append((start, end))
    features = {}
    for speaker, spans in solo.items():  # the two halves of the speaker's longest solo stretch
        start, end = max(spans, key=lambda span: span[1] - span[0])
        middle = (start + end) / 2
        features[speaker] = []
        for a, b in ((start, middle), (middle, end)):
            spectrum = spatial.window(a, b - a)
            features[speaker].append(spatial(spectrum, np.ones(spectrum.shape[1], dtype=bool)))
    (first, second) = [features[name] for name in sorted(features)]
    same = [float(first[0] @ first[1]), float(second[0] @ second[1])]
    different = [float(x @ y) for x in first for y in second]
    # measured: same 0.97 / 0.95, different 0.47-0.48
    assert min(same) > 0.8 and max(different) < min(same) - 0.3, (same, different)
    assert spatial(spectrum, np.zeros(spectrum.shape[1], dtype=bool)).shape == (spatial.dimension,)


def test_speech_seen_by_overlapping_windows_is_embedded_once():
    """Windows overlap (10 s every 2 s): a unit whose clean speech covers what an earlier window's unit
    covered takes that unit's embedding; speech at another time is embedded on its own."""
    from pyannote.core import SlidingWindow, SlidingWindowFeature

    from meetsep.core.config import AttributeConfig
    from meetsep.core.records import SpeechUnits
    from meetsep.stages.embedding import VoiceAndPlaceEmbedder

    frames, frame_seconds = 500, 0.02
    window = SlidingWindow(start=0.0, duration=10.0, step=2.0)
    local = np.zeros((4, frames, 3), dtype=np.float32)
    for index in range(4):  # one talker from 4.0 to 6.0 s, seen by the windows starting at 0, 2 and 4 s
        first, last = int((4.0 - 2 * index) / frame_seconds), int((6.0 - 2 * index) / frame_seconds)
        if last > 0:
            local[index, max(first, 0) : last, 0] = 1
    local[3, 200:300, 1] = 1  # another from 10.0 to 12.0 s, in the last window only
    origin = np.array([[0, -1], [0, -1], [0, -1], [1, -1]])
    activity = np.zeros((4, frames, 2), dtype=np.float32)
    for index in range(4):
        activity[index, :, 0] = local[index, :, origin[index, 0]]
    speech = SpeechUnits(SlidingWindowFeature(activity, window), origin, SlidingWindowFeature(local, window))

    class Counting:
        sample_rate, dimension, workers = 16000, 2, 2
        calls: list[int] = []

        def embed_many(self, audios):
            self.calls.extend(len(a) for a in audios)
            return [np.array([len(a), 1.0], dtype=np.float32) for a in audios]

    embedder = Counting()
    audio = np.random.default_rng(0).standard_normal(16000 * 16).astype(np.float32)
    result = VoiceAndPlaceEmbedder(embedder, AttributeConfig(embedding_rate=16000))(audio, speech)
    assert len(embedder.calls) == 2  # the 4.0-6.0 s talker once, the 10-12 s talker once
    np.testing.assert_array_equal(result[0, 0], result[1, 0])
    np.testing.assert_array_equal(result[0, 0], result[2, 0])
    assert np.isnan(result[:3, 1]).all() and not np.isnan(result[3, 0]).any()


def test_spatial_features_of_part_of_a_window_equal_those_of_the_whole_window(meeting):
    """Units take their spatial feature from the STFT of only the span they cover in their window: the
    same feature as from the STFT of the whole window (frames at the same times)."""
    from types import SimpleNamespace

    from meetsep.core.config import AttributeConfig
    from meetsep.io.audio import load_recording
    from meetsep.stages.embedding import SpatialFeatures, VoiceAndPlaceEmbedder

    recording = load_recording(meeting.audio, sample_rate=meeting.sample_rate, layout="array")
    spatial = SpatialFeatures(recording)
    embedder = VoiceAndPlaceEmbedder(SimpleNamespace(dimension=192), AttributeConfig(), spatial)  # only the array part
    frames, frame_seconds, start = 589, 10.0 / 589, 0.5
    masks = []
    for a, b in ((2.0, 3.5), (3.1, 4.0)):  # two units in the middle of the window (s from its start)
        mask = np.zeros(frames, dtype=bool)
        mask[int(a / frame_seconds) : int(b / frame_seconds)] = True
        masks.append(mask)
    parts = embedder._places(start, frame_seconds, list(enumerate(masks)))
    spectrum = spatial.window(start, 10.0)
    of_frame = np.minimum((np.arange(spectrum.shape[1]) * spatial.hop / spatial.rate / frame_seconds).astype(int), 588)
    whole = [spatial(spectrum, mask[of_frame]) for mask in masks]
    for part, full in zip(parts, whole):
        np.testing.assert_allclose(part, full, atol=1e-5)
