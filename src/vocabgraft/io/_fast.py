r"""The vectorised fast path of the text reader: a whole chunk in a few numpy calls.

A chunk is regular when every line is a non-empty token without spaces, then
``dim`` numbers that start with a digit or with ``-`` and a digit (no nan or
inf), then at most two spaces or ``\r``. Such a chunk is parsed in place:
every separator and token byte is overwritten with ``'0'``, and each minus
sign too (the sign is applied after parsing), so each number and the junk
before it form one string like ``"0000.25"``; the strings sit end to end, so
one pyarrow cast parses them all without copying. Anything else returns None
and the caller parses the chunk line by line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vocabgraft.io._floats import arrow

__all__ = ["PAD", "Chunk", "fast_chunk"]

# Bytes before each chunk's data, set to b"\n", so looking up to three bytes
# behind any line start stays inside the buffer.
PAD = 8
_SPACE, _NEWLINE, _CR = 32, 10, 13
_ZERO, _MINUS = 48, 45


@dataclass
class Chunk:
    """A parsed chunk: its tokens, which of its rows are kept, and its problems."""

    tokens: list[str]
    keep: np.ndarray | None = None  # None: every row kept
    # (line, reason, message, hint or None), in line order
    problems: list[tuple[int, str, str, str | None]] = field(default_factory=list)


def _is_digit(x: np.ndarray) -> np.ndarray:
    return (x - np.uint8(_ZERO)) < np.uint8(10)


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The concatenation of ``arange(s, s + n)`` for each start and length."""
    total = int(lengths.sum())
    before = np.cumsum(lengths) - lengths
    return np.repeat(starts - before, lengths) + np.arange(total)


@dataclass
class _Layout:
    """Where a regular chunk's separators are: per line, its token's end and number ends."""

    every_sep: np.ndarray  # every byte <= space, to be overwritten
    at: np.ndarray  # (rows, dim + 1): the separators of each line, then its newline
    line_start: np.ndarray
    content_end: np.ndarray  # per line, the end of its last number


def _layout(data: np.ndarray, rows: int, dim: int) -> _Layout | None:
    """The separators of a regular chunk; None if it is not regular."""
    every_sep = np.flatnonzero(data <= _SPACE)
    seps = every_sep
    kind = data[seps]
    nl_at = np.flatnonzero(kind == _NEWLINE)  # indices into seps
    if len(nl_at) != rows:
        return None
    nlpos = seps[nl_at]
    content_end = nlpos
    if len(seps) != rows * (dim + 1) or np.count_nonzero(kind != _SPACE) != rows:
        trimmed = _drop_trailing(seps, kind, nl_at, nlpos)
        if trimmed is None:
            return None
        seps, kind, content_end = trimmed
        if np.count_nonzero(kind != _SPACE) != rows:
            return None  # a tab or \r inside a line
    if len(seps) != rows * (dim + 1):
        return None
    at = seps.reshape(rows, dim + 1)
    if not np.array_equal(at[:, dim], nlpos):
        return None
    line_start = np.empty(rows, dtype=np.int64)
    line_start[0] = 0
    line_start[1:] = nlpos[:-1] + 1
    if (at[:, 0] <= line_start).any():
        return None  # an empty token
    return _Layout(every_sep, at, line_start, content_end)


def _minus_signs(data: np.ndarray, field_start: np.ndarray) -> tuple[np.ndarray | None, bool]:
    """``(which numbers have a minus, ok)``: each must start with a digit or "-" and a digit.

    The '0' prefix would otherwise turn "", "-" or "." into 0.
    """
    first = data[field_start]
    if _is_digit(first).all():
        return None, True
    negative = first == _MINUS
    minus_at = field_start[np.flatnonzero(negative)]
    ok = bool((_is_digit(first) | negative).all()) and bool(_is_digit(data[minus_at + 1]).all())
    return negative, ok


def _cast(data: np.ndarray, lay: _Layout, dim: int, parse_dtype: np.dtype[Any]) -> Any:
    """Parse every number in one pyarrow cast (the chunk is overwritten); None on failure."""
    lib = arrow()
    assert lib is not None
    pa, pc = lib
    rows = len(lay.at)
    # Element k of each line runs from the end of the previous element to the
    # end of number k, so the elements tile the chunk.
    offsets = np.empty(rows * dim + 1, dtype=np.int32)
    grid = offsets[:-1].reshape(rows, dim)
    grid[0, 0] = 0
    grid[1:, 0] = lay.content_end[:-1]
    grid[:, 1:] = lay.at[:, 1:dim]
    offsets[-1] = lay.content_end[-1]
    strings = pa.Array.from_buffers(
        pa.binary(), rows * dim, [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    )
    target = pa.float64() if parse_dtype == np.float64 else pa.float32()
    try:
        return pc.cast(strings, target).to_numpy(zero_copy_only=False).reshape(rows, dim)
    except pa.ArrowInvalid:
        return None


def fast_chunk(
    buf: bytearray,
    nbytes: int,
    dim: int,
    parse_dtype: np.dtype[Any],
    encoding: str,
    out: np.ndarray,
) -> Chunk | None:
    """Parse a regular chunk into ``out`` and return its tokens; None if it is not regular."""
    data = np.frombuffer(buf, dtype=np.uint8)[PAD : PAD + nbytes]
    lay = _layout(data, len(out), dim)
    if lay is None:
        return None
    field_start = (lay.at[:, :dim] + 1).ravel()
    negative, ok = _minus_signs(data, field_start)
    if not ok:
        return None
    token_end = lay.at[:, 0]
    tokens = _gather_tokens(data, lay.line_start, token_end, encoding)
    if tokens is None:
        return None
    data[lay.every_sep] = _ZERO
    data[_ranges(lay.line_start, token_end - lay.line_start)] = _ZERO
    if negative is not None:
        data[field_start[np.flatnonzero(negative)]] = _ZERO
    values = _cast(data, lay, dim, parse_dtype)
    if values is None or not np.isfinite(values).all():
        return None
    out[...] = values
    if negative is not None:
        # Flip the sign bit of the numbers that had a minus (exact, -0.0 included).
        bits = out.view(f"u{out.itemsize}").reshape(-1)
        bits ^= negative.astype(bits.dtype) << (8 * out.itemsize - 1)
    return Chunk(tokens=tokens)


def _drop_trailing(
    seps: np.ndarray, kind: np.ndarray, nl_at: np.ndarray, nlpos: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    r"""Drop up to two spaces or \r before each newline from the separators.

    Returns the separators, their bytes and each line's content end; None if
    a line ends in three or more such bytes (the exact path handles it).
    """

    def junk_at(back: int, alive: np.ndarray) -> np.ndarray:
        j = np.maximum(nl_at - back, 0)
        at = seps[j] == nlpos - back
        return np.asarray(alive & (nl_at >= back) & at & ((kind[j] == _SPACE) | (kind[j] == _CR)))

    one = junk_at(1, np.ones(len(nl_at), dtype=bool))
    two = junk_at(2, one)
    if junk_at(3, two).any():
        return None
    keep = np.ones(len(seps), dtype=bool)
    keep[nl_at[one] - 1] = False
    keep[nl_at[two] - 2] = False
    return seps[keep], kind[keep], nlpos - one - two


def _gather_tokens(
    data: np.ndarray, line_start: np.ndarray, token_end: np.ndarray, encoding: str
) -> list[str] | None:
    """The tokens ``data[line_start:token_end]``, decoded in one call; None if one fails."""
    lengths = token_end - line_start + 1  # with the separator, which becomes b"\n"
    joined = data[_ranges(line_start, lengths)]
    joined[np.cumsum(lengths) - 1] = _NEWLINE
    try:
        text = joined.tobytes().decode(encoding)
    except UnicodeDecodeError:
        return None
    tokens = text.split("\n")
    tokens.pop()
    return tokens if len(tokens) == len(line_start) else None
