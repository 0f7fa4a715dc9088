from __future__ import annotations

import json

import numpy as np
import pytest

from meetsep.sim.simulate import SimulationConfig, simulate_meeting, write_meeting

SMALL = dict(num_speakers=2, num_sentences=4, num_mics=3)


@pytest.mark.parametrize("target", [0.0, 0.2, 0.4])
def test_measured_overlap_follows_the_target(target):
    meeting = simulate_meeting(SimulationConfig(seed=11, overlap_ratio=target, **SMALL))
    measured = meeting.metadata["overlap_ratio"]
    assert measured == 0.0 if target == 0.0 else abs(measured - target) < 0.05
    assert meeting.audio.shape[0] == 3 and meeting.audio.dtype == np.float32 and meeting.sample_rate == 16000


def test_reference_is_sorted_inside_the_audio_and_matches_the_images():
    meeting = simulate_meeting(SimulationConfig(seed=3, overlap_ratio=0.2, **SMALL))
    starts = [e["start_time"] for e in meeting.reference]
    assert starts == sorted(starts) and len(meeting.reference) == 4
    duration = meeting.audio.shape[1] / meeting.sample_rate
    assert all(0 <= e["start_time"] < e["end_time"] <= duration for e in meeting.reference)
    for entry in meeting.reference:  # each sentence is audible in its speaker's image, there
        image = meeting.speaker_images[entry["speaker"]]
        inside = image[int(entry["start_time"] * 16000) : int(entry["end_time"] * 16000)]
        assert np.sqrt(np.mean(inside**2)) > 0.01


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    config = SimulationConfig(seed=5, overlap_ratio=0.2, **SMALL)
    first, second, other = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    write_meeting(simulate_meeting(config), first)
    write_meeting(simulate_meeting(config), second)
    write_meeting(simulate_meeting(config.model_copy(update={"seed": 6})), other)
    names = ["mix.flac", "reference.seglst.json", "reference.rttm", "meta.json", "speakers/spk0.flac"]
    assert all((first / n).read_bytes() == (second / n).read_bytes() for n in names)
    assert (first / "mix.flac").read_bytes() != (other / "mix.flac").read_bytes()
    assert json.loads((first / "reference.seglst.json").read_text()) == simulate_meeting(config).reference


def test_call_center_is_8khz_stereo_one_speaker_per_channel():
    meeting = simulate_meeting(SimulationConfig(seed=2, mode="call-center", num_sentences=4, overlap_ratio=0.0))
    assert meeting.sample_rate == 8000 and meeting.audio.shape[0] == 2
    assert sorted(meeting.speaker_images) == ["agent", "customer"]
    for channel, own in enumerate(("agent", "customer")):
        segments = [e for e in meeting.reference if e["speaker"] == own]
        span = slice(int(segments[0]["start_time"] * 8000), int(segments[0]["end_time"] * 8000))
        own_level = np.mean(meeting.audio[channel, span] ** 2)
        leak_level = np.mean(meeting.audio[1 - channel, span] ** 2)
        assert 10 * np.log10(own_level / leak_level) > 15
