from __future__ import annotations

import pytest

from meetsep.core.config import HASHED_WHEN_SET, PipelineConfig
from meetsep.core.errors import ConfigError
from meetsep.core.presets import PRESET_DIR, load_config


def test_defaults_and_hash_is_stable():
    config = load_config()
    assert config == PipelineConfig()
    assert config.asr.kind == "faster-whisper" and config.audio.layout == "auto"
    assert config.config_hash() == PipelineConfig().config_hash()
    assert config.config_hash() != load_config([], ["asr.beam_size=1"]).config_hash()


@pytest.mark.parametrize("preset", sorted(p.stem for p in PRESET_DIR.glob("*.yaml")))
def test_every_preset_loads_and_changes_something(preset):
    assert load_config([preset]) != PipelineConfig()


def test_overrides_are_typed_and_later_files_win(tmp_path):
    first = tmp_path / "a.yaml"
    first.write_text("asr:\n  beam_size: 3\n  model: tiny.en\n")
    second = tmp_path / "b.yaml"
    second.write_text("asr:\n  beam_size: 2\n")
    config = load_config(
        [first, second], ["attribute.num_speakers=4", "runtime.allow_download=false", "asr.language=null"]
    )
    assert config.asr.beam_size == 2 and config.asr.model == "tiny.en"
    assert config.attribute.num_speakers == 4 and config.asr.language is None


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["asr.beam_sise=2"], "asr.beam_sise"),
        (["asr.kind=whisperx"], "asr.kind"),
        (["attribute.min_speakers=5", "attribute.max_speakers=2"], "min_speakers"),
        (["asr"], "key=value"),
        (["asr..model=x"], "expected section.key"),
        (["=1"], "expected section.key"),
        (["asr.model=" + "[" * 3000 + "]" * 3000], "nested too deeply"),
        (["asr.model=[&a [1, 2], *a]"], "aliases"),
        (["asr.model.x=1"], "asr.model"),
    ],
)
def test_bad_values_give_one_line_errors(overrides, message):
    with pytest.raises(ConfigError) as error:
        load_config([], overrides)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_unknown_preset_names_the_known_ones():
    with pytest.raises(ConfigError, match="fast_cpu"):
        load_config(["no_such_preset"])


def test_threads_do_not_change_the_hash():
    assert load_config([], ["runtime.threads=1"]).config_hash() == load_config([], ["runtime.threads=2"]).config_hash()


def test_trusting_model_code_does_not_change_the_hash():
    """It decides whether a model file may load at all, not what a loaded model computes (outputs keep their hash)."""
    trusted = load_config([], ["runtime.trust_model_code=true"])
    assert trusted.runtime.trust_model_code and not PipelineConfig().runtime.trust_model_code
    assert trusted.config_hash() == PipelineConfig().config_hash()


def test_fields_added_later_leave_the_hash_of_earlier_outputs_as_it_was():
    """Transcripts carry config_hash and batch runs resume by it: a field added later (HASHED_WHEN_SET) counts
    only once set away from its default, so the defaults and every preset keep the hash they had; a field whose
    default changes what the chain outputs changes it (attribute.spatial_pass, attribute.spatial_split,
    attribute.two_from_overlap: transcripts differ)."""
    # b124a4fa9a3d8748 / 6e9bb5d778408d4f from d4c561d until attribute.spatial_pass (on) changed array outputs,
    # 6528e3aeef1bfb80 / c268268d592d520d from 9b866cf until attribute.spatial_split (on) did, e6db10f3f4bc3b40 /
    # 868d7ef64d6b70c3 from 7bae285 until attribute.two_from_overlap did, f7266bbc2ed7d8d4 / 57cd4bd2627529d0
    # from 867f008 until attribute.min_speaker_units 6 did
    assert PipelineConfig().config_hash() == "7fc24e422e792a09"
    assert load_config(["meeting_array"]).config_hash() == "3939afcf17c7bc81"
    assert load_config([], ["attribute.two_from_overlap=null"]).config_hash() != PipelineConfig().config_hash()
    assert load_config([], ["attribute.spatial_pass=false"]).config_hash() != PipelineConfig().config_hash()
    assert load_config([], ["attribute.spatial_split=false"]).config_hash() != PipelineConfig().config_hash()
    assert [field for _, field in HASHED_WHEN_SET] == [
        "max_unit_seconds",
        "speaker_db",
        "match_threshold",
        "voiceprints",
        "agent",
        "short_windows",
    ]
    named = load_config([], ["attribute.speaker_db=voices", "attribute.agent=Ann"])
    assert named.config_hash() != PipelineConfig().config_hash()
    assert load_config([], ["attribute.max_unit_seconds=3"]).config_hash() == PipelineConfig().config_hash()
    assert load_config([], ["asr.short_windows=false"]).config_hash() != PipelineConfig().config_hash()
    # the archive-wide linking runs after the recordings: their outputs and batch keys do not depend on it
    assert load_config([], ["attribute.link_threshold=0.7"]).config_hash() == PipelineConfig().config_hash()
    shorter = load_config([], ["attribute.max_unit_seconds=2.5"])
    assert shorter.config_hash() != PipelineConfig().config_hash()
    assert shorter.config_hash() != load_config([], ["attribute.max_unit_seconds=2"]).config_hash()


def test_an_unreadable_config_file_is_one_line(tmp_path):
    binary = tmp_path / "bad.yaml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ConfigError, match="bad.yaml: unreadable config") as error:
        load_config([binary])
    assert "\n" not in str(error.value)


def test_channel_speakers_must_be_two_names():
    with pytest.raises(ConfigError, match="channel_speakers"):
        load_config([], ["audio.channel_speakers=[agent]"])
    assert load_config(["call_center_stereo"]).audio.channel_speakers == ["agent", "customer"]
