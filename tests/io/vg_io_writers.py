"""Writers for the formats vocabgraft reads, used to build test files.

Numbers are written as numpy's shortest float32 repr (``str(np.float32(x))``),
the hardest case for exact float32 round trips.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from pathlib import Path

import numpy as np

FASTTEXT_MAGIC = 793712314


def number(x: float) -> str:
    return str(np.float32(x))


def glove_lines(tokens: Sequence[str], vectors: np.ndarray) -> list[str]:
    return [t + " " + " ".join(map(number, row)) for t, row in zip(tokens, vectors)]


def write_glove(
    path: Path, tokens: Sequence[str], vectors: np.ndarray, *, newline: str = "\n"
) -> Path:
    text = "".join(line + newline for line in glove_lines(tokens, vectors))
    path.write_bytes(text.encode("utf-8"))
    return path


def write_word2vec_text(path: Path, tokens: Sequence[str], vectors: np.ndarray) -> Path:
    lines = [f"{len(tokens)} {vectors.shape[1]}", *glove_lines(tokens, vectors)]
    path.write_bytes(("\n".join(lines) + "\n").encode("utf-8"))
    return path


def write_word2vec_binary(
    path: Path,
    tokens: Sequence[str],
    vectors: np.ndarray,
    *,
    newlines: bool = True,
    count: int | None = None,
) -> Path:
    """word2vec binary; ``newlines`` as the C tool writes them (gensim writes none)."""
    out = [f"{len(tokens) if count is None else count} {vectors.shape[1]}\n".encode()]
    for token, row in zip(tokens, vectors):
        out.append(token.encode("utf-8") + b" " + np.asarray(row, dtype="<f4").tobytes())
        if newlines:
            out.append(b"\n")
    path.write_bytes(b"".join(out))
    return path


def fasttext_bin(
    words: Sequence[bytes],
    matrix: np.ndarray,
    *,
    bucket: int,
    minn: int = 3,
    maxn: int = 6,
    labels: Sequence[bytes] = (),
    new_format: bool = True,
    version: int = 12,
    model: int = 1,
    quantized: bool = False,
    prune: int = -1,
) -> bytes:
    """The bytes of a fastText .bin model (input matrix = word rows then buckets)."""
    dim = matrix.shape[1]
    assert matrix.shape[0] == len(words) + bucket
    out = []
    if new_format:
        out.append(struct.pack("<2i", FASTTEXT_MAGIC, version))
        out.append(struct.pack("<9i", dim, 5, 5, 1, 5, 1, 2, model, bucket))
    else:
        out.append(struct.pack("<2i", dim, 5))
        out.append(struct.pack("<7i", 5, 1, 5, 1, 2, model, bucket))
    out.append(struct.pack("<3id", minn, maxn, 100, 1e-4))
    entries = len(words) + len(labels)
    out.append(struct.pack("<3iq", entries, len(words), len(labels), 1000))
    if new_format:
        out.append(struct.pack("<q", prune))
    for w in words:
        out.append(w + b"\0" + struct.pack("<qb", 3, 0))
    for label in labels:
        out.append(label + b"\0" + struct.pack("<qb", 3, 1))
    if new_format:
        out.append(struct.pack("<?", quantized))
    out.append(struct.pack("<2q", *matrix.shape) + np.asarray(matrix, dtype="<f4").tobytes())
    output = np.zeros((max(1, len(labels)), dim), dtype="<f4")
    if new_format:
        out.append(struct.pack("<?", False))
    out.append(struct.pack("<2q", *output.shape) + output.tobytes())
    return b"".join(out)


def write_word_list(path: Path, tokens: Sequence[str]) -> Path:
    path.write_bytes("".join(t + "\n" for t in tokens).encode("utf-8"))
    return path


def gensim_file(name: str) -> Path:
    """A file from gensim's own test data (real files that vocabgraft did not write)."""
    import pytest

    gensim = pytest.importorskip("gensim")
    path = Path(gensim.__file__).parent / "test" / "test_data" / name
    assert path.exists(), f"{path} is missing from the installed gensim"
    return path
