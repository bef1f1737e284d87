"""word2vec text and binary, and fastText ``.vec`` (which is word2vec text).

Both start with a header line ``count dim``. Text then has one
``token v1 ... vD`` line per vector. Binary has, per vector, the token's
bytes, a space and ``dim`` little-endian float32s; the original C tool writes
a newline after each vector and gensim does not, so newlines before a token
are skipped. A binary token ends at the first space, so it cannot hold one.
"""

from __future__ import annotations

import mmap
import re
from typing import Any

import numpy as np

from vocabgraft.errors import FormatError
from vocabgraft.io._common import (
    Parsed,
    Problems,
    ReadOptions,
    close_map,
    progress_bar,
    undecodable_message,
)
from vocabgraft.io._lines import Head, TextBody, plan_chunks, read_head, read_lines

__all__ = ["parse_header", "read_word2vec_binary", "read_word2vec_text"]

_HEADER = re.compile(rb"\s*(\d+)\s+(\d+)\s*")


def parse_header(head: Head, *, path: object) -> tuple[int, int, int]:
    """``(count, dim, offset of the first vector)`` from a word2vec header line."""
    end = head.data.find(b"\n")
    line = head.data if end < 0 else head.data[:end]
    match = _HEADER.fullmatch(line)
    if match is None:
        raise FormatError(
            f"expected a header line 'count dim', found {line[:60]!r}",
            path=str(path),
            line=1,
            hint="word2vec and fastText .vec files start with the number of vectors and their "
            "size; a file without that header is GloVe (format='glove')",
        )
    count, dim = int(match.group(1)), int(match.group(2))
    if dim < 1:
        raise FormatError(
            f"the header says the vectors have {dim} dimensions",
            path=str(path),
            line=1,
            hint="The second number of the header is the vector size, at least 1",
        )
    return count, dim, head.bom + (len(line) if end < 0 else end + 1)


def read_word2vec_text(options: ReadOptions, problems: Problems) -> Parsed:
    """Read word2vec text (also fastText ``.vec``)."""
    path = options.path
    count, dim, start = parse_header(read_head(path, 4096), path=path)
    want = options.want(count)
    plan = plan_chunks(path, start, None if options.limit is None else want)
    rows = plan.rows
    if rows * (2 * dim + 1) > plan.nbytes + 1:
        # Too few bytes for that many numbers: the dim is wrong (and must not size the matrix).
        raise FormatError(
            f"the header says the vectors have {dim} dimensions, but the {rows} "
            f"line(s) after it hold only {plan.nbytes} bytes",
            path=path,
            line=1,
            hint="Fix the header's second number (the vector size)",
        )
    if rows != want:
        problems.report(
            "header_count",
            f"the header says {count} vectors, but {rows} "
            f"{'line follows' if rows == 1 else 'lines follow'} it",
            line=1,
            hint="Fix the header's first number, or pass on_error='skip' to read the lines "
            "that are there",
        )
    body = TextBody(start=start, first_line=2, dim=dim)
    meta = {"format": "word2vec", "dim": dim, "header_count": count}
    return read_lines(body, options, problems, plan=plan, meta=meta)


def read_word2vec_binary(options: ReadOptions, problems: Problems) -> Parsed:
    """Read word2vec binary."""
    path = options.path
    count, dim, start = parse_header(read_head(path, 4096), path=path)
    size = path.stat().st_size
    want = options.want(count)
    record = 4 * dim
    with open(path, "rb") as f:
        mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    try:
        tokens, offsets, places, end = _scan_records(
            mm, start, size, want, record, options, problems
        )
        if end is not None and (options.limit is None or options.limit > count):
            _check_end(mm, end, size, count, problems)
        vectors = _gather(mm, offsets, dim, options.dtype)
    finally:
        close_map(mm)
    if len(vectors):
        finite = np.isfinite(vectors).all(axis=1)
        if not finite.all():
            bad = np.flatnonzero(~finite)
            for i in bad.tolist():
                problems.report(
                    "non_finite",
                    f"the vector of {tokens[i]!r} holds nan or inf; vectors must be finite",
                    offset=int(offsets[i]),
                )
            tokens = [t for t, ok in zip(tokens, finite.tolist()) if ok]
            vectors = vectors[finite]
            places = [p for p, ok in zip(places, finite.tolist()) if ok]
    meta = {"format": "word2vec-binary", "dim": dim, "header_count": count}
    return Parsed(tokens, vectors, meta, places=places, place_kind="offset")


def _scan_records(
    mm: mmap.mmap,
    pos: int,
    size: int,
    want: int,
    record: int,
    options: ReadOptions,
    problems: Problems,
) -> tuple[list[str], np.ndarray, list[int], int | None]:
    """Find each record's token and vector offset.

    Returns the tokens, their vectors' offsets, their records' offsets, and
    where the last record ends (None if the file ends inside one).
    """
    tokens: list[str] = []
    places: list[int] = []
    # Each record takes at least a token byte, a space and the floats: a header
    # that promises more than the file can hold does not size the arrays.
    offsets = np.empty(min(want, (size - pos) // (record + 2) + 1), dtype=np.int64)
    n = 0
    end: int | None = pos
    shown = pos  # how far the progress bar has been told
    encoding = options.encoding
    bar = progress_bar(options, size - pos, f"reading {options.path.name}")
    with bar:
        for i in range(want):
            while pos < size and mm[pos] == 10:
                pos += 1
            if pos >= size:
                problems.report(
                    "header_count",
                    f"the header says {want} vectors, but the file ends after {i}",
                    offset=pos,
                    hint="Fix the header's first number, or pass on_error='skip' to read the "
                    "vectors that are there",
                )
                break
            space = mm.find(b" ", pos)
            if space < 0 or space + 1 + record > size:
                what = "token" if space < 0 else "vector"
                problems.report(
                    "truncated",
                    f"the file ends inside vector {i + 1} of {want} (in its {what})",
                    offset=pos,
                    hint="The file is truncated; download or write it again, or pass "
                    "on_error='skip' to keep the complete vectors",
                )
                end = None
                break
            raw = mm[pos:space]
            try:
                token = raw.decode(encoding)
            except UnicodeDecodeError:
                message, hint = undecodable_message(raw, encoding)
                problems.report("undecodable", message, offset=pos, hint=hint)
                token = None
            if token == "":
                problems.report("empty_token", "empty token (two spaces in a row?)", offset=pos)
                token = None
            if token is not None:
                tokens.append(token)
                places.append(pos)
                offsets[n] = space + 1
                n += 1
            pos = end = space + 1 + record
            if i % 8192 == 8191:
                bar.update(pos - shown)
                shown = pos
        bar.update(pos - shown)
    return tokens, offsets[:n], places, end


def _check_end(mm: mmap.mmap, end: int, size: int, count: int, problems: Problems) -> None:
    """After the header's count of vectors, only line ends may follow."""
    rest = mm[end : min(size, end + 64)]
    if rest.strip(b"\r\n"):
        problems.report(
            "header_count",
            f"the header says {count} vectors, but more data follows the last of them",
            offset=end,
            hint="Fix the header's first number, or pass on_error='skip' to ignore the rest",
        )


def _gather(mm: mmap.mmap, offsets: np.ndarray, dim: int, dtype: np.dtype[Any]) -> np.ndarray:
    """The float32 vectors at ``offsets``, in one gather (records need not be aligned)."""
    record = 4 * dim
    if not len(offsets):
        return np.empty((0, dim), dtype=dtype)
    raw = np.frombuffer(mm, dtype=np.uint8)
    windows = np.lib.stride_tricks.as_strided(
        raw, shape=(len(raw) - record + 1, record), strides=(1, 1), writeable=False
    )
    vectors = windows[offsets].view("<f4").reshape(len(offsets), dim)
    del windows, raw
    return vectors.astype(dtype, copy=False)
