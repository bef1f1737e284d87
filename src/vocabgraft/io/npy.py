"""A ``.npy`` matrix plus a word list: ``.txt`` (one token a line) or ``.parquet`` (one string column).

The word list is ``vocab_path`` when given. Otherwise it is looked for beside
the matrix: a ``.txt``, ``.vocab`` or ``.parquet`` file with the matrix's
name (``emb.npy`` + ``emb.txt`` or ``emb.vocab.txt``), else the only such file
in the folder (the GloVe 6B package ships ``glove_6B_50d_emb.npy`` with
``glove_6B_index.parquet``). Anything else is ambiguous and an error. Word
lists with counts are described in :mod:`vocabgraft.io._wordlist`.

The matrix is read with ordinary reads (no memory map, so a file truncated
while it is read is an error, not a crash), and only its first ``limit``
rows are read. It may be compressed (``emb.npy.gz``).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

from vocabgraft.errors import FormatError
from vocabgraft.io._bytes import ByteReader
from vocabgraft.io._common import Parsed, PlaceKind, Problems, ReadOptions
from vocabgraft.io._plan import read_up_to
from vocabgraft.io._wordlist import find_word_list, read_word_list

__all__ = ["find_word_list", "read_npy", "read_word_list"]

_HINT = "Write it with numpy.save(path, matrix)"
_VERSIONS = ((1, 0), (2, 0), (3, 0))
# A matrix's header is about 128 bytes; numpy refuses more than this by default.
_MAX_HEADER = 10_000


def _header(stream: Any, path: Path) -> tuple[tuple[int, ...], bool, np.dtype[Any]]:
    """``(shape, fortran_order, dtype)`` from a ``.npy`` header.

    The header's length is checked before it is read, so a damaged length
    cannot make the read allocate gigabytes; numpy then parses the header.
    """
    fmt = np.lib.format
    start = read_up_to(stream, 8)
    if len(start) < 8 or not start.startswith(b"\x93NUMPY"):
        raise FormatError("not a readable .npy matrix (no .npy signature)", path=path, hint=_HINT)
    version = (start[6], start[7])
    if version not in _VERSIONS:
        raise FormatError(
            f"not a readable .npy matrix (format version {version[0]}.{version[1]}; numpy "
            "writes 1.0, 2.0 and 3.0)",
            path=path,
            offset=6,
            hint=_HINT,
        )
    width = 2 if version == (1, 0) else 4
    raw = read_up_to(stream, width)
    length = int.from_bytes(raw, "little")
    if len(raw) < width or length > _MAX_HEADER:
        raise FormatError(
            f"not a readable .npy matrix (the header claims {length} bytes)",
            path=path,
            offset=8,
            hint=_HINT,
        )
    whole = io.BytesIO(start + raw + read_up_to(stream, length))
    try:
        fmt.read_magic(whole)
        read = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
        shape, fortran, dtype = read(whole, max_header_size=_MAX_HEADER)
    except Exception as exc:  # numpy's header parser raises many kinds (even TokenError)
        raise FormatError(f"not a readable .npy matrix ({exc})", path=path, hint=_HINT) from None
    return shape, fortran, dtype


def _check_matrix(shape: tuple[int, ...], dtype: np.dtype[Any], path: Path) -> None:
    if len(shape) != 2:
        raise FormatError(
            f"the array has shape {shape}; a table needs a 2-D (rows x dims) matrix", path=path
        )
    if dtype.kind != "f":
        raise FormatError(
            f"the matrix has dtype {dtype}; vectors are floating point",
            path=path,
            hint="Convert it with matrix.astype(np.float32) first",
        )


def _read_matrix(
    options: ReadOptions, problems: Problems, vocab_path: Path | None
) -> tuple[Any, ...]:
    """The first ``limit`` rows of the matrix, its word list's tokens and counts, and its path."""
    source = options.opened()
    with source.open() as stream:
        shape, fortran, dtype = _header(stream, source.label)
        _check_matrix(shape, dtype, source.label)
        words_path = vocab_path or find_word_list(options.path)
        words, counts = read_word_list(words_path, options, problems)
        rows, dim = shape
        if len(words) != rows:
            raise FormatError(
                f"the word list has {len(words)} tokens but the matrix has {rows} rows",
                path=words_path,
                hint=f"The word list must name the rows of {source.label.name} one to one",
            )
        want = rows if fortran else options.want(rows)
        size = None if source.size is None else source.size - stream.tell()
        cur = ByteReader(stream, source.label, size)
        data = cur.array(want * dim, dtype, f"the matrix ({rows} x {dim} {dtype})")
    matrix = data.reshape((rows, dim), order="F") if fortran else data.reshape(want, dim)
    return matrix[: options.want(rows)], words, counts, words_path


def read_npy(options: ReadOptions, problems: Problems, vocab_path: Path | None) -> Parsed:
    """Read a ``.npy`` matrix and its word list."""
    matrix, words, counts, words_path = _read_matrix(options, problems, vocab_path)
    want = len(matrix)
    vectors = matrix.astype(options.dtype, copy=False)
    del matrix
    good = np.array([w is not None for w in words[:want]], dtype=bool)
    finite = np.isfinite(vectors).all(axis=1)
    for i in np.flatnonzero(good & ~finite).tolist():
        problems.report("non_finite", "the vector holds nan or inf; vectors must be finite", row=i)
    keep = good & finite
    tokens = [w for w, k in zip(words[:want], keep.tolist()) if k and w is not None]
    if not keep.all():
        vectors = vectors[keep]
    parquet = words_path.suffix.lower() == ".parquet"
    places = np.flatnonzero(keep) + (0 if parquet else 1)
    meta: dict[str, Any] = {"format": "npy", "word_list": str(words_path)}
    if counts is not None:
        meta["counts"] = [c for c, k in zip(counts[:want], keep.tolist()) if k]
    kind: PlaceKind = "row" if parquet else "line"
    return Parsed(tokens, vectors, meta, places=places, place_kind=kind, places_path=words_path)
