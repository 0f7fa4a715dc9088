"""SpeechBrain separation hyperparameters read as data, and the modules meetsep builds from them.

A SpeechBrain pretrained folder's ``hyperparams.yaml`` is HyperPyYAML, whose loader can call any
Python object (``!new:``, ``!name:``, ``!apply:``, ``!!python/object/apply:``, ``!include:``). meetsep
never hands a user's file to it. :func:`read_hyperparams` parses the file with a YAML loader that
knows two tags and maps them to plain data:

- ``!new:CLASS`` with a mapping of keyword arguments, where CLASS is one of :data:`CLASSES`
  (SpeechBrain's separation encoder, decoder and mask networks; the ``Pretrainer`` block such
  folders carry is accepted and ignored) → a :class:`New` record;
- ``!ref <name>`` (also a little arithmetic, ``!ref <kernel_size> // 2``, or a string with
  references in it) → a :class:`Ref` record, resolved against the file's top-level keys.

Every other tag (python tags, ``!name:``, ``!apply:``, ``!include:``, ``!copy``, tags spelled with
``%``-escapes or ``%TAG`` directives, which YAML decodes before the loader sees them) and every
alias (``*name``) is refused with one line naming the file, the line and the tag.
:func:`build_separation_modules` then constructs ``encoder``, ``masknet`` and ``decoder`` itself,
from a fixed import table, after checking each keyword argument against :data:`CLASSES` (known
name, type, allowed choices, bounded size). Nothing in the file chooses what code runs.
"""

from __future__ import annotations

import ast
import importlib
import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from meetsep.core.errors import TRUST_HINT, ModelFileError

MODULES = ("encoder", "masknet", "decoder")
MAX_YAML_BYTES = 1 << 20
MAX_INT = 1 << 20  # channels, layers, kernel sizes: far above any separation model, far below a memory bomb

Check = Callable[[Any], Any]  # returns the checked value or raises ValueError saying why


def _integer(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_INT:
        raise ValueError(f"expected an integer from 0 to {MAX_INT}, got {value!r}")
    return value


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"expected a finite number, got {value!r}")
    return value


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {value!r}")
    return value


def _optional(check: Check) -> Check:
    return lambda value: None if value is None else check(value)


def _choice(*allowed: str) -> Check:
    def check(value: Any) -> str:
        if value not in allowed:
            raise ValueError(f"expected one of {', '.join(allowed)}, got {value!r}")
        return value

    return check


def _integers(value: Any) -> list[int]:
    if not isinstance(value, list) or len(value) > 8:
        raise ValueError(f"expected a short list of integers, got {value!r}")
    return [_integer(item) for item in value]


BLOCK = "block"  # marks an argument that takes one of the BLOCKS, built first


@dataclass(frozen=True)
class ClassSpec:
    """A class meetsep may build: where it lives, its keyword arguments and which ones are required."""

    module: str
    name: str
    arguments: dict[str, Check | str]
    required: tuple[str, ...] = ()


_DUAL_PATH = "speechbrain.lobes.models.dual_path"
BLOCKS = {f"{_DUAL_PATH}.SBTransformerBlock", f"{_DUAL_PATH}.SBRNNBlock"}
# fmt: off
CLASSES: dict[str, ClassSpec | None] = {
    f"{_DUAL_PATH}.Encoder": ClassSpec(_DUAL_PATH, "Encoder", {
        "kernel_size": _integer, "out_channels": _integer, "in_channels": _integer}),
    f"{_DUAL_PATH}.Decoder": ClassSpec(_DUAL_PATH, "Decoder", {  # a torch ConvTranspose1d
        "in_channels": _integer, "out_channels": _integer, "kernel_size": _integer, "stride": _integer,
        "padding": _integer, "output_padding": _integer, "groups": _integer, "bias": _flag, "dilation": _integer},
        ("in_channels", "out_channels", "kernel_size")),
    f"{_DUAL_PATH}.Dual_Path_Model": ClassSpec(_DUAL_PATH, "Dual_Path_Model", {
        "in_channels": _integer, "out_channels": _integer, "intra_model": BLOCK, "inter_model": BLOCK,
        "num_layers": _integer, "norm": _choice("ln", "gln", "cln", "bn"), "K": _integer, "num_spks": _integer,
        "skip_around_intra": _flag, "linear_layer_after_inter_intra": _flag, "use_global_pos_enc": _flag,
        "max_length": _integer}, ("in_channels", "out_channels", "intra_model", "inter_model")),
    f"{_DUAL_PATH}.SBTransformerBlock": ClassSpec(_DUAL_PATH, "SBTransformerBlock", {
        "num_layers": _integer, "d_model": _integer, "nhead": _integer, "d_ffn": _integer,
        "input_shape": _optional(_integers), "kdim": _optional(_integer), "vdim": _optional(_integer),
        "dropout": _number, "activation": _choice("relu", "gelu"), "use_positional_encoding": _flag,
        "norm_before": _flag, "attention_type": _choice("regularMHA", "RelPosMHAXL", "hypermixing", "RoPEMHA")},
        ("num_layers", "d_model", "nhead")),
    f"{_DUAL_PATH}.SBRNNBlock": ClassSpec(_DUAL_PATH, "SBRNNBlock", {
        "input_size": _integer, "hidden_channels": _integer, "num_layers": _integer,
        "rnn_type": _choice("LSTM", "GRU", "RNN", "LiGRU"), "dropout": _number, "bidirectional": _flag},
        ("input_size", "hidden_channels", "num_layers")),
    "speechbrain.lobes.models.conv_tasnet.MaskNet": ClassSpec("speechbrain.lobes.models.conv_tasnet", "MaskNet", {
        "N": _integer, "B": _integer, "H": _integer, "P": _integer, "X": _integer, "R": _integer, "C": _integer,
        "norm_type": _choice("gLN", "cLN", "BN"), "causal": _flag, "mask_nonlinear": _choice("softmax", "relu")},
        ("N", "B", "H", "P", "X", "R", "C")),
    # pretrained folders declare what SpeechBrain's own loader should fetch: accepted, never built
    "speechbrain.utils.parameter_transfer.Pretrainer": None,
}
# fmt: on


@dataclass(frozen=True)
class New:
    """A ``!new:`` node: a class of :data:`CLASSES` and its keyword arguments, as data."""

    target: str
    arguments: dict[str, Any]
    line: int


@dataclass(frozen=True)
class Ref:
    """A ``!ref`` node: its expression text, resolved by :func:`resolve`."""

    expression: str
    line: int


def _refused(source: str, line: int, what: str) -> ModelFileError:
    return ModelFileError(f"{source}: line {line}: {what}; {TRUST_HINT}")


class _Loader(yaml.SafeLoader):
    """YAML's safe loader plus ``!new:`` (allow-listed classes) and ``!ref``, no aliases, nothing else."""

    source = "hyperparams.yaml"

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise _refused(self.source, event.start_mark.line + 1, f"YAML alias *{event.anchor} is not accepted")
        return super().compose_node(parent, index)

    def construct_new(self, suffix: str, node: yaml.Node) -> New:
        line = node.start_mark.line + 1
        if suffix not in CLASSES:
            raise _refused(self.source, line, f"tag !new:{suffix} is not an allowed SpeechBrain separation class")
        if isinstance(node, yaml.ScalarNode) and node.value == "":
            return New(suffix, {}, line)
        if not isinstance(node, yaml.MappingNode):
            raise _refused(self.source, line, f"tag !new:{suffix} takes keyword arguments (a mapping) only")
        arguments = self.construct_mapping(node, deep=True)
        if not all(isinstance(key, str) for key in arguments):
            raise _refused(self.source, line, f"tag !new:{suffix} has a non-text argument name")
        return New(suffix, arguments, line)

    def construct_ref(self, node: yaml.Node) -> Ref:
        if not isinstance(node, yaml.ScalarNode):
            raise _refused(self.source, node.start_mark.line + 1, "tag !ref takes a text like <name>")
        return Ref(str(node.value), node.start_mark.line + 1)

    def refuse_tag(self, node: yaml.Node) -> Any:
        raise _refused(self.source, node.start_mark.line + 1, f"tag {node.tag} is not allowed")


_Loader.add_multi_constructor("!new:", _Loader.construct_new)
_Loader.add_constructor("!ref", _Loader.construct_ref)
_Loader.add_constructor(None, _Loader.refuse_tag)  # any tag without a constructor above or in SafeLoader


def read_hyperparams(text: str, source: str | Path) -> dict[str, Any]:
    """Parse hyperparameters YAML into plain data (:class:`New` / :class:`Ref` records for the two tags).

    Raises:
        ModelFileError: a refused tag or alias, invalid YAML, or not a mapping of names; one line
            naming ``source``.
    """
    source = str(source)
    if len(text.encode("utf-8", "surrogatepass")) > MAX_YAML_BYTES:
        raise ModelFileError(f"{source}: larger than {MAX_YAML_BYTES} bytes (not a hyperparameters file)")
    loader = _Loader(text)
    loader.source = source
    try:
        data = loader.get_single_data()
    except yaml.YAMLError as error:
        raise ModelFileError(f"{source}: invalid YAML ({' '.join(str(error).split())[:200]})") from None
    except RecursionError:
        raise ModelFileError(f"{source}: YAML nested too deeply") from None
    finally:
        loader.dispose()
    if not isinstance(data, dict) or not all(isinstance(key, str) for key in data):
        raise ModelFileError(f"{source}: expected a mapping of names to values")
    return data


_REFERENCE = re.compile(r"<([A-Za-z_][\w-]*)>")
_OPERATORS: dict[type, Callable[..., Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
}


def _arithmetic(node: ast.AST, values: dict[str, Any]) -> Any:
    """Evaluate +, -, *, /, //, % over numbers and resolved numeric references; ValueError otherwise."""
    if isinstance(node, ast.Expression):
        return _arithmetic(node.body, values)
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return node.value
    if isinstance(node, ast.Name) and node.id in values and type(values[node.id]) in (int, float):
        return values[node.id]
    if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
        left, right = _arithmetic(node.left, values), _arithmetic(node.right, values)
        if abs(left) > MAX_INT**2 or abs(right) > MAX_INT**2:
            raise ValueError("number too large")
        return _OPERATORS[type(node.op)](left, right)
    if isinstance(node, ast.UnaryOp) and type(node.op) in _OPERATORS:
        return _OPERATORS[type(node.op)](_arithmetic(node.operand, values))
    raise ValueError("not arithmetic")


def resolve(value: Any, top: dict[str, Any], source: str, active: tuple[str, ...] = ()) -> Any:
    """``value`` with every :class:`Ref` replaced by what it names (top-level keys), recursively."""
    if isinstance(value, Ref):
        return _resolve_ref(value, top, source, active)
    if isinstance(value, New):
        return New(value.target, {k: resolve(v, top, source, active) for k, v in value.arguments.items()}, value.line)
    if isinstance(value, dict):
        return {k: resolve(v, top, source, active) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, top, source, active) for v in value]
    return value


def _resolve_ref(ref: Ref, top: dict[str, Any], source: str, active: tuple[str, ...]) -> Any:
    names = _REFERENCE.findall(ref.expression)
    if not names:
        raise ModelFileError(f"{source}: line {ref.line}: !ref {ref.expression!r} names nothing (expected <name>)")
    values = {}
    for name in names:
        if name not in top:
            raise ModelFileError(f"{source}: line {ref.line}: !ref <{name}>: no top-level key {name!r}")
        if name in active:
            raise ModelFileError(f"{source}: line {ref.line}: !ref <{name}> refers to itself")
        values[name] = resolve(top[name], top, source, (*active, name))
    if _REFERENCE.fullmatch(ref.expression.strip()):
        return values[names[0]]
    placeholders = {f"_ref{index}": values[name] for index, name in enumerate(names)}
    text = ref.expression
    for index, name in enumerate(names):
        text = text.replace(f"<{name}>", f"_ref{index}", 1)
    try:
        return _arithmetic(ast.parse(text.strip(), mode="eval"), placeholders)
    except (SyntaxError, ValueError, ZeroDivisionError, OverflowError, RecursionError):
        pass
    if not all(type(v) in (str, int, float, bool) for v in values.values()):
        raise ModelFileError(f"{source}: line {ref.line}: !ref {ref.expression!r} mixes text and non-scalar values")
    return _REFERENCE.sub(lambda match: str(values[match.group(1)]), ref.expression)


def _build(spec: Any, source: str, where: str) -> Any:
    """Construct the module a :class:`New` record describes, after checking every argument."""
    if not isinstance(spec, New) or CLASSES.get(spec.target) is None:
        raise ModelFileError(f"{source}: {where} must be a !new: of a SpeechBrain separation module")
    allowed = CLASSES[spec.target]
    assert allowed is not None
    missing = [name for name in allowed.required if name not in spec.arguments]
    if missing:
        raise ModelFileError(f"{source}: line {spec.line}: {allowed.name} needs {', '.join(missing)}")
    arguments: dict[str, Any] = {}
    for name, value in spec.arguments.items():
        check = allowed.arguments.get(name)
        if check is None:
            raise ModelFileError(f"{source}: line {spec.line}: {allowed.name} takes no argument {name!r}")
        if check == BLOCK:
            if not isinstance(value, New) or value.target not in BLOCKS:
                raise ModelFileError(f"{source}: line {spec.line}: {allowed.name}.{name} must be a !new: of {BLOCKS}")
            arguments[name] = _build(value, source, f"{where}.{name}")
            continue
        try:
            arguments[name] = check(value)  # type: ignore[operator]
        except ValueError as error:
            raise ModelFileError(f"{source}: line {spec.line}: {allowed.name}.{name}: {error}") from None
    cls = getattr(importlib.import_module(allowed.module), allowed.name)  # from the table, never from the file
    try:
        return cls(**arguments)
    except Exception as error:  # arguments of the right types that the class still rejects
        detail = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ModelFileError(f"{source}: line {spec.line}: {allowed.name}: {detail}") from None


def build_separation_modules(data: dict[str, Any], source: str | Path) -> tuple[dict[str, Any], Any]:
    """``(hparams, torch.nn.ModuleDict)``: ``sample_rate`` and ``num_spks``, and the three modules.

    Args:
        data: what :func:`read_hyperparams` returned.
    """
    import torch

    source = str(source)
    modules = resolve(data.get("modules"), data, source)
    if not isinstance(modules, dict):
        raise ModelFileError(f"{source}: no 'modules' mapping (encoder, masknet, decoder)")
    missing = [name for name in MODULES if name not in modules]
    if missing:
        raise ModelFileError(f"{source}: 'modules' lacks {', '.join(missing)}")
    hparams = {}
    for key, default, low, high in (("sample_rate", 8000, 8000, 192000), ("num_spks", 2, 1, 16)):
        value = resolve(data.get(key, default), data, source)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ModelFileError(f"{source}: {key} must be an integer from {low} to {high}, got {value!r}")
        hparams[key] = value
    masknet = modules["masknet"]
    sources = masknet.arguments.get("C", masknet.arguments.get("num_spks")) if isinstance(masknet, New) else None
    if sources is not None and sources != hparams["num_spks"]:
        raise ModelFileError(f"{source}: the masknet makes {sources} sources, num_spks says {hparams['num_spks']}")
    built = torch.nn.ModuleDict({name: _build(modules[name], source, f"modules.{name}") for name in MODULES})
    return hparams, built
