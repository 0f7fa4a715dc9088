"""The linking yardsticks of pipelines/eval_linking.py: archives where people never share a call, and
one-time speakers (strangers), on synthetic voiceprints whose answers are known."""

from __future__ import annotations

import runpy
from pathlib import Path

import numpy as np
import pytest

PIPELINES = Path(__file__).resolve().parent.parent / "pipelines"


@pytest.fixture
def eval_linking(monkeypatch):
    """The script's functions (its main() is not called); it imports its neighbour eval_speakers."""
    monkeypatch.syspath_prepend(str(PIPELINES))
    return type("Script", (), runpy.run_path(str(PIPELINES / "eval_linking.py")))


def _calls(spread: float, alike: float) -> list[dict]:
    """Every pair of 4 people in 6 calls each; voiceprints their person's direction plus noise of ``spread``.
    People 0 and 1 share ``alike`` of their direction (1.0: one voice)."""
    rng = np.random.default_rng(0)
    base = rng.normal(size=(4, 32))
    base[1] = alike * base[0] + np.sqrt(1 - alike**2) * base[1]
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    results = []
    for a in range(4):
        for b in range(a + 1, 4):
            for k in range(6):
                name = f"call_{a}{b}_{k}"
                tests = {}
                for label, person in (("S0", a), ("S1", b)):
                    v = base[person] + spread * rng.normal(size=32) / np.sqrt(32)
                    tests[label] = (v / np.linalg.norm(v)).astype(np.float32)
                results.append(
                    {
                        "session": name,
                        "tests": tests,
                        "owner": {f"p{a}": "S0", f"p{b}": "S1"},
                        "extra": {},
                        "speakers": 2,
                        "people": [f"p{a}", f"p{b}"],
                    }
                )
    return results


def test_every_way_of_pairing_people(eval_linking):
    assert len(list(eval_linking.pairings(list("abcdef")))) == 15
    assert list(eval_linking.pairings(list("abcd"))) == [
        [("a", "b"), ("c", "d")],
        [("a", "c"), ("b", "d")],
        [("a", "d"), ("b", "c")],
    ]
    odd = list(eval_linking.pairings(list("abcde")))
    assert len(odd) == 15 and all(len(p) == 2 for p in odd)


def test_two_alike_people_are_kept_apart_only_while_they_share_calls(eval_linking):
    calls = _calls(spread=0.3, alike=0.8)  # people 0 and 1 about 0.75 alike, each about 0.92 like themselves
    everyone = eval_linking.link_scores(calls, 0.6)
    fixed = eval_linking.fixed_partner_scores(calls, 0.6)
    assert everyone["precision"] == 1.0  # a call of 0 and 1 keeps their groups apart
    assert fixed["archives"] == 3 and fixed["calls"] == 12
    assert fixed["precision"] < 0.9  # where 0 and 1 never meet, 0.6 joins them
    assert eval_linking.fixed_partner_scores(calls, 0.85)["precision"] == 1.0


def test_a_one_time_speaker_like_someone_else_is_counted_as_linked(eval_linking):
    calls = _calls(spread=0.3, alike=0.8)
    loose = eval_linking.stranger_share(calls, 0.6)
    strict = eval_linking.stranger_share(calls, 0.85)
    assert loose["strangers"] == strict["strangers"] == 4 * 15  # each person's 15 calls, one at a time
    # 0 alone joins 1's voice, and the reverse, except in their calls together (9 of each one's 15 are not)
    assert 9 <= loose["linked"] <= 18
    assert strict["linked"] == 0
