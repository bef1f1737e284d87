"""The chunked parser for text vector files: one ``token v1 ... vD`` per line.

GloVe, word2vec text and fastText ``.vec`` share this body. A first pass
counts the lines and cuts the file into chunks of whole lines (about 1 MB,
small enough to stay in cache); then two worker threads read and parse the
chunks, each writing straight into its rows of a matrix allocated once.

Each chunk first tries a vectorised fast path (numpy finds the separators,
pyarrow's cast parses every number in one call). Anything unusual in a chunk
(a token with spaces, a wrong field count, nan, undecodable bytes) sends that
chunk to the exact path, a per-line parse that names the line of every problem.
Both give the same numbers: each decimal is rounded once to the target type.

Line rules, the same on both paths:

- Fields are separated by single spaces. The last ``D`` fields are the vector;
  everything before them is the token, so GloVe tokens that contain spaces
  (``"new york"``) are kept whole.
- Spaces and ``\\r`` at the end of a line are dropped: CRLF files and
  fastText's trailing space both read.
- Blank lines at the end of the file are ignored; elsewhere they are errors.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from vocabgraft.errors import FormatError
from vocabgraft.io._common import Parsed, Problems, ReadOptions, progress_bar, undecodable_message
from vocabgraft.io._fast import PAD, Chunk, fast_chunk
from vocabgraft.io._floats import arrow, is_number, parse_floats

__all__ = ["TextBody", "read_lines"]

CHUNK_BYTES = 1 << 20
_NEWLINE = 10
_TRAILING = b" \r"


@dataclass(frozen=True)
class TextBody:
    """Where the vector lines of a text file are.

    ``start`` is the byte offset of the first vector line (after a BOM and a
    header), ``first_line`` its 1-based line number, ``dim`` the vector size.
    """

    start: int
    first_line: int
    dim: int


@dataclass(frozen=True)
class Plan:
    """The chunks to parse: ``(file offset, bytes, lines)`` each, cut after a newline.

    Only the last chunk may end without a newline (the file's last line).
    """

    rows: int
    chunks: list[tuple[int, int, int]]

    @property
    def nbytes(self) -> int:
        return sum(n for _, n, _ in self.chunks)


def plan_chunks(path: os.PathLike[str] | str, start: int, limit: int | None) -> Plan:
    """Count the vector lines from ``start`` and cut them into chunks of whole lines.

    Reading stops after the last byte that is not a space or line end, or
    after the ``limit``-th line. Knowing each chunk's line count up front lets
    the chunks be parsed in parallel, each into its own rows.
    """
    size = os.path.getsize(path)
    chunks: list[tuple[int, int, int]] = []
    rows = 0
    with open(path, "rb", buffering=0) as f:
        end = _content_end(f, start, size)
        buf = bytearray(CHUNK_BYTES)
        pos = start
        while pos < end and (limit is None or rows < limit):
            got = _read_at(f, pos, memoryview(buf)[: min(len(buf), end - pos)])
            if pos + got < end:
                cut = buf.rfind(b"\n", 0, got)
                if cut < 0:  # a line longer than a chunk: read it whole
                    buf = bytearray(2 * len(buf))
                    continue
                n = cut + 1
            else:
                n = got
            lines = buf.count(b"\n", 0, n) + (buf[n - 1] != _NEWLINE)
            if limit is not None and rows + lines > limit:
                n = _after_lines(buf, limit - rows)
                lines = limit - rows
            chunks.append((pos, n, lines))
            rows += lines
            pos += n
    return Plan(rows, chunks)


def _read_at(f: Any, pos: int, view: memoryview) -> int:
    """Fill ``view`` from offset ``pos``; the number of bytes read."""
    f.seek(pos)
    got = 0
    while got < len(view):
        n = f.readinto(view[got:])
        if not n:
            break
        got += n
    return got


def _after_lines(buf: bytearray, lines: int) -> int:
    """The offset just after the ``lines``-th newline of ``buf``."""
    cut = -1
    for _ in range(lines):
        cut = buf.find(b"\n", cut + 1)
    return cut + 1


def _content_end(f: Any, start: int, size: int) -> int:
    """The offset after the last byte that is not a space or line end (from ``start``)."""
    end = size
    step = 1 << 16
    while end > start:
        lo = max(start, end - step)
        f.seek(lo)
        block = f.read(end - lo)
        stripped = block.rstrip(b" \r\n")
        if stripped:
            return lo + len(stripped)
        end = lo
    return start


def read_lines(
    body: TextBody,
    options: ReadOptions,
    problems: Problems,
    *,
    plan: Plan,
    meta: dict[str, Any],
) -> Parsed:
    """Parse the lines of ``plan``, each ``token v1 ... vD``."""
    dim = body.dim
    rows = plan.rows
    parse_dtype = np.dtype(np.float64) if options.dtype == np.float64 else np.dtype(np.float32)
    out = np.empty((rows, dim), dtype=options.dtype)
    workers = max(1, min(2, os.cpu_count() or 1))
    path = options.path

    def work(offset: int, nbytes: int, row0: int, nrows: int) -> Chunk:
        target = out[row0 : row0 + nrows]
        chunk = None
        if arrow() is not None:
            buf, size = _load_chunk(path, offset, nbytes)
            chunk = fast_chunk(buf, size, dim, parse_dtype, options.encoding, target)
        if chunk is None:
            with open(path, "rb") as f:  # the fast path may have written over its buffer
                f.seek(offset)
                raw = f.read(nbytes)
            chunk = _exact_chunk(
                raw,
                body.first_line + row0,
                dim,
                parse_dtype,
                options.encoding,
                target,
                stop_early=not problems.skipping,
            )
        return chunk

    bar = progress_bar(options, plan.nbytes, f"reading {path.name}")
    with bar:
        chunks = _run(plan, work, problems, bar.update, workers)
    return _assemble(chunks, out, body.first_line, meta)


def _run(
    plan: Plan,
    work: Callable[[int, int, int, int], Chunk],
    problems: Problems,
    advance: Callable[[int], object],
    workers: int,
) -> list[Chunk]:
    """Parse the chunks on ``workers`` threads; report their problems in file order."""
    done: list[Chunk] = []
    pending: deque[Future[Chunk]] = deque()

    def collect_oldest() -> None:
        chunk = pending.popleft().result()
        for line, reason, message, hint in chunk.problems:
            problems.report(reason, message, line=line, hint=hint)
        done.append(chunk)

    row = 0
    with ThreadPoolExecutor(workers) as pool:
        try:
            for offset, nbytes, nrows in plan.chunks:
                pending.append(pool.submit(work, offset, nbytes, row, nrows))
                row += nrows
                advance(nbytes)
                while len(pending) > workers:
                    collect_oldest()
            while pending:
                collect_oldest()
        except BaseException:
            for fut in pending:
                fut.cancel()
            raise
    return done


def _assemble(
    chunks: list[Chunk], out: np.ndarray, first_line: int, meta: dict[str, Any]
) -> Parsed:
    """Join the chunks' tokens; drop the rows of skipped lines from ``out``."""
    tokens: list[str] = []
    for chunk in chunks:
        tokens.extend(chunk.tokens)
    places: Any = range(first_line, first_line + len(out))
    if any(chunk.keep is not None for chunk in chunks):
        keep = np.concatenate(
            [c.keep if c.keep is not None else np.ones(len(c.tokens), dtype=bool) for c in chunks]
        )
        places = np.flatnonzero(keep) + first_line
        out = _compact(out, keep)
    return Parsed(tokens=tokens, vectors=out, meta=meta, places=places, place_kind="line")


def _compact(out: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Move the kept rows to the front in place (blockwise, no full copy); return them."""
    dst = 0
    kept = np.flatnonzero(keep)
    if len(kept) == len(out):
        return out
    # Runs of consecutive kept rows move together.
    breaks = np.flatnonzero(np.diff(kept) != 1) + 1
    block = 1 << 16
    for run in np.split(kept, breaks):
        if not len(run):
            continue
        src, n = int(run[0]), len(run)
        for i in range(0, n, block):
            m = min(block, n - i)
            out[dst + i : dst + i + m] = out[src + i : src + i + m]
        dst += n
    return out[:dst]


def _load_chunk(path: Any, offset: int, nbytes: int) -> tuple[bytearray, int]:
    """``(buffer, size)``: the chunk's bytes at ``buffer[PAD:PAD + size]``, ending in a newline.

    ``size`` is ``nbytes``, or one more when the file's last line lacks its newline.
    """
    buf = bytearray(PAD + nbytes + 1)
    buf[:PAD] = b"\n" * PAD
    with open(path, "rb", buffering=0) as f:
        got = _read_at(f, offset, memoryview(buf)[PAD : PAD + nbytes])
    if got != nbytes:
        raise FormatError(
            f"the file ended at byte {offset + got} while reading lines counted a moment ago",
            path=path,
            offset=offset + got,
            hint="The file changed while it was read; read it again",
        )
    if buf[PAD + nbytes - 1] == _NEWLINE:
        return buf, nbytes
    buf[PAD + nbytes] = _NEWLINE
    return buf, nbytes + 1


# -- the exact path --------------------------------------------------------------------


def _exact_chunk(
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
    lines = lines[: len(out)]
    keep = np.zeros(len(out), dtype=bool)
    tokens: list[str] = []
    fields: list[bytes] = []
    rows: list[int] = []
    problems: list[tuple[int, str, str, str | None]] = []

    def problem(i: int, reason: str, message: str, hint: str | None = None) -> None:
        problems.append((first_line + i, reason, message, hint))

    for i, line in enumerate(lines):
        body = line.rstrip(_TRAILING)
        if not body:
            problem(i, "blank_line", "blank line between vectors")
        elif (parts := body.rsplit(b" ", dim)) and len(parts) != dim + 1:
            problem(
                i,
                "field_count",
                f"expected a token and {dim} numbers separated by single spaces, "
                f"found {len(parts)} field(s): {_excerpt(body)}",
            )
        elif not parts[0]:
            problem(
                i,
                "empty_token",
                f"the line starts with a space, so its token is empty: {_excerpt(body)}",
            )
        elif (token := _decode(parts[0], encoding)) is None:
            problem(i, "undecodable", *undecodable_message(parts[0], encoding))
        else:
            tokens.append(token)
            rows.append(i)
            fields.extend(parts[1:])
        if stop_early and problems:
            break
    values = _values(fields, dim, parse_dtype, rows, first_line, problems)
    good_tokens: list[str] = []
    for k, i in enumerate(rows):
        if values[k] is None:
            continue
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


# -- the start of a file ---------------------------------------------------------------

BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class Head:
    """The first bytes of a file, after a UTF-8 byte order mark (which is skipped)."""

    bom: int  # 3 when the file starts with a BOM, else 0
    data: bytes
    whole: bool  # the file ends within ``data``

    def lines(self) -> list[bytes]:
        """The complete lines of ``data``, without line ends."""
        parts = self.data.split(b"\n")
        if not self.whole or not parts[-1]:
            parts.pop()
        return [p.rstrip(_TRAILING) for p in parts]


def read_head(path: os.PathLike[str] | str, size: int = 1 << 20) -> Head:
    """The first ``size`` bytes of ``path`` after any BOM."""
    with open(path, "rb") as f:
        data = f.read(size + len(BOM) + 1)
    bom = len(BOM) if data.startswith(BOM) else 0
    whole = len(data) <= size + bom
    return Head(bom, data[bom : bom + size], whole)
