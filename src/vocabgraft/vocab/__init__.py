"""Vocab: stable, append-only ids, specials, OOV policies, and its file format."""

from __future__ import annotations

from vocabgraft.vocab.core import (
    OOVPolicy,
    Vocab,
    stable_hash,
)

__all__ = [
    "OOVPolicy",
    "Vocab",
    "stable_hash",
]
