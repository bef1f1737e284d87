"""MovieLens 100k; this import path re-exports :mod:`vocabgraft.datasets.movielens`."""

from __future__ import annotations

from vocabgraft.datasets.movielens import (
    RECBOLE_REQUIREMENT,
    MovieLens100k,
    movielens_100k,
    movielens_100k_source,
)

__all__ = ["RECBOLE_REQUIREMENT", "MovieLens100k", "movielens_100k", "movielens_100k_source"]
