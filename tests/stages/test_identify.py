"""Matching diarized speakers to enrolled people: open set, one person per speaker."""

from __future__ import annotations

import numpy as np

from meetsep.core.records import Voiceprint
from meetsep.stages.identify import VoicePrinter, match_speakers


def _unit(*values: float) -> np.ndarray:
    vector = np.asarray(values, dtype=np.float32)
    return vector / np.linalg.norm(vector)


def test_each_speaker_gets_the_best_person_once_and_a_stranger_none():
    enrolled = np.stack([_unit(1, 0, 0, 0), _unit(0, 1, 0, 0)])
    voices = {
        "SPEAKER_00": Voiceprint(_unit(0.9, 0.3, 0, 0), 20.0),  # Alice
        "SPEAKER_01": Voiceprint(_unit(0.2, 0.95, 0.1, 0), 20.0),  # Bob
        "SPEAKER_02": Voiceprint(_unit(0.1, 0.1, 0, 1), 20.0),  # nobody enrolled
    }
    found = match_speakers(voices, ["Alice", "Bob"], enrolled, threshold=0.6)
    assert found.names == {"SPEAKER_00": "Alice", "SPEAKER_01": "Bob"}
    assert set(found.scores) == set(voices) and found.scores["SPEAKER_02"] < 0.6
    # two speakers like Alice: only the closer one is Alice (one person per speaker)
    twins = {"A": Voiceprint(_unit(1, 0.1, 0, 0), 5.0), "B": Voiceprint(_unit(1, 0.3, 0, 0), 5.0)}
    assert match_speakers(twins, ["Alice", "Bob"], enrolled, threshold=0.6).names == {"A": "Alice"}
    assert match_speakers(voices, [], np.zeros((0, 4), np.float32), 0.6).names == {}


class _LengthEmbedder:
    """A fake voice model: the embedding says how long its input was; NaN when under 0.4 s."""

    sample_rate = 16000
    dimension = 2
    workers = 1

    def __call__(self, audio: np.ndarray) -> np.ndarray:
        return self.embed_many([audio])[0]

    def embed_many(self, audios: list[np.ndarray]) -> list[np.ndarray]:
        return [_unit(1, len(a) / 16000) if len(a) >= 6400 else np.full(2, np.nan, np.float32) for a in audios]


def test_voiceprints_cut_speech_into_pieces_and_bound_the_work():
    printer = VoicePrinter(_LengthEmbedder(), "fake", max_seconds=20.0)
    assert printer.pieces([(0.0, 13.0), (20.0, 20.5), (30.0, 31.5)]) == [
        (0.0, 13 / 3),
        (13 / 3, 26 / 3),
        (26 / 3, 13.0),
        (30.0, 31.5),
    ]  # 13 s in three equal pieces, the 0.5 s stretch left out while longer ones exist
    assert printer.pieces([(0.0, 0.6)]) == [(0.0, 0.6)]  # nothing longer: kept
    many = printer.pieces([(10.0 * k, 10.0 * k + 5.0) for k in range(12)])  # 60 s of speech
    assert sum(b - a for a, b in many) <= 20.0 and many[0][0] == 0.0 and many[-1][0] > 50.0  # spread over the time
    audio = np.zeros(16000 * 40, np.float32)
    voice = printer(audio, [(0.0, 3.0), (10.0, 11.0)])
    assert voice is not None and voice.seconds == 4.0 and np.isclose(np.linalg.norm(voice.vector), 1.0)
    assert printer(audio, [(0.0, 0.3)]) is None  # too short to embed
