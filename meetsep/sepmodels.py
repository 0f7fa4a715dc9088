"""Single-channel speech separation networks: build, load, save, run.

One interface, :class:`SeparationModel`: ``separate(mixture (samples,), rate) -> (sources, samples)``
at the caller's rate (a model trained at 8 kHz is resampled around). Formats it reads from a local
folder or file:

- **SpeechBrain pretrained folders** (``speechbrain/sepformer-*``, Conv-TasNet recipes, and the
  checkpoint meetsep ships): ``hyperparams.yaml`` defining ``modules`` (encoder, masknet, decoder)
  plus ``encoder.ckpt``, ``masknet.ckpt``, ``decoder.ckpt``. The YAML is HyperPyYAML, which can
  instantiate any Python object; before loading it, every ``!new:`` / ``!name:`` / ``!apply:`` tag
  is checked against the SpeechBrain separation classes, so an untrusted folder cannot run code.
  The ``.ckpt`` state dicts are read with ``torch.load(weights_only=True)``.
- **asteroid ConvTasNet files** (``model_args`` + ``state_dict``): see
  :mod:`meetsep.asteroid_convtasnet`; asteroid itself is not needed.

:func:`convtasnet_hparams` / :func:`save_speechbrain_folder` write a folder in SpeechBrain's layout;
SpeechBrain's own ``SepformerSeparation.from_hparams(source=folder)`` loads it too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from meetsep.files import atomic_paths

MODULES = ("encoder", "masknet", "decoder")

# Classes a separation hyperparams.yaml may instantiate or reference.
ALLOWED_TAGS = {
    "speechbrain.lobes.models.dual_path.Encoder",
    "speechbrain.lobes.models.dual_path.Decoder",
    "speechbrain.lobes.models.dual_path.Dual_Path_Model",
    "speechbrain.lobes.models.dual_path.SBTransformerBlock",
    "speechbrain.lobes.models.dual_path.SBRNNBlock",
    "speechbrain.lobes.models.conv_tasnet.MaskNet",
    "speechbrain.utils.parameter_transfer.Pretrainer",
    "torch.nn.ModuleDict",
}
_TAG = re.compile(r"!(new|name|apply):([\w.]+)")


def checked_hyperparams(path: Path) -> str:
    """Return the YAML text of ``path`` after refusing any object tag outside :data:`ALLOWED_TAGS`."""
    text = path.read_text()
    for _, target in _TAG.findall(text):
        if target not in ALLOWED_TAGS:
            raise ValueError(f"{path}: refuses to instantiate {target!r} (not a SpeechBrain separation class)")
    return text


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


def build_modules(yaml_text: str) -> tuple[dict[str, Any], Any]:
    """Instantiate a (checked) hyperparams YAML → (hparams, ``torch.nn.ModuleDict`` of the three modules)."""
    import torch
    from hyperpyyaml import load_hyperpyyaml

    hparams = load_hyperpyyaml(yaml_text)
    modules = hparams.get("modules") or {}
    missing = [m for m in MODULES if m not in modules]
    if missing:
        raise ValueError(f"hyperparams.yaml defines no module(s) {missing} under 'modules'")
    return hparams, torch.nn.ModuleDict({m: modules[m] for m in MODULES})


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

        from meetsep.audio import resample

        audio = resample(np.asarray(mixture, dtype=np.float32), rate, self.sample_rate)
        with torch.inference_mode():
            out = self.net(torch.from_numpy(np.ascontiguousarray(audio))[None])[0].numpy()
        out = resample(out, self.sample_rate, rate)
        length = len(mixture)
        if out.shape[1] < length:
            out = np.pad(out, ((0, 0), (0, length - out.shape[1])))
        return out[:, :length].astype(np.float32)


def load_speechbrain_folder(folder: Path) -> SeparationModel:
    """Load a SpeechBrain pretrained separation folder safely (see the module docstring)."""
    import torch

    folder = Path(folder)
    yaml_path = folder / "hyperparams.yaml"
    if not yaml_path.is_file():
        raise ValueError(f"{folder}: no hyperparams.yaml (not a SpeechBrain pretrained folder)")
    hparams, modules = build_modules(checked_hyperparams(yaml_path))
    for name in MODULES:
        ckpt = folder / f"{name}.ckpt"
        if not ckpt.is_file():
            raise ValueError(f"{folder}: {name}.ckpt is missing")
        try:
            state = torch.load(ckpt, map_location="cpu", weights_only=True)
        except Exception as error:  # pickle refused by weights_only, truncated file, ...
            raise ValueError(f"{ckpt}: not a safe state dict ({str(error).splitlines()[0]})") from None
        try:
            modules[name].load_state_dict(state, strict=True)
        except RuntimeError as error:
            raise ValueError(f"{ckpt}: does not fit hyperparams.yaml ({str(error).splitlines()[0]})") from None
    modules.eval()
    num_spks = int(hparams.get("num_spks", 2))
    return SeparationModel(
        SeparationNet(modules, num_spks), int(hparams.get("sample_rate", 8000)), num_spks, str(folder)
    )


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


def load_separation_model(path: str | Path) -> SeparationModel:
    """A SpeechBrain folder or an asteroid ConvTasNet file (``.pth``/``.ckpt``/``.bin``)."""
    path = Path(path)
    if path.is_dir():
        return load_speechbrain_folder(path)
    if path.is_file():
        from meetsep.asteroid_convtasnet import load_asteroid_convtasnet

        module, rate, sources = load_asteroid_convtasnet(path)
        return SeparationModel(module, rate, sources, str(path))
    raise ValueError(f"{path}: no such separation model folder or file")
