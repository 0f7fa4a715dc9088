"""The benchmark runs end to end on the small `ci` corpus and its numbers are sane."""

from __future__ import annotations

import json
import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCHMARK = ROOT / "pipelines" / "benchmark.py"


@pytest.mark.integration
@pytest.mark.slow
def test_benchmark_on_the_ci_corpus(tmp_path):
    out = tmp_path / "bench"
    result = subprocess.run(
        [
            sys.executable,
            str(BENCHMARK),
            "--corpus",
            "ci",
            "--configs",
            "a_one_channel,c_oracle",
            "--set",
            "asr.model=tiny.en",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=tmp_path,
        env=dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "configuration" in result.stdout and "a_one_channel" in result.stdout
    results = json.loads((out / "results.json").read_text())
    one_channel, oracle = results["a_one_channel"], results["c_oracle"]
    assert oracle["total"]["cpwer"] <= one_channel["total"]["cpwer"]
    assert oracle["total"]["der"] == 0.0 and one_channel["rtf"] > 0 and one_channel["peak_mb"] > 100
    # tiny.en can only decode English; the oracle's transcripts name no language of the recording
    assert one_channel["total"]["language_right"] == 1.0 and oracle["total"]["language_right"] is None
    assert set(one_channel["by_overlap"]) == {"0%", "30%"}
    assert (out / "results.csv").read_text().startswith("config,group,value,cpwer,tcpwer,orcwer,der,count_exact")


def test_score_counts_meetings_heard_in_the_wrong_language(tmp_path):
    benchmark = runpy.run_path(str(BENCHMARK))  # the script's functions, run here (its main() is not called)

    words = [
        dict(session_id="", speaker=who, start_time=start, end_time=start + 2.0, words=text)
        for who, start, text in (("a", 0.0, "good morning all"), ("b", 3.0, "shall we begin"))
    ]
    sessions, out = [], tmp_path / "out"
    out.mkdir()
    for name, heard in (("m_en", "en"), ("m_cy", "cy"), ("m_none", None)):
        session = tmp_path / name
        session.mkdir()
        entries = [dict(w, session_id=name) for w in words]
        (session / "reference.seglst.json").write_text(json.dumps(entries))
        (session / "meta.json").write_text(json.dumps(dict(plan=dict(overlap_ratio=0.0, family="flite"))))
        (out / f"{name}.seglst.json").write_text(json.dumps(entries))
        turns = [dict(speaker=e["speaker"], start_time=e["start_time"], end_time=e["end_time"]) for e in entries]
        (out / f"{name}.diarization.json").write_text(json.dumps(turns))
        if heard is not None:  # a configuration whose transcripts name their language
            (out / f"{name}.language.json").write_text(json.dumps(dict(code=heard, probability=0.9)))
        sessions.append(session)
    result = benchmark["score"](sessions, out)
    assert result["total"]["cpwer"] == 0.0 and result["total"]["meetings"] == 3
    assert result["total"]["language_right"] == 0.5  # m_none is not counted either way
    assert [s["language"] for s in result["sessions"]] == ["en", "cy", None]
    row = benchmark["_row"]("b_meetsep", result["total"])
    assert row.split()[-2:] == ["0.50", "3"]
