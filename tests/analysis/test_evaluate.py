"""Known perturbations of a reference give exactly the expected errors."""

from __future__ import annotations

import copy

import pytest

from meetsep.analysis.evaluate import annotation, der_components, normalize_text, score_session

REFERENCE = [
    dict(session_id="s", speaker="A", start_time=0.0, end_time=3.0, words="good morning everyone"),
    dict(session_id="s", speaker="B", start_time=2.5, end_time=6.0, words="hello there, how are you"),
    dict(session_id="s", speaker="A", start_time=20.0, end_time=22.0, words="fine thanks"),
]
WORDS = 3 + 5 + 2


def test_reference_scores_zero_against_itself_even_relabelled():
    relabelled = [dict(e, speaker={"A": "spk1", "B": "spk0"}[e["speaker"]]) for e in REFERENCE]
    scores = score_session(REFERENCE, relabelled)
    assert (scores.cpwer, scores.tcpwer, scores.der, scores.jer) == (0.0, 0.0, 0.0, 0.0)
    assert scores.reference_words == WORDS and scores.speaker_count_error == 0


def test_der_components_split_the_der_score_session_gives():
    """Missed, false alarm and confusion in seconds, on the annotations score_session scores (no collar)."""
    turns = [dict(speaker="A", start_time=0.0, end_time=4.0), dict(speaker="B", start_time=4.0, end_time=8.0)]
    assert len(annotation([*turns, dict(speaker="C", start_time=9.0, end_time=9.0)], "s")) == 2  # no empty turn
    hypothesis = [dict(speaker="x", start_time=0.0, end_time=6.0), dict(speaker="y", start_time=9.0, end_time=10.0)]
    parts = der_components(turns, hypothesis)
    assert (parts["missed detection"], parts["false alarm"], parts["confusion"], parts["total"]) == (2.0, 1.0, 2.0, 8.0)
    der = score_session([dict(t, words="") for t in turns], [dict(h, words="") for h in hypothesis], session_id="s").der
    assert der == pytest.approx(5.0 / 8.0)


def test_dropped_word_is_one_deletion():
    hypothesis = copy.deepcopy(REFERENCE)
    hypothesis[1]["words"] = "hello there how you"
    scores = score_session(REFERENCE, hypothesis)
    assert scores.cp_errors == 1 and scores.cpwer == pytest.approx(1 / WORDS)
    assert scores.tcp_errors == 1 and scores.der == 0.0


def test_swapped_speaker_costs_its_words_twice():
    hypothesis = copy.deepcopy(REFERENCE)
    hypothesis[2]["speaker"] = "B"  # "fine thanks" given to the wrong speaker
    scores = score_session(REFERENCE, hypothesis)
    assert scores.cp_errors == 4  # 2 deletions for A + 2 insertions for B
    assert scores.der == pytest.approx(2.0 / 8.5)  # 2 s of speaker confusion over 8.5 s of speech


def test_shifted_segment_beyond_collar_breaks_tcpwer_only():
    hypothesis = copy.deepcopy(REFERENCE)
    hypothesis[2]["start_time"] += 10.0
    hypothesis[2]["end_time"] += 10.0
    scores = score_session(REFERENCE, hypothesis)
    assert scores.cp_errors == 0
    assert scores.tcp_errors == 4  # 2 deletions + 2 insertions: outside the 5 s collar
    assert scores.der == pytest.approx((2.0 + 2.0) / 8.5)  # 2 s missed + 2 s false alarm over 8.5 s of speech


def test_normalization_applies_to_both_sides():
    assert normalize_text("Hello, Mr. Smith!  Twenty items.") == "hello mister smith 20 items"
    hypothesis = copy.deepcopy(REFERENCE)
    hypothesis[0]["words"] = "Good morning, everyone!"
    assert score_session(REFERENCE, hypothesis).cpwer == 0.0


def test_folders_score_per_session_with_a_summed_total(tmp_path):
    import json

    from meetsep.analysis.evaluate import score_paths, total

    refs, hyps = tmp_path / "refs", tmp_path / "hyps"
    for folder in (refs, hyps):
        folder.mkdir()
    long_ref = [
        dict(
            session_id="long",
            speaker="A",
            start_time=0.0,
            end_time=9.0,
            words="alpha bravo charlie delta echo foxtrot golf hotel india",
        )
    ]
    short_ref = [dict(session_id="short", speaker="A", start_time=0.0, end_time=1.0, words="hello")]
    (refs / "long.seglst.json").write_text(json.dumps(long_ref))
    (refs / "short.seglst.json").write_text(json.dumps(short_ref))
    (hyps / "long.seglst.json").write_text(json.dumps(long_ref))  # perfect
    (hyps / "short.seglst.json").write_text(json.dumps([dict(short_ref[0], words="yellow")]))  # 1 of 1 wrong
    rows = score_paths(refs, hyps)
    assert [(r.session_id, r.cpwer) for r in rows] == [("long", 0.0), ("short", 1.0)]
    overall = total(rows)
    assert overall.cpwer == pytest.approx(1 / 10)  # not the mean of rates (0.5)
    assert overall.der == 0.0


def write(path, entries):
    import json

    path.write_text(json.dumps(entries))
    return path


def test_a_lone_reference_and_hypothesis_session_are_paired_across_names(tmp_path):
    """``meetsep simulate`` names its session "meeting", ``meetsep transcribe`` names the transcript "mix":
    a reference file and a folder holding one transcript are scored together."""
    from meetsep.analysis.evaluate import score_paths

    reference = write(tmp_path / "reference.seglst.json", [dict(e, session_id="meeting") for e in REFERENCE])
    out = tmp_path / "out"
    out.mkdir()
    write(out / "mix.seglst.json", [dict(e, session_id="mix") for e in REFERENCE])
    (row,) = score_paths(reference, out)
    assert row.session_id == "meeting" and row.cpwer == 0.0 and row.reference_words == WORDS


def test_unmatched_sessions_say_which_file_to_pass(tmp_path):
    from meetsep.analysis.evaluate import score_paths
    from meetsep.core.errors import MeetsepError

    reference = write(tmp_path / "reference.seglst.json", [dict(e, session_id="meeting") for e in REFERENCE])
    out = tmp_path / "out"
    out.mkdir()
    for name in ("a", "b"):
        write(out / f"{name}.seglst.json", [dict(e, session_id=name) for e in REFERENCE])
    with pytest.raises(MeetsepError, match="no hypothesis session matches.*meetsep evaluate REFERENCE_FILE") as error:
        score_paths(reference, out)
    assert "\n" not in str(error.value)


def test_a_missing_hypothesis_scores_as_empty(tmp_path):
    from meetsep.analysis.evaluate import score_paths

    refs, hyps = tmp_path / "refs", tmp_path / "hyps"
    refs.mkdir()
    hyps.mkdir()
    write(refs / "s.seglst.json", REFERENCE)
    write(refs / "t.seglst.json", [dict(e, session_id="t") for e in REFERENCE])
    write(hyps / "s.seglst.json", REFERENCE)
    rows = score_paths(refs, hyps)
    assert [(r.session_id, r.cpwer, r.cp_errors) for r in rows] == [("s", 0.0, 0), ("t", 1.0, WORDS)]
    assert rows[1].der == 1.0 and rows[1].hypothesis_speakers == 0


def test_a_file_that_is_no_transcript_is_one_line(tmp_path):
    from meetsep.analysis.evaluate import score_paths
    from meetsep.core.errors import MeetsepError

    reference = write(tmp_path / "reference.seglst.json", REFERENCE)
    bad = tmp_path / "bad.json"
    bad.write_text('{"turns": [{"speaker": 1}]}')
    with pytest.raises(MeetsepError, match="bad.json: not a SegLST, RTTM or meetsep transcript"):
        score_paths(reference, bad)


def test_an_rttm_is_scored_against_another(tmp_path):
    from meetsep.analysis.evaluate import score_paths

    reference = tmp_path / "reference.rttm"
    reference.write_text(
        "SPEAKER x 1 0.00 2.00 <NA> <NA> A <NA> <NA>\n"
        "SPEAKER x 1 2.00 0.00 <NA> <NA> C <NA> <NA>\n"  # no length: no one's speech
        "SPEAKER x 1 2.00 2.00 <NA> <NA> B <NA> <NA>\n"
    )
    hypothesis = tmp_path / "hypothesis.rttm"
    hypothesis.write_text("SPEAKER x 1 0.0 2.0 <NA> <NA> s1 <NA> <NA>\nSPEAKER x 1 2.0 1.0 <NA> <NA> s2 <NA> <NA>\n")
    (row,) = score_paths(reference, hypothesis)  # RTTM times are decimals in meeteval: once a traceback
    assert row.der == pytest.approx(0.25) and row.reference_speakers == 2 and row.hypothesis_speakers == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("SPEAKER x 1 zero 1.0 <NA> <NA> A <NA> <NA>\n", "a time that is not a number"),
        ("SPEAKER x 1 1.0 -1.0 <NA> <NA> A <NA> <NA>\n", "segment 1 runs from 1.0 to 0.0 s"),
    ],
)
def test_an_rttm_with_bad_times_is_one_line(tmp_path, text, message):
    from meetsep.analysis.evaluate import score_paths
    from meetsep.core.errors import MeetsepError

    reference = write(tmp_path / "reference.seglst.json", REFERENCE)
    bad = tmp_path / "bad.rttm"
    bad.write_text(text)
    with pytest.raises(MeetsepError, match=f"bad.rttm: .*{message}"):
        score_paths(reference, bad)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (dict(start_time="soon"), "segment 1: start_time and end_time must be numbers"),
        (dict(end_time=float("nan")), "segment 1 runs from"),
        (dict(start_time=-1.0), "segment 1 runs from -1.0"),
    ],
)
def test_a_seglst_with_bad_times_is_one_line(tmp_path, change, message):
    from meetsep.analysis.evaluate import score_paths
    from meetsep.core.errors import MeetsepError

    reference = write(tmp_path / "reference.seglst.json", REFERENCE)
    bad = write(tmp_path / "bad.seglst.json", [dict(REFERENCE[0], **change), *REFERENCE[1:]])
    with pytest.raises(MeetsepError, match=f"bad.seglst.json: {message}"):
        score_paths(reference, bad)


def test_pairwise_scores_count_the_pairs_a_grouping_gets_right():
    from meetsep.analysis.evaluate import pairwise_scores

    # truth: a a a b b; found: {0,1} {2,3,4} -> pairs found 1 + 3 = 4, right: (0,1) and (3,4) = 2; true pairs 3 + 1 = 4
    scores = pairwise_scores([7, 7, 9, 9, 9], ["a", "a", "a", "b", "b"])
    assert scores == {"precision": 0.5, "recall": 0.5, "f1": 0.5}
    assert pairwise_scores([0, 1, 2], ["a", "a", "b"]) == {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    assert pairwise_scores([0, 0], ["x", "x"])["f1"] == 1.0
