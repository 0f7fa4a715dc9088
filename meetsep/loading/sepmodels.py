"""Single-channel speech separation networks: build, load, save, run.

One interface, :class:`SeparationModel`: ``separate(mixture (samples,), rate) -> (sources, samples)``
at the caller's rate (a model trained at 8 kHz is resampled around). Formats it reads from a local
folder or file:

- **SpeechBrain pretrained folders** (``speechbrain/sepformer-*``, Conv-TasNet recipes, and the
  checkpoint meetsep ships): ``hyperparams.yaml`` defining ``modules`` (encoder, masknet, decoder)
  plus ``encoder.ckpt``, ``masknet.ckpt``, ``decoder.ckpt``. The YAML is read as data by
  :mod:`meetsep.loading.speechbrain_yaml` (two tags, an allow-list of SpeechBrain separation classes and
  their arguments; meetsep builds the modules itself), never by HyperPyYAML, so a folder cannot run
  code. The ``.ckpt`` state dicts are read with ``torch.load(weights_only=True)``. Only with
  ``trust_model_code`` (``runtime.trust_model_code``) does HyperPyYAML load the file, as SpeechBrain would.
- **asteroid ConvTasNet files** (``model_args`` + ``state_dict``): see
  :mod:`meetsep.loading.asteroid_convtasnet`; asteroid itself is not needed.

:func:`convtasnet_hparams` / :func:`save_speechbrain_folder` write a folder in SpeechBrain's layout;
SpeechBrain's own ``SepformerSeparation.from_hparams(source=folder)`` loads it too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from meetsep.core.errors import ModelFileError
from meetsep.io.files import atomic_paths
from meetsep.loading.speechbrain_yaml import MODULES, build_separation_modules, read_hyperparams


def convtasnet_hparams(
    *,
    sample_rate: int = 16000,
    num_spks: int = 2,
    kernel_size: int = 32,
    N: int = 128,
    B: int = 128,
    H: int = 256,
    P: int = 3,
    X: int = 6,
    R: int = 2,
) -> dict[str, Any]:
    """Conv-TasNet hyperparameters as SpeechBrain's recipe names them (encoder stride = kernel / 2)."""
    return dict(sample_rate=sample_rate, num_spks=num_spks, kernel_size=kernel_size, N=N, B=B, H=H, P=P, X=X, R=R)


_CONVTASNET_YAML = """\
# Conv-TasNet in SpeechBrain's pretrained-folder layout (written by meetsep).
sample_rate: {sample_rate}
num_spks: {num_spks}

Encoder: !new:speechbrain.lobes.models.dual_path.Encoder
    kernel_size: {kernel_size}
    out_channels: {N}

MaskNet: !new:speechbrain.lobes.models.conv_tasnet.MaskNet
    N: {N}
    B: {B}
    H: {H}
    P: {P}
    X: {X}
    R: {R}
    C: !ref <num_spks>
    norm_type: gLN
    causal: False
    mask_nonlinear: relu

Decoder: !new:speechbrain.lobes.models.dual_path.Decoder
    in_channels: {N}
    out_channels: 1
    kernel_size: {kernel_size}
    stride: {stride}
    bias: False

modules:
    encoder: !ref <Encoder>
    masknet: !ref <MaskNet>
    decoder: !ref <Decoder>

pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer
    loadables:
        encoder: !ref <Encoder>
        masknet: !ref <MaskNet>
        decoder: !ref <Decoder>
"""


def convtasnet_yaml(hparams: dict[str, Any]) -> str:
    return _CONVTASNET_YAML.format(**hparams, stride=hparams["kernel_size"] // 2)


def build_modules(
    yaml_text: str, source: str | Path = "hyperparams.yaml", *, trust_model_code: bool = False
) -> tuple[dict[str, Any], Any]:
    """Hyperparams YAML → (``{"sample_rate", "num_spks"}``, ``torch.nn.ModuleDict`` of the three modules).

    Safe by default (:mod:`meetsep.loading.speechbrain_yaml`); ``trust_model_code`` hands the text to
    HyperPyYAML, which runs whatever the file names.

    Raises:
        ModelFileError: a refused or malformed file, naming ``source``.
    """
    if not trust_model_code:
        return build_separation_modules(read_hyperparams(yaml_text, source), source)
    import torch
    from hyperpyyaml import load_hyperpyyaml

    hparams = load_hyperpyyaml(yaml_text)
    modules = hparams.get("modules") or {}
    missing = [m for m in MODULES if m not in modules]
    if missing:
        raise ModelFileError(f"{source}: 'modules' lacks {', '.join(missing)}")
    settings = {"sample_rate": int(hparams.get("sample_rate", 8000)), "num_spks": int(hparams.get("num_spks", 2))}
    return settings, torch.nn.ModuleDict({m: modules[m] for m in MODULES})


class SeparationNet:
    """encoder → masknet → decoder, as SpeechBrain's ``SepformerSeparation.separate_batch``."""

    def __init__(self, modules: Any, num_spks: int) -> None:
        self.modules = modules
        self.num_spks = num_spks

    def __call__(self, mixture: Any) -> Any:
        """``(batch, time)`` → ``(batch, num_spks, time)``."""
        import torch

        encoded = self.modules["encoder"](mixture)
        masks = self.modules["masknet"](encoded)  # (spks, batch, N, frames)
        decoded = torch.stack([self.modules["decoder"](encoded * masks[i]) for i in range(self.num_spks)], dim=1)
        length = mixture.shape[-1]
        if decoded.shape[-1] < length:
            decoded = torch.nn.functional.pad(decoded, (0, length - decoded.shape[-1]))
        return decoded[..., :length]


@dataclass
class SeparationModel:
    """A loaded separator. ``net``: ``(batch, time) → (batch, sources, time)`` at ``sample_rate``."""

    net: Any
    sample_rate: int
    num_sources: int
    source: str

    def separate(self, mixture: np.ndarray, rate: int) -> np.ndarray:
        """``(samples,)`` at ``rate`` → ``(sources, samples)`` float32 at ``rate``."""
        import torch

        from meetsep.io.audio import resample

        audio = resample(np.asarray(mixture, dtype=np.float32), rate, self.sample_rate)
        with torch.inference_mode():
            out = self.net(torch.from_numpy(np.ascontiguousarray(audio))[None])[0].numpy()
        out = resample(out, self.sample_rate, rate)
        length = len(mixture)
        if out.shape[1] < length:
            out = np.pad(out, ((0, 0), (0, length - out.shape[1])))
        return out[:, :length].astype(np.float32)


def load_speechbrain_folder(folder: Path, *, trust_model_code: bool = False) -> SeparationModel:
    """Load a SpeechBrain pretrained separation folder safely (see the module docstring).

    Raises:
        ModelFileError: naming the file and the problem (refused tag, missing or unsafe checkpoint, ...).
    """
    import torch

    folder = Path(folder)
    yaml_path = folder / "hyperparams.yaml"
    if not yaml_path.is_file():
        raise ModelFileError(f"{folder}: no hyperparams.yaml (not a SpeechBrain pretrained folder)")
    try:
        text = yaml_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ModelFileError(f"{yaml_path}: unreadable ({str(error).splitlines()[0]})") from None
    hparams, modules = build_modules(text, yaml_path, trust_model_code=trust_model_code)
    for name in MODULES:
        ckpt = folder / f"{name}.ckpt"
        if not ckpt.is_file():
            raise ModelFileError(f"{folder}: {name}.ckpt is missing")
        try:
            state = torch.load(ckpt, map_location="cpu", weights_only=True)
        except Exception as error:  # pickle refused by weights_only, truncated file, ...
            raise ModelFileError(f"{ckpt}: not a safe state dict ({_first_line(error)})") from None
        try:
            modules[name].load_state_dict(state, strict=True)
        except Exception as error:  # wrong keys or shapes, or not a mapping of tensors at all
            raise ModelFileError(f"{ckpt}: does not fit hyperparams.yaml ({_first_line(error)})") from None
    modules.eval()
    num_spks = hparams["num_spks"]
    return SeparationModel(SeparationNet(modules, num_spks), hparams["sample_rate"], num_spks, str(folder))


def _first_line(error: BaseException) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def save_speechbrain_folder(folder: Path, yaml_text: str, modules: Any) -> Path:
    """Write ``hyperparams.yaml`` + one ``<module>.ckpt`` per module (all or none of them)."""
    import torch

    folder = Path(folder)
    files = [folder / f"{name}.ckpt" for name in MODULES] + [folder / "hyperparams.yaml"]
    with atomic_paths(files) as temporaries:
        for name, temporary in zip(MODULES, temporaries):
            torch.save(modules[name].state_dict(), temporary)
        temporaries[-1].write_text(yaml_text)
    return folder


def load_separation_model(path: str | Path, *, trust_model_code: bool = False) -> SeparationModel:
    """A SpeechBrain folder or an asteroid ConvTasNet file (``.pth``/``.ckpt``/``.bin``).

    Raises:
        ModelFileError: naming the file and the problem.
    """
    path = Path(path)
    if path.is_dir():
        return load_speechbrain_folder(path, trust_model_code=trust_model_code)
    if path.is_file():
        from meetsep.loading.asteroid_convtasnet import load_asteroid_convtasnet

        try:
            module, rate, sources = load_asteroid_convtasnet(path)
        except ModelFileError:
            raise
        except ValueError as error:
            raise ModelFileError(str(error)) from None
        return SeparationModel(module, rate, sources, str(path))
    raise ModelFileError(f"{path}: no such separation model folder or file")
