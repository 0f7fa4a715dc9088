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


def _archive(seed: int) -> tuple[list[SpeakerVoice], list[int]]:
    """60 recordings of 3 of 6 people each, every voiceprint its person's direction plus noise."""
    rng = np.random.default_rng(seed)
    people = rng.normal(size=(6, 64))
    speakers, truth = [], []
    for recording in range(60):
        for slot, person in enumerate(rng.choice(6, size=3, replace=False)):
            speakers.append(SpeakerVoice(f"r{recording}", f"S{slot}", _voice(rng, people[person], 0.12), 10.0))
            truth.append(int(person))
    return speakers, truth


def _partition(voices: list[int]) -> set[frozenset[int]]:
    return {frozenset(i for i, v in enumerate(voices) if v == voice) for voice in set(voices)}


def test_the_voices_do_not_depend_on_the_order_of_the_recordings():
    speakers, _ = _archive(2)
    voices = link_voices(speakers, threshold=0.55)
    order = np.random.default_rng(3).permutation(60)
    shuffled = [i for r in order for i in range(3 * r, 3 * r + 3)]  # whole recordings moved, speakers kept together
    again = link_voices([speakers[i] for i in shuffled], threshold=0.55)
    assert _partition(voices) == {frozenset(shuffled[i] for i in group) for group in _partition(again)}


def test_a_large_archive_is_linked_block_by_block_with_the_same_voices(monkeypatch):
    import meetsep.analysis.linking as linking

    speakers, truth = _archive(4)
    whole = link_voices(speakers, threshold=0.55)
    assert len(set(whole)) == 6
    monkeypatch.setattr(linking, "BLOCK", 16)  # 180 speakers: 12 blocks, then the groups found, largest first
    blocks = link_voices(speakers, threshold=0.55)
    assert _partition(blocks) == _partition(whole) == _partition(truth)


def test_a_group_never_takes_in_a_speaker_of_a_recording_it_already_holds():
    rng = np.random.default_rng(5)
    centre = rng.normal(size=64)
    # r0's two speakers are one voice heard twice; r1 and r2 each hold it once: whichever r0 speaker
    # they join, the other r0 speaker stays apart
    speakers = [
        SpeakerVoice(r, s, _voice(rng, centre, 0.02), 1.0)
        for r, s in [("r0", "A"), ("r0", "B"), ("r1", "A"), ("r2", "A")]
    ]
    voices = link_voices(speakers, threshold=0.5)
    assert voices[0] != voices[1] and voices[2] == voices[3] and voices[2] in (voices[0], voices[1])
