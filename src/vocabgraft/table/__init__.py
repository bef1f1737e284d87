"""EmbeddingTable: read-only lookups, gensim-style calls, one blockwise top-k, the cache."""

from __future__ import annotations

from vocabgraft.table.checksum import checksum
from vocabgraft.table.core import EmbeddingTable
from vocabgraft.table.subword_protocol import SubwordModel, register_subword_model
from vocabgraft.table.topk import topk

__all__ = [
    "EmbeddingTable",
    "SubwordModel",
    "checksum",
    "register_subword_model",
    "topk",
]
