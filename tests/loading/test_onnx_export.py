"""A PyTorch network exported once to ONNX Runtime: same outputs, kept in the cache, fallbacks."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from meetsep.loading import onnx_export


def _network() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(6, 4), torch.nn.Tanh()).eval()


def _session(tmp_path, folder=None):
    weights = tmp_path / "weights.bin"
    if not weights.exists():
        weights.write_bytes(b"the weights' content names the graph")
    return onnx_export.onnx_session(
        "tiny", weights, folder or tmp_path / "onnx", _network, torch.zeros(2, 6), ("x", "y", {0: "rows"}), threads=1
    )


@pytest.mark.parametrize("arena", [True, False])
def test_the_session_gives_pytorchs_outputs_and_the_graph_is_exported_once(tmp_path, monkeypatch, arena):
    inputs = np.random.default_rng(0).normal(size=(5, 6)).astype(np.float32)
    with torch.inference_mode():
        expected = _network()(torch.from_numpy(inputs)).numpy()
    session = _session(tmp_path)
    np.testing.assert_allclose(session.run(None, {"x": inputs})[0], expected, atol=1e-6)
    assert [path.name.split("-")[0] for path in (tmp_path / "onnx").iterdir()] == ["tiny"]
    monkeypatch.setattr(torch.onnx, "export", lambda *args, **kwargs: pytest.fail("exported again"))
    again = onnx_export.onnx_session(
        "tiny", tmp_path / "weights.bin", tmp_path / "onnx", _network, None, ("x", "y", {}), 1, arena=arena
    )
    np.testing.assert_array_equal(again.run(None, {"x": inputs})[0], session.run(None, {"x": inputs})[0])


def test_a_cache_that_cannot_be_written_still_gives_a_session(tmp_path, monkeypatch):
    def refuse(path, data):
        raise PermissionError(f"{path}: read-only file system")

    monkeypatch.setattr("meetsep.io.files.atomic_write_bytes", refuse)
    session = _session(tmp_path)
    assert session.run(None, {"x": np.ones((1, 6), np.float32)})[0].shape == (1, 4)
    assert not list(tmp_path.rglob("*.onnx"))


def test_without_onnx_to_export_with_there_is_no_session(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)
    assert _session(tmp_path) is None
    assert not list(tmp_path.rglob("*.onnx"))
