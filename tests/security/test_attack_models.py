"""Model files that try to run code: every payload is refused in one line and leaves no marker file.

Each payload only ``touch``es a marker. The first tests show the payloads are live (the loaders
meetsep used before run them); the others show meetsep refuses them, through the Python API and
the command line.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from meetsep.core.errors import ModelFileError
from meetsep.loading.models import ResolvedModel, load_embedding_model, load_segmentation_model, resolve_model
from meetsep.loading.sepmodels import build_modules, convtasnet_hparams, convtasnet_yaml, load_separation_model
from meetsep.loading.sepmodels import save_speechbrain_folder as save_folder

MEETSEP = [sys.executable, "-m", "meetsep.cli"]
TINY = convtasnet_hparams(N=16, B=8, H=16, X=2, R=1, kernel_size=16)


def payloads(marker: Path, include: Path) -> dict[str, str]:
    """YAML that runs ``touch marker`` under HyperPyYAML's loader, keyed by the trick it uses."""
    touch = f"['touch {marker}']"
    return {
        "python-object-apply": f"boom: !!python/object/apply:os.system {touch}\n",
        "python-object-new": f"boom: !!python/object/new:os.system {touch}\n",
        "apply": f"boom: !apply:os.system {touch}\n",
        "applyref": f"boom: !applyref:os.system {touch}\n",
        "percent-escaped": f"boom: !appl%79:os.system {touch}\n",
        "include": f"boom: !include:{include}\n",
        "new-outside-allow-list": f"boom: !new:subprocess.Popen [['touch', '{marker}']]\n",
        "tag-directive": f"%TAG !e! tag:yaml.org,2002:python/object/apply:\n---\nboom: !e!os.system {touch}\n",
        "name-then-apply": f'f: !name:os.system\nboom: !apply:eval [\'__import__("os").system("touch {marker}")\']\n',
    }


@pytest.fixture
def attack(tmp_path):
    marker = tmp_path / "PWNED"
    include = tmp_path / "evil.yaml"
    include.write_text(f"x: !apply:os.system ['touch {marker}']\n")
    return marker, payloads(marker, include)


def folder_with(tmp_path: Path, payload: str) -> Path:
    """The tiny Conv-TasNet folder with ``payload`` added to its hyperparams.yaml (before or after)."""
    torch.manual_seed(0)
    text = convtasnet_yaml(TINY)
    _, modules = build_modules(text)
    folder = save_folder(tmp_path / "model", text, modules)
    evil = payload + text if payload.startswith("%") else text + "\n" + payload
    (folder / "hyperparams.yaml").write_text(evil)
    return folder


@pytest.mark.parametrize(
    "name",
    [
        "python-object-apply",
        "apply",
        "applyref",
        "percent-escaped",
        "include",
        "new-outside-allow-list",
        "tag-directive",
        "name-then-apply",
    ],
)
def test_the_payloads_are_live_under_hyperpyyaml(attack, name):
    """What main's loader did with these files: the marker appears (so the refusals below mean something)."""
    from hyperpyyaml import load_hyperpyyaml

    marker, texts = attack
    try:
        loaded = load_hyperpyyaml(texts[name])
    except Exception:
        loaded = {}  # some payloads raise after running (os.system returns an int where an object was expected)
    if hasattr(loaded.get("boom"), "wait"):
        loaded["boom"].wait()  # a subprocess.Popen: let it finish
    assert marker.exists()


def test_every_yaml_payload_is_refused_naming_the_file_and_leaves_no_marker(tmp_path, attack):
    marker, texts = attack
    for name, payload in texts.items():
        folder = folder_with(tmp_path / name, payload)
        with pytest.raises(ModelFileError) as refused:
            load_separation_model(folder)
        message = str(refused.value)
        assert "\n" not in message and str(folder / "hyperparams.yaml") in message, (name, message)
        assert "runtime.trust_model_code" in message, (name, message)
        assert not marker.exists(), name


@pytest.mark.parametrize(
    ("payload", "named"),
    [
        ("x: !apply:os.system ['true']\n", "!apply:os.system"),
        ("x: !appl%79:os.system ['true']\n", "!apply:os.system"),
        ("a: &a [1]\nb: *a\n", "alias *a"),
        ("x: !copy <a>\n", "!copy"),
        ("x: !new:torch.nn.Module\n", "!new:torch.nn.Module"),
    ],
)
def test_the_refusal_names_the_offending_tag(tmp_path, payload, named):
    with pytest.raises(ModelFileError, match="line [0-9]+: .*" + named.replace("*", r"\*")):
        load_separation_model(folder_with(tmp_path, payload))


def test_allowed_classes_take_only_checked_arguments(tmp_path):
    """Even an allowed class is built only with known argument names of the right type and range."""
    text = convtasnet_yaml(TINY)
    for change, problem in [
        ("norm_type: gLN", "norm_type: __import__('os')"),
        ("causal: False", "causal: 'yes'"),
        ("R: 1", "R: 100000000"),
        ("mask_nonlinear: relu", "mask_nonlinear: relu\n    evil: 1"),
    ]:
        with pytest.raises(ModelFileError, match="MaskNet"):
            build_modules(text.replace(change, problem), tmp_path / "hyperparams.yaml")


def test_the_cli_refuses_a_payload_folder_in_one_line(tmp_path, attack):
    marker, texts = attack
    audio = tmp_path / "x.wav"
    sf.write(str(audio), np.random.default_rng(0).standard_normal(16000).astype(np.float32) * 0.1, 16000)
    for name in ("percent-escaped", "include"):
        folder = folder_with(tmp_path / name, texts[name])
        out = tmp_path / f"out-{name}"
        result = subprocess.run(
            [*MEETSEP, "separate", str(audio), "--model", str(folder), "--out", str(out)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        errors = [line for line in result.stderr.splitlines() if line.strip()]
        assert result.returncode == 1 and len(errors) == 1, result.stderr
        assert errors[0].startswith(f"meetsep: error: {folder / 'hyperparams.yaml'}: line "), errors[0]
        assert not marker.exists() and not any(out.iterdir())


class Payload:
    """Pickles to a call of ``os.system(command)``."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def test_a_pickle_payload_is_live_under_pyannotes_loader(tmp_path):
    """What main did with ``--set segment.model=FILE``: pyannote unpickles with weights_only=False."""
    from pyannote.audio import Model

    marker = tmp_path / "PWNED"
    evil = tmp_path / "pytorch_model.bin"
    torch.save({"state_dict": {}, "boom": Payload(f"touch {marker}")}, evil)
    try:
        Model.from_pretrained(str(evil))
    except Exception:
        pass  # the payload ran while unpickling, before pyannote looked at the contents
    assert marker.exists()


def real_segmentation_checkpoint() -> dict:
    """The shipped segmentation-3.0 checkpoint with pyannote's own classes (to be saved again, altered)."""
    from pyannote.audio.core.task import Problem, Resolution, Specifications
    from torch.torch_version import TorchVersion

    path = resolve_model("segmentation-3.0", "segmentation").path
    with torch.serialization.safe_globals([Problem, Resolution, Specifications, TorchVersion]):
        return torch.load(path, map_location="cpu", weights_only=True)


@pytest.mark.integration
def test_segmentation_checkpoints_are_read_as_data(tmp_path):
    """A payload alone, or hidden in the real checkpoint's own sections, is refused; no marker."""
    marker = tmp_path / "PWNED"
    real = real_segmentation_checkpoint()
    plain = tmp_path / "plain.bin"
    torch.save({"boom": Payload(f"touch {marker}")}, plain)
    hidden = tmp_path / "hidden.bin"
    torch.save({**real, "pyannote.audio": {**real["pyannote.audio"], "boom": Payload(f"touch {marker}")}}, hidden)
    folder = tmp_path / "folder"  # a folder is looked into for pytorch_model.bin, as pyannote does
    folder.mkdir()
    (folder / "pytorch_model.bin").write_bytes(hidden.read_bytes())
    for path in (plain, hidden, folder):
        with pytest.raises(ModelFileError, match="runtime.trust_model_code") as refused:
            load_segmentation_model(ResolvedModel(None, path, "config"))
        assert "\n" not in str(refused.value)
        assert not marker.exists()


@pytest.mark.integration
def test_another_architecture_in_a_clean_checkpoint_is_refused(tmp_path):
    real = real_segmentation_checkpoint()
    section = {**real["pyannote.audio"], "architecture": {"module": "os", "class": "system"}}
    other = tmp_path / "other.bin"
    torch.save({**real, "pyannote.audio": section}, other)
    with pytest.raises(ModelFileError, match="is not PyanNet"):
        load_segmentation_model(ResolvedModel(None, other, "config"))


def test_campplus_and_asteroid_files_given_by_path_are_read_as_data(tmp_path):
    marker = tmp_path / "PWNED"
    evil = tmp_path / "evil.pt"
    torch.save({"weight": Payload(f"touch {marker}")}, evil)
    with pytest.raises(ModelFileError, match="not a safe state dict"):
        load_embedding_model(ResolvedModel(None, evil, "config"))
    with pytest.raises(ModelFileError, match="not a safe torch checkpoint"):
        load_separation_model(evil)
    assert not marker.exists()


@pytest.mark.integration
def test_the_cli_refuses_a_pickled_segmentation_model_in_one_line(tmp_path):
    marker = tmp_path / "PWNED"
    evil = tmp_path / "segmentation.bin"
    torch.save({"boom": Payload(f"touch {marker}")}, evil)
    audio = tmp_path / "talk.wav"
    sf.write(str(audio), np.random.default_rng(0).standard_normal(16000 * 3).astype(np.float32) * 0.1, 16000)
    out = tmp_path / "out"
    result = subprocess.run(
        [*MEETSEP, "transcribe", str(audio), "--out", str(out), "--set", f"segment.model={evil}"]
        + ["--set", "asr.model=tiny.en", "--format", "json,txt"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    errors = [line for line in result.stderr.splitlines() if line.startswith("meetsep: error:")]
    assert result.returncode == 1 and len(errors) == 1, result.stderr
    assert f"{evil}: not a safe pyannote checkpoint" in errors[0] and "runtime.trust_model_code" in errors[0]
    assert not marker.exists() and not any(out.iterdir())
