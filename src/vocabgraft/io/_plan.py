"""The start of a text file (its head) and the plan of its chunks of whole lines."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vocabgraft.errors import FileChangedError
from vocabgraft.io._source import Source, open_regular

__all__ = [
    "BOM",
    "CHUNK_BYTES",
    "Head",
    "Plan",
    "after_lines",
    "plan_chunks",
    "read_at",
    "read_head",
    "read_up_to",
]

CHUNK_BYTES = 1 << 20
_NEWLINE = 10
_TRAILING = b" \r"


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
    chunks: list[tuple[int, int, int]] = []
    rows = 0
    with open_regular(Path(path)) as f:
        end = _content_end(f, start, os.fstat(f.fileno()).st_size)
        buf = bytearray(CHUNK_BYTES)
        pos = start
        while pos < end and (limit is None or rows < limit):
            want = min(len(buf), end - pos)
            got = read_at(f, pos, memoryview(buf)[:want])
            if got < want:
                raise FileChangedError(
                    f"the file ended at byte {pos + got}, before the {end} bytes it had a "
                    "moment ago: it changed while it was read",
                    path=path,
                    offset=pos + got,
                    hint="Wait until it is complete and unchanged, then read it again",
                )
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
                n = after_lines(buf, limit - rows)
                lines = limit - rows
            chunks.append((pos, n, lines))
            rows += lines
            pos += n
    return Plan(rows, chunks)


def read_at(f: Any, pos: int, view: memoryview) -> int:
    """Fill ``view`` from offset ``pos``; the number of bytes read."""
    f.seek(pos)
    got = 0
    while got < len(view):
        n = f.readinto(view[got:])
        if not n:
            break
        got += n
    return got


def after_lines(buf: bytes | bytearray, lines: int) -> int:
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


def read_up_to(f: Any, n: int) -> bytes:
    """``n`` bytes from ``f``, fewer only at its end (a stream may return less per read)."""
    parts = []
    while n > 0:
        part = f.read(n)
        if not part:
            break
        parts.append(part)
        n -= len(part)
    return b"".join(parts)


def read_head(source: Source, size: int = 1 << 20) -> Head:
    """The first ``size`` bytes of ``source`` after any BOM."""
    with source.open() as f:
        data = read_up_to(f, size + len(BOM) + 1)
    bom = len(BOM) if data.startswith(BOM) else 0
    whole = len(data) <= size + bom
    return Head(bom, data[bom : bom + size], whole)
