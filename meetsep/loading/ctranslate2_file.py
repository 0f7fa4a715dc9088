"""Reading CTranslate2's ``model.bin``: every named variable as a NumPy array, and the aliases.

CTranslate2's ``model.bin`` (binary versions 4 to 6, as written by
``ctranslate2.specs.model_spec.ModelSpec._serialize``; all integers little-endian) is::

    uint32  binary_version
    string  spec name            (e.g. "WhisperSpec")
    uint32  spec revision
    uint32  number of variables
    repeated:  string name, uint8 rank, uint32 dims[rank], uint8 dtype id, uint32 num_bytes, bytes
    uint32  number of aliases
    repeated:  string alias, string target variable name

where ``string`` is ``uint16 length`` (including a trailing NUL) followed by the UTF-8 bytes and the NUL,
and dtype ids are 0 float32, 1 int8, 2 int16, 3 int32, 4 float16, 5 bfloat16. The file is data:
nothing in it is executed.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import numpy as np

SUPPORTED_BINARY_VERSIONS = (4, 5, 6)


_DTYPES: tuple[str, ...] = ("float32", "int8", "int16", "int32", "float16", "bfloat16")


_NUMPY_DTYPES: dict[str, np.dtype] = {
    "float32": np.dtype("<f4"),
    "int8": np.dtype("i1"),
    "int16": np.dtype("<i2"),
    "int32": np.dtype("<i4"),
    "float16": np.dtype("<f2"),
    "bfloat16": np.dtype("<u2"),
}


class _Reader:
    """Bounds-checked little-endian reader over the bytes of one file."""

    def __init__(self, data: bytes, path: Path) -> None:
        self.data = data
        self.pos = 0
        self.path = path

    def error(self, message: str) -> ValueError:
        return ValueError(f"{self.path}: not a valid CTranslate2 model.bin ({message})")

    def take(self, size: int, what: str) -> memoryview:
        end = self.pos + size
        if size < 0 or end > len(self.data):
            raise self.error(
                f"truncated while reading {what}: needs {size} bytes at offset {self.pos}, file has {len(self.data)}"
            )
        chunk = memoryview(self.data)[self.pos : end]
        self.pos = end
        return chunk

    def unpack(self, fmt: str, what: str) -> tuple[Any, ...]:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt), what))

    def u8(self, what: str) -> int:
        return int(self.unpack("B", what)[0])

    def u16(self, what: str) -> int:
        return int(self.unpack("H", what)[0])

    def u32(self, what: str) -> int:
        return int(self.unpack("I", what)[0])

    def string(self, what: str) -> str:
        length = self.u16(f"length of {what}")
        raw = bytes(self.take(length, what))
        if length == 0 or raw[-1] != 0:
            raise self.error(f"{what} is not NUL-terminated")
        try:
            return raw[:-1].decode("utf-8")
        except UnicodeDecodeError as exc:
            raise self.error(f"{what} is not UTF-8") from exc


def read_ctranslate2_variables(model_bin: Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Parse a CTranslate2 ``model.bin`` with numpy alone.

    Args:
        model_bin: path of the ``model.bin`` file.

    Returns:
        ``(variables, aliases)``: variables maps each name (e.g. ``"decoder/embeddings/weight"``) to a
        numpy array of its stored shape and dtype (scalars are 0-d arrays; bfloat16 is widened to
        float32); aliases maps each alias name to the name of the variable it shares
        (e.g. ``"decoder/projection/weight" -> "decoder/embeddings/weight"``).

    Raises:
        ValueError: naming the file, when it is truncated, malformed, has trailing bytes, an unknown
            dtype, or a binary version other than 4 to 6.
        OSError: when the file cannot be read.
    """
    path = Path(model_bin)
    reader = _Reader(path.read_bytes(), path)

    version = reader.u32("binary version")
    if version not in SUPPORTED_BINARY_VERSIONS:
        raise ValueError(
            f"{path}: unsupported CTranslate2 binary version {version} "
            f"(supported: {', '.join(map(str, SUPPORTED_BINARY_VERSIONS))})"
        )
    reader.string("spec name")
    reader.u32("spec revision")

    variables: dict[str, np.ndarray] = {}
    num_variables = reader.u32("variable count")
    for index in range(num_variables):
        name = reader.string(f"name of variable {index}")
        rank = reader.u8(f"rank of {name!r}")
        shape = tuple(reader.u32(f"shape of {name!r}") for _ in range(rank))
        type_id = reader.u8(f"dtype of {name!r}")
        if type_id >= len(_DTYPES):
            raise reader.error(f"variable {name!r} has unknown dtype id {type_id}")
        dtype_name = _DTYPES[type_id]
        dtype = _NUMPY_DTYPES[dtype_name]
        num_bytes = reader.u32(f"byte count of {name!r}")
        expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if num_bytes != expected:
            raise reader.error(
                f"variable {name!r} of shape {shape} and dtype {dtype_name} declares {num_bytes} "
                f"bytes, expected {expected}"
            )
        array = np.frombuffer(reader.take(num_bytes, f"data of {name!r}"), dtype=dtype).reshape(shape)
        if dtype_name == "bfloat16":
            array = (array.astype(np.uint32) << 16).view(np.float32)
        # Native byte order, own memory (the file's buffer is released once we return).
        variables[name] = array.astype(array.dtype.newbyteorder("="), copy=True)

    aliases: dict[str, str] = {}
    num_aliases = reader.u32("alias count")
    for index in range(num_aliases):
        alias = reader.string(f"alias {index}")
        aliases[alias] = reader.string(f"target of alias {alias!r}")

    if reader.pos != len(reader.data):
        raise reader.error(f"{len(reader.data) - reader.pos} unexpected trailing bytes")
    return variables, aliases
