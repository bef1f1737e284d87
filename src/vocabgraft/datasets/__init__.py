"""Real data that installs as packages: GloVe 6B 50d, the fine-food reviews, hotel rates, MovieLens 100k."""

from __future__ import annotations

from vocabgraft.datasets.movielens import (
    RECBOLE_REQUIREMENT,
    MovieLens100k,
    movielens_100k,
    movielens_100k_source,
)
from vocabgraft.datasets.packaged import (
    cache_dir,
    glove_6b_50d,
    glove_6b_50d_files,
    hotel_rates,
    reviews,
)

__all__ = [
    "RECBOLE_REQUIREMENT",
    "MovieLens100k",
    "cache_dir",
    "glove_6b_50d",
    "glove_6b_50d_files",
    "hotel_rates",
    "movielens_100k",
    "movielens_100k_source",
    "reviews",
]
