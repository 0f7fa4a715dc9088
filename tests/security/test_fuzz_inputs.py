"""Property-based fuzzing of what users hand meetsep: audio files, manifests, ``--set`` overrides.

Every case ends in a result or a one-line :class:`~meetsep.core.errors.MeetsepError`, never another
exception, and leaves no partial output. Examples are derandomized (the same cases on every run,
so a failure reproduces) and kept few enough for ``make test``.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import string
import tempfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from meetsep.core.config import PipelineConfig
from meetsep.core.errors import AudioInputError, ConfigError, MeetsepError
from meetsep.core.presets import load_config
from meetsep.io.audio import AUDIO_EXTENSIONS, iter_blocks, load_recording, read_window
from meetsep.io.files import confined, normalized_name
from meetsep.io.manifest import discover

FUZZ = settings(
    max_examples=60,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(autouse=True, scope="module")
def lazy_modules_without_file():
    """Hypothesis reads ``__file__`` of every module in ``sys.modules`` (to collect constants of local code).
    SpeechBrain's lazy modules (imported by the pipeline, or by other tests of this process) import their
    target on that read and fail for extras that are not installed (k2). For these tests their class
    answers ``__file__ = None``, which hypothesis skips; the class is put back after."""
    from speechbrain.utils.importutils import LazyModule

    had = "__file__" in vars(LazyModule)
    LazyModule.__file__ = None  # type: ignore[attr-defined]
    yield
    if not had:
        del LazyModule.__file__


def one_line(error: MeetsepError) -> None:
    assert str(error) and "\n" not in str(error), repr(str(error))


def _valid_file(extension: str, channels: int, seconds: float) -> bytes:
    """A real, short file of ``extension`` (for mutations that start from something decodable)."""
    formats = {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG", ".oga": "OGG", ".opus": "OGG", ".mp3": "MP3"}
    subtype = {".opus": "OPUS", ".ogg": "VORBIS", ".oga": "VORBIS", ".mp3": "MPEG_LAYER_III"}.get(extension)
    rate = 48000 if extension == ".opus" else 16000
    samples = np.random.default_rng(channels).standard_normal((int(seconds * rate), channels)).astype(np.float32) * 0.1
    buffer = io.BytesIO()
    sf.write(buffer, samples, rate, format=formats[extension], subtype=subtype)
    return buffer.getvalue()


SEEDS = {extension: _valid_file(extension, 2, 0.5) for extension in AUDIO_EXTENSIONS}


@st.composite
def audio_bytes(draw: st.DrawFn) -> tuple[str, bytes]:
    """A file name extension and contents: random bytes, a real file cut or with bytes flipped, or a
    known header followed by junk."""
    extension = draw(st.sampled_from(AUDIO_EXTENSIONS))
    kind = draw(st.sampled_from(["random", "cut", "flipped", "header"]))
    seed = SEEDS[extension]
    if kind == "random":
        return extension, draw(st.binary(max_size=4000))
    if kind == "cut":
        return extension, seed[: draw(st.integers(0, len(seed)))]
    if kind == "flipped":
        data = bytearray(seed)
        for position in draw(st.lists(st.integers(0, len(data) - 1), min_size=1, max_size=20)):
            data[position] = draw(st.integers(0, 255))
        return extension, bytes(data)
    header = draw(
        st.sampled_from([b"RIFF\xff\xff\xff\xffWAVEfmt ", b"fLaC", b"OggS\x00\x02", b"ID3\x03\x00", b"\xff\xfb"])
    )
    return extension, header + draw(st.binary(max_size=2000))


@FUZZ
@given(audio_bytes())
def test_the_audio_reader_ends_in_samples_or_one_clear_line(capfd, case):
    extension, data = case
    folder = Path(tempfile.mkdtemp())
    try:
        path = folder / f"input{extension}"
        path.write_bytes(data)
        try:
            recording = load_recording(path)
            total = sum(block.shape[1] for block in iter_blocks(recording))
            assert total == recording.num_samples
            assert read_window(recording, 0.0, 0.1).shape[0] == recording.num_channels
        except AudioInputError as error:
            one_line(error)
            assert str(error).startswith(f"{path}: ")
    finally:
        shutil.rmtree(folder)
    captured = capfd.readouterr()
    assert captured.err == "", f"a decoder printed on stderr: {captured.err[:300]!r}"


TRANSCRIBE_FORMATS = ["json", "rttm", "txt"]


@pytest.mark.integration
@settings(FUZZ, max_examples=15)
@given(audio_bytes())
@example((".wav", SEEDS[".wav"]))  # decodable cases too (call-center stereo), so both outcomes are checked
@example((".ogg", SEEDS[".ogg"]))
def test_transcribe_writes_every_format_or_none_and_one_line_on_failure(cli_state, capsys, case):
    """The whole command on fuzzed audio (the real pipeline, Whisper tiny.en): exit 0 with every
    format, or exit 1 with one error line and nothing in --out."""
    from meetsep.cli.commands import main

    extension, data = case
    folder = Path(tempfile.mkdtemp())
    try:
        path = folder / f"input{extension}"
        path.write_bytes(data)
        out = folder / "out"
        arguments = ["transcribe", str(path), "--out", str(out), "--format", ",".join(TRANSCRIBE_FORMATS)]
        try:
            main([*arguments, "--set", "asr.model=tiny.en", "--set", "asr.beam_size=1"])
            code = 0
        except SystemExit as exited:  # main exits only on failure
            code = exited.code
        err = capsys.readouterr().err
        written = sorted(p.name for p in out.iterdir())
        if code == 0:
            assert written == sorted(f"input.{fmt}" for fmt in TRANSCRIBE_FORMATS), written
        else:
            errors = [line for line in err.splitlines() if line.startswith("meetsep: error:")]
            assert code == 1 and len(errors) == 1 and written == [], (code, err, written)
    finally:
        shutil.rmtree(folder)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
KEYS = st.sampled_from(["path", "id", "layout", "num_speakers", "min_speakers", "max_speakers", "agent"]) | st.text(
    max_size=6
)
NAMES = st.sampled_from(["a.wav", "../x", "/abs/y.wav", "./a", "a/./b", ".hidden", "..", "", "x\ny", "sub/../../z"])


@st.composite
def manifests(draw: st.DrawFn) -> tuple[str, bytes]:
    """A manifest: random bytes, JSON lines of random structures, or CSV rows of random fields."""
    kind = draw(st.sampled_from(["bytes", "jsonl", "csv"]))
    if kind == "bytes":
        return draw(st.sampled_from([".jsonl", ".csv"])), draw(st.binary(max_size=2000))
    if kind == "jsonl":
        rows = draw(
            st.lists(
                st.dictionaries(KEYS, NAMES | JSON_VALUES, max_size=6) | JSON_VALUES,
                max_size=6,
            )
        )
        return ".jsonl", "\n".join(json.dumps(row) for row in rows).encode()
    header = draw(st.lists(KEYS, min_size=1, max_size=5))
    rows = draw(st.lists(st.lists(NAMES | st.text(max_size=10), max_size=7), max_size=6))
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(header)
    writer.writerows(rows)
    return ".csv", text.getvalue().encode()


@FUZZ
@given(manifests())
def test_the_manifest_parser_ends_in_safe_items_or_one_clear_line(case):
    extension, data = case
    folder = Path(tempfile.mkdtemp())
    try:
        manifest = folder / f"manifest{extension}"
        manifest.write_bytes(data)
        before = sorted(folder.rglob("*"))
        try:
            items = discover(manifest)
        except ConfigError as error:
            one_line(error)
            assert str(error).startswith(str(manifest))
        else:
            ids = [item.id for item in items]
            assert len(set(ids)) == len(ids)
            for item_id in ids:
                assert normalized_name(item_id) == item_id
                confined(folder / "out", item_id)  # raises if it would leave the output folder
        assert sorted(folder.rglob("*")) == before, "parsing a manifest wrote something"
    finally:
        shutil.rmtree(folder)


FIELDS = sorted(
    f"{section}.{name}"
    for section, model in PipelineConfig.model_fields.items()
    for name in model.annotation.model_fields  # type: ignore[union-attr]
)
YAML_VALUES = JSON_VALUES.map(lambda value: yaml.safe_dump(value, default_flow_style=True).strip())


@st.composite
def overrides(draw: st.DrawFn) -> list[str]:
    """``--set`` arguments: real keys with random YAML values, random keys, raw text, deep nesting."""
    items = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["field", "text", "nested", "noise"]))
        if kind == "field":
            items.append(f"{draw(st.sampled_from(FIELDS))}={draw(YAML_VALUES)}")
        elif kind == "text":
            items.append(draw(st.text(alphabet=string.printable, max_size=40)))
        elif kind == "nested":
            depth = draw(st.integers(1, 5000))
            opening, closing = draw(st.sampled_from([("[", "]"), ("{a: ", "}"), ("- ", "")]))
            items.append(f"{draw(st.sampled_from(FIELDS))}={opening * depth}1{closing * depth}")
        else:
            items.append(draw(st.text(max_size=30)))
    return items


@FUZZ
@given(overrides())
def test_set_parsing_ends_in_a_config_or_one_clear_line(arguments):
    try:
        config = load_config([], arguments)
    except ConfigError as error:
        one_line(error)
    else:
        assert isinstance(config, PipelineConfig)
        assert len(config.config_hash()) == 16


def test_the_fuzzers_reach_both_outcomes():
    """The strategies are not all-failing: a real override and a real manifest pass, and bad ones fail."""
    assert load_config([], ["asr.beam_size=2"]).asr.beam_size == 2
    with pytest.raises(ConfigError):
        load_config([], ["asr.beam_size=" + "[" * 3000])
    folder = Path(tempfile.mkdtemp())
    try:
        (folder / "m.csv").write_text("path,id\na.wav,x\n")
        assert [item.id for item in discover(folder / "m.csv")] == ["x"]
    finally:
        shutil.rmtree(folder)
