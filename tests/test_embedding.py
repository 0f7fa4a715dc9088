"""Speaker embeddings: what a stretch of speech sounds like (CAM++), and where it comes from (array)."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.mark.integration
def test_embeddings_without_onednn_equal_those_with_it(tts, monkeypatch):
    """CAM++ runs with oneDNN off (faster for inputs of ever new lengths): the embeddings do not change."""
    import torch

    from meetsep.config import AttributeConfig, RuntimeConfig
    from meetsep.embedding import SpeakerEmbedder

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

    from meetsep.config import AttributeConfig, RuntimeConfig
    from meetsep.embedding import SpeakerEmbedder

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
    from meetsep.audio import load_recording
    from meetsep.embedding import SpatialFeatures

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
