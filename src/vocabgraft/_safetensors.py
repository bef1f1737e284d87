"""Atomic safetensors writes and zero-copy memory-mapped reads.

``safetensors.numpy.load_file`` and ``safe_open(..., "np")`` copy every tensor
into memory, which makes opening a 400,000 x 300 table cost a quarter of a
second and its full size in RAM. The file layout is simple and documented
(8-byte little-endian header length, a JSON header of dtypes, shapes and byte
offsets, then the raw data), so reads map the data with ``np.memmap`` instead.
Writes go through the safetensors library itself.
"""

from __future__ import annotations

import json
import mmap as _mmap
import os
import shutil
import struct
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

from vocabgraft.errors import FormatError

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


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` on success.

    A failure or interruption leaves ``path`` as it was (absent or the old
    version), never half-written.
    """
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a fresh folder beside ``path``; on success it replaces ``path`` whole.

    The folder gets the permissions a plain ``mkdir`` would give. A failure
    or interruption removes it and leaves ``path`` as it was.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o777 & ~umask)  # mkdtemp makes it owner-only
        yield tmp
        if target.exists():
            old = target.with_name(f".{target.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def save_arrays(
    path: str | os.PathLike[str],
    arrays: Mapping[str, np.ndarray],
    metadata: Mapping[str, str] | None = None,
) -> None:
    """Write ``arrays`` to a safetensors file atomically."""
    contiguous = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
    with atomic_path(path) as tmp:
        save_file(contiguous, str(tmp), metadata=dict(metadata or {}))


def open_arrays(
    path: str | os.PathLike[str], *, mmap: bool = True
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Read a safetensors file as read-only memory maps (or in-memory copies).

    Returns the arrays by name and the file's string metadata.
    """
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as f:
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
    meta = header.pop("__metadata__", None) or {}
    start = 8 + n
    buffer: _mmap.mmap | bytes
    if mmap and size > start:
        with open(path, "rb") as f:
            # A plain ndarray over an mmap, not np.memmap: slicing a memmap
            # subclass costs microseconds per call, which dominates lookups.
            buffer = _mmap.mmap(f.fileno(), 0, access=_mmap.ACCESS_READ)
    else:
        buffer = path.read_bytes()
    arrays: dict[str, np.ndarray] = {}
    for name, info in header.items():
        dtype = _DTYPES.get(info.get("dtype"))
        if dtype is None:
            raise FormatError(
                f"tensor {name!r} has dtype {info.get('dtype')!r}, which numpy cannot hold",
                path=path,
                hint=f"Supported dtypes: {', '.join(_DTYPES)}",
            )
        begin, end = info["data_offsets"]
        shape = tuple(info["shape"])
        count = int(np.prod(shape))
        if start + end > size or end - begin != count * np.dtype(dtype).itemsize:
            raise FormatError(
                f"tensor {name!r} spans bytes {begin}..{end} of the data, "
                f"which the file's {size} bytes do not hold",
                path=path,
                offset=start + begin,
                hint="The file is truncated; write it again",
            )
        array = np.frombuffer(buffer, dtype=dtype, count=count, offset=start + begin).reshape(shape)
        arrays[name] = array if mmap else array.copy()
    return arrays, dict(meta)
