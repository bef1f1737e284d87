"""Subword models: fastText's hashed n-grams, and a bag of n-grams fitted on any table."""

from __future__ import annotations

from vocabgraft.subwords.fasttext import (
    FastTextSubwords,
    char_ngrams,
    ft_hash,
    ngram_buckets,
)
from vocabgraft.subwords.fitted import (
    FittedSubwords,
    fit_subwords,
    fit_subwords_cached,
    ngram_hashes,
)

__all__ = [
    "FastTextSubwords",
    "FittedSubwords",
    "char_ngrams",
    "fit_subwords",
    "fit_subwords_cached",
    "ft_hash",
    "ngram_buckets",
    "ngram_hashes",
]
