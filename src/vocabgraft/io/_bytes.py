"""Buffered reading of binary formats from any stream, with ordinary reads only.

The binary readers (word2vec binary, fastText ``.bin``, ``.npy``) read
through :class:`ByteReader` rather than a memory map: a memory map of a file
that another process truncates kills the process with SIGBUS, while a read
just ends early (and :meth:`~vocabgraft.io._source.Source.guard` then says
the file changed). The same code reads compressed streams.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import numpy as np

from vocabgraft.errors import FormatError

__all__ = ["ByteReader"]

BLOCK = 1 << 22
# Arrays whose size the file cannot vouch for (compressed input) are read in
# pieces that start at this size and grow with what was read, so a damaged
# header cannot size a buffer: memory stays within twice the data present.
_PIECE = 1 << 16


class ByteReader:
    """A cursor over a binary stream, buffered in blocks.

    ``buf[i:]`` are the bytes read but not consumed; ``pos`` is the stream
    offset of ``buf[i]``. ``size`` is the stream's length when known (a plain
    file), which bounds what a header may promise.
    """

    def __init__(self, stream: Any, path: Path, size: int | None, block: int = BLOCK) -> None:
        self.stream, self.path, self.size = stream, path, size
        # A stream (compressed input) is read in smaller blocks: its length is unknown.
        self.block = block if size is not None else min(block, 1 << 20)
        self.buf = b""
        self.i = 0
        self.base = 0  # stream offset of buf[0]
        self.eof = False

    @property
    def pos(self) -> int:
        return self.base + self.i

    @property
    def remaining(self) -> int | None:
        """Bytes left after ``pos`` when the size is known, else None."""
        return None if self.size is None else self.size - self.pos

    def more(self, at_least: int = 1) -> bool:
        """Read more bytes (a block, or as many as are buffered); False at the end of the stream.

        ``at_least`` is how many the caller needs; it may take several calls.
        """
        if self.eof:
            return False
        tail = self.buf[self.i :]
        # At least a block, and as much as is buffered (so a long token costs
        # O(n) reads); never more than the file has, whatever was asked for.
        want = max(self.block, len(tail))
        if self.size is not None:
            want = min(want, max(1, self.size - self.base - len(self.buf)))
        data = self.stream.read(want)
        if not data:
            self.eof = True
            return False
        self.base += self.i
        self.buf = tail + data if tail else data
        self.i = 0
        return True

    def ensure(self, n: int) -> bool:
        """Whether ``n`` bytes are available at ``pos`` (reading more as needed)."""
        while len(self.buf) - self.i < n:
            if not self.more(n - (len(self.buf) - self.i)):
                return False
        return True

    def error(self, message: str, hint: str, offset: int | None = None) -> FormatError:
        return FormatError(
            message, path=self.path, offset=self.pos if offset is None else offset, hint=hint
        )

    def truncated(self, what: str, n: int) -> FormatError:
        end = self.size if self.size is not None else self.base + len(self.buf)
        return self.error(
            f"the file ends at byte {end} while reading {what} ({n} bytes from byte {self.pos})",
            hint="The file is truncated or damaged; download or save it again",
        )

    def take(self, n: int, what: str) -> bytes:
        """The next ``n`` bytes; a :class:`FormatError` naming ``what`` if the file ends first."""
        if n < 0 or not self.ensure(n):
            raise self.truncated(what, n)
        out = self.buf[self.i : self.i + n]
        self.i += n
        return out

    def unpack(self, fmt: str, what: str) -> tuple[Any, ...]:
        n = struct.calcsize(fmt)
        if not self.ensure(n):
            raise self.truncated(what, n)
        values = struct.unpack_from(fmt, self.buf, self.i)
        self.i += n
        return values

    def find(self, byte: bytes) -> int:
        """The offset of ``byte`` from ``pos`` (reading on as needed), or -1 at the end."""
        start = self.i
        while True:
            at = self.buf.find(byte, start)
            if at >= 0:
                return at - self.i
            start = len(self.buf)
            consumed = self.i
            if not self.more():
                return -1
            start -= consumed  # the buffer now starts at the old pos

    def until(self, byte: bytes, what: str) -> bytes:
        """The bytes before the next ``byte``, consuming both."""
        n = self.find(byte)
        if n < 0:
            raise self.truncated(what, len(self.buf) - self.i + 1)
        out = self.buf[self.i : self.i + n]
        self.i += n + 1
        return out

    def array(self, count: int, dtype: Any, what: str) -> np.ndarray:
        """The next ``count`` items of ``dtype`` as a new array."""
        dt = np.dtype(dtype)
        nbytes = count * dt.itemsize
        remaining = self.remaining
        if count < 0 or (remaining is not None and nbytes > remaining):
            raise self.truncated(what, nbytes)
        if remaining is not None:
            out = np.empty(count, dtype=dt)
            self._fill(memoryview(out.data).cast("B"), what)
            return out
        pieces = []
        left = nbytes
        while left:
            piece = np.empty(min(left, max(_PIECE, nbytes - left)), dtype=np.uint8)
            self._fill(memoryview(piece.data), what)
            pieces.append(piece)
            left -= len(piece)
        data = np.concatenate(pieces) if len(pieces) != 1 else pieces[0]
        return data.view(dt) if nbytes else np.empty(0, dtype=dt)

    def _fill(self, view: memoryview, what: str) -> None:
        """Fill ``view`` from the buffer, then straight from the stream."""
        n = len(view)
        have = min(n, len(self.buf) - self.i)
        view[:have] = self.buf[self.i : self.i + have]
        self.i += have
        got = have
        while got < n:
            k = self.stream.readinto(view[got:])
            if not k:
                self.eof = True
                raise self.truncated(what, n)
            got += k
        if got > have:  # the buffer is spent; what follows comes from the stream
            self.base += self.i + (got - have)
            self.buf, self.i = b"", 0

    def skip(self, n: int, what: str) -> None:
        """Consume ``n`` bytes without keeping them."""
        remaining = self.remaining
        if n < 0 or (remaining is not None and n > remaining):
            raise self.truncated(what, n)
        buffered = len(self.buf) - self.i
        if remaining is not None and n > buffered:  # a plain file: seek over it
            target = self.pos + n
            self.stream.seek(target)
            self.buf, self.i, self.base = b"", 0, target
            return
        while n:
            if not self.ensure(1):
                raise self.truncated(what, n)
            step = min(n, len(self.buf) - self.i)
            self.i += step
            n -= step

    def at_end(self) -> bool:
        return not self.ensure(1)
