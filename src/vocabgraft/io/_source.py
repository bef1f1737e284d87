"""Opening an input: regular files only, seen through gzip, bz2, xz or zip, guarded against change.

- A path that is not a regular file (a FIFO, a device, a socket, a folder
  that is not a table cache) is refused before anything opens it, so nothing
  ever blocks. Files are opened with ``O_NONBLOCK`` and checked again after
  opening, in case the path changed in between.
- Compression is told from the first bytes, not the name: gzip (``.gz``),
  bz2, xz and zip. Compressed data is decompressed as it is read (streamed),
  never unpacked to disk. A zip with several files needs ``member=``.
- :meth:`Source.guard` compares the file's size, modification time and inode
  before and after a read: a file that changed while it was read raises
  :class:`~vocabgraft.errors.FileChangedError` instead of giving mixed data.
  Readers use ordinary reads, not memory maps, so a file that shrinks under
  them cannot kill the process with SIGBUS.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import stat
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from vocabgraft.errors import (
    ArgumentError,
    FileChangedError,
    FormatError,
    InputNotFoundError,
    VocabgraftError,
)

__all__ = ["Source", "compression_of", "open_regular", "open_source", "stat_input"]

_MAGIC = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bz2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"PK\x03\x04", "zip"),
    (b"PK\x05\x06", "zip"),  # an empty zip
)
# What a damaged compressed stream raises, by library.
_STREAM_ERRORS = (OSError, EOFError, zlib.error, lzma.LZMAError, zipfile.BadZipFile, ValueError)
_DAMAGED_HINT = "The file is truncated or corrupt; download it again"
_KINDS = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def compression_of(head: bytes) -> str | None:
    """``"gzip"``, ``"bz2"``, ``"xz"``, ``"zip"`` or None, from a file's first bytes."""
    for magic, name in _MAGIC:
        if head.startswith(magic):
            return name
    return None


def stat_input(path: Path) -> os.stat_result:
    """``os.stat(path)``, refusing what vocabgraft cannot read with a one-line error.

    Folders pass (the caller decides whether a folder is a table cache);
    FIFOs, devices and sockets are refused before anything opens them.
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise InputNotFoundError(2, "No such file or folder", str(path)) from None
    except OSError as exc:
        raise FormatError(
            f"cannot read the path ({exc.strerror})",
            path=path,
            hint="Check the path and its permissions",
        ) from None
    for test, kind in _KINDS:
        if test(st.st_mode):
            raise FormatError(
                f"{kind}, not a regular file; vocabgraft reads vectors from regular files only",
                path=path,
                hint="Copy the data into a file first (a .gz, .bz2, .xz or .zip file reads as is)",
            )
    return st


def open_regular(path: Path) -> BinaryIO:
    """Open ``path`` for reading without ever blocking; refuse it unless it is a regular file."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise InputNotFoundError(2, "No such file", str(path)) from None
    except OSError as exc:
        raise FormatError(f"cannot open the file ({exc.strerror})", path=path) from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        stat_input(path)  # names what it is
        raise FormatError("not a regular file", path=path, hint="Pass a vectors file")
    return os.fdopen(fd, "rb")


def _signature(st: os.stat_result) -> tuple[int, int, int, int]:
    return (st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev)


class _Decompressed:
    """A decompressing stream whose damage is a :class:`FormatError`, not a library error."""

    def __init__(self, inner: Any, owners: list[Any], kind: str, label: Path) -> None:
        self.inner, self.owners, self.kind, self.label = inner, owners, kind, label

    def _damaged(self, exc: BaseException) -> FormatError:
        return FormatError(
            f"the {self.kind} data is damaged ({type(exc).__name__}: {exc})",
            path=self.label,
            hint=_DAMAGED_HINT,
        )

    def _call(self, method: str, arg: Any) -> Any:
        try:
            return getattr(self.inner, method)(arg)
        except VocabgraftError:
            raise
        except _STREAM_ERRORS as exc:
            raise self._damaged(exc) from None

    def read(self, n: int = -1) -> bytes:
        return bytes(self._call("read", n))

    def readinto(self, view: Any) -> int:
        return int(self._call("readinto", view))

    def close(self) -> None:
        for obj in (self.inner, *self.owners):
            obj.close()

    def __enter__(self) -> _Decompressed:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class Source:
    """A regular file to read, maybe compressed; ``member`` is the file chosen inside a zip."""

    path: Path
    compression: str | None
    member: str | None
    signature: tuple[int, int, int, int]

    @property
    def size(self) -> int | None:
        """The number of bytes a reader will see; None when compressed (not known in advance)."""
        return self.signature[0] if self.compression is None else None

    @property
    def label(self) -> Path:
        """The path to name in messages (a zip member as ``archive.zip/member``)."""
        return self.path if self.member is None else self.path / self.member

    def open(self) -> Any:
        """A binary stream of the (decompressed) data; use it as a context manager."""
        f = open_regular(self.path)
        if self.compression is None:
            return f
        try:
            return self._decompress(f)
        except BaseException:
            f.close()
            raise

    def _decompress(self, f: BinaryIO) -> _Decompressed:
        kind = self.compression
        if kind == "zip":
            archive = _open_zip(f, self.path)
            assert self.member is not None
            try:
                member = archive.open(self.member)
            except (NotImplementedError, RuntimeError, *_STREAM_ERRORS) as exc:
                archive.close()
                raise FormatError(
                    f"cannot read {self.member!r} from the zip ({exc})", path=self.path
                ) from None
            return _Decompressed(member, [archive, f], "zip", self.label)
        # The stream is closed by _Decompressed.close, with the file under it.
        if kind == "gzip":
            inner: Any = gzip.GzipFile(fileobj=f, mode="rb")
        elif kind == "bz2":
            inner = bz2.BZ2File(f, mode="rb")
        else:
            inner = lzma.LZMAFile(f, mode="rb")  # noqa: SIM115
        return _Decompressed(inner, [f], str(kind), self.label)

    def changed(self) -> bool:
        """Whether the file's size, modification time or inode differ from when it was opened."""
        try:
            return _signature(os.stat(self.path)) != self.signature
        except OSError:
            return True

    def changed_error(self) -> FileChangedError:
        return FileChangedError(
            "the file changed while it was read (another program wrote, truncated or replaced it)",
            path=self.label,
            hint="Wait until it is complete and unchanged, then read it again",
        )

    @contextmanager
    def guard(self) -> Iterator[None]:
        """Raise :class:`FileChangedError` if the file changes during the block, even on error."""
        try:
            yield
        except Exception as exc:
            if self.changed():
                raise self.changed_error() from exc
            raise
        if self.changed():
            raise self.changed_error()


def _open_zip(f: BinaryIO, path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(f)
    except (zipfile.BadZipFile, *_STREAM_ERRORS) as exc:
        raise FormatError(
            f"not a readable zip file ({exc})", path=path, hint=_DAMAGED_HINT
        ) from None


def _zip_member(path: Path, member: str | None) -> str:
    """The member to read: ``member``, or the zip's only file."""
    with open_regular(path) as f, _open_zip(f, path) as archive:
        names = [
            i.filename
            for i in archive.infolist()
            if not i.is_dir() and not i.filename.startswith("__MACOSX/")
        ]
    if member is not None:
        if member in names:
            return member
        raise FormatError(
            f"the zip has no file {member!r}; it holds: {_listing(names)}",
            path=path,
            hint="Pass member= with one of those names",
        )
    if len(names) == 1:
        return names[0]
    raise FormatError(
        f"the zip holds {len(names)} files ({_listing(names)}), so which one to read is not clear",
        path=path,
        hint=f"Pass member= with one of them, e.g. member={names[0]!r}"
        if names
        else "The zip is empty",
    )


def _listing(names: list[str], most: int = 10) -> str:
    shown = ", ".join(names[:most]) or "nothing"
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


def open_source(path: Path, member: str | None = None) -> Source:
    """Check ``path`` (a regular file) and tell its compression; pick the zip ``member``."""
    st = stat_input(path)
    if stat.S_ISDIR(st.st_mode):
        raise FormatError(
            "a folder, but not a vocabgraft table cache (it has no table.json)",
            path=path,
            hint="Pass a vectors file, or a folder written by EmbeddingTable.save",
        )
    with open_regular(path) as f:
        head = f.read(8)
        signature = _signature(os.fstat(f.fileno()))
    compression = compression_of(head)
    if member is not None and compression != "zip":
        raise ArgumentError(
            f"member= picks a file inside a zip, but {path} is not a zip file. "
            f"Received: member={member!r}"
        )
    if compression == "zip":
        member = _zip_member(path, member)
    return Source(path, compression, member, signature)
