"""The exact path of the text reader: line by line, naming the line of every problem."""

from __future__ import annotations

from typing import Any

import numpy as np

from vocabgraft.io._common import undecodable_message
from vocabgraft.io._fast import Chunk
from vocabgraft.io._floats import is_number, parse_floats

__all__ = ["exact_chunk"]

_TRAILING = b" \r"


# (reason, message, hint) of a malformed line.
_Problem = tuple[str, str, "str | None"]


def _split_line(line: bytes, dim: int, encoding: str) -> tuple[str, list[bytes]] | _Problem:
    """A line's token and number fields, or what is wrong with it."""
    body = line.rstrip(_TRAILING)
    if not body:
        return "blank_line", "blank line between vectors", None
    parts = body.rsplit(b" ", dim)
    if len(parts) != dim + 1:
        return (
            "field_count",
            f"expected a token and {dim} numbers separated by single spaces, "
            f"found {len(parts)} field(s): {_excerpt(body)}",
            None,
        )
    if not parts[0]:
        return (
            "empty_token",
            f"the line starts with a space, so its token is empty: {_excerpt(body)}",
            None,
        )
    token = _decode(parts[0], encoding)
    if token is None:
        return ("undecodable", *undecodable_message(parts[0], encoding))
    return token, parts[1:]


def exact_chunk(
    raw: bytes,
    first_line: int,
    dim: int,
    parse_dtype: np.dtype[Any],
    encoding: str,
    out: np.ndarray,
    *,
    stop_early: bool,
) -> Chunk:
    """Parse line by line; every malformed line becomes a problem naming its line."""
    lines = raw.split(b"\n")
    if lines and not lines[-1]:
        lines.pop()
    keep = np.zeros(len(out), dtype=bool)
    tokens: list[str] = []
    fields: list[bytes] = []
    rows: list[int] = []
    problems: list[tuple[int, str, str, str | None]] = []
    for i, line in enumerate(lines[: len(out)]):
        split = _split_line(line, dim, encoding)
        if len(split) == 3:
            reason, message, hint = split
            problems.append((first_line + i, reason, message, hint))
            if stop_early:
                break
            continue
        token, numbers = split
        tokens.append(token)
        rows.append(i)
        fields.extend(numbers)
    values = _values(fields, dim, parse_dtype, rows, first_line, problems)
    good_tokens: list[str] = []
    for k, i in enumerate(rows):
        if values[k] is not None:
            out[i] = values[k]
            keep[i] = True
            good_tokens.append(tokens[k])
    problems.sort(key=lambda p: p[0])
    if stop_early:
        problems = problems[:1]
    return Chunk(tokens=good_tokens, keep=None if keep.all() else keep, problems=problems)


def _values(
    fields: list[bytes],
    dim: int,
    parse_dtype: np.dtype[Any],
    rows: list[int],
    first_line: int,
    problems: list[tuple[int, str, str, str | None]],
) -> list[np.ndarray | None]:
    """Each row's numbers, or None for a row with a bad number (recorded as a problem)."""
    parsed = parse_floats(fields, parse_dtype)
    if parsed is not None:
        matrix = parsed.reshape(len(rows), dim)
        result: list[np.ndarray | None] = list(matrix)
    else:
        result = []
        for k in range(len(rows)):
            row = fields[k * dim : (k + 1) * dim]
            result.append(parse_floats(row, parse_dtype))
            if result[-1] is None:
                j, bad = next(
                    ((j, f) for j, f in enumerate(row) if not _one_number(f, parse_dtype)),
                    (0, row[0]),
                )
                problems.append(
                    (
                        first_line + rows[k],
                        "not_a_number",
                        f"number {j + 1} of the vector is {_excerpt(bad)}, which is not a number",
                        None,
                    )
                )
    for k, values in enumerate(result):
        if values is not None and not np.isfinite(values).all():
            j = int(np.flatnonzero(~np.isfinite(values))[0])
            what = fields[k * dim + j]
            problems.append(
                (
                    first_line + rows[k],
                    "non_finite",
                    f"number {j + 1} of the vector is {_excerpt(what)}; vectors must be finite "
                    f"(nan and inf, and values beyond the {parse_dtype} range, are not allowed)",
                    None,
                )
            )
            result[k] = None
    return result


def _one_number(field: bytes, dtype: np.dtype[Any]) -> bool:
    return is_number(field) and parse_floats([field], dtype) is not None


def _decode(raw: bytes, encoding: str) -> str | None:
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError:
        return None


def _excerpt(raw: bytes, width: int = 60) -> str:
    text = raw[:width].decode("utf-8", "backslashreplace")
    return repr(text) + ("..." if len(raw) > width else "")
