r"""The chunked parser for text vector files: one ``token v1 ... vD`` per line.

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
- Spaces and ``\r`` at the end of a line are dropped: CRLF files and
  fastText's trailing space both read.
- Blank lines at the end of the file are ignored; elsewhere they are errors.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from vocabgraft.errors import FileChangedError
from vocabgraft.io._common import Parsed, Problems, ReadOptions, progress_bar
from vocabgraft.io._exact import exact_chunk
from vocabgraft.io._fast import PAD, Chunk, fast_chunk
from vocabgraft.io._floats import arrow
from vocabgraft.io._plan import CHUNK_BYTES, Plan, after_lines, read_at, read_up_to
from vocabgraft.io._source import open_regular

__all__ = ["TextBody", "read_lines", "read_stream_lines"]

_NEWLINE = 10
# Checks a chunk's (rows, bytes) before its matrix is allocated.
RowCheck = Callable[[int, int], None]


@dataclass(frozen=True)
class TextBody:
    """Where the vector lines of a text file are.

    ``start`` is the byte offset of the first vector line (after a BOM and a
    header), ``first_line`` its 1-based line number, ``dim`` the vector size.
    """

    start: int
    first_line: int
    dim: int


def _parse(
    padded: Callable[[], tuple[bytearray, int]],
    raw: Callable[[], bytes],
    first_line: int,
    options: ReadOptions,
    target: np.ndarray,
    *,
    stop_early: bool,
) -> Chunk:
    """Parse one chunk of whole lines into ``target``: the fast path, else the exact one.

    ``padded`` gives the chunk as :func:`_padded` lays it out (the fast path
    writes over it), ``raw`` its bytes as they are, for the exact path.
    """
    dim = target.shape[1]
    parse_dtype = np.dtype(np.float64) if options.dtype == np.float64 else np.dtype(np.float32)
    chunk = None
    if arrow() is not None:
        buf, size = padded()
        chunk = fast_chunk(buf, size, dim, parse_dtype, options.encoding, target)
    if chunk is None:
        chunk = exact_chunk(
            raw(), first_line, dim, parse_dtype, options.encoding, target, stop_early=stop_early
        )
    return chunk


def read_lines(
    body: TextBody,
    options: ReadOptions,
    problems: Problems,
    *,
    plan: Plan,
    meta: dict[str, Any],
) -> Parsed:
    """Parse the lines of ``plan``, each ``token v1 ... vD``."""
    out = np.empty((plan.rows, body.dim), dtype=options.dtype)
    workers = max(1, min(2, os.cpu_count() or 1))
    path = options.path

    def work(offset: int, nbytes: int, row0: int, nrows: int) -> Chunk:
        def padded() -> tuple[bytearray, int]:
            buf = bytearray(PAD + nbytes + 1)
            _read_chunk(path, offset, memoryview(buf)[PAD : PAD + nbytes])
            return _padded(buf, nbytes)

        def raw() -> bytes:
            buf = bytearray(nbytes)
            _read_chunk(path, offset, memoryview(buf))
            return bytes(buf)

        target = out[row0 : row0 + nrows]
        first = body.first_line + row0
        return _parse(padded, raw, first, options, target, stop_early=not problems.skipping)

    bar = progress_bar(options, plan.nbytes, f"reading {path.name}")
    with bar:
        chunks = _run(plan, work, problems, bar.update, workers)
    return _assemble(chunks, out, body.first_line, meta)


def read_stream_lines(
    body: TextBody,
    options: ReadOptions,
    problems: Problems,
    *,
    meta: dict[str, Any],
    limit: int | None,
    check: RowCheck,
) -> tuple[Parsed, int]:
    """Parse the lines of a stream (a compressed file) chunk by chunk; also the lines read.

    The number of lines is not known in advance, so each chunk gets its own
    matrix and they are joined at the end.
    """
    source = options.opened()
    outs: list[np.ndarray] = []
    chunks: list[Chunk] = []
    rows = 0
    bar = progress_bar(options, None, f"reading {source.label.name}")
    with bar, source.open() as f:
        if len(read_up_to(f, body.start)) != body.start:
            return _assemble([], np.empty((0, body.dim), options.dtype), body.first_line, meta), 0
        for data, nrows in stream_chunks(f, limit):
            check(nrows, len(data))
            target = np.empty((nrows, body.dim), dtype=options.dtype)
            chunk = _parse(
                partial(_padded_copy, data),
                partial(bytes, data),
                body.first_line + rows,
                options,
                target,
                stop_early=not problems.skipping,
            )
            for line, reason, message, hint in chunk.problems:
                problems.report(reason, message, line=line, hint=hint)
            outs.append(target)
            chunks.append(chunk)
            rows += nrows
            bar.update(len(data))
    if not outs:
        out = np.empty((0, body.dim), dtype=options.dtype)
    else:
        out = outs[0] if len(outs) == 1 else np.concatenate(outs)
    return _assemble(chunks, out, body.first_line, meta), rows


def stream_chunks(f: Any, limit: int | None) -> Iterator[tuple[bytes, int]]:
    """Chunks of whole lines from ``f`` with their line counts, up to ``limit`` lines.

    Spaces and line ends at the very end are dropped, as :func:`plan_chunks`
    does: a chunk never ends in them unless more lines follow.
    """
    pending = b""
    rows = 0
    eof = False
    while not eof and (limit is None or rows < limit):
        data = f.read(CHUNK_BYTES)
        eof = not data
        pending += data
        if eof:
            body, pending = pending.rstrip(b" \r\n"), b""
        else:
            cut = pending.rfind(b"\n") + 1
            content = len(pending[:cut].rstrip(b" \r\n"))
            if not content:
                continue  # only line ends (or one long line) so far
            cut = pending.index(b"\n", content) + 1
            body, pending = pending[:cut], pending[cut:]
        if not body:
            continue
        lines = body.count(b"\n") + (body[-1] != _NEWLINE)
        if limit is not None and rows + lines > limit:
            body = body[: after_lines(body, limit - rows)]
            lines = limit - rows
        rows += lines
        yield body, lines


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


def _read_chunk(path: Any, offset: int, view: memoryview) -> None:
    """Fill ``view`` with the bytes at ``offset``; the file must still hold them."""
    with open_regular(path) as f:
        got = read_at(f, offset, view)
    if got != len(view):
        raise FileChangedError(
            f"the file ended at byte {offset + got} while reading lines counted a moment ago: "
            "it changed while it was read",
            path=path,
            offset=offset + got,
            hint="Wait until it is complete and unchanged, then read it again",
        )


def _padded_copy(data: bytes) -> tuple[bytearray, int]:
    buf = bytearray(PAD + len(data) + 1)
    buf[PAD : PAD + len(data)] = data
    return _padded(buf, len(data))


def _padded(buf: bytearray, nbytes: int) -> tuple[bytearray, int]:
    """``(buffer, size)``: a chunk laid out at ``buffer[PAD:PAD + size]``, ending in a newline.

    ``buf`` holds the chunk's ``nbytes`` at ``PAD`` and one spare byte after;
    ``size`` is ``nbytes``, or one more when the file's last line lacks its newline.
    """
    buf[:PAD] = b"\n" * PAD
    if nbytes and buf[PAD + nbytes - 1] == _NEWLINE:
        return buf, nbytes
    buf[PAD + nbytes] = _NEWLINE
    return buf, nbytes + 1
