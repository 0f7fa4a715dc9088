"""Batch runs: discovery, manifests, resume after SIGKILL, bad files, local and Ray engines."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import soundfile as sf

from meetsep.batch.run import REPORT_NAME, process_item, read_report, summarize_reports
from meetsep.core.config import PipelineConfig
from meetsep.core.errors import ConfigError
from meetsep.io.manifest import discover, parse_shard, select_shard

MEETSEP = [sys.executable, "-m", "meetsep.cli"]
FAST = ["--set", "asr.model=tiny.en", "--set", "asr.beam_size=1", "--format", "json,seglst,txt"]
SENTENCES = [
    "Please send the report before noon.",
    "The meeting moved to room four.",
    "We need two more testers.",
    "Thanks, that answers my question.",
    "Let us review the budget again.",
    "The client approved the design.",
    "I will call the supplier tomorrow.",
    "Can everyone see the slides?",
    "The deadline is next Friday.",
    "Good work on the release, everyone.",
    "We should hire a designer.",
    "The numbers look better this month.",
]


@pytest.fixture(scope="module")
def archive(tts, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("archive")
    for index, text in enumerate(SENTENCES):
        sub = folder / ("site_a" if index % 2 else "site_b")
        sub.mkdir(exist_ok=True)
        sf.write(str(sub / f"call_{index:02d}.wav"), tts(text, "awb" if index % 3 else "slt"), 16000, subtype="PCM_16")
    return folder


def outputs(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.suffix in (".json", ".txt") and ".meetsep" not in p.parts and p.name != REPORT_NAME
    }


def test_discover_folder_and_manifests(tmp_path, archive):
    items = discover(archive)
    assert len(items) == 12 and items[0].id == "site_a/call_01" and all(i.path.is_file() for i in items)
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(
        json.dumps({"path": str(items[0].path), "num_speakers": 1, "agent": "ann"})
        + "\n\n"
        + json.dumps({"path": "rel.wav", "id": "x"})
        + "\n"
    )
    loaded = discover(manifest)
    assert [i.id for i in loaded] == ["call_01", "x"]
    assert loaded[0].options == {"num_speakers": 1} and loaded[0].metadata == {"agent": "ann"}
    assert loaded[1].path == tmp_path / "rel.wav"
    csv_manifest = tmp_path / "m.csv"
    csv_manifest.write_text(f"path,layout,queue\n{items[0].path},mono,billing\n")
    (row,) = discover(csv_manifest)
    assert row.options == {"layout": "mono"} and row.metadata == {"queue": "billing"}
    bad = tmp_path / "bad.csv"
    bad.write_text("path,num_speakers\na.wav,two\n")
    with pytest.raises(ConfigError, match="bad.csv:2: num_speakers must be a positive integer"):
        discover(bad)
    duplicate = tmp_path / "dup.jsonl"
    duplicate.write_text('{"path": "a/x.wav"}\n{"path": "b/x.wav"}\n')
    with pytest.raises(ConfigError, match="same outputs 'x'"):
        discover(duplicate)


def test_a_given_diarization_in_a_manifest_is_part_of_the_item_and_its_key(tmp_path, stub_pipelines):
    """A manifest's ``diarization`` (an RTTM, relative to the manifest) reaches the pipeline; a changed RTTM
    redoes the item, an unchanged one skips it, a missing one fails that item in one line."""
    (tmp_path / "a.wav").write_bytes(b"a")
    (tmp_path / "a.rttm").write_text("SPEAKER a 1 0 1 <NA> <NA> x <NA> <NA>\n")
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(
        '{"path": "a.wav", "diarization": "a.rttm", "site": "b"}\n{"path": "a.wav", "id": "b", "diarization": "no.rttm"}\n'
    )
    first, missing = discover(manifest)
    assert first.diarization == tmp_path / "a.rttm" and first.metadata == {"site": "b"}
    run = lambda item: process_item(item, PipelineConfig(), tmp_path / "out", ["json"], False, pipelines=stub_pipelines)  # noqa: E731
    done = run(first)
    assert done.status == "ok" and run(first).status == "skipped"
    (stub,) = stub_pipelines.built.values()
    assert stub.given == [tmp_path / "a.rttm"]
    (tmp_path / "a.rttm").write_text("SPEAKER a 1 0 1 <NA> <NA> y <NA> <NA>\n")
    redone = run(first)
    assert redone.status == "ok" and redone.key != done.key
    failed = run(missing)
    assert failed.status == "failed" and failed.error == f"{tmp_path / 'no.rttm'}: diarization file not found"


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("extra.csv", "path,id\na.wav,x,surplus\n", "extra.csv:2: more fields than the header names"),
        ("layout.jsonl", '{"path": "a.wav", "layout": ["mono"]}\n', "layout.jsonl:1: layout must be one of"),
        ("count.jsonl", '{"path": "a.wav", "num_speakers": 1e400}\n', "count.jsonl:1: num_speakers must be"),
        ("nan.jsonl", '{"path": "a.wav", "x": NaN}\n', "nan.jsonl:1: invalid JSON"),
        ("path.jsonl", '{"path": ["a.wav"]}\n', "path.jsonl:1: 'path' must be a non-empty text"),
        ("who.jsonl", '{"path": "a.wav", "diarization": 3}\n', "who.jsonl:1: 'diarization' must be a non-empty text"),
        ("id.jsonl", '{"path": "a.wav", "id": {"a": 1}}\n', "id.jsonl:1: 'id' must be a text or an integer"),
        ("deep.jsonl", '{"path": "a.wav", "x": ' + "[" * 100000 + "]" * 100000 + "}\n", "deep.jsonl:1: invalid JSON"),
        ("latin1.csv", "path,who\na.wav,Jos\xe9\n", "latin1.csv: not UTF-8 text"),
    ],
)
def test_manifest_problems_are_one_line_naming_the_row(tmp_path, name, content, problem):
    manifest = tmp_path / name
    manifest.write_bytes(content.encode("latin-1") if name.startswith("latin1") else content.encode())
    with pytest.raises(ConfigError) as error:
        discover(manifest)
    assert str(error.value).startswith(f"{tmp_path}/{problem}") and "\n" not in str(error.value), str(error.value)


def test_hidden_files_and_folders_are_not_items(tmp_path):
    for relative in ("a.wav", ".b.wav", ".meetsep/state/c.wav", "d/._e.wav", "d/f.flac"):
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_bytes(b"")
    assert [item.id for item in discover(tmp_path)] == ["a", "d/f"]


def test_shards_partition_the_items(archive):
    items = discover(archive)
    shards = [select_shard(items, *parse_shard(f"{i}/3")) for i in range(3)]
    assert sorted(i.id for shard in shards for i in shard) == sorted(i.id for i in items)
    with pytest.raises(ConfigError):
        parse_shard("3/3")


@pytest.mark.integration
def test_sigkill_midway_then_resume_equals_uninterrupted(tmp_path, archive):
    reference_out, resumed_out = tmp_path / "reference", tmp_path / "resumed"
    done = subprocess.run(
        [*MEETSEP, "batch", str(archive), "--out", str(reference_out), "--jobs", "2", *FAST],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr
    assert len(outputs(reference_out)) == 12 * 3

    process = subprocess.Popen(
        [*MEETSEP, "batch", str(archive), "--out", str(resumed_out), "--jobs", "2", *FAST],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.time() + 600
    while time.time() < deadline and len([r for r in read_report(resumed_out) if r["status"] == "ok"]) < 4:
        time.sleep(0.1)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    first = read_report(resumed_out)
    finished_first = {r["id"] for r in first if r["status"] == "ok"}
    assert 4 <= len(finished_first) < 12, "the kill must land midway"

    again = subprocess.run(
        [*MEETSEP, "batch", str(archive), "--out", str(resumed_out), "--jobs", "2", *FAST],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert again.returncode == 0, again.stderr
    second = [r for r in read_report(resumed_out) if r not in first]
    done_second = {r["id"] for r in second if r["status"] == "ok"}
    skipped_second = {r["id"] for r in second if r["status"] == "skipped"}
    assert not finished_first & done_second, "a finished file was done twice"
    assert finished_first <= skipped_second
    assert done_second | skipped_second == {i.id for i in discover(archive)}, "a file was lost"
    assert outputs(resumed_out) == outputs(reference_out)


@pytest.mark.integration
def test_bad_files_are_reported_and_good_ones_finish(tmp_path, archive, tts):
    source = tmp_path / "mixed"
    source.mkdir()
    good = [item.path.stem for item in discover(archive)[:3]]
    for item in discover(archive)[:3]:
        (source / item.path.name).write_bytes(item.path.read_bytes())
    (source / "corrupt.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt garbage" * 20)
    sf.write(str(source / "empty.flac"), [], 16000)
    (source / "notes.txt").write_text("not audio, not discovered")
    (source / "clip.mp3").write_bytes(b"ID3" + b"\x00" * 200)  # an mp3 name, no mp3 data
    out = tmp_path / "out"
    result = subprocess.run(
        [*MEETSEP, "batch", str(source), "--out", str(out), "--jobs", "1", *FAST],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 1
    latest = {r["id"]: r for r in read_report(out)}
    assert {k: v["status"] for k, v in latest.items()} == {
        **{name: "ok" for name in good},
        "corrupt": "failed",
        "empty": "failed",
        "clip": "failed",
    }
    assert "corrupt.wav" in latest["corrupt"]["error"] and "empty" in latest["empty"]["error"]
    assert "6 files: 3 done" in result.stdout
    summary = summarize_reports([out])
    assert summary["ok"] == 3 and summary["failed"] == 3 and len(summary["failures"]) == 3
    report = subprocess.run([*MEETSEP, "batch-report", str(out)], capture_output=True, text=True)
    assert report.returncode == 1 and "3 failed" in report.stdout
    (tmp_path / "other").mkdir()
    other = subprocess.run(
        [*MEETSEP, "batch-report", str(out), str(tmp_path / "other")], capture_output=True, text=True
    )
    assert other.returncode == 1 and other.stdout == ""
    assert (
        other.stderr.strip()
        == f"meetsep: error: {tmp_path / 'other'}: no batch_report.jsonl (not a meetsep batch output folder)"
    )


@pytest.mark.integration
@pytest.mark.slow
def test_ray_engine_gives_the_same_outputs(tmp_path, archive):
    pytest.importorskip("ray")
    source = tmp_path / "few"
    source.mkdir()
    for item in discover(archive)[:4]:
        (source / item.path.name).write_bytes(item.path.read_bytes())
    local, ray_out = tmp_path / "local", tmp_path / "ray"
    for engine, out in (("local", local), ("ray", ray_out)):
        result = subprocess.run(
            [*MEETSEP, "batch", str(source), "--out", str(out), "--jobs", "2", "--engine", engine, *FAST],
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert result.returncode == 0, result.stderr
    assert outputs(ray_out) == outputs(local) and len(outputs(local)) == 4 * 3


def test_metrics_rows_one_per_file_from_the_json_outputs(tmp_path):
    from meetsep.analysis.analytics import with_analytics
    from meetsep.batch.run import METRIC_COLUMNS, _state_path, append_report, item_key, metric_rows, metrics_csv
    from meetsep.core.presets import load_config
    from meetsep.io.files import atomic_write_text
    from meetsep.io.formats import write_transcript
    from meetsep.schema import ChannelLayout, SpeakerSegment, Transcript, Word
    from meetsep.stages.transcript import build_turns

    def call_transcript() -> Transcript:
        words = [Word(text="hi", start=0.5, end=0.9, speaker="agent", probability=1.0, stream="channel-0")]
        words.append(Word(text="yes", start=2.0, end=2.3, speaker="customer", probability=1.0, stream="channel-1"))
        activity = [
            SpeakerSegment(speaker="agent", start=0.4, end=1.5),
            SpeakerSegment(speaker="customer", start=1.9, end=2.4),
        ]
        return Transcript(
            session_id="call", duration=3.0, layout=ChannelLayout.STEREO_SPEAKERS, language="en",
            speakers=["agent", "customer"], turns=build_turns(words), diarization=activity, overlaps=[],
            meetsep_version="0", config_hash="x",
        )  # fmt: skip

    out = tmp_path / "out"
    stored = with_analytics(call_transcript(), channel_speakers=["agent", "customer"]).model_copy(
        update={"session_id": "a"}
    )
    plain = call_transcript().model_copy(update={"session_id": "b", "layout": "mono", "speaker_count_confidence": 0.2})
    for item_id, transcript, formats in (
        ("site/a", stored, ["json", "txt"]),
        ("b", plain, ["json"]),
        ("c", plain, ["txt"]),
    ):
        written = write_transcript(transcript, out / Path(item_id).parent, formats)
        outputs = [p.relative_to(out).as_posix() for p in written]
        atomic_write_text(_state_path(out, item_id), json.dumps({"key": "k", "outputs": outputs}))
        append_report(out, {"run": "r", "id": item_id, "path": f"/in/{item_id}.wav", "status": "ok"})
    append_report(
        out, {"run": "r", "id": "d", "path": "/in/d.wav", "status": "failed", "error": "/in/d.wav: unreadable"}
    )
    rows = {row["id"]: row for row in metric_rows([out])}
    assert sorted(rows) == ["b", "c", "d", "site/a"]
    call = rows["site/a"]
    assert (call["agent"], call["customer"], call["agent_talk_seconds"], call["customer_talk_seconds"]) == (
        "agent",
        "customer",
        1.1,
        0.5,
    )
    assert call["agent_talk_to_listen"] == round(1.1 / 0.5, 3) and call["dead_air_count"] == 0 and call["speakers"] == 2
    assert rows["b"]["agent"] is None and rows["b"]["speech_seconds"] == 1.6  # computed: not a call, no roles
    assert (rows["b"]["speaker_count_confidence"], rows["b"]["count_uncertain"]) == (0.2, True)
    assert (call["speaker_count_confidence"], call["count_uncertain"]) == (None, False)  # channels: no count
    assert rows["d"]["count_uncertain"] is None
    assert rows["c"]["speech_seconds"] is None and "no transcript JSON" in rows["c"]["error"]
    assert rows["d"]["status"] == "failed" and rows["d"]["speech_seconds"] is None
    text = metrics_csv(list(rows.values()))
    assert text.splitlines()[0] == ",".join(METRIC_COLUMNS) and len(text.splitlines()) == 5
    result = subprocess.run(
        [*MEETSEP, "batch-report", str(out), "--metrics", str(tmp_path / "m.csv")], capture_output=True, text=True
    )
    assert result.returncode == 1 and "4 rows" in result.stdout  # exit 1: a file failed
    assert (tmp_path / "m.csv").read_text() == metrics_csv(metric_rows([out]))
    config = load_config([])
    assert item_key("x", config, ["json"], {}) != item_key("x", config, ["json"], {}, analytics=True)


@pytest.mark.integration
def test_call_batch_with_analytics_html_and_metrics(tmp_path):
    from meetsep.sim.simulate import SimulationConfig, simulate_meeting, write_meeting

    call = simulate_meeting(SimulationConfig(mode="call-center", seed=2, num_sentences=4, overlap_ratio=0.15))
    write_meeting(call, tmp_path / "sim")
    source = tmp_path / "calls"
    source.mkdir()
    (source / "call.flac").write_bytes((tmp_path / "sim" / "mix.flac").read_bytes())
    (source / "broken.wav").write_bytes(b"RIFF....WAVEjunk" * 10)
    out = tmp_path / "out"
    result = subprocess.run(
        [*MEETSEP, "batch", str(source), "--out", str(out), "--jobs", "1", "--config", "call_center_stereo"]
        + ["--set", "asr.model=tiny.en", "--set", "asr.beam_size=1", "--format", "json,html", "--analytics"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 1, result.stderr  # the broken file
    assert (out / "call.html").is_file() and "analytics" in json.loads((out / "call.json").read_text())["metadata"]
    metrics = tmp_path / "metrics.csv"
    subprocess.run([*MEETSEP, "batch-report", str(out), "--metrics", str(metrics)], capture_output=True, check=False)
    import csv

    rows = {row["id"]: row for row in csv.DictReader(metrics.open())}
    assert rows["broken"]["status"] == "failed" and rows["broken"]["agent"] == ""
    row = rows["call"]
    assert (row["status"], row["agent"], row["customer"]) == ("ok", "agent", "customer")
    for role in ("agent", "customer"):  # the pipeline's talk time is near the simulation's
        truth = sum(e["end_time"] - e["start_time"] for e in call.reference if e["speaker"] == role)
        assert abs(float(row[f"{role}_talk_seconds"]) - truth) < 1.5
