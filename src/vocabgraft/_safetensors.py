"""Safetensors files: atomic writes and checked, zero-copy memory-mapped reads.

``safetensors.numpy.load_file`` and ``safe_open(..., "np")`` copy every tensor
into memory, which makes opening a 400,000 x 300 table cost a quarter of a
second and its full size in RAM. The file layout is simple and documented
(8-byte little-endian header length, a JSON header of dtypes, shapes and byte
offsets, then the raw data), so reads map the data with ``np.memmap`` instead,
after checking every offset against the file. Writes go through the
safetensors library itself.

Writes are atomic (:mod:`vocabgraft._atomic`, re-exported here).
"""

from __future__ import annotations

import itertools
import json
import math
import mmap as _mmap
import os
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import save_file

from vocabgraft._atomic import (
    atomic_dir,
    atomic_path,
    check_output,
    is_vocabgraft_output,
    recover,
)
from vocabgraft.errors import FormatError

__all__ = [
    "atomic_dir",
    "atomic_path",
    "check_output",
    "is_vocabgraft_output",
    "open_arrays",
    "recover",
    "save_arrays",
]

_DTYPES = {
    "F64": np.float64,
    "F32": np.float32,
    "F16": np.float16,
    "I64": np.int64,
    "I32": np.int32,
    "I16": np.int16,
    "I8": np.int8,
    "U64": np.uint64,
    "U32": np.uint32,
    "U16": np.uint16,
    "U8": np.uint8,
    "BOOL": np.bool_,
}

_MAX_HEADER = 100 * 1024 * 1024


# -- safetensors -------------------------------------------------------------------------


def save_arrays(
    path: str | os.PathLike[str],
    arrays: Mapping[str, np.ndarray],
    metadata: Mapping[str, str] | None = None,
) -> None:
    """Write ``arrays`` to a safetensors file atomically.

    Args:
        path: the file to write (replaced if it exists).
        arrays: the tensors by name.
        metadata: string metadata stored in the header.
    """
    contiguous = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
    with atomic_path(path) as tmp:
        save_file(contiguous, str(tmp), metadata=dict(metadata or {}))


def _read_header(path: Path, f: Any, size: int) -> tuple[dict[str, Any], int]:
    """The parsed JSON header and where the data starts."""
    head = f.read(8)
    if len(head) < 8:
        raise FormatError(
            f"file is {size} bytes, too short for a safetensors header",
            path=path,
            offset=0,
            hint="The file is truncated; write it again",
        )
    (n,) = struct.unpack("<Q", head)
    if n > min(_MAX_HEADER, size - 8):
        raise FormatError(
            f"header claims {n} bytes but the file has {size - 8} after the length",
            path=path,
            offset=0,
            hint="The file is truncated or not safetensors",
        )
    try:
        header = json.loads(f.read(n))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FormatError(f"header is not valid JSON ({exc})", path=path, offset=8) from None
    if not isinstance(header, dict):
        raise FormatError("header is not a JSON object", path=path, offset=8)
    return header, 8 + n


def _tensor_spec(
    path: Path, name: str, info: Any, data_size: int
) -> tuple[Any, tuple[int, ...], int, int]:
    """(dtype, shape, begin, end) of one header entry, each checked against the file."""

    def bad(what: str) -> FormatError:
        return FormatError(
            f"tensor {name!r}: {what}",
            path=path,
            hint="The file is truncated or damaged; write it again",
        )

    if not isinstance(info, dict):
        raise bad(f"header entry is {type(info).__name__}, not an object")
    dtype = _DTYPES.get(info.get("dtype"))  # type: ignore[arg-type]
    if dtype is None:
        raise bad(f"dtype {info.get('dtype')!r} is not one of {', '.join(_DTYPES)}")
    shape, offsets = info.get("shape"), info.get("data_offsets")
    if not isinstance(shape, list) or not all(_is_count(d) for d in shape):
        raise bad(f"shape {shape!r} is not a list of non-negative integers")
    if not isinstance(offsets, list) or len(offsets) != 2 or not all(map(_is_count, offsets)):
        raise bad(f"data_offsets {offsets!r} is not two non-negative integers")
    begin, end = offsets
    if not begin <= end <= data_size:
        raise bad(f"data_offsets [{begin}, {end}] lie outside the {data_size} data bytes")
    need = math.prod(shape) * np.dtype(dtype).itemsize
    if end - begin != need:
        raise bad(
            f"data_offsets [{begin}, {end}] span {end - begin} bytes, but {shape} needs {need}"
        )
    return dtype, tuple(shape), begin, end


def _is_count(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x >= 0


def _check_overlaps(path: Path, specs: Mapping[str, tuple[Any, tuple[int, ...], int, int]]) -> None:
    spans = sorted((s[2], s[3], name) for name, s in specs.items() if s[3] > s[2])
    for (_, end, first), (begin, _, second) in itertools.pairwise(spans):
        if begin < end:
            raise FormatError(
                f"tensors {first!r} and {second!r} share bytes of the data",
                path=path,
                hint="The file is damaged; write it again",
            )


def open_arrays(
    path: str | os.PathLike[str], *, mmap: bool = True
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Read a safetensors file as read-only memory maps (or in-memory copies).

    Every tensor's dtype, shape and byte offsets are checked against the file
    on every open, so a damaged header cannot make an array of other bytes.

    Args:
        path: the safetensors file.
        mmap: map the file (read-only views) rather than read it into memory.

    Returns:
        The arrays by name and the file's string metadata.

    Raises:
        FormatError: the file is missing, truncated or its header is damaged;
            the message names the file and the tensor.
    """
    path = Path(path)
    try:
        f = open(path, "rb")  # noqa: SIM115 -- closed below; the mmap outlives the with-block
    except OSError as exc:
        raise FormatError(
            f"cannot be read ({exc.strerror})", path=path, hint="Write the file again"
        ) from None
    with f:
        size = os.fstat(f.fileno()).st_size
        header, start = _read_header(path, f, size)
        meta = header.pop("__metadata__", None) or {}
        if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
            raise FormatError("__metadata__ is not an object of strings", path=path, offset=8)
        specs = {n: _tensor_spec(path, n, info, size - start) for n, info in header.items()}
        _check_overlaps(path, specs)
        buffer: _mmap.mmap | bytes
        if mmap and size > start:
            # A plain ndarray over an mmap, not np.memmap: slicing a memmap
            # subclass costs microseconds per call, which dominates lookups.
            buffer = _mmap.mmap(f.fileno(), 0, access=_mmap.ACCESS_READ)
        else:
            f.seek(0)
            buffer = f.read()
    arrays: dict[str, np.ndarray] = {}
    for name, (dtype, shape, begin, end) in specs.items():
        count = (end - begin) // np.dtype(dtype).itemsize
        array = np.frombuffer(buffer, dtype=dtype, count=count, offset=start + begin)
        array = array.reshape(shape)
        arrays[name] = array if mmap else array.copy()
    return arrays, dict(meta)
