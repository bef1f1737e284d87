"""EmbeddingTable: read-only lookups, neighbours, and the table cache format."""

from __future__ import annotations

from vocabgraft.table.core import (
    EmbeddingTable,
    SubwordModel,
    register_subword_model,
)

__all__ = [
    "EmbeddingTable",
    "SubwordModel",
    "register_subword_model",
]
