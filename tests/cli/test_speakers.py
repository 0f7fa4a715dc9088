"""``meetsep enroll``, ``meetsep speakers`` and ``meetsep link``: one-line errors, nothing written outside --db."""

from __future__ import annotations

import numpy as np
import soundfile as sf

from meetsep.core.records import Voiceprint
from meetsep.io.speaker_db import SpeakerDB
from tests.cli.test_commands import one_line, run


def _db(folder) -> None:  # noqa: ANN001
    vector = np.ones(192, np.float32) / np.sqrt(192)
    SpeakerDB(folder, embedder="campplus-0123456789abcdef@8000Hz").add("Alice", Voiceprint(vector, 30.0), "a.wav")


def test_list_rename_remove(tmp_path):
    _db(tmp_path / "db")
    listed = run("speakers", "list", "--db", str(tmp_path / "db"))
    assert listed.returncode == 0 and listed.stdout.startswith("Alice\t30.0 s\t1 enrollment(s)\ta.wav")
    assert run("speakers", "rename", "Alice", "Alice Smith", "--db", str(tmp_path / "db")).returncode == 0
    missing = run("speakers", "remove", "Alice", "--db", str(tmp_path / "db"))
    assert missing.returncode == 1 and "no speaker named 'Alice'" in one_line(missing.stderr)
    assert run("speakers", "remove", "Alice Smith", "--db", str(tmp_path / "db")).returncode == 0
    assert run("speakers", "list", "--db", str(tmp_path / "db")).stdout == ""


def test_bad_databases_and_inputs_are_one_line_errors(tmp_path):
    for command in (["list"], ["remove", "Alice"], ["rename", "Alice", "Bob"]):
        not_db = run("speakers", *command, "--db", str(tmp_path / "nothing"))
        assert not_db.returncode == 1 and "nothing: not a speaker database" in one_line(not_db.stderr), command
    assert not (tmp_path / "nothing").exists()
    _db(tmp_path / "db")  # made with another model than the shipped CAM++
    sf.write(tmp_path / "a.wav", np.zeros(16000, np.float32), 16000)
    other = run(
        "transcribe", str(tmp_path / "a.wav"), "--out", str(tmp_path / "out"), "--speakers", str(tmp_path / "db")
    )
    assert other.returncode == 1 and "another speaker-embedding model" in one_line(other.stderr)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    bad_name = run("enroll", "SPEAKER_00", str(tmp_path / "a.wav"), "--db", str(tmp_path / "new"))
    assert bad_name.returncode == 1 and "invalid speaker name" in one_line(bad_name.stderr)
    silent = run("enroll", "Bob", str(tmp_path / "a.wav"), "--db", str(tmp_path / "new"))
    assert silent.returncode == 1 and "speech" in one_line(silent.stderr) and not (tmp_path / "new").exists()
    nothing = run("link", str(tmp_path))
    assert nothing.returncode == 1 and "no transcript with voiceprints" in one_line(nothing.stderr)


def _transcript(folder, name: str, voiceprints: dict) -> None:  # noqa: ANN001
    import json

    folder.mkdir(parents=True, exist_ok=True)
    fields = dict(session_id=name, layout="mono", language="en", speakers=sorted(voiceprints), turns=[])
    fields |= dict(diarization=[], overlaps=[], meetsep_version="0", config_hash="0", voiceprint_model="m")
    (folder / f"{name}.json").write_text(json.dumps(fields | dict(duration=1.0, speaker_voiceprints=voiceprints)))


def test_damaged_voiceprints_are_one_line_errors_and_nothing_is_written(tmp_path):
    good = {"A": [1.0, 0.0, 0.0], "B": [0.0, 1.0, 0.0]}
    cases = {
        "shorter": ({"A": [0.6, 0.8]}, "different lengths (2, 3 numbers; bad.json has 2)"),
        "not a number": ({"A": [float("nan"), 1.0, 0.0]}, "bad.json: the voiceprint of A is not a unit-length"),
        "zero": ({"A": [0.0, 0.0, 0.0]}, "bad.json: the voiceprint of A is not a unit-length"),
        "empty": ({"A": []}, "bad.json: the voiceprint of A is not a unit-length"),
    }
    for case, (voiceprints, message) in cases.items():
        folder = tmp_path / case.replace(" ", "_")
        _transcript(folder, "good", good)
        _transcript(folder, "bad", voiceprints)
        before = {p.name: p.read_bytes() for p in folder.iterdir()}
        result = run("link", str(folder))
        assert result.returncode == 1 and message in one_line(result.stderr), (case, result.stderr)
        assert {p.name: p.read_bytes() for p in folder.iterdir()} == before, case  # no speakers.csv, JSONs untouched
    _transcript(tmp_path / "fine", "good", good)
    _transcript(tmp_path / "fine", "other", {"A": [0.6, 0.8, 0.0]})
    assert run("link", str(tmp_path / "fine")).returncode == 0 and (tmp_path / "fine" / "speakers.csv").is_file()
