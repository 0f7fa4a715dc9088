"""pyannote segmentation checkpoints read as data: the PyanNet is built by meetsep, never unpickled.

pyannote's ``Model.from_pretrained`` unpickles the whole Lightning checkpoint with
``weights_only=False``, so a crafted ``pytorch_model.bin`` runs code. Here the file is read with
``torch.load(weights_only=True)``; the four non-tensor globals a pyannote checkpoint holds
(``Specifications``, its two enums, ``TorchVersion``) are mapped to inert stand-ins that only record
their values. From that data — the architecture name (only ``PyanNet``), its hyperparameters
(checked key by key: known names, types, ranges) and the task specifications — meetsep constructs
``pyannote.audio.models.segmentation.PyanNet`` itself, adds the task layers as pyannote's loader
does (``setup()``), and loads the state dict with ``strict=True``. The result is the same network
with the same weights as ``Model.from_pretrained`` gives (the tests compare outputs bit for bit).

A file that is not such a checkpoint is refused with one line naming it; a user who trusts a file
of another architecture may set ``runtime.trust_model_code`` to use pyannote's own loader.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from meetsep.core.errors import TRUST_HINT, ModelFileError

ARCHITECTURE = ("pyannote.audio.models.segmentation.PyanNet", "PyanNet")
_TASK = "pyannote.audio.core.task"


class _PickledEnum:
    """Stand-in for a pickled enum member: pickle calls ``Enum(value)``; this keeps the value."""

    def __init__(self, value: Any) -> None:
        self.value = value


class _Problem(_PickledEnum):
    pass


class _Resolution(_PickledEnum):
    pass


class _PickledRecord:
    """Stand-in for a pickled dataclass instance: keeps the state pickle would have set."""

    state: Any = None

    def __setstate__(self, state: Any) -> None:
        self.state = state


class _Version(str):
    """Stand-in for ``torch.torch_version.TorchVersion`` (a ``str``)."""


STAND_INS = [
    (_Problem, f"{_TASK}.Problem"),
    (_Resolution, f"{_TASK}.Resolution"),
    (_PickledRecord, f"{_TASK}.Specifications"),
    (_Version, "torch.torch_version.TorchVersion"),
]


def _integer(value: Any, low: int = 0, high: int = 1 << 16) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"expected an integer from {low} to {high}, got {value!r}")
    return value


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"expected a finite number, got {value!r}")
    return float(value)


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {value!r}")
    return value


# PyanNet's constructor arguments, section by section: name → check
HYPERPARAMETERS = {
    "sincnet": {"stride": _integer, "sample_rate": lambda v: _integer(v, 16000, 16000)},
    "lstm": {
        "hidden_size": _integer,
        "num_layers": lambda v: _integer(v, 1, 64),
        "bidirectional": _flag,
        "monolithic": _flag,
        "dropout": _number,
        "batch_first": _flag,
    },
    "linear": {"hidden_size": _integer, "num_layers": lambda v: _integer(v, 0, 64)},
}


def _hyperparameters(given: Any) -> dict[str, Any]:
    if not isinstance(given, dict):
        raise ValueError("no hyper_parameters mapping")
    checked: dict[str, Any] = {}
    for key, value in given.items():
        if key in ("sample_rate",):
            checked[key] = _integer(value, 16000, 16000)
        elif key == "num_channels":
            checked[key] = _integer(value, 1, 1)
        elif key in HYPERPARAMETERS:
            if not isinstance(value, dict):
                raise ValueError(f"hyper_parameters.{key} is not a mapping")
            section = {}
            for name, item in value.items():
                if name not in HYPERPARAMETERS[key]:
                    raise ValueError(f"unknown hyper_parameters.{key}.{name}")
                try:
                    section[name] = HYPERPARAMETERS[key][name](item)
                except ValueError as error:
                    raise ValueError(f"hyper_parameters.{key}.{name}: {error}") from None
            checked[key] = section
        else:
            raise ValueError(f"unknown hyper_parameters key {key!r}")
    return checked


def _specifications(record: Any) -> Any:
    """The task specifications as pyannote's own ``Specifications``, from the stand-in's recorded values."""
    from pyannote.audio.core.task import Problem, Resolution, Specifications

    state = record.state if isinstance(record, _PickledRecord) else None
    if isinstance(state, tuple) and len(state) == 2:
        state = state[0]  # (dict state, slot state)
    if not isinstance(state, dict):
        raise ValueError("no task specifications")
    problem, resolution = state.get("problem"), state.get("resolution")
    if not isinstance(problem, _Problem) or not isinstance(resolution, _Resolution):
        raise ValueError("task specifications without problem / resolution")
    warm_up = state.get("warm_up", (0.0, 0.0))
    classes = state.get("classes")
    if warm_up is not None and (not isinstance(warm_up, tuple) or len(warm_up) != 2):
        raise ValueError("specifications.warm_up is not a pair")
    if classes is not None and (not isinstance(classes, list) or not all(isinstance(c, str) for c in classes)):
        raise ValueError("specifications.classes is not a list of names")
    if classes is not None and len(classes) > 64:
        raise ValueError("specifications.classes: too many classes")
    limit = state.get("powerset_max_classes")
    min_duration = state.get("min_duration")
    return Specifications(
        problem=Problem(_integer(problem.value, 0, 16)),
        resolution=Resolution(_integer(resolution.value, 0, 16)),
        duration=_number(state.get("duration")),
        min_duration=None if min_duration is None else _number(min_duration),
        warm_up=None if warm_up is None else (_number(warm_up[0]), _number(warm_up[1])),
        classes=classes,
        powerset_max_classes=None if limit is None else _integer(limit, 0, 16),
        permutation_invariant=_flag(state.get("permutation_invariant", False)),
    )


def checkpoint_file(path: Path) -> Path:
    """The checkpoint of a model folder (``pytorch_model.bin``, as pyannote looks it up) or the file itself."""
    return path / "pytorch_model.bin" if path.is_dir() else path


def load_pyannote_segmentation(path: str | Path) -> Any:
    """A pyannote ``PyanNet`` in eval mode, built from the checkpoint's data (see the module docstring).

    Raises:
        ModelFileError: the file is not a safe PyanNet checkpoint; one line naming it.
    """
    import torch

    file = checkpoint_file(Path(path))
    try:
        with torch.serialization.safe_globals(STAND_INS):
            checkpoint = torch.load(str(file), map_location="cpu", weights_only=True)
    except Exception as error:  # pickled code refused by weights_only, not a torch file, truncated, ...
        detail = " ".join(str(error).split())[:200] or type(error).__name__
        raise ModelFileError(f"{file}: not a safe pyannote checkpoint ({detail}); {TRUST_HINT}") from None
    try:
        model = _build(checkpoint)
    except ValueError as error:
        raise ModelFileError(f"{file}: not a pyannote segmentation checkpoint meetsep can build ({error})") from None
    return model.eval()


def _build(checkpoint: Any) -> Any:
    import torch
    from pyannote.audio.models.segmentation import PyanNet

    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("pyannote.audio"), dict):
        raise ValueError("no 'pyannote.audio' section")
    section = checkpoint["pyannote.audio"]
    architecture = section.get("architecture") or {}
    found = (architecture.get("module"), architecture.get("class")) if isinstance(architecture, dict) else None
    if found != ARCHITECTURE:
        raise ValueError(f"architecture {found} is not PyanNet; {TRUST_HINT}")
    state = checkpoint.get("state_dict")
    if not isinstance(state, dict) or not all(isinstance(value, torch.Tensor) for value in state.values()):
        raise ValueError("no state_dict of tensors")
    try:
        model = PyanNet(**_hyperparameters(checkpoint.get("hyper_parameters")))
        model.specifications = _specifications(section.get("specifications"))
        model.setup()  # the task layers (classifier, activation), as pyannote's on_load_checkpoint does
        model.load_state_dict(state, strict=True)
    except (RuntimeError, TypeError, KeyError, AttributeError, NotImplementedError) as error:
        raise ValueError(" ".join(str(error).split())[:200] or type(error).__name__) from None
    return model
