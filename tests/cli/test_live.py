"""``meetsep live``: raw audio on standard input, words printed as they settle, outputs at the end."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from tests.cli.test_commands import MEETSEP, one_line, run

pytestmark = pytest.mark.integration


def test_live_from_standard_input(tmp_path, two_speaker_mix):
    pcm = (np.clip(two_speaker_mix.audio, -1, 1) * 32767).astype("<i2").tobytes()
    result = subprocess.run(
        [*MEETSEP, "live", "-", "--rate", "16000", "--out", str(tmp_path), "--format", "json,txt"]
        + ["--final", "online", "--set", "asr.model=tiny.en"],
        input=pcm,
        capture_output=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr.decode()
    lines = result.stdout.decode().splitlines()
    assert any("SPEAKER_00:" in line for line in lines[:-1]) and lines[-1].startswith("live: ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["live.json", "live.txt"]


def test_live_refuses_a_bad_file_in_one_line(tmp_path):
    (tmp_path / "bad.wav").write_bytes(b"RIFF....WAVEfmt garbage")
    result = run("live", str(tmp_path / "bad.wav"), "--out", str(tmp_path / "out"))
    assert result.returncode == 1 and "bad.wav" in one_line(result.stderr)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
