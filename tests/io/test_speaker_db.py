"""The speaker database: plain data in one folder, refused in one line when it cannot be trusted."""

from __future__ import annotations

import json

import numpy as np
import pytest

from meetsep.core.records import Voiceprint
from meetsep.io.speaker_db import SpeakerDB, SpeakerDBError

MODEL = "campplus-0123456789abcdef@8000Hz"


def _voice(seed: int, seconds: float = 30.0) -> Voiceprint:
    vector = np.random.default_rng(seed).normal(size=192).astype(np.float32)
    return Voiceprint(vector / np.linalg.norm(vector), seconds)


def test_enroll_list_rename_remove_round_trip(tmp_path):
    folder = tmp_path / "db"
    db = SpeakerDB(folder, embedder=MODEL)
    db.add("Alice Smith", _voice(1), "alice.wav")
    db.add("Alice Smith", _voice(2, 10.0), "alice2.wav")
    db.add("Bob", _voice(3))
    again = SpeakerDB(folder, embedder=MODEL)
    assert again.names == ["Alice Smith", "Bob"]
    alice = again.speakers["Alice Smith"]
    assert alice.seconds == (30.0, 10.0) and alice.sources == ("alice.wav", "alice2.wav")
    expected = 30 * _voice(1).vector + 10 * _voice(2).vector
    np.testing.assert_allclose(alice.voiceprint, expected / np.linalg.norm(expected), atol=1e-6)
    again.rename("Bob", "Robert")
    again.remove("Alice Smith")
    final = SpeakerDB(folder)
    assert final.names == ["Robert"] and final.embedder == MODEL
    assert sorted(p.suffix for p in folder.iterdir()) == [".json", ".npy"]  # old files are gone, no temporaries
    np.testing.assert_allclose(final.speakers["Robert"].voiceprint, _voice(3).vector, atol=1e-6)


def test_a_database_of_another_model_is_refused(tmp_path):
    SpeakerDB(tmp_path, embedder=MODEL).add("Alice", _voice(1))
    with pytest.raises(SpeakerDBError, match="another speaker-embedding model"):
        SpeakerDB(tmp_path, embedder="campplus-ffffffffffffffff@8000Hz")


@pytest.mark.parametrize(
    "damage, problem",
    [
        (lambda f, npy: npy.unlink(), "missing"),
        (lambda f, npy: np.save(npy, np.zeros((1, 192), np.float32)), "corrupted"),
        (lambda f, npy: np.save(npy, np.full((1, 192), np.nan, np.float32)), "corrupted"),
        (lambda f, npy: np.save(npy, np.ones((2, 192), np.float32) / np.sqrt(192)), "corrupted"),  # 2 rows, 1 entry
        (lambda f, npy: np.save(npy, np.array([{"a": 1}], dtype=object), allow_pickle=True), "unreadable"),
        (lambda f, npy: npy.write_bytes(b"garbage"), "unreadable"),
        (lambda f, npy: (f / "speakers.json").write_text("{not json"), "unreadable"),
        (lambda f, npy: (f / "speakers.json").write_text('{"format": 7}'), "unknown database format"),
        (lambda f, npy: _rewrite(f, lambda d: d["speakers"]["Alice"].update(file="../x.npy")), "outside"),
        (lambda f, npy: _rewrite(f, lambda d: d["speakers"]["Alice"].pop("seconds")), "malformed"),
    ],
)
def test_a_damaged_database_is_one_line_error(tmp_path, damage, problem):
    SpeakerDB(tmp_path, embedder=MODEL).add("Alice", _voice(1))
    damage(tmp_path, next(tmp_path.glob("*.npy")))
    with pytest.raises(SpeakerDBError, match=problem) as error:
        SpeakerDB(tmp_path, embedder=MODEL)
    assert "\n" not in str(error.value)


def _rewrite(folder, change) -> None:  # noqa: ANN001
    data = json.loads((folder / "speakers.json").read_text())
    change(data)
    (folder / "speakers.json").write_text(json.dumps(data))


def test_names_and_folders_are_checked(tmp_path):
    db = SpeakerDB(tmp_path / "db", embedder=MODEL)
    for bad in ("", " Alice", "SPEAKER_01", "a/b", "x" * 65, "../etc"):
        with pytest.raises(SpeakerDBError, match="invalid speaker name"):
            db.add(bad, _voice(1))
    assert not (tmp_path / "db").exists()  # nothing written for a refused name
    db.add("Zoë O'Neil-Ng", _voice(1))
    with pytest.raises(SpeakerDBError, match="enrolled already"):
        db.rename("Zoë O'Neil-Ng", "Zoë O'Neil-Ng")
    with pytest.raises(SpeakerDBError, match="no speaker named"):
        db.remove("Nobody")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("x")
    with pytest.raises(SpeakerDBError, match="not a speaker database"):
        SpeakerDB(tmp_path / "other", embedder=MODEL)
