"""The one route from a recording to files (meetsep.outputs): one registry of writers, all or none,
and batch workers that keep their own pipelines."""

from __future__ import annotations

from pathlib import Path

import pytest

from meetsep.batch.run import process_item
from meetsep.core.config import PipelineConfig
from meetsep.core.presets import load_config
from meetsep.io.formats import EXTENSIONS, FORMATS, PAGE_FORMATS
from meetsep.io.manifest import BatchItem
from meetsep.outputs import WRITERS, transcribe_to_files, write_outputs
from meetsep.schema import Transcript


@pytest.fixture
def transcript(stub_pipelines) -> Transcript:
    return stub_pipelines.get(PipelineConfig())(Path("call.wav"))


def test_one_registry_holds_every_format_the_commands_accept():
    assert set(WRITERS) == set(FORMATS) | set(PAGE_FORMATS) == set(EXTENSIONS)


def test_every_format_is_written_through_the_one_route(tmp_path, transcript):
    audio = Path(__file__).resolve().parent.parent / "examples" / "meeting" / "mix.flac"
    written = write_outputs(transcript, tmp_path, list(WRITERS), audio_path=audio)
    assert [p.name for p in written] == [f"call.{EXTENSIONS[fmt]}" for fmt in WRITERS]
    assert "hello there" in (tmp_path / "call.txt").read_text()
    assert "<audio" in (tmp_path / "call.html").read_text()


def test_an_unknown_format_writes_nothing(tmp_path, transcript):
    with pytest.raises(ValueError, match="unknown output format 'docx'"):
        write_outputs(transcript, tmp_path, ["json", "docx"])
    assert not any(tmp_path.iterdir())


def test_transcribe_to_files_names_files_and_adds_metadata_and_analytics(tmp_path, stub_pipelines):
    pipeline = stub_pipelines.get(PipelineConfig())
    result, written = transcribe_to_files(
        pipeline, tmp_path / "a.wav", tmp_path, ["json"], analytics=True, session_id="x1", metadata={"site": "b"}
    )
    assert [p.name for p in written] == ["x1.json"]
    assert result.session_id == "x1" and result.metadata["site"] == "b" and "analytics" in result.metadata
    assert Transcript.model_validate_json((tmp_path / "x1.json").read_text()) == result


def test_a_batch_worker_builds_one_pipeline_per_effective_config_and_keeps_it(tmp_path, stub_pipelines):
    pipelines = stub_pipelines
    config = PipelineConfig()
    for name in ("a", "b"):
        (tmp_path / f"{name}.wav").write_bytes(name.encode())
    items = [BatchItem("a", tmp_path / "a.wav"), BatchItem("b", tmp_path / "b.wav")]
    for item in items:
        assert process_item(item, config, tmp_path / "out", ["json"], False, pipelines=pipelines).status == "ok"
    assert len(pipelines.built) == 1 and next(iter(pipelines.built.values())).calls == 2
    other = load_config([], {"attribute.num_speakers": 2})
    assert pipelines.get(other) is not pipelines.get(config) and len(pipelines.built) == 2
