"""Convert CTranslate2 Whisper weights (``model.bin``) into an openai-whisper checkpoint.

The weights are read by :func:`meetsep.loading.ctranslate2_file.read_ctranslate2_variables`.

The converted checkpoint is ``{"dims": {...}, "model_state_dict": {...}, "alignment_heads": [[layer,
head], ...]}``: loadable by ``whisper.load_model`` (which ignores ``alignment_heads``) or, with the
alignment heads that word timestamps need, by :func:`load_openai_whisper`.

Nothing here runs at import time; torch and whisper are imported inside the functions.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from meetsep.io.files import atomic_path
from meetsep.loading.ctranslate2_file import read_ctranslate2_variables

if TYPE_CHECKING:
    import torch
    import whisper.model

__all__ = [
    "convert_ctranslate2_to_openai_whisper",
    "load_openai_whisper",
]


def _resolve(variables: dict[str, np.ndarray], aliases: dict[str, str], name: str, source: Path) -> np.ndarray | None:
    """Look ``name`` up, following alias chains; ``None`` when absent."""
    seen: set[str] = set()
    while name in aliases and name not in variables:
        if name in seen:
            raise ValueError(f"{source}: alias cycle through {name!r}")
        seen.add(name)
        name = aliases[name]
    return variables.get(name)


def _sinusoids(length: int, channels: int, max_timescale: float = 10000.0) -> np.ndarray:
    """openai-whisper's encoder positional embedding (``whisper.model.sinusoids``), in numpy."""
    log_timescale_increment = np.log(max_timescale) / (channels // 2 - 1)
    inv_timescales = np.exp(-log_timescale_increment * np.arange(channels // 2, dtype=np.float32))
    scaled_time = np.arange(length, dtype=np.float32)[:, None] * inv_timescales[None, :]
    return np.concatenate([np.sin(scaled_time), np.cos(scaled_time)], axis=1).astype(np.float32)


class _Weights:
    """Name lookup over parsed CTranslate2 variables, dequantizing int8 weights on the way."""

    def __init__(self, variables: dict[str, np.ndarray], aliases: dict[str, str], source: Path) -> None:
        self.variables = variables
        self.aliases = aliases
        self.source = source

    def has(self, name: str) -> bool:
        return _resolve(self.variables, self.aliases, name, self.source) is not None

    def get(self, name: str) -> np.ndarray:
        value = _resolve(self.variables, self.aliases, name, self.source)
        if value is None:
            raise ValueError(f"{self.source}: missing variable {name!r}; not a CTranslate2 Whisper model?")
        if value.dtype in (np.int8, np.int16) and name.endswith("/weight"):
            scale = _resolve(self.variables, self.aliases, name + "_scale", self.source)
            if scale is None:
                raise ValueError(f"{self.source}: quantized {name!r} has no {name}_scale")
            # CTranslate2 quantizes per output row: q = round(w * scale).
            scale = np.asarray(scale, dtype=np.float32).reshape((-1,) + (1,) * (value.ndim - 1))
            value = value.astype(np.float32) / scale
        return value

    def scalar(self, name: str) -> int:
        value = self.get(name)
        if value.size != 1:
            raise ValueError(f"{self.source}: {name!r} should be a scalar, has shape {value.shape}")
        return int(value.reshape(-1)[0])


def _layer_count(weights: _Weights, prefix: str) -> int:
    count = 0
    while weights.has(f"{prefix}/layer_{count}/self_attention/linear_1/weight"):
        count += 1
    if count == 0:
        raise ValueError(f"{weights.source}: no {prefix} layers found; not a CTranslate2 Whisper model?")
    return count


def _build_state_dict(
    weights: _Weights,
) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """Map CTranslate2 Whisper variables onto openai-whisper state-dict names; derive the dims."""
    state: dict[str, np.ndarray] = {}

    def norm(target: str, source: str) -> None:
        state[f"{target}.weight"] = weights.get(f"{source}/gamma")
        state[f"{target}.bias"] = weights.get(f"{source}/beta")

    def linear(target: str, source: str, *, bias: bool = True) -> None:
        state[f"{target}.weight"] = weights.get(f"{source}/weight")
        if bias:
            state[f"{target}.bias"] = weights.get(f"{source}/bias")

    def mlp(target: str, source: str) -> None:
        norm(f"{target}.mlp_ln", f"{source}/ffn/layer_norm")
        linear(f"{target}.mlp.0", f"{source}/ffn/linear_0")
        linear(f"{target}.mlp.2", f"{source}/ffn/linear_1")

    def split_qkv(target: str, source: str, d: int) -> None:
        w = weights.get(f"{source}/weight")
        b = weights.get(f"{source}/bias")
        if w.shape != (3 * d, d) or b.shape != (3 * d,):
            raise ValueError(f"{weights.source}: {source} has shape {w.shape}, expected {(3 * d, d)}")
        state[f"{target}.query.weight"], state[f"{target}.key.weight"], state[f"{target}.value.weight"] = (
            w[:d],
            w[d : 2 * d],
            w[2 * d :],
        )
        state[f"{target}.query.bias"], state[f"{target}.value.bias"] = b[:d], b[2 * d :]
        # openai-whisper's key projection has no bias; CTranslate2 stores zeros there.
        if np.any(b[d : 2 * d] != 0):
            raise ValueError(f"{weights.source}: {source} has a non-zero key bias, which openai-whisper lacks")

    def split_kv(target: str, source: str, d: int) -> None:
        w = weights.get(f"{source}/weight")
        b = weights.get(f"{source}/bias")
        if w.shape != (2 * d, d) or b.shape != (2 * d,):
            raise ValueError(f"{weights.source}: {source} has shape {w.shape}, expected {(2 * d, d)}")
        state[f"{target}.key.weight"], state[f"{target}.value.weight"] = w[:d], w[d:]
        state[f"{target}.value.bias"] = b[d:]
        if np.any(b[:d] != 0):
            raise ValueError(f"{weights.source}: {source} has a non-zero key bias, which openai-whisper lacks")

    # --- encoder ---
    conv1 = weights.get("encoder/conv1/weight")  # (n_audio_state, n_mels, 3)
    n_audio_state, n_mels = int(conv1.shape[0]), int(conv1.shape[1])
    linear("encoder.conv1", "encoder/conv1")
    linear("encoder.conv2", "encoder/conv2")
    n_audio_layer = _layer_count(weights, "encoder")
    n_audio_head = weights.scalar("encoder/num_heads")
    if weights.has("encoder/position_encodings/encodings"):
        encoder_pos = weights.get("encoder/position_encodings/encodings")
        n_audio_ctx = int(encoder_pos.shape[0])
    else:  # not stored: openai-whisper's fixed sinusoids, 1500 frames for 30 s windows
        n_audio_ctx = 1500
        encoder_pos = _sinusoids(n_audio_ctx, n_audio_state)
    state["encoder.positional_embedding"] = encoder_pos
    for i in range(n_audio_layer):
        src, dst = f"encoder/layer_{i}", f"encoder.blocks.{i}"
        norm(f"{dst}.attn_ln", f"{src}/self_attention/layer_norm")
        split_qkv(f"{dst}.attn", f"{src}/self_attention/linear_0", n_audio_state)
        linear(f"{dst}.attn.out", f"{src}/self_attention/linear_1")
        mlp(dst, src)
    norm("encoder.ln_post", "encoder/layer_norm")

    # --- decoder ---
    embedding = weights.get("decoder/embeddings/weight")  # (n_vocab, n_text_state)
    n_vocab, n_text_state = int(embedding.shape[0]), int(embedding.shape[1])
    state["decoder.token_embedding.weight"] = embedding
    decoder_pos = weights.get("decoder/position_encodings/encodings")
    n_text_ctx = int(decoder_pos.shape[0])
    state["decoder.positional_embedding"] = decoder_pos
    n_text_layer = _layer_count(weights, "decoder")
    n_text_head = weights.scalar("decoder/num_heads")
    for i in range(n_text_layer):
        src, dst = f"decoder/layer_{i}", f"decoder.blocks.{i}"
        norm(f"{dst}.attn_ln", f"{src}/self_attention/layer_norm")
        split_qkv(f"{dst}.attn", f"{src}/self_attention/linear_0", n_text_state)
        linear(f"{dst}.attn.out", f"{src}/self_attention/linear_1")
        norm(f"{dst}.cross_attn_ln", f"{src}/attention/layer_norm")
        linear(f"{dst}.cross_attn.query", f"{src}/attention/linear_0")
        split_kv(f"{dst}.cross_attn", f"{src}/attention/linear_1", n_text_state)
        linear(f"{dst}.cross_attn.out", f"{src}/attention/linear_2")
        mlp(dst, src)
    norm("decoder.ln", "decoder/layer_norm")

    # openai-whisper ties the output projection to the token embedding: check CTranslate2 agrees.
    if weights.has("decoder/projection/weight"):
        projection = weights.get("decoder/projection/weight")
        if projection.shape != embedding.shape or not np.array_equal(projection, embedding):
            raise ValueError(
                f"{weights.source}: decoder/projection/weight differs from the token embedding; "
                "openai-whisper needs them tied"
            )
    if weights.has("decoder/projection/bias") and np.any(weights.get("decoder/projection/bias") != 0):
        raise ValueError(f"{weights.source}: decoder/projection/bias is non-zero; openai-whisper has none")

    dims = {
        "n_mels": n_mels,
        "n_audio_ctx": n_audio_ctx,
        "n_audio_state": n_audio_state,
        "n_audio_head": n_audio_head,
        "n_audio_layer": n_audio_layer,
        "n_vocab": n_vocab,
        "n_text_ctx": n_text_ctx,
        "n_text_state": n_text_state,
        "n_text_head": n_text_head,
        "n_text_layer": n_text_layer,
    }
    return state, dims


def _alignment_heads(config_path: Path, n_text_layer: int, n_text_head: int) -> list[list[int]]:
    """``alignment_heads`` from config.json, validated; default: every head of the last half layers."""
    heads: Any = None
    if config_path.is_file():
        try:
            heads = json.loads(config_path.read_text(encoding="utf-8")).get("alignment_heads")
        except (json.JSONDecodeError, AttributeError) as exc:
            raise ValueError(f"{config_path}: unreadable config.json ({exc})") from exc
    if not heads:  # CTranslate2's converter default
        return [[layer, head] for layer in range(n_text_layer // 2, n_text_layer) for head in range(n_text_head)]
    result: list[list[int]] = []
    for pair in heads:
        if not (isinstance(pair, (list, tuple)) and len(pair) == 2 and all(isinstance(x, int) for x in pair)):
            raise ValueError(f"{config_path}: alignment_heads entry {pair!r} is not a [layer, head] pair")
        layer, head = pair
        if not (0 <= layer < n_text_layer and 0 <= head < n_text_head):
            raise ValueError(
                f"{config_path}: alignment head {[layer, head]} is outside {n_text_layer} layers x {n_text_head} heads"
            )
        result.append([layer, head])
    return result


def convert_ctranslate2_to_openai_whisper(model_dir: Path, output_path: Path) -> Path:
    """Convert a CTranslate2 Whisper folder (``model.bin`` + ``config.json``) to an openai-whisper checkpoint.

    All model dimensions are derived from the weights. Weights keep their stored precision (float16
    stays float16, float32 stays float32; int8-quantized weights are dequantized to float32). The
    file is written atomically: a temporary file in the output folder, then ``os.replace``.

    Args:
        model_dir: folder holding ``model.bin`` and (optionally) ``config.json``.
        output_path: where to write the ``.pt`` checkpoint; parent folders are created.

    Returns:
        ``output_path``.

    Raises:
        ValueError: when ``model.bin`` is malformed or is not a Whisper model openai-whisper can hold.
        FileNotFoundError: when ``model_dir/model.bin`` does not exist.
    """
    import torch

    model_dir = Path(model_dir)
    output_path = Path(output_path)
    model_bin = model_dir / "model.bin"
    if not model_bin.is_file():
        raise FileNotFoundError(f"{model_bin}: no such file")

    variables, aliases = read_ctranslate2_variables(model_bin)
    arrays, dims = _build_state_dict(_Weights(variables, aliases, model_bin))
    alignment_heads = _alignment_heads(model_dir / "config.json", dims["n_text_layer"], dims["n_text_head"])

    state_dict: dict[str, torch.Tensor] = {}
    for name, array in arrays.items():
        if array.dtype not in (np.float16, np.float32):
            array = array.astype(np.float32)
        state_dict[name] = torch.from_numpy(np.ascontiguousarray(array))
    del variables, arrays

    checkpoint = {"dims": dims, "model_state_dict": state_dict, "alignment_heads": alignment_heads}
    with atomic_path(output_path) as temporary, open(temporary, "wb") as handle:
        torch.save(checkpoint, handle)
        handle.flush()
        os.fsync(handle.fileno())
    return output_path


def load_openai_whisper(checkpoint_path: Path, device: str = "cpu") -> whisper.model.Whisper:
    """Load a checkpoint written by :func:`convert_ctranslate2_to_openai_whisper` into openai-whisper.

    Loads with ``torch.load(weights_only=True)`` (no pickled code runs, so untrusted files are safe),
    builds ``Whisper(ModelDimensions(**dims))``, loads the state dict strictly, and sets the alignment
    heads from the checkpoint (a sparse bool ``(n_text_layer, n_text_head)`` buffer, as
    ``Whisper.set_alignment_heads`` makes) so ``transcribe(..., word_timestamps=True)`` uses them.
    Checkpoints without ``alignment_heads`` (e.g. openai's own) keep openai-whisper's default.

    Args:
        checkpoint_path: the ``.pt`` checkpoint.
        device: torch device for the model, e.g. ``"cpu"`` or ``"cuda"``.

    Returns:
        The model in eval mode on ``device``.

    Raises:
        ValueError: when the checkpoint lacks ``dims``/``model_state_dict`` or has bad alignment heads.
    """
    import torch
    from whisper.model import ModelDimensions, Whisper

    checkpoint_path = Path(checkpoint_path)
    checkpoint = torch.load(str(checkpoint_path), map_location="cpu", weights_only=True)
    if not isinstance(checkpoint, dict) or "dims" not in checkpoint or "model_state_dict" not in checkpoint:
        raise ValueError(f"{checkpoint_path}: not an openai-whisper checkpoint (needs dims and model_state_dict)")

    dims = ModelDimensions(**checkpoint["dims"])
    model = Whisper(dims)
    model.load_state_dict(checkpoint["model_state_dict"], strict=True)

    heads = checkpoint.get("alignment_heads")
    if heads is not None:
        mask = torch.zeros(dims.n_text_layer, dims.n_text_head, dtype=torch.bool)
        for pair in heads:
            layer, head = (int(x) for x in pair)
            if not (0 <= layer < dims.n_text_layer and 0 <= head < dims.n_text_head):
                raise ValueError(f"{checkpoint_path}: alignment head {[layer, head]} out of range")
            mask[layer, head] = True
        model.register_buffer("alignment_heads", mask.to_sparse(), persistent=False)
    return model.to(device).eval()
