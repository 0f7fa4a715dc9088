"""Voice activity and overlap from the real segmentation-3.0 weights, against a mix with known timing."""

from __future__ import annotations

import pytest

from meetsep.core.config import RuntimeConfig, SegmentConfig
from meetsep.stages.segment import Segmenter

pytestmark = pytest.mark.integration


def test_overlap_region_is_found_within_a_fifth_of_a_second(two_speaker_mix):
    result = Segmenter(SegmentConfig(step=1.0), RuntimeConfig())(two_speaker_mix.audio)
    first, second = two_speaker_mix.reference[0], two_speaker_mix.reference[1]
    truth = (second["start_time"], first["end_time"])  # turn 2 starts 1 s before turn 1 ends
    assert len(result.overlap) == 1, result.overlap
    start, end = result.overlap[0]
    assert abs(start - truth[0]) <= 0.2 and abs(end - truth[1]) <= 0.2, (result.overlap, truth)
    # speech covers every reference turn
    for entry in two_speaker_mix.reference:
        covered = sum(max(0.0, min(b, entry["end_time"]) - max(a, entry["start_time"])) for a, b in result.speech)
        assert covered >= 0.95 * (entry["end_time"] - entry["start_time"])


def test_silence_has_no_speech():
    import numpy as np

    result = Segmenter(SegmentConfig(), RuntimeConfig())(np.zeros(16000 * 12, dtype=np.float32))
    assert result.speech == [] and result.overlap == []


def test_segmenting_a_signal_file_block_by_block_equals_pyannotes_one_call(two_speaker_mix, monkeypatch):
    """The mixture is read from a temporary file a block of windows at a time; the windows' outputs
    are bit-identical to pyannote's Inference on the whole waveform at once (the same batches)."""
    import numpy as np
    import torch

    import meetsep.stages.segment as segment
    from meetsep.io.audio import SignalFile

    audio = np.concatenate([two_speaker_mix.audio, two_speaker_mix.audio[::-1], two_speaker_mix.audio[: 16000 * 7 + 3]])
    segmenter = Segmenter(
        SegmentConfig(batch_size=4, input_rate=16000, speech_threshold=None, vad="none"), RuntimeConfig()
    )
    inference = segmenter._get_inference()
    with torch.inference_mode():
        whole = inference({"waveform": torch.from_numpy(audio)[None], "sample_rate": 16000})
    monkeypatch.setattr(segment, "WINDOWS_PER_BLOCK", 5)  # blocks of 4 windows (one batch)
    signal = SignalFile([audio[: len(audio) // 3], audio[len(audio) // 3 :]])
    blockwise = segmenter(signal)
    assert len(whole.data) > 3 * 4 and whole.data.shape[:2] == blockwise.local.data.shape[:2]  # 4 blocks
    np.testing.assert_array_equal(whole.data[..., :3], blockwise.local.data)
    assert blockwise.local.sliding_window.step == whole.sliding_window.step
    in_memory = segmenter(audio)
    assert (blockwise.speech, blockwise.overlap) == (in_memory.speech, in_memory.overlap) and blockwise.speech


def test_band_limited_input_is_the_whole_signal_through_8_khz(two_speaker_mix, monkeypatch):
    """segment.input_rate=8000 (the default): the model hears the signal resampled to 8 kHz and back,
    computed block by block with the same samples as resampling it whole."""
    import numpy as np
    import torch

    import meetsep.stages.segment as segment
    from meetsep.io.audio import resample

    audio = np.concatenate([two_speaker_mix.audio, two_speaker_mix.audio[::-1]])
    segmenter = Segmenter(SegmentConfig(batch_size=4), RuntimeConfig())
    assert segmenter.config.input_rate == 8000
    narrow = resample(resample(audio, 16000, 8000), 8000, 16000)
    with torch.inference_mode():
        whole = segmenter._get_inference()({"waveform": torch.from_numpy(narrow)[None], "sample_rate": 16000})
    monkeypatch.setattr(segment, "BAND_LIMIT_BLOCK", 16000 * 7 + 5)  # several blocks, none aligned
    np.testing.assert_array_equal(
        whole.data[..., :3],
        Segmenter(SegmentConfig(batch_size=4, speech_threshold=None, vad="none"), RuntimeConfig())(audio).local.data,
    )


def test_speech_is_where_the_windows_find_it_more_probable_than_silence(two_speaker_mix, monkeypatch):
    """Every window finds nobody speaking the most probable class (45 %), yet speech more probable than
    not (30 % one speaker, 25 % another): pyannote's count (each window's most probable class) finds no
    speech, ``segment.speech_threshold`` 0.5 (the default) finds it all, given to the window's most
    probable local speaker; real speech found by the count is always kept."""
    import numpy as np

    import meetsep.stages.segment as segment

    def scores(model, chunks):  # powerset classes: {}, {0}, {1}, {2}, {0, 1}, {0, 2}, {1, 2}
        probabilities = np.array([0.45, 0.30, 0.25, 1e-6, 1e-6, 1e-6, 1e-6], dtype=np.float32)
        frames = model.num_frames(chunks.shape[-1])
        return np.log(np.broadcast_to(probabilities / probabilities.sum(), (len(chunks), frames, 7))).copy()

    audio = two_speaker_mix.audio[: 16000 * 14]
    real = {t: Segmenter(SegmentConfig(speech_threshold=t, vad="none"), RuntimeConfig())(audio) for t in (None, 0.5)}
    monkeypatch.setattr(segment, "_torch_scores", scores)
    hard = Segmenter(SegmentConfig(backend="torch", speech_threshold=None, vad="none"), RuntimeConfig())(audio)
    soft = Segmenter(SegmentConfig(backend="torch", vad="none"), RuntimeConfig())(audio)
    assert hard.speech == [] and not hard.local.data.any() and np.max(hard.count.data) == 0
    assert len(soft.speech) == 1 and soft.speech[0][0] < 0.05 and soft.speech[0][1] > 13.95  # frame edges
    assert soft.overlap == [] and np.max(soft.count.data) == 1
    assert soft.local.data[..., 0].all() and not soft.local.data[..., 1:].any()

    def covered(intervals):
        times = np.arange(0, 14, 0.01)
        return np.any([(times >= a) & (times < b) for a, b in intervals], axis=0)

    assert real[None].speech and np.all(covered(real[0.5].speech)[covered(real[None].speech)])


def test_speech_the_network_does_not_hear_is_kept_where_silero_vad_hears_it(two_speaker_mix, monkeypatch):
    """A network that finds nobody speaking anywhere (90 %, speech 10 %): neither its count nor
    ``speech_threshold`` finds speech; ``segment.vad=silero`` (the default) finds every turn, not the
    silences between them, and gives it to each window's most probable local speaker."""
    import numpy as np

    import meetsep.stages.segment as segment

    def scores(model, chunks):  # powerset classes: {}, {0}, {1}, {2}, {0, 1}, {0, 2}, {1, 2}
        probabilities = np.array([0.9, 0.02, 0.06, 0.02, 1e-6, 1e-6, 1e-6], dtype=np.float32)
        frames = model.num_frames(chunks.shape[-1])
        return np.log(np.broadcast_to(probabilities / probabilities.sum(), (len(chunks), frames, 7))).copy()

    monkeypatch.setattr(segment, "_torch_scores", scores)
    audio = two_speaker_mix.audio
    deaf = Segmenter(SegmentConfig(backend="torch", vad="none"), RuntimeConfig())(audio)
    heard = Segmenter(SegmentConfig(backend="torch"), RuntimeConfig())(audio)
    assert deaf.speech == [] and not deaf.local.data.any()
    times = np.arange(0, len(audio) / 16000, 0.01)

    def covered(intervals):
        return np.any([(times >= a) & (times < b) for a, b in intervals], axis=0)

    truth = covered([(e["start_time"], e["end_time"]) for e in two_speaker_mix.reference])
    found = covered(heard.speech)
    assert found[truth].mean() >= 0.95, heard.speech
    assert found[~truth].mean() <= 0.25, heard.speech  # leading, trailing and between-turn silences
    assert heard.overlap == [] and np.max(heard.count.data) == 1
    assert heard.local.data[..., 1].any() and not heard.local.data[..., [0, 2]].any()


def test_silero_vad_is_read_block_by_block(two_speaker_mix, monkeypatch):
    """Silero VAD over a recording read ``SILERO_BLOCK`` samples at a time (its state starts afresh
    in each block): one value per pyannote frame, speech where the voices are and not in the silence
    around them, as when the blocks are larger than the recording."""
    import numpy as np
    from pyannote.core import SlidingWindow

    import meetsep.stages.segment as segment
    from meetsep.io.audio import SignalFile

    quiet = np.zeros(16000 * 4, dtype=np.float32)
    audio = np.concatenate([quiet, two_speaker_mix.audio, quiet])
    frames = SlidingWindow(start=0.0, duration=0.0619375, step=0.016875)  # segmentation-3.0's frames
    total = int(len(audio) / 16000 / frames.step)
    whole = segment._silero_frames(audio, frames, total)
    monkeypatch.setattr(segment, "SILERO_BLOCK", segment.SILERO_CHUNK * 300)  # 9.6 s blocks
    blockwise = segment._silero_frames(SignalFile([audio[:70001], audio[70001:]]), frames, total)
    assert whole.shape == blockwise.shape == (total,)
    middles = 0.5 * frames.duration + frames.step * np.arange(total)
    turns = [(4 + e["start_time"], 4 + e["end_time"]) for e in two_speaker_mix.reference]
    inside = np.any([(middles >= a) & (middles < b) for a, b in turns], axis=0)
    for found in (whole, blockwise):
        assert found[inside].mean() >= 0.95
        assert not found[middles < 4.0].any() and not found[middles > len(audio) / 16000 - 3.5].any()
    assert np.mean(whole == blockwise) >= 0.98


def test_a_signal_file_slices_like_an_array():
    import numpy as np

    from meetsep.io.audio import SignalFile

    data = np.arange(1000, dtype=np.float32)
    signal = SignalFile([data[:300], data[300:301], data[301:]])
    assert len(signal) == 1000 and signal.shape == (1000,)
    for index in [
        slice(0, 10),
        slice(250, 350),
        slice(990, 2000),
        slice(-5, None),
        slice(None),
        slice(500, 400),
        slice(1200, 1300),
    ]:
        np.testing.assert_array_equal(signal[index], data[index])
        assert signal[index].dtype == np.float32
    with pytest.raises(TypeError):
        signal[::2]
    signal.close()


def test_onnx_runtime_segmentation_equals_pytorchs(two_speaker_mix, tmp_path, monkeypatch):
    """The network run by ONNX Runtime (the default) gives PyTorch's scores within 1e-3 and the same
    local speakers, speech and overlap; its scores are the same on 1 or 2 threads and in batches of
    any size; without ``onnx`` to export with, the PyTorch network runs instead."""
    import sys

    import numpy as np
    import torch

    import meetsep.loading.models as models

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(models, "_LOADED", {})
    audio = np.concatenate([two_speaker_mix.audio, two_speaker_mix.audio[::-1]])
    pytorch = Segmenter(SegmentConfig(backend="torch", batch_size=4), RuntimeConfig())
    onnx = Segmenter(SegmentConfig(batch_size=4), RuntimeConfig(threads=2))
    expected, found = pytorch(audio), onnx(audio)
    assert found.speech and found.overlap
    np.testing.assert_array_equal(found.local.data, expected.local.data)
    assert (found.speech, found.overlap) == (expected.speech, expected.overlap)
    assert len(list((tmp_path / "meetsep" / "onnx").glob("segmentation-*.onnx"))) == 1

    chunks = np.stack([audio[start : start + 160000] for start in range(0, len(audio) - 160000, 32000)])[:, None]
    with torch.inference_mode():
        scores = pytorch._get_inference().model(torch.from_numpy(chunks)).numpy()
    two = models.load_segmentation_onnx(onnx.resolved, 2)
    one = models.load_segmentation_onnx(onnx.resolved, 1)
    together = two.run(None, {"waveforms": chunks})[0]
    np.testing.assert_allclose(together, scores, atol=1e-3)
    alone = np.concatenate([one.run(None, {"waveforms": chunk[None]})[0] for chunk in chunks])
    np.testing.assert_array_equal(alone, together)

    monkeypatch.setattr(models, "_LOADED", {})
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "empty"))
    monkeypatch.setitem(sys.modules, "onnx", None)  # not installed: the export fails, PyTorch runs
    fallback = Segmenter(SegmentConfig(batch_size=4), RuntimeConfig())(audio)
    np.testing.assert_array_equal(fallback.local.data, expected.local.data)
    assert not list((tmp_path / "empty").rglob("*.onnx"))
