"""The benchmark runs end to end on the small `ci` corpus and its numbers are sane."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.integration
@pytest.mark.slow
def test_benchmark_on_the_ci_corpus(tmp_path):
    out = tmp_path / "bench"
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "pipelines" / "benchmark.py"),
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
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "configuration" in result.stdout and "a_one_channel" in result.stdout
    results = json.loads((out / "results.json").read_text())
    one_channel, oracle = results["a_one_channel"], results["c_oracle"]
    assert oracle["total"]["cpwer"] <= one_channel["total"]["cpwer"]
    assert oracle["total"]["der"] == 0.0 and one_channel["rtf"] > 0 and one_channel["peak_mb"] > 100
    assert set(one_channel["by_overlap"]) == {"0%", "30%"}
    assert (out / "results.csv").read_text().startswith("config,group,value,cpwer,tcpwer,orcwer,der,count_exact")
