"""Outputs that try to escape: ids and names are confined to --out, outputs are all or nothing,
an unwritable --out is found before models load, and one batch run at a time writes into a folder."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from meetsep.batch.run import LOCK_NAME, process_item, read_report
from meetsep.core.config import PipelineConfig
from meetsep.core.errors import ConfigError, OutputError
from meetsep.io.files import confined, folder_lock, normalized_name
from meetsep.io.formats import FORMATS, WRITERS, write_transcript
from meetsep.io.manifest import BatchItem, discover
from meetsep.schema import ChannelLayout, SpeakerSegment, Transcript


def transcript(session_id: str = "call", speaker: str = "agent") -> Transcript:
    return Transcript(
        session_id=session_id,
        duration=2.0,
        layout=ChannelLayout.MONO,
        language="en",
        speakers=[speaker],
        turns=[],
        diarization=[SpeakerSegment(speaker=speaker, start=0.0, end=1.0)],
        overlaps=[],
        meetsep_version="0",
        config_hash="x",
    )


def everything(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


ESCAPES = ["../victim", "sub/../../victim", "a/../../victim", "/tmp/victim", "..", ".meetsep/state/x", "a\\..\\b"]


@pytest.mark.parametrize("bad_id", ESCAPES + ["", "x\ny", "./.hidden"])
def test_manifest_ids_that_escape_or_hide_are_refused_in_one_line(tmp_path, bad_id):
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(json.dumps({"path": "a.wav", "id": bad_id}) + "\n")
    if bad_id == "":  # an empty id falls back to the file stem, which is fine
        assert [item.id for item in discover(manifest)] == ["a"]
        return
    with pytest.raises(ConfigError) as refused:
        discover(manifest)
    assert str(refused.value).startswith(f"{manifest}:1: id ") and "\n" not in str(refused.value)


def test_ids_are_compared_after_normalization(tmp_path):
    manifest = tmp_path / "m.jsonl"
    manifest.write_text('{"path": "a.wav", "id": "x"}\n{"path": "b.wav", "id": "./x"}\n')
    with pytest.raises(ConfigError, match="same outputs 'x'"):
        discover(manifest)
    manifest.write_text('{"path": "a.wav", "id": "d//x/."}\n')
    assert [item.id for item in discover(manifest)] == ["d/x"]


def test_a_path_stem_that_climbs_is_refused(tmp_path):
    manifest = tmp_path / "m.csv"
    manifest.write_text("path\n/data/...wav\n")  # stem ".."
    with pytest.raises(ConfigError, match="climbs out"):
        discover(manifest)


@pytest.mark.parametrize("bad_id", ESCAPES)
def test_process_item_refuses_an_escaping_id_before_any_write(tmp_path, bad_id, stub_pipelines):
    """An item made in Python (not through a manifest) is checked too: nothing inside or outside --out."""
    out = tmp_path / "work" / "out"
    out.mkdir(parents=True)
    audio = tmp_path / "work" / "a.wav"
    audio.write_bytes(b"audio")
    result = process_item(
        BatchItem(bad_id, audio), PipelineConfig(), out, ["json", "txt"], overwrite=False, pipelines=stub_pipelines
    )
    assert result.status == "failed" and "refused" in result.error and "\n" not in result.error
    assert everything(tmp_path) == ["work", "work/a.wav", "work/out"]


def test_a_safe_id_is_written_where_it_says(tmp_path, stub_pipelines):
    """The same stub with a good id: outputs and state land inside --out (the refusals above are not vacuous)."""
    out = tmp_path / "out"
    audio = tmp_path / "a.wav"
    audio.write_bytes(b"audio")
    result = process_item(
        BatchItem("site/call", audio), PipelineConfig(), out, ["json", "txt"], overwrite=False, pipelines=stub_pipelines
    )
    assert result.status == "ok", result.error
    assert everything(out) == [".meetsep", ".meetsep/state", ".meetsep/state/site", ".meetsep/state/site/call.json"] + [
        "site",
        "site/call.json",
        "site/call.txt",
    ]


def test_a_symbolic_link_out_of_the_output_folder_is_not_followed(tmp_path, stub_pipelines):
    out, outside = tmp_path / "out", tmp_path / "outside"
    out.mkdir()
    outside.mkdir()
    (out / "sub").symlink_to(outside)
    with pytest.raises(OutputError, match="resolves outside the output folder"):
        confined(out, "sub/x.json")
    audio = tmp_path / "a.wav"
    audio.write_bytes(b"audio")
    result = process_item(BatchItem("sub/x", audio), PipelineConfig(), out, ["json"], False, pipelines=stub_pipelines)
    assert result.status == "failed" and "outside the output folder" in result.error
    assert not any(outside.iterdir())


@pytest.mark.parametrize("session_id", ["../victim", "a/b", "x\0y", "x\ny"])
def test_write_transcript_refuses_unsafe_names_and_writes_nothing(tmp_path, session_id):
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(OutputError):
        write_transcript(transcript(session_id), out, list(FORMATS))
    assert everything(tmp_path) == ["out"]


def test_a_failing_format_leaves_none_of_the_formats(tmp_path, monkeypatch):
    def broken(_: Transcript) -> str:
        raise RuntimeError("writer failed")

    monkeypatch.setitem(WRITERS, "txt", broken)
    with pytest.raises(RuntimeError):
        write_transcript(transcript(), tmp_path, ["json", "seglst", "rttm", "txt"])
    assert everything(tmp_path) == []


def test_a_failing_write_leaves_none_of_the_formats(tmp_path, monkeypatch):
    import os

    real_fsync, calls = os.fsync, []

    def full_disk(descriptor: int) -> None:
        calls.append(descriptor)
        if len(calls) == 3:  # the third file: the first two are already written to their temporaries
            raise OSError(28, "No space left on device")
        real_fsync(descriptor)

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OutputError, match="No space left on device"):
        write_transcript(transcript(), tmp_path, ["json", "seglst", "rttm", "srt"])
    assert everything(tmp_path) == []


def test_rttm_fields_stay_fields_when_names_have_spaces(tmp_path):
    (path,) = write_transcript(transcript("my call 2", "the agent"), tmp_path, ["rttm"])
    (line,) = path.read_text().splitlines()
    assert line.split() == ["SPEAKER", "my_call_2", "1", "0.000", "1.000", "<NA>", "<NA>", "the_agent", "<NA>", "<NA>"]
    assert path.name == "my call 2.rttm"  # the file keeps its name; only the field inside changes


def run_main(argv: list[str]) -> int:
    from meetsep.cli.commands import main

    with pytest.raises(SystemExit) as exited:
        main(argv)
    return int(exited.value.code)


@pytest.mark.parametrize("command", ["transcribe", "separate", "batch"])
def test_an_unwritable_out_is_refused_before_any_model_loads(tmp_path, monkeypatch, capsys, cli_state, command):
    def no_models(*args, **kwargs):
        raise AssertionError("a model was loaded before --out was checked")

    for name in (
        "meetsep.pipeline.Pipeline.__init__",
        "meetsep.loading.models.load_separation",
        "meetsep.batch.engines.run_local",
    ):
        monkeypatch.setattr(name, no_models)
    audio = tmp_path / "x.wav"
    audio.write_bytes(b"")  # never read: --out is checked first
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    source = str(tmp_path) if command == "batch" else str(audio)
    code = run_main([command, source, "--out", str(blocker / "out")])
    errors = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert code == 1 and len(errors) == 1, errors
    assert errors[0].startswith(f"meetsep: error: {blocker / 'out'}: cannot write outputs there")


def test_transcribe_refuses_an_unsafe_output_name_before_models_load(tmp_path, monkeypatch, capsys, cli_state):
    def no_models(*args, **kwargs):
        raise AssertionError("a model was loaded for an input that cannot be written")

    monkeypatch.setattr("meetsep.pipeline.Pipeline.__init__", no_models)
    weird = tmp_path / "bad\nname.wav"
    weird.write_bytes(b"RIFF")
    code = run_main(["transcribe", str(weird), "--out", str(tmp_path / "out")])
    errors = capsys.readouterr().err.splitlines()
    assert code == 1 and len(errors) == 2 and "control characters" in errors[0], errors  # and the count line
    assert "bad\\nname.wav" in errors[0]  # the newline of the file name is shown escaped, on the one line
    assert not any((tmp_path / "out").iterdir())


STUB_RUN = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import meetsep.batch.engines as engines
    from meetsep.batch.run import ItemResult
    from meetsep.core.config import PipelineConfig
    from meetsep.core.errors import MeetsepError
    from meetsep.io.manifest import BatchItem

    def slow_engine(items, settings, on_result):  # stands in for the workers: holds the run for a while
        time.sleep(float(sys.argv[2]))
        for item in items:
            on_result(ItemResult(item.id, str(item.path), "ok"))

    engines.run_local = slow_engine
    settings = engines.BatchSettings(Path(sys.argv[1]), ["json"], PipelineConfig(), jobs=1)
    try:
        summary = engines.run_batch([BatchItem("a", Path("a.wav"))], settings)
    except MeetsepError as error:
        print(f"refused: {error}")
        sys.exit(1)
    print(f"done: {summary.ok}")
    """
)


def test_a_second_batch_run_into_the_same_folder_is_refused_while_the_first_runs(tmp_path):
    out = tmp_path / "out"
    script = tmp_path / "run.py"
    script.write_text(STUB_RUN)
    first = subprocess.Popen([sys.executable, str(script), str(out), "6"], stdout=subprocess.PIPE, text=True)
    lock = out / LOCK_NAME
    deadline = time.time() + 60
    while time.time() < deadline and not (lock.is_file() and lock.read_text().strip() == str(first.pid)):
        time.sleep(0.05)
    second = subprocess.run([sys.executable, str(script), str(out), "0"], capture_output=True, text=True, timeout=60)
    first_out, _ = first.communicate(timeout=60)
    assert first.returncode == 0 and first_out.strip() == "done: 1"
    assert second.returncode == 1 and second.stdout.startswith("refused: "), second.stdout + second.stderr
    assert f"(process {first.pid}) is already writing into this folder" in second.stdout
    assert len(read_report(out)) == 1, "the refused run recorded nothing"
    third = subprocess.run([sys.executable, str(script), str(out), "0"], capture_output=True, text=True, timeout=60)
    assert third.returncode == 0, "the lock goes with the run that held it"
    runs = [record["run"] for record in read_report(out)]
    assert len(runs) == 2 and runs[0] != runs[1], "each run has its own id"


def test_the_lock_goes_with_a_killed_process(tmp_path):
    out = tmp_path / "out"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from meetsep.io.files import folder_lock\n"
            "with folder_lock(Path(sys.argv[1]), '.meetsep/lock', 'x'):\n    print('held', flush=True); time.sleep(60)",
            str(out),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(OutputError, match="already writing"):
        with folder_lock(out, LOCK_NAME, "x"):
            pass
    holder.kill()
    holder.wait()
    with folder_lock(out, LOCK_NAME, "x"):
        pass


def test_normalized_names():
    assert normalized_name("./a//b/.") == "a/b"
    for bad in ("../x", "/x", "a/../b", ".x", "a/.meetsep/b", "\0", "x\\y", "\udcff" * 300, "\ud800"):
        with pytest.raises(ValueError):
            normalized_name(bad)
