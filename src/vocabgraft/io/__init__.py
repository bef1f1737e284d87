r"""Reading vectors: one entry point, :func:`load`, for every supported format.

The format is sniffed from the first bytes (:func:`sniff_format`); the names
are in :data:`formats`. What each format can hold, and how it is read:

- GloVe text, ``token v1 ... vD``: the last ``D`` fields are the vector and
  the rest is the token, so a token may hold spaces (never a newline). ``D``
  is the most common ``fields - 1`` among the first 100 lines.
- word2vec text and fastText ``.vec``: the same after a ``count dim`` header.
- word2vec binary: a token ends at its first space, so it cannot hold one.
- fastText ``.bin``: any token without a NUL byte; the table rows are
  fastText's word vectors and ``table.subwords`` gives any other word's.
- ``.npy`` + word list: ``.txt`` tokens hold no newline; ``.parquet`` any string.

Any of these files may be compressed with gzip, bz2 or xz, or sit in a zip
(pick the file with ``member=`` when the zip holds several): the data is
decompressed as it is read, never unpacked to disk. Only regular files are
read: a FIFO or a device is refused at once rather than blocking. A file that
changes while it is read (another program writes or truncates it) raises
:class:`~vocabgraft.errors.FileChangedError`.

:func:`write_word2vec` and :func:`write_glove` write tables back out.

Tokens are decoded with ``encoding`` (UTF-8 by default); a token that does not
decode is a malformed row like any other: an error naming its line or byte
offset, or skipped and counted under ``on_error="skip"``.

>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "vectors.txt"
>>> _ = path.write_text("the 0.1 0.2\nnew york 0.3 0.4\n")
>>> table = load(path, progress=False)
>>> table.vocab.tokens, table["new york"].tolist()
(['the', 'new york'], [0.30000001192092896, 0.4000000059604645])
"""

from __future__ import annotations

import dataclasses
import os
import stat
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from vocabgraft.errors import ArgumentError, FormatError
from vocabgraft.io._common import OnError, Parsed, Problems, ReadOptions, build_table
from vocabgraft.io._sniff import sniff_format, sniff_source
from vocabgraft.io._source import open_source, stat_input
from vocabgraft.io.gensim import from_gensim, to_gensim
from vocabgraft.io.writers import write_glove, write_word2vec
from vocabgraft.table.core import EmbeddingTable

__all__ = [
    "formats",
    "from_gensim",
    "load",
    "sniff_format",
    "to_gensim",
    "write_glove",
    "write_word2vec",
]

formats: Mapping[str, str] = MappingProxyType(
    {
        "cache": "a vocabgraft table cache folder (table.json + safetensors), opened by mmap",
        "glove": "GloVe text: 'token v1 ... vD' a line, no header; tokens may hold spaces",
        "word2vec": "word2vec text: a 'count dim' header line, then 'token v1 ... vD' a line",
        "word2vec-binary": "word2vec binary: a 'count dim' header line, then per vector the "
        "token, a space and dim little-endian float32",
        "fasttext-vec": "fastText .vec: the same as word2vec text",
        "fasttext-bin": "fastText's native .bin model, with its character n-gram buckets "
        "(table.subwords composes vectors for any word)",
        "npy": "a .npy matrix with a word list beside it (.txt one token a line, or .parquet "
        "with one string column) or given as vocab_path",
        "gensim": "a gensim KeyedVectors or model saved with .save(); a pickle, so it is read "
        "only when asked for by name, and needs gensim",
    }
)
"""The formats :func:`load` reads, by name, with a line on each."""

_ALIASES = {
    "word2vec-text": "word2vec",
    "word2vec-bin": "word2vec-binary",
    "vec": "fasttext-vec",
    "fasttext": "fasttext-bin",
    "txt": "glove",
}


def _reader(name: str) -> Callable[[ReadOptions, Problems], Parsed]:
    from vocabgraft.io.fasttext import read_fasttext_bin
    from vocabgraft.io.glove import read_glove
    from vocabgraft.io.word2vec import read_word2vec_binary, read_word2vec_text

    readers: dict[str, Callable[[ReadOptions, Problems], Parsed]] = {
        "glove": read_glove,
        "word2vec": read_word2vec_text,
        "fasttext-vec": read_word2vec_text,
        "word2vec-binary": read_word2vec_binary,
        "fasttext-bin": read_fasttext_bin,
    }
    return readers[name]


def load(
    path: str | os.PathLike[str],
    format: str | None = None,
    *,
    limit: int | None = None,
    dtype: Any = None,
    on_error: OnError = "raise",
    progress: bool | None = None,
    vocab_path: str | os.PathLike[str] | None = None,
    encoding: str = "utf-8",
    member: str | None = None,
) -> EmbeddingTable:
    r"""Read vectors from ``path`` into an :class:`~vocabgraft.EmbeddingTable`.

    Args:
        path: a vectors file, or a table cache folder (opened by memory map).
        format: one of :data:`formats` (or an alias such as ``"word2vec-text"``);
            by default it is sniffed from the file's first bytes
            (:func:`sniff_format`).
        limit: read only the first ``limit`` vectors; reading stops there.
        dtype: ``float16``, ``float32`` or ``float64``. ``None`` (default):
            float32 for a file, and a cache's own dtype for a cache folder (a
            float16 cache stays float16 and memory-mapped). Text is parsed
            straight to float64 when asked, else to float32.
        on_error: ``"raise"`` stops at the first malformed row with a
            :class:`~vocabgraft.errors.FormatError` naming the file, the line
            (or byte offset) and what to do. ``"skip"`` drops malformed rows
            and duplicate tokens (keeping the first), records them by reason
            in ``table.meta["skipped"]`` and emits one warning. Problems with
            the file as a whole (empty, truncated binary, bad header) raise
            either way.
        progress: a progress bar on stderr: ``None`` shows it only when stderr
            is a terminal; ``True``/``False`` force it.
        vocab_path: the word list of a ``.npy`` matrix, when it cannot be
            found beside it.
        encoding: how tokens are encoded in the file (ASCII-compatible
            encodings only). A token that does not decode is a malformed row.
        member: the file to read inside a zip (``"glove.6B.50d.txt"`` in
            ``glove.6B.zip``); needed only when the zip holds several files.

    Returns:
        The table, with ``table.meta`` holding what the file said (format,
        header, skipped rows).

    Raises:
        FormatError: the file is malformed, is not a regular file, or (as
            :class:`~vocabgraft.errors.FileChangedError`) changed while it
            was read.
        InputNotFoundError: ``path`` does not exist.
        ArgumentError: an argument has a bad value.

    Text files may use CRLF line ends and start with a UTF-8 byte order
    mark; both are dropped. Text is parsed fastest with pyarrow installed
    (the ``data`` extra); without it a pure-Python path gives the same
    numbers, about ten times slower. A cache folder keeps its dtype unless
    ``dtype`` names another (then the vectors are converted, in memory).

    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "vectors.vec"
    >>> _ = path.write_text("2 3\ncat 1 0 0\ndog 0 1 0\n")
    >>> load(path, progress=False).shape
    (2, 3)
    """
    path = Path(path)
    options = ReadOptions.make(
        path,
        limit=limit,
        dtype=np.float32 if dtype is None else dtype,
        on_error=on_error,
        progress=progress,
        encoding=encoding,
    )
    name = _format_name(format) if format is not None else None
    folder = stat.S_ISDIR(stat_input(path).st_mode)
    if folder and (name == "cache" or (name is None and (path / "table.json").is_file())):
        return _load_cache(path, options, convert=dtype is not None)
    if name == "gensim":
        from vocabgraft.io.gensim import read_gensim

        return read_gensim(path)
    source = open_source(path, member)
    name = name or sniff_source(source)
    if name == "gensim":
        raise FormatError(
            "a gensim save, which is a Python pickle: loading it can run code",
            path=path,
            hint="If you trust the file, pass format='gensim' (needs gensim)",
        )
    if name == "cache":
        raise FormatError(
            "format='cache' reads a table cache folder, and this is a file",
            path=path,
            hint="Pass the folder written by EmbeddingTable.save, or another format=",
        )
    options = dataclasses.replace(options, source=source)
    problems = Problems(source.label, options.on_error)
    with source.guard():
        parsed = _read(name, options, problems, vocab_path)
    return build_table(parsed, problems, source=str(path))


def _read(
    name: str, options: ReadOptions, problems: Problems, vocab_path: str | os.PathLike[str] | None
) -> Parsed:
    if name == "npy":
        from vocabgraft.io.npy import read_npy

        return read_npy(options, problems, None if vocab_path is None else Path(vocab_path))
    return _reader(name)(options, problems)


def _format_name(format: str) -> str:
    name = _ALIASES.get(format, format)
    if name not in formats:
        known = ", ".join(sorted(formats))
        raise ArgumentError(f"unknown format {format!r}; vocabgraft reads: {known}")
    return name


def _load_cache(path: Path, options: ReadOptions, *, convert: bool) -> EmbeddingTable:
    table = EmbeddingTable.load(path, mmap=True)
    if options.limit is not None and options.limit < len(table):
        table = table.subset(table.vocab.tokens[: options.limit])
    if convert and table.dtype != options.dtype:
        table = table.astype(options.dtype)
    return table
