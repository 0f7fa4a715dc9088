"""Load asteroid ConvTasNet checkpoints with torch alone (asteroid itself is not needed).

asteroid's ``model.serialize()`` (the ``.pth`` its recipes publish, and the ``pytorch_model.bin`` of
its Hugging Face model cards) is a plain dict: ``model_name``, ``model_args`` (filterbank +
TDConvNet settings, ``sample_rate``), ``state_dict`` and ``infos`` (software versions, as strings).
It is read with ``torch.load(weights_only=True)``, so an untrusted file cannot run code; the one
class allowed beyond torch's defaults is ``torch.torch_version.TorchVersion`` (a ``str``), which
``serialize()`` writes into ``infos``. A Lightning training checkpoint of asteroid's ``System``
(``state_dict`` keys prefixed ``model.``, the recipe config under ``training_config``) is accepted too.

The network rebuilt here has asteroid's module layout, so its ``state_dict`` keys match and load
with ``strict=True``: a "free" filterbank encoder (``Conv1d`` with the learnt filters) and decoder
(``ConvTranspose1d``), and the TDConvNet masker (bottleneck, ``n_repeats`` x ``n_blocks`` dilated
depth-wise blocks with residual and skip outputs, mask convolution and activation). As in asteroid,
the decoded waveforms are right-padded or cropped to the input length. Keys missing from
``model_args`` take ConvTasNet's defaults; ``padding``/``output_padding`` (which ``serialize()``
never writes, but asteroid's loader would pass on to its filterbanks) are honoured when present.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

EPS = 1e-8

# ConvTasNet's constructor defaults (asteroid.models.ConvTasNet), used when model_args omits a key.
DEFAULTS: dict[str, Any] = dict(
    out_chan=None,
    n_blocks=8,
    n_repeats=3,
    bn_chan=128,
    hid_chan=512,
    skip_chan=128,
    conv_kernel_size=3,
    norm_type="gLN",
    mask_act="sigmoid",
    in_chan=None,
    causal=False,
    fb_name="free",
    kernel_size=16,
    n_filters=512,
    stride=8,
    encoder_activation=None,
    sample_rate=8000,
    padding=0,
    output_padding=0,
)
FREE_FILTERBANKS = {"free", "FreeFB"}
MODEL_NAMES = {"ConvTasNet"}


class _Norm(nn.Module):
    """asteroid's layer norms: normalise ``(batch, chan, time)`` over ``dims``, then per-channel gain/bias."""

    def __init__(self, channels: int, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self.gamma = nn.Parameter(torch.ones(channels))
        self.beta = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(batch, chan, time)`` → same shape."""
        if self.kind == "cgLN":  # cumulative over channels and past frames
            channels, frames = x.shape[1], x.shape[2]
            count = torch.arange(channels, channels * (frames + 1), channels, dtype=x.dtype, device=x.device)
            mean = torch.cumsum(x.sum(1, keepdim=True), dim=-1) / count
            var = torch.cumsum(x.pow(2).sum(1, keepdim=True), dim=-1) / count - mean.pow(2)
        else:
            dims = {"gLN": list(range(1, x.ndim)), "cLN": [1], "fgLN": list(range(2, x.ndim))}[self.kind]
            mean = x.mean(dim=dims, keepdim=True)
            var = torch.var(x, dim=dims, keepdim=True, unbiased=False)
        normed = (x - mean) / torch.sqrt(var + EPS)
        return (self.gamma * normed.transpose(1, -1) + self.beta).transpose(1, -1)


# asteroid's norm names (aliases and class names) → the kind computed here.
NORMS = {
    "gLN": "gLN",
    "GlobLN": "gLN",
    "cLN": "cLN",
    "ChanLN": "cLN",
    "cgLN": "cgLN",
    "CumLN": "cgLN",
    "fgLN": "fgLN",
    "FeatsGlobLN": "fgLN",
    "bN": "BN",
    "BatchNorm": "BN",
}


def make_norm(name: str, channels: int) -> nn.Module:
    kind = NORMS[name]
    if kind == "BN":  # asteroid's BatchNorm is torch's, with the same parameters and buffers
        return nn.BatchNorm1d(channels)
    return _Norm(channels, kind)


class _Swish(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(x)


# Mask activations by asteroid's name; softmax runs over the source axis, as asteroid's TDConvNet does.
ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "linear": nn.Identity,
    "relu": nn.ReLU,
    "prelu": nn.PReLU,
    "leaky_relu": nn.LeakyReLU,
    "sigmoid": nn.Sigmoid,
    "softmax": lambda: nn.Softmax(dim=1),
    "tanh": nn.Tanh,
    "gelu": nn.GELU,
    "swish": _Swish,
}


class _Chop(nn.Module):
    """Drops the last ``size`` frames (causal convolutions pad both sides, keep the left)."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[..., : -self.size].contiguous()


class _Block(nn.Module):
    """1x1 conv → PReLU → norm → dilated depth-wise conv → PReLU → norm, then residual (+ skip) 1x1 convs."""

    def __init__(
        self, bn_chan: int, hid_chan: int, skip_chan: int, kernel: int, dilation: int, norm: str, causal: bool
    ) -> None:
        super().__init__()
        self.skip_chan = skip_chan
        padding = (kernel - 1) * dilation if causal else (kernel - 1) * dilation // 2
        depth: nn.Module = nn.Conv1d(hid_chan, hid_chan, kernel, padding=padding, dilation=dilation, groups=hid_chan)
        if causal:
            depth = nn.Sequential(depth, _Chop(padding))
        self.shared_block = nn.Sequential(
            nn.Conv1d(bn_chan, hid_chan, 1),
            nn.PReLU(),
            make_norm(norm, hid_chan),
            depth,
            nn.PReLU(),
            make_norm(norm, hid_chan),
        )
        self.res_conv = nn.Conv1d(hid_chan, bn_chan, 1)
        if skip_chan:
            self.skip_conv = nn.Conv1d(hid_chan, skip_chan, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(batch, bn_chan, frames)`` → residual ``(batch, bn_chan, frames)``, skip ``(batch, skip_chan, frames)``."""
        shared = self.shared_block(x)
        return self.res_conv(shared), (self.skip_conv(shared) if self.skip_chan else None)


class TDConvNet(nn.Module):
    """Conv-TasNet's temporal convolutional masker: ``(batch, in_chan, frames)`` → ``(batch, n_src, out_chan, frames)``."""

    def __init__(
        self,
        in_chan: int,
        n_src: int,
        out_chan: int,
        n_blocks: int,
        n_repeats: int,
        bn_chan: int,
        hid_chan: int,
        skip_chan: int,
        conv_kernel_size: int,
        norm_type: str,
        mask_act: str,
        causal: bool,
    ) -> None:
        super().__init__()
        self.n_src, self.out_chan, self.skip_chan = n_src, out_chan, skip_chan
        self.bottleneck = nn.Sequential(make_norm(norm_type, in_chan), nn.Conv1d(in_chan, bn_chan, 1))
        self.TCN = nn.ModuleList(
            _Block(bn_chan, hid_chan, skip_chan, conv_kernel_size, 2**x, norm_type, causal)
            for _ in range(n_repeats)
            for x in range(n_blocks)
        )
        self.mask_net = nn.Sequential(nn.PReLU(), nn.Conv1d(skip_chan or bn_chan, n_src * out_chan, 1))
        self.output_act = ACTIVATIONS[mask_act]()

    def forward(self, mixture: torch.Tensor) -> torch.Tensor:
        batch, _, frames = mixture.shape
        output = self.bottleneck(mixture)
        skips: torch.Tensor | float = 0.0
        for block in self.TCN:
            residual, skip = block(output)
            if skip is not None:
                skips = skips + skip
            output = output + residual
        score = self.mask_net(skips if self.skip_chan else output)
        return self.output_act(score.view(batch, self.n_src, self.out_chan, frames))


class _FreeFilterbank(nn.Module):
    """The learnt filters, ``(n_filters, 1, kernel_size)``, under asteroid's parameter name."""

    def __init__(self, n_filters: int, kernel_size: int) -> None:
        super().__init__()
        self._filters = nn.Parameter(torch.zeros(n_filters, 1, kernel_size))


class FreeEncoder(nn.Module):
    """``(batch, 1, time)`` → ``(batch, n_filters, frames)``: strided convolution with the filters."""

    def __init__(self, n_filters: int, kernel_size: int, stride: int, padding: int) -> None:
        super().__init__()
        self.filterbank = _FreeFilterbank(n_filters, kernel_size)
        self.stride, self.padding = stride, padding

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        return F.conv1d(wav, self.filterbank._filters, stride=self.stride, padding=self.padding)


class FreeDecoder(FreeEncoder):
    """``(..., n_filters, frames)`` → ``(..., samples)``: overlap-add (transposed convolution)."""

    def __init__(self, n_filters: int, kernel_size: int, stride: int, padding: int, output_padding: int) -> None:
        super().__init__(n_filters, kernel_size, stride, padding)
        self.output_padding = output_padding

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        wav = F.conv_transpose1d(
            spec.reshape((-1,) + spec.shape[-2:]),
            self.filterbank._filters,
            stride=self.stride,
            padding=self.padding,
            output_padding=self.output_padding,
        )
        return wav.view(spec.shape[:-2] + (-1,))


class ConvTasNet(nn.Module):
    """asteroid's ConvTasNet forward: ``(batch, time)`` or ``(time,)`` → ``(batch, n_src, time)`` / ``(n_src, time)``."""

    def __init__(self, args: dict[str, Any]) -> None:
        super().__init__()
        n_filters, kernel_size = int(args["n_filters"]), int(args["kernel_size"])
        stride = int(args["stride"] or kernel_size // 2)
        self.encoder = FreeEncoder(n_filters, kernel_size, stride, int(args["padding"]))
        self.decoder = FreeDecoder(n_filters, kernel_size, stride, int(args["padding"]), int(args["output_padding"]))
        self.enc_activation = ACTIVATIONS[args["encoder_activation"] or "linear"]()
        self.masker = TDConvNet(
            n_filters,
            int(args["n_src"]),
            int(args["out_chan"] or n_filters),
            int(args["n_blocks"]),
            int(args["n_repeats"]),
            int(args["bn_chan"]),
            int(args["hid_chan"]),
            int(args["skip_chan"] or 0),
            int(args["conv_kernel_size"]),
            args["norm_type"],
            args["mask_act"],
            bool(args["causal"]),
        )

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        single = wav.ndim == 1
        wav = wav.reshape(1, 1, -1) if single else wav.unsqueeze(1)  # (batch, 1, time)
        tf_rep = self.enc_activation(self.encoder(wav))  # (batch, n_filters, frames)
        masked = self.masker(tf_rep) * tf_rep.unsqueeze(1)  # (batch, n_src, n_filters, frames)
        decoded = self.decoder(masked)  # (batch, n_src, (frames - 1) * stride + kernel_size)
        decoded = F.pad(decoded, [0, wav.shape[-1] - decoded.shape[-1]])  # right-pad or crop to the input
        return decoded[0] if single else decoded


def _model_args(conf: dict[str, Any]) -> dict[str, Any] | None:
    """``model_args``, or the filterbank + masknet + sample rate of a Lightning ``training_config``."""
    if isinstance(conf.get("model_args"), dict):
        return conf["model_args"]
    config = conf.get("training_config")
    if (
        isinstance(config, dict)
        and isinstance(config.get("filterbank"), dict)
        and isinstance(config.get("masknet"), dict)
    ):
        data = config.get("data") if isinstance(config.get("data"), dict) else {}
        args = {
            **config["filterbank"],
            **config["masknet"],
            "sample_rate": data.get("sample_rate", DEFAULTS["sample_rate"]),
        }
        if "n_src" not in args and "n_src" in data:
            args["n_src"] = data["n_src"]
        return args
    return None


def _check_args(args: dict[str, Any]) -> str | None:
    """Why asteroid-style ``args`` cannot be rebuilt here, or None."""
    if args["fb_name"] not in FREE_FILTERBANKS:
        return f"filterbank {args['fb_name']!r} is not supported (only the 'free' filterbank is)"
    if args.get("who_is_pinv") not in (None, "None"):
        return "pseudo-inverse filterbanks (who_is_pinv) are not supported"
    if args["norm_type"] not in NORMS:
        return f"norm_type {args['norm_type']!r} is not supported (one of {', '.join(NORMS)})"
    if args["mask_act"] not in ACTIVATIONS:
        return f"mask_act {args['mask_act']!r} is not supported (one of {', '.join(ACTIVATIONS)})"
    if (args["encoder_activation"] or "linear") not in set(ACTIVATIONS) - {"softmax"}:
        return f"encoder_activation {args['encoder_activation']!r} is not supported"
    if args["in_chan"] not in (None, args["n_filters"]) or args["out_chan"] not in (None, args["n_filters"]):
        return "in_chan and out_chan must equal n_filters"
    if "n_src" not in args:
        return "model_args has no n_src"
    return None


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text if len(text) <= 300 else text[:297] + "..."


def load_asteroid_convtasnet(path: Path) -> tuple[nn.Module, int, int]:
    """Read an asteroid ConvTasNet file → (network in eval mode, sample rate, number of sources).

    The network maps ``(batch, time)`` float32 → ``(batch, n_src, time)``. Raises ``ValueError``
    (message starting with ``path``) for anything that is not a supported ConvTasNet checkpoint.
    """
    from torch.torch_version import TorchVersion

    path = Path(path)
    try:
        # serialize() stores torch.__version__, a TorchVersion (a str subclass): allow just that class.
        with torch.serialization.safe_globals([TorchVersion]):
            conf = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # pickled code refused by weights_only, not a torch file, truncated, ...
        raise ValueError(f"{path}: not a safe torch checkpoint ({_one_line(error)})") from None
    if not isinstance(conf, dict):
        raise ValueError(f"{path}: not an asteroid checkpoint (holds a {type(conf).__name__}, not a dict)")
    name = conf.get("model_name")
    if name is not None and name not in MODEL_NAMES:
        raise ValueError(f"{path}: asteroid model {name!r} is not supported (only ConvTasNet is)")
    given, state = _model_args(conf), conf.get("state_dict")
    if given is None or not isinstance(state, dict):
        raise ValueError(
            f"{path}: not an asteroid checkpoint (needs 'model_args' and 'state_dict', has {sorted(map(str, conf))[:10]})"
        )
    args = {**DEFAULTS, **given}
    if args["causal"] and args["norm_type"] not in ("cgLN", "cLN"):
        args["norm_type"] = "cLN"  # as asteroid's ConvTasNet does for causal models
    problem = _check_args(args)
    if problem:
        raise ValueError(f"{path}: {problem}")
    if state and all(isinstance(key, str) and key.startswith("model.") for key in state):
        state = {key[len("model.") :]: value for key, value in state.items()}  # Lightning System checkpoint
    try:
        rate, sources = int(round(float(args["sample_rate"] or DEFAULTS["sample_rate"]))), int(args["n_src"])
        model = ConvTasNet(args)
    except (RuntimeError, TypeError, ValueError) as error:
        raise ValueError(f"{path}: model_args do not describe a ConvTasNet ({_one_line(error)})") from None
    try:
        model.load_state_dict(state, strict=True)
    except (RuntimeError, TypeError, ValueError, AttributeError) as error:
        raise ValueError(f"{path}: state_dict does not fit its model_args ({_one_line(error)})") from None
    return model.eval(), rate, sources
