"""WPE dereverberation before the speaker beams (beamform.dereverb=wpe)."""

from __future__ import annotations

import numpy as np
import pytest

from meetsep.core.dsp import StftSettings
from meetsep.io.audio import load_recording, read_window
from meetsep.stages.dereverb import Dereverberator, dereverberate


@pytest.fixture(scope="module")
def reverberant():
    """Two flite talkers taking turns (no overlap), 4-mic array, RT60 0.6 s, SNR 40 dB."""
    from meetsep.sim.simulate import SimulationConfig, simulate_meeting

    return simulate_meeting(
        SimulationConfig(seed=7, num_speakers=2, num_sentences=4, overlap_ratio=0.0, num_mics=4, rt60=0.6, snr_db=40)
    )


def _tail_db(audio: np.ndarray, rate: int, reference: list[dict]) -> float:
    """Energy of the reverberant tail (50-400 ms after each sentence ends, before the next begins)
    relative to the sentences' own energy, in dB, over all channels."""
    speech, tail = 0.0, 0.0
    ends = sorted(r["end_time"] for r in reference)
    starts = sorted(r["start_time"] for r in reference)
    for r in reference:
        speech += float(np.sum(audio[:, int(r["start_time"] * rate) : int(r["end_time"] * rate)] ** 2))
    for end in ends:
        later = [s for s in starts if s > end]
        stop = min([end + 0.4] + [s - 0.02 for s in later])
        if stop > end + 0.1:
            tail += float(np.sum(audio[:, int((end + 0.05) * rate) : int(stop * rate)] ** 2))
    return 10 * np.log10(tail / speech)


def test_wpe_shortens_the_reverberant_tail(reverberant):
    rate = reverberant.sample_rate
    clean = dereverberate(reverberant.audio, StftSettings(fft_size=512, hop=128))
    assert clean.shape == reverberant.audio.shape and clean.dtype == np.float32
    before = _tail_db(reverberant.audio, rate, reverberant.reference)
    after = _tail_db(clean, rate, reverberant.reference)
    assert after < before - 2.5, (before, after)  # measured (seed 7): -28.0 dB -> -32.1 dB


def test_dereverberated_recording_is_read_like_the_recording_block_by_block(reverberant, tmp_path, monkeypatch):
    """Every channel and sample is there, block by block (each block with its context) as the beams
    will read it; a block too short to predict from passes through unchanged."""
    import meetsep.stages.dereverb as dereverb

    recording = load_recording(reverberant.audio, sample_rate=reverberant.sample_rate, layout="array")
    whole = Dereverberator()(recording, tmp_path)
    assert (whole.num_channels, whole.num_samples, whole.sample_rate) == (4, recording.num_samples, 16000)
    assert whole.path is not None and whole.path.parent == tmp_path and whole.samples is None
    monkeypatch.setattr(dereverb, "BLOCK_SECONDS", 4.0)
    (tmp_path / "blocks").mkdir()
    blocks = Dereverberator()(recording, tmp_path / "blocks")
    first = read_window(blocks, 0.0, 4.0)
    np.testing.assert_allclose(
        first, dereverberate(read_window(recording, 0.0, 4.5), StftSettings(512, 128))[:, : 4 * 16000], atol=1e-6
    )
    # blocks differ from the whole only by their own filters: the same reverberation removed
    assert (
        _tail_db(read_window(blocks, 0, blocks.duration), 16000, reverberant.reference)
        < _tail_db(reverberant.audio, 16000, reverberant.reference) - 2.5
    )
    short = np.zeros((4, 500), dtype=np.float32)
    short[:, 100] = 0.5
    np.testing.assert_array_equal(dereverberate(short, StftSettings(512, 128)), short)


def test_the_pipeline_gives_the_beams_the_dereverberated_channels_and_cleans_up(reverberant, monkeypatch):
    import meetsep
    import meetsep.pipeline as pipeline
    from meetsep.core.hooks import TimingHook

    made, heard = [], []
    dereverberate_call = pipeline.Dereverberator.__call__
    beams_call = pipeline.SpeakerBeams.__call__
    monkeypatch.setattr(
        pipeline.Dereverberator, "__call__", lambda self, *a: made.append(dereverberate_call(self, *a)) or made[-1]
    )
    monkeypatch.setattr(
        pipeline.SpeakerBeams, "__call__", lambda self, rec, *a: heard.append(rec) or beams_call(self, rec, *a)
    )
    timing = TimingHook()
    config = meetsep.load_config([], ["beamform.dereverb=wpe", "asr.language=en"])
    transcript = meetsep.Pipeline(config)(reverberant.audio, sample_rate=16000, layout="array", hook=timing)
    assert transcript.words and "dereverb" in timing.seconds
    assert len(made) == 1 and heard == made and made[0].path is not None
    assert not made[0].path.exists() and not made[0].path.parent.exists()  # the scratch folder is gone
