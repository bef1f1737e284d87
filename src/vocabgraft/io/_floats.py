"""Parsing decimal numbers into float32/float64 exactly, with or without pyarrow.

pyarrow's string-to-float cast (fast_float) rounds each number once, straight
to the target type. Without pyarrow, numbers go through Python's ``float``
(correctly rounded to float64) and then to float32; the few float64 results
that land exactly on a float32 rounding midpoint are rounded again from the
exact decimal, so the result is the same as pyarrow's.
"""

from __future__ import annotations

import re
from fractions import Fraction
from functools import cache
from typing import Any

import numpy as np

__all__ = ["arrow", "parse_floats", "python_floats"]

# What a number in a vector file may look like (the grammar pyarrow accepts,
# without hex or digit separators). nan/inf parse, and are rejected later as
# not finite.
_NUMBER = re.compile(
    rb"[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|(?i:nan|inf|infinity))",
)


@cache
def arrow() -> tuple[Any, Any] | None:
    """``(pyarrow, pyarrow.compute)``, or None when pyarrow is not installed."""
    try:
        import pyarrow as pa
        import pyarrow.compute as pc
    except ImportError:
        return None
    return pa, pc


def parse_floats(fields: list[bytes], dtype: np.dtype[Any]) -> np.ndarray | None:
    """``fields`` as numbers of ``dtype`` (float32 or float64), or None if any is malformed."""
    if not fields:
        return np.empty(0, dtype=dtype)
    lib = arrow()
    if lib is None:
        return python_floats(fields, dtype)
    pa, pc = lib
    target = pa.float64() if dtype == np.float64 else pa.float32()
    try:
        values = pc.cast(pa.array(fields, type=pa.binary()), target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    return np.asarray(values.to_numpy(zero_copy_only=False), dtype=dtype)


def is_number(field: bytes) -> bool:
    """Whether ``field`` is written like a number (finite or not)."""
    return _NUMBER.fullmatch(field) is not None


def python_floats(fields: list[bytes], dtype: np.dtype[Any]) -> np.ndarray | None:
    """The pure-Python path of :func:`parse_floats`."""
    if not all(map(is_number, fields)):
        return None
    wide = np.array([float(f) for f in fields], dtype=np.float64)
    if dtype == np.float64:
        return wide
    with np.errstate(over="ignore"):  # beyond float32: inf, rejected later as not finite
        narrow = wide.astype(np.float32)
    # float64 -> float32 is a second rounding. It can only differ from rounding
    # the decimal once when the float64 lies exactly on a float32 midpoint (the
    # low 29 mantissa bits are 1000...0), or in float32's subnormal range.
    low = wide.view(np.uint64) & np.uint64((1 << 29) - 1)
    suspect = (low == np.uint64(1 << 28)) | (np.abs(wide) < np.float64(2.0**-125))
    suspect &= np.isfinite(wide)
    for i in np.flatnonzero(suspect).tolist():
        narrow[i] = _round_to_float32(fields[i].decode("ascii"), narrow[i])
    return narrow


def _round_to_float32(text: str, guess: np.float32) -> np.float32:
    """The float32 nearest to the decimal ``text`` (ties to even), near ``guess``."""
    exact = Fraction(text)
    candidates = [
        np.nextafter(guess, np.float32(-np.inf)),
        guess,
        np.nextafter(guess, np.float32(np.inf)),
    ]
    candidates = [c for c in candidates if np.isfinite(c)]

    def key(c: np.float32) -> tuple[Fraction, int]:
        odd = int(np.array(c, dtype=np.float32).view(np.uint32)) & 1
        return abs(Fraction(float(c)) - exact), odd

    return min(candidates, key=key)
