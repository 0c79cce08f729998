"""Reading a GGUF file (llama.cpp's model format): its metadata, its tensor table, and its tensors dequantized.

Used in notebooks/08_llama.ipynb ("Beyond the book: the weights in the GGUF file"), where the learner dequantizes a
Q4_1 block by hand and proves `dequantize` equal to the `gguf` package's (the reference, as tiktoken is for the BPE).
This reader parses the header with `struct` and maps the tensors with numpy without copying them: the `gguf`
package's `GGUFReader` takes seconds to read the 98,052 strings of SmolLM2's tokenizer, this one a fraction of that.

The layout (version 2 and 3): the magic `GGUF`, a version, the number of tensors and of metadata entries; the
metadata entries (a key, a type, a value: numbers, strings, booleans or arrays of them); the tensor table (name,
shape with the fastest-changing dimension first, type, offset); then, aligned to `general.alignment` bytes (32 by
default), the tensors' bytes. Quantized types store blocks of 32 weights (see `dequantize`).
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

__all__ = [
    "GGML_TYPES",
    "GGUFFile",
    "GGUFFormatError",
    "GGUFTensorInfo",
    "dequantize",
    "read_gguf",
]

MAGIC = b"GGUF"
DEFAULT_ALIGNMENT = 32

# The tensor types this reader dequantizes: name -> (ggml type id, weights per block, bytes per block).
GGML_TYPES = {
    "F32": (0, 1, 4),
    "F16": (1, 1, 2),
    "Q4_0": (2, 32, 18),  # float16 scale d, 16 bytes of 4-bit numbers q: w = d (q - 8)
    "Q4_1": (3, 32, 20),  # float16 scale d and minimum m, 16 bytes of 4-bit numbers q: w = d q + m
    "Q8_0": (8, 32, 34),  # float16 scale d, 32 signed bytes q: w = d q
}
_TYPE_NAMES = {type_id: name for name, (type_id, _, _) in GGML_TYPES.items()}

# metadata value types: id -> struct format of one value (8: string, 9: array are read apart)
_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
_STRING, _ARRAY = 8, 9
_STRUCTS: dict[str, struct.Struct] = {}


class GGUFFormatError(ValueError):
    """The file is not a GGUF file this reader understands (wrong magic, cut short, unknown type)."""


@dataclass(frozen=True)
class GGUFTensorInfo:
    """One entry of the tensor table: `shape` in PyTorch's order (rows first), the type's name, where its bytes lie."""

    name: str
    shape: tuple[int, ...]
    type_name: str
    offset: int  # from the start of the file
    nbytes: int


class GGUFFile:
    """An open GGUF file: `metadata` (key -> value), `tensors` (name -> `GGUFTensorInfo`), `raw` and `tensor`."""

    def __init__(self, path: Path, metadata: dict[str, object], tensors: dict[str, GGUFTensorInfo],
                 data: np.memmap) -> None:
        self.path, self.metadata, self.tensors, self._data = path, metadata, tensors, data

    def __repr__(self) -> str:
        arch = self.metadata.get("general.architecture")
        return f"GGUFFile({self.path.name!r}, architecture={arch!r}, {len(self.tensors)} tensors)"

    def _info(self, name: str) -> GGUFTensorInfo:
        if name not in self.tensors:
            raise KeyError(f"{self.path.name} has no tensor {name!r}; it has {len(self.tensors)}, "
                           f"such as {list(self.tensors)[:3]}")
        return self.tensors[name]

    def raw(self, name: str) -> np.ndarray:
        """The stored bytes of tensor `name` as uint8 (quantized: one row of blocks per row of the tensor)."""
        info = self._info(name)
        _, per_block, block_bytes = GGML_TYPES[info.type_name]
        row_bytes = info.shape[-1] // per_block * block_bytes
        flat = self._data[info.offset : info.offset + info.nbytes]
        return np.asarray(flat).reshape(-1, row_bytes)

    def tensor(self, name: str) -> torch.Tensor:
        """Tensor `name` dequantized to float32, in PyTorch's shape (for a linear layer's weight: (out, in))."""
        info = self._info(name)
        return dequantize(self.raw(name), info.type_name).reshape(info.shape)


class _Cursor:
    """Reads little-endian values from a byte buffer, raising a `GGUFFormatError` where the file ends too soon."""

    def __init__(self, buffer: memoryview, path: Path) -> None:
        self.buffer, self.pos, self.path = buffer, 0, path

    def take(self, fmt: str) -> tuple:
        reader = _STRUCTS.get(fmt) or _STRUCTS.setdefault(fmt, struct.Struct(fmt))
        if self.pos + reader.size > len(self.buffer):
            raise GGUFFormatError(f"{self.path.name} is cut short: its header ends at byte {len(self.buffer)} (an "
                                  "interrupted download or copy); fetch the file again")
        values = reader.unpack_from(self.buffer, self.pos)
        self.pos += reader.size
        return values

    def string(self) -> str:
        (length,) = self.take("<Q")
        end = self.pos + length
        if end > len(self.buffer):
            self.take(f"<{length}s")  # raises: cut short
        text = str(self.buffer[self.pos : end], "utf-8", errors="replace")
        self.pos = end
        return text

    def value(self, type_id: int) -> object:
        if type_id in _SCALARS:
            return self.take("<" + _SCALARS[type_id])[0]
        if type_id == _STRING:
            return self.string()
        if type_id == _ARRAY:
            item_type, count = self.take("<IQ")
            if item_type in _SCALARS and item_type != 7:
                return list(self.take(f"<{count}{_SCALARS[item_type]}"))
            return [self.value(item_type) for _ in range(count)]
        raise GGUFFormatError(f"{self.path.name}: unknown metadata value type {type_id} at byte {self.pos}")


def read_gguf(path: str | os.PathLike) -> GGUFFile:
    """Open a GGUF file: parse its metadata and tensor table; the tensors stay on disk until `raw`/`tensor`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no GGUF file at {path}")
    data = np.memmap(path, dtype=np.uint8, mode="r")
    cursor = _Cursor(memoryview(data), path)
    if bytes(data[:4]) != MAGIC:
        raise GGUFFormatError(f"{path.name} is not a GGUF file: it starts with {bytes(data[:4])!r}, not {MAGIC!r}")
    cursor.pos = 4
    version, n_tensors, n_metadata = cursor.take("<IQQ")
    if version not in (2, 3):
        raise GGUFFormatError(f"{path.name} is GGUF version {version}; this reader knows versions 2 and 3")
    metadata = {}
    for _ in range(n_metadata):
        key = cursor.string()
        (type_id,) = cursor.take("<I")
        metadata[key] = cursor.value(type_id)
    table = []
    for _ in range(n_tensors):
        name = cursor.string()
        (n_dims,) = cursor.take("<I")
        dims = cursor.take(f"<{n_dims}Q")
        type_id, offset = cursor.take("<IQ")
        table.append((name, tuple(reversed(dims)), type_id, offset))
    alignment = int(metadata.get("general.alignment", DEFAULT_ALIGNMENT))
    start = -(-cursor.pos // alignment) * alignment  # the data section begins at the next multiple of alignment
    tensors = {}
    for name, shape, type_id, offset in table:
        if type_id not in _TYPE_NAMES:
            raise GGUFFormatError(f"{path.name}: tensor {name!r} has ggml type {type_id}, which this reader cannot "
                                  f"dequantize (it reads {', '.join(GGML_TYPES)})")
        type_name = _TYPE_NAMES[type_id]
        _, per_block, block_bytes = GGML_TYPES[type_name]
        numel = int(np.prod(shape))
        info = GGUFTensorInfo(name, shape, type_name, start + offset, numel // per_block * block_bytes)
        if info.offset + info.nbytes > len(data):
            raise GGUFFormatError(f"{path.name} is cut short: tensor {name!r} ends at byte "
                                  f"{info.offset + info.nbytes:,}, the file at {len(data):,} (an interrupted download "
                                  "or copy); fetch it again")
        tensors[name] = info
    return GGUFFile(path, metadata, tensors, data)


def dequantize(raw: np.ndarray, type_name: str) -> torch.Tensor:
    """The float32 weights stored in `raw` (uint8, rows of whole blocks) as a flat tensor, for type `type_name`.

    Q4_1, for instance, stores each block of 32 weights in 20 bytes: a float16 scale d, a float16 minimum m, and 32
    4-bit numbers q from 0 to 15, two per byte (the low halves of the 16 bytes are weights 0-15, the high halves
    weights 16-31); the weights are d q + m.
    """
    if type_name not in GGML_TYPES:
        raise ValueError(f"cannot dequantize type {type_name!r}; the types are {list(GGML_TYPES)}")
    _, per_block, block_bytes = GGML_TYPES[type_name]
    if not isinstance(raw, np.ndarray) or raw.dtype != np.uint8 or raw.size % block_bytes:
        got = f"{raw.size} bytes" if isinstance(raw, np.ndarray) and raw.dtype == np.uint8 else repr(type(raw))
        raise ValueError(f"{type_name} data must be uint8 bytes in whole blocks of {block_bytes}, got {got}")
    blocks = torch.from_numpy(np.array(raw, copy=True).reshape(-1, block_bytes))  # a copy: the file stays read-only
    if type_name == "F32":
        return blocks.view(torch.float32).reshape(-1)
    if type_name == "F16":
        return blocks.view(torch.float16).reshape(-1).float()
    d = blocks[:, :2].contiguous().view(torch.float16).float()  # (n_blocks, 1): each block's scale
    if type_name == "Q8_0":
        return blocks[:, 2:].contiguous().view(torch.int8).float().mul_(d).reshape(-1)
    packed = blocks[:, -16:]  # (n_blocks, 16): two 4-bit numbers in each byte
    q = torch.empty(blocks.shape[0], 32)
    q[:, :16] = packed & 0x0F  # weights 0-15: the low halves
    q[:, 16:] = packed >> 4  # weights 16-31: the high halves
    if type_name == "Q4_0":
        return q.sub_(8.0).mul_(d).reshape(-1)
    m = blocks[:, 2:4].contiguous().view(torch.float16).float()  # (n_blocks, 1): each block's minimum
    return q.mul_(d).add_(m).reshape(-1)
