"""Vocab: stable, append-only ids, specials, OOV policies, torchtext's calls, tokenizers."""

from __future__ import annotations

from vocabgraft.vocab.core import OOVPolicy, Vocab, stable_hash
from vocabgraft.vocab.tokenize import TOKENIZERS, get_tokenizer
from vocabgraft.vocab.torchtext import build_vocab_from_iterator

__all__ = [
    "TOKENIZERS",
    "OOVPolicy",
    "Vocab",
    "build_vocab_from_iterator",
    "get_tokenizer",
    "stable_hash",
]
