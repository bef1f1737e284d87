"""word2vec text and binary, and fastText ``.vec`` (which is word2vec text).

Both start with a header line ``count dim``. Text then has one
``token v1 ... vD`` line per vector. Binary has, per vector, the token's
bytes, a space and ``dim`` little-endian float32s; the original C tool writes
a newline after each vector and gensim does not, so newlines before a token
are skipped. A binary token ends at the first space, so it cannot hold one.

Binary files are read in blocks with ordinary reads (no memory map), so a
file truncated by another program mid-read is an error, never a crash.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from vocabgraft.errors import FormatError
from vocabgraft.io._bytes import ByteReader
from vocabgraft.io._common import Parsed, Problems, ReadOptions, progress_bar, undecodable_message
from vocabgraft.io._lines import TextBody, read_lines, read_stream_lines
from vocabgraft.io._plan import Head, plan_chunks, read_head

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


def _check_dim(rows: int, nbytes: int, dim: int, path: Path) -> None:
    """Too few bytes for that many numbers: the dim is wrong (and must not size the matrix)."""
    if rows * (2 * dim + 1) > nbytes + 1:
        raise FormatError(
            f"the header says the vectors have {dim} dimensions, but the {rows} "
            f"line(s) after it hold only {nbytes} bytes",
            path=path,
            line=1,
            hint="Fix the header's second number (the vector size)",
        )


def _check_count(rows: int, want: int, count: int, problems: Problems) -> None:
    if rows != want:
        problems.report(
            "header_count",
            f"the header says {count} vectors, but {rows} "
            f"{'line follows' if rows == 1 else 'lines follow'} it",
            line=1,
            hint="Fix the header's first number, or pass on_error='skip' to read the lines "
            "that are there",
        )


def read_word2vec_text(options: ReadOptions, problems: Problems) -> Parsed:
    """Read word2vec text (also fastText ``.vec``)."""
    source = options.opened()
    path = source.label
    count, dim, start = parse_header(read_head(source, 4096), path=path)
    want = options.want(count)
    body = TextBody(start=start, first_line=2, dim=dim)
    meta = {"format": "word2vec", "dim": dim, "header_count": count}
    limit = None if options.limit is None else want
    if source.compression is not None:
        parsed, rows = read_stream_lines(
            body,
            options,
            problems,
            meta=meta,
            limit=limit,
            check=lambda rows, nbytes: _check_dim(rows, nbytes, dim, path),
        )
        _check_count(rows, want, count, problems)
        return parsed
    plan = plan_chunks(options.path, start, limit)
    _check_dim(plan.rows, plan.nbytes, dim, path)
    _check_count(plan.rows, want, count, problems)
    return read_lines(body, options, problems, plan=plan, meta=meta)


def read_word2vec_binary(options: ReadOptions, problems: Problems) -> Parsed:
    """Read word2vec binary."""
    source = options.opened()
    count, dim, start = parse_header(read_head(source, 4096), path=source.label)
    want = options.want(count)
    with source.open() as stream:
        cur = ByteReader(stream, source.label, source.size)
        cur.skip(start, "the header")
        scan = _Scan(cur, dim, want, options, problems)
        complete = scan.run()
        if complete and (options.limit is None or options.limit > count):
            _check_end(cur, count, problems)
    tokens, vectors, places = scan.tokens, scan.out[: scan.n], scan.places
    if len(vectors):
        finite = np.asarray(np.isfinite(vectors).all(axis=1))
        if not finite.all():
            for i in np.flatnonzero(~finite).tolist():
                problems.report(
                    "non_finite",
                    f"the vector of {tokens[i]!r} holds nan or inf; vectors must be finite",
                    offset=places[i] + len(tokens[i].encode(options.encoding)) + 1,
                )
            tokens = [t for t, ok in zip(tokens, finite.tolist()) if ok]
            vectors = vectors[finite]
            places = [p for p, ok in zip(places, finite.tolist()) if ok]
    meta = {"format": "word2vec-binary", "dim": dim, "header_count": count}
    return Parsed(tokens, vectors, meta, places=places, place_kind="offset")


class _Scan:
    """Reads the records of a word2vec binary file block by block.

    Per block, a Python loop finds each token's end and one gather copies the
    block's vectors into ``out`` (records need not be aligned).
    """

    def __init__(
        self, cur: ByteReader, dim: int, want: int, options: ReadOptions, problems: Problems
    ) -> None:
        self.cur, self.dim, self.want = cur, dim, want
        self.record = 4 * dim
        self.options, self.problems = options, problems
        self.tokens: list[str] = []
        self.places: list[int] = []
        # Each record takes at least a token byte, a space and the floats: a header
        # that promises more than the file can hold does not size the matrix. A
        # stream's matrix grows with the records actually read.
        room = cur.remaining
        cap = 0 if room is None else min(want, room // (self.record + 2))
        self.out = np.empty((cap, dim), dtype=options.dtype)
        self.n = 0  # rows in out
        self.seen = 0  # records read, kept or not

    def run(self) -> bool:
        """Read up to ``want`` records; False if the file ends inside one."""
        cur = self.cur
        bar = progress_bar(self.options, cur.size, f"reading {self.options.path.name}")
        with bar:
            while self.seen < self.want:
                before = cur.pos
                need = self._block()
                bar.update(cur.pos - before)
                if self.seen < self.want and not cur.more(need):
                    return self._ended()
        return True

    def _block(self) -> int:
        """Consume the whole records in the buffer; how many more bytes the next one needs."""
        cur, record, encoding = self.cur, self.record, self.options.encoding
        buf, i, base, size = cur.buf, cur.i, cur.base, len(cur.buf)
        offsets: list[int] = []
        tokens, places = self.tokens, self.places
        seen, want = self.seen, self.want
        need = 1
        while seen < want:
            j = i
            while j < size and buf[j] == 10:
                j += 1
            space = buf.find(b" ", j)
            if space < 0 or space + 1 + record > size:
                i = j
                need = size - j + 1 if space < 0 else space + 1 + record - size
                break
            try:
                token = buf[j:space].decode(encoding)
            except UnicodeDecodeError:
                token = None
            if token:  # the per-record path is inlined: it runs once per vector
                tokens.append(token)
                places.append(base + j)
                offsets.append(space + 1)
            else:
                self._bad_token(buf[j:space], base + j)
            i = space + 1 + record
            seen += 1
        self.seen = seen
        cur.i = i
        self._gather(buf, offsets)
        return need

    def _bad_token(self, raw: bytes, offset: int) -> None:
        """Report a token that does not decode, or is empty."""
        if raw:
            message, hint = undecodable_message(raw, self.options.encoding)
            self.problems.report("undecodable", message, offset=offset, hint=hint)
        else:
            self.problems.report("empty_token", "empty token (two spaces in a row?)", offset=offset)

    def _gather(self, buf: bytes, offsets: list[int]) -> None:
        if not offsets:
            return
        k = len(offsets)
        if self.n + k > len(self.out):
            grown = np.empty((max(2 * len(self.out), self.n + k), self.dim), self.out.dtype)
            grown[: self.n] = self.out[: self.n]
            self.out = grown
        raw = np.frombuffer(buf, dtype=np.uint8)
        windows = np.lib.stride_tricks.as_strided(
            raw, shape=(len(raw) - self.record + 1, self.record), strides=(1, 1), writeable=False
        )
        rows = windows[np.asarray(offsets, dtype=np.int64)].view("<f4").reshape(k, self.dim)
        self.out[self.n : self.n + k] = rows
        self.n += k

    def _ended(self) -> bool:
        """The file ended before ``want`` records: report it; False if inside a record."""
        cur = self.cur
        if cur.i >= len(cur.buf):
            self.problems.report(
                "header_count",
                f"the header says {self.want} vectors, but the file ends after {self.seen}",
                offset=cur.pos,
                hint="Fix the header's first number, or pass on_error='skip' to read the "
                "vectors that are there",
            )
            return True
        what = "token" if cur.buf.find(b" ", cur.i) < 0 else "vector"
        self.problems.report(
            "truncated",
            f"the file ends inside vector {self.seen + 1} of {self.want} (in its {what})",
            offset=cur.pos,
            hint="The file is truncated; download or write it again, or pass "
            "on_error='skip' to keep the complete vectors",
        )
        return False


def _check_end(cur: ByteReader, count: int, problems: Problems) -> None:
    """After the header's count of vectors, only line ends may follow."""
    at = cur.pos
    cur.ensure(64)
    rest = cur.buf[cur.i : cur.i + 64]
    if rest.strip(b"\r\n"):
        problems.report(
            "header_count",
            f"the header says {count} vectors, but more data follows the last of them",
            offset=at,
            hint="Fix the header's first number, or pass on_error='skip' to ignore the rest",
        )
