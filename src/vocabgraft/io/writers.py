r"""Writing tables as word2vec (text or binary) and GloVe text, files gensim and others read.

Numbers are written as the shortest decimal that reads back to the same
float32 (``0.1``, not ``0.10000000149011612``), so a table read back is
bit-identical. Files are written atomically: to a temporary file beside
``path``, renamed over it only once complete, so an interrupted write leaves
``path`` as it was.

What each format can hold (other tokens are refused, naming the first):

- every format: non-empty tokens without a space, ``\n`` or ``\r`` (a
  token ends at its first space, a line at its line break; vocabgraft's own
  GloVe reader keeps tokens with spaces, but gensim and others do not).

Vectors are written as float32, the type these formats hold.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from vocabgraft._safetensors import atomic_path
from vocabgraft.errors import ArgumentTypeError, FormatError
from vocabgraft.io._floats import arrow

__all__ = ["write_glove", "write_word2vec"]

# Rows formatted per step (bounds the memory of the text being built).
_ROWS = 1 << 14
_FORBIDDEN = (" ", "\n", "\r")


def write_word2vec(
    table: Any, path: str | os.PathLike[str], *, binary: bool = False, overwrite: bool = True
) -> Path:
    r"""Write ``table`` in word2vec format: a ``count dim`` line, then one vector per token.

    Args:
        table: an :class:`~vocabgraft.EmbeddingTable`.
        path: the file to write (replaced atomically if it exists).
        binary: write word2vec binary (each token, a space, then ``dim``
            little-endian float32s and a newline, as the original C tool
            writes it) instead of text.
        overwrite: replace an existing file. With False an existing ``path``,
            even one created while writing, raises.

    Returns:
        ``path``, as a :class:`~pathlib.Path`.

    Raises:
        FormatError: a token cannot be written in the format (it holds a
            space or a line break).
        OutputExistsError: ``path`` is a folder, or exists and not ``overwrite``.

    >>> import tempfile, pathlib, numpy as np
    >>> from vocabgraft import EmbeddingTable
    >>> table = EmbeddingTable(np.array([[0.1, 2.0]], dtype=np.float32), ["cat"])
    >>> path = write_word2vec(table, pathlib.Path(tempfile.mkdtemp()) / "v.vec")
    >>> path.read_text()
    '1 2\ncat 0.1 2\n'
    """
    tokens, vectors = _parts(table)
    _check_tokens(tokens, path)
    header = f"{len(tokens)} {vectors.shape[1]}\n".encode()
    if binary:
        return _write(path, header, _binary_rows(tokens, vectors), overwrite)
    return _write(path, header, _text_rows(tokens, vectors), overwrite)


def write_glove(table: Any, path: str | os.PathLike[str], *, overwrite: bool = True) -> Path:
    r"""Write ``table`` as GloVe text: ``token v1 ... vD`` a line, no header.

    Args:
        table: an :class:`~vocabgraft.EmbeddingTable`.
        path: the file to write (replaced atomically if it exists).
        overwrite: replace an existing file. With False an existing ``path``
            raises.

    Returns:
        ``path``, as a :class:`~pathlib.Path`.

    Raises:
        FormatError: a token holds a space or a line break.
        OutputExistsError: ``path`` is a folder, or exists and not ``overwrite``.

    >>> import tempfile, pathlib, numpy as np
    >>> from vocabgraft import EmbeddingTable
    >>> table = EmbeddingTable(np.array([[0.5, -1.0]], dtype=np.float32), ["dog"])
    >>> write_glove(table, pathlib.Path(tempfile.mkdtemp()) / "v.txt").read_text()
    'dog 0.5 -1\n'
    """
    tokens, vectors = _parts(table)
    _check_tokens(tokens, path)
    return _write(path, b"", _text_rows(tokens, vectors), overwrite)


def _parts(table: Any) -> tuple[list[str], np.ndarray]:
    vectors = getattr(table, "vectors", None)
    vocab = getattr(table, "vocab", None)
    if not isinstance(vectors, np.ndarray) or vocab is None:
        raise ArgumentTypeError(
            f"table must be an EmbeddingTable. Received: {type(table).__name__}; "
            "wrap arrays with EmbeddingTable(vectors, tokens) first"
        )
    return list(vocab.tokens), vectors


def _check_tokens(tokens: list[str], path: str | os.PathLike[str]) -> None:
    for i, token in enumerate(tokens):
        bad = next((c for c in _FORBIDDEN if c in token), None)
        if bad is not None or not token:
            what = "is empty" if not token else f"holds {bad!r}"
            raise FormatError(
                f"token {i} ({token[:60]!r}) {what}, which the format cannot hold: a token "
                "ends at its first space and a line at its line break",
                path=path,
                hint="Rename such tokens first (table.subset keeps the others)",
            )


def _write(
    path: str | os.PathLike[str], header: bytes, rows: Iterator[bytes], overwrite: bool
) -> Path:
    target = Path(path)
    with atomic_path(target, overwrite=overwrite) as tmp:
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o666 & ~umask)  # a temporary file is owner-only; give it a plain file's mode
        with open(tmp, "wb") as f:
            _copy(f, header, rows)
    return target


def _copy(f: BinaryIO, header: bytes, rows: Iterator[bytes]) -> None:
    f.write(header)
    for block in rows:
        f.write(block)


def _numbers(block: np.ndarray) -> list[str]:
    """Each float32 of ``block`` (row-major) as its shortest round-trip decimal."""
    flat = np.ascontiguousarray(block, dtype=np.float32).reshape(-1)
    lib = arrow()
    if lib is not None:
        pa, pc = lib
        strings: list[str] = pc.cast(pa.array(flat), pa.string()).to_pylist()
        return strings
    numbers: list[str] = flat.astype(str).tolist()  # numpy's shortest repr of each float32
    return numbers


def _text_rows(tokens: list[str], vectors: np.ndarray) -> Iterator[bytes]:
    dim = vectors.shape[1]
    for lo in range(0, len(tokens), _ROWS):
        block = vectors[lo : lo + _ROWS]
        numbers = _numbers(block)
        lines = [
            tokens[lo + r] + " " + " ".join(numbers[r * dim : (r + 1) * dim])
            for r in range(len(block))
        ]
        yield ("\n".join(lines) + "\n").encode("utf-8")


def _binary_rows(tokens: list[str], vectors: np.ndarray) -> Iterator[bytes]:
    for lo in range(0, len(tokens), _ROWS):
        block = np.ascontiguousarray(vectors[lo : lo + _ROWS], dtype="<f4")
        parts = []
        for r, row in enumerate(block):
            parts.append(tokens[lo + r].encode("utf-8") + b" " + row.tobytes() + b"\n")
        yield b"".join(parts)
