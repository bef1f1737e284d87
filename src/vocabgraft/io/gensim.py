"""gensim interop: tables from and to real ``gensim`` KeyedVectors.

A ``FastTextKeyedVectors`` becomes a table with a
:class:`~vocabgraft.subwords.FastTextSubwords`, and back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from vocabgraft.errors import ArgumentTypeError, FormatError, require
from vocabgraft.subwords.fasttext import FastTextSubwords, ngram_sums
from vocabgraft.table.core import EmbeddingTable

__all__ = ["from_gensim", "read_gensim", "to_gensim"]


def _gensim(purpose: str) -> Any:
    return require("gensim.models", "gensim", purpose)


def from_gensim(kv: Any, *, source: str | None = None) -> EmbeddingTable:
    """A table with the keys and vectors of gensim ``KeyedVectors`` (or a model's ``.wv``).

    The vectors are copied. A ``FastTextKeyedVectors`` keeps its n-gram
    buckets, so ``table.subwords.compose`` gives gensim's out-of-vocabulary
    vectors.
    """
    _gensim("Converting gensim KeyedVectors")
    wv = getattr(kv, "wv", kv)
    if not hasattr(wv, "index_to_key") or not hasattr(wv, "vectors"):
        raise ArgumentTypeError(
            f"from_gensim takes gensim KeyedVectors or a model with .wv. "
            f"Received: {type(kv).__name__}"
        )
    tokens = [str(k) for k in wv.index_to_key]
    vectors = np.array(wv.vectors, dtype=np.float32)
    subwords = None
    meta: dict[str, Any] = {"format": "gensim", "gensim_class": type(wv).__name__}
    if getattr(wv, "vectors_ngrams", None) is not None and hasattr(wv, "min_n"):
        subwords = FastTextSubwords(
            np.array(wv.vectors_ngrams, dtype=np.float32),
            minn=int(wv.min_n),
            maxn=int(wv.max_n),
            words=tokens,
            word_vectors=vectors,
        )
    return EmbeddingTable(vectors, tokens, source=source, meta=meta, subwords=subwords)


def to_gensim(table: EmbeddingTable) -> Any:
    """Build gensim ``KeyedVectors`` with the table's tokens and vectors (copied).

    A table whose subwords are a UTF-8 :class:`FastTextSubwords` becomes a
    ``FastTextKeyedVectors`` with the same n-gram buckets, whose own word rows
    are recovered from the table's vectors.
    """
    models = _gensim("Converting a table to gensim KeyedVectors")
    tokens = table.vocab.tokens
    vectors = np.array(table.vectors, dtype=np.float32)
    sub = table.subwords
    if isinstance(sub, FastTextSubwords) and sub.encoding.lower() in ("utf-8", "utf8"):
        kv = models.fasttext.FastTextKeyedVectors(
            table.dim, sub.minn, sub.maxn, sub.bucket, count=0, dtype=np.float32
        )
        kv.add_vectors(tokens, vectors)
        kv.vectors_ngrams = np.array(sub.ngrams, dtype=np.float32)
        kv.vectors_vocab = _own_rows(tokens, vectors, sub)
        kv.recalc_char_ngram_buckets()
        kv.vectors = vectors
        return kv
    kv = models.KeyedVectors(table.dim, count=0, dtype=vectors.dtype)
    kv.add_vectors(tokens, vectors)
    return kv


def _own_rows(tokens: list[str], vectors: np.ndarray, sub: FastTextSubwords) -> np.ndarray:
    """Undo fastText's mean: a word's own row is ``(k + 1) * vector - sum of its k n-gram rows``."""
    if not sub.has_ngrams:
        return vectors.copy()
    raw = [sub.encode(t) for t in tokens]
    sums, counts = ngram_sums(raw, sub.ngrams, sub.minn, sub.maxn)
    return np.asarray(vectors * (counts + 1)[:, None] - sums, dtype=np.float32)


def read_gensim(path: Path) -> EmbeddingTable:
    """Load a KeyedVectors file saved by gensim's ``.save()``.

    Such files are Python pickles, which can run code when loaded: only load
    files you trust. :func:`vocabgraft.io.load` reads them only when asked with
    ``format="gensim"``.
    """
    models = _gensim("Reading a gensim KeyedVectors file")
    try:
        kv = models.KeyedVectors.load(str(path))
    except Exception as exc:  # gensim raises many kinds of errors for a bad file
        raise FormatError(
            f"gensim could not load the file ({type(exc).__name__}: {exc})",
            path=path,
            hint="It must be a KeyedVectors (or a model) saved with gensim's .save()",
        ) from None
    return from_gensim(kv, source=str(path))
