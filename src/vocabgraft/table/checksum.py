"""The one checksum of vocabgraft: blake2b over arrays and strings, a memory map at a time."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np

__all__ = ["checksum"]

_SLICE = 64 << 20


def checksum(parts: Iterable[np.ndarray | bytes | str], *, digest_size: int = 16) -> str:
    r"""A hex blake2b digest of ``parts``, in order.

    Arrays are hashed by their raw bytes in 64 MB slices, so a memory-mapped
    table is never read into memory at once; strings as UTF-8 (lone
    surrogates as written).

    Args:
        parts: arrays (any dtype, any layout), bytes or strings.
        digest_size: bytes in the digest (1 to 64); the hex string is twice as long.

    Returns:
        The digest as a hex string.

    >>> checksum([np.zeros(2, np.float32)]) == checksum([b"\0" * 8])
    True
    """
    h = hashlib.blake2b(digest_size=digest_size)
    for part in parts:
        if isinstance(part, str):
            h.update(part.encode("utf-8", "surrogatepass"))
        elif isinstance(part, bytes):
            h.update(part)
        else:
            flat = np.ascontiguousarray(part).reshape(-1).view(np.uint8)
            for i in range(0, flat.size, _SLICE):
                h.update(flat[i : i + _SLICE].data)
    return h.hexdigest()
