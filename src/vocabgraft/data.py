"""The packaged data sets; this import path re-exports :mod:`vocabgraft.datasets`."""

from __future__ import annotations

from vocabgraft.datasets.packaged import cache_dir, glove_6b_50d, glove_6b_50d_files, reviews

__all__ = ["cache_dir", "glove_6b_50d", "glove_6b_50d_files", "reviews"]
