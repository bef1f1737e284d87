"""Fixtures of the shared suite: each test runs once per adapter.

Keras runs on its torch backend in this process (``KERAS_BACKEND`` is set
before Keras is imported, here); the jax backend is covered by the
per-process runs of ``tests/keras/``.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")  # before anything imports Keras

import numpy as np
import pytest

from vocabgraft import EmbeddingTable, Vocab

pytest.importorskip("torch")
pytest.importorskip("keras")

from _adapters import ADAPTERS, Adapter


@pytest.fixture(params=ADAPTERS, ids=[a.name for a in ADAPTERS])
def adapter(request: pytest.FixtureRequest) -> Adapter:
    """Each test runs once with the torch module and once with the Keras layer."""
    return request.param


@pytest.fixture
def padded() -> EmbeddingTable:
    """A 6 x 4 table whose vocabulary has a pad token (id 0) and an unk token (id 1)."""
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(6, 4)).astype(np.float32)
    vectors[0] = 0.0
    return EmbeddingTable(vectors, Vocab(["a", "b", "c", "d"], pad="<pad>", unk="<unk>"))
