"""Linking speakers across recordings: one voice one id, never two speakers of one recording together."""

from __future__ import annotations

import numpy as np

from meetsep.analysis.linking import SpeakerVoice, link_voices


def _voice(rng: np.random.Generator, centre: np.ndarray, spread: float) -> np.ndarray:
    vector = centre + spread * rng.normal(size=centre.shape)
    return (vector / np.linalg.norm(vector)).astype(np.float32)


def test_the_same_people_across_many_recordings_get_one_id_each():
    rng = np.random.default_rng(0)
    people = rng.normal(size=(6, 64))
    speakers, truth = [], []
    for recording in range(60):
        present = rng.choice(6, size=3, replace=False)
        for slot, person in enumerate(present):
            speakers.append(SpeakerVoice(f"r{recording}", f"S{slot}", _voice(rng, people[person], 0.08), 10.0))
            truth.append(int(person))
    voices = link_voices(speakers, threshold=0.6)
    assert len(set(voices)) == 6
    assert all((a == b) == (truth[i] == truth[j]) for i, a in enumerate(voices) for j, b in enumerate(voices))
    assert voices[0] == 0  # ids in order of first appearance
    assert link_voices([], 0.6) == []


def test_two_speakers_of_one_recording_are_never_one_voice():
    rng = np.random.default_rng(1)
    twin = rng.normal(size=64)
    same = [
        SpeakerVoice("r0", "A", _voice(rng, twin, 0.01), 5.0),
        SpeakerVoice("r0", "B", _voice(rng, twin, 0.01), 5.0),
    ]
    assert link_voices(same, threshold=0.5) == [0, 1]
    later = SpeakerVoice("r1", "A", _voice(rng, twin, 0.01), 5.0)
    assert link_voices([*same, later], threshold=0.5)[2] in (0, 1)
