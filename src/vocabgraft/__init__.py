"""vocabgraft: reuse trained embedding tables.

Align pretrained vectors to a task vocabulary, train only the rows that need
it, and grow a trained table with new items without retraining.
"""

from __future__ import annotations

from importlib import metadata as _metadata
from typing import TYPE_CHECKING, Any

from vocabgraft.align import AlignmentReport, align
from vocabgraft.errors import (
    FormatError,
    MissingExtraError,
    RowIndexError,
    TokenNotFoundError,
    VocabError,
    VocabgraftError,
)
from vocabgraft.init import Copy, MatchedNormal, Mean, Neighbors, Subtokens, Subword, Zeros
from vocabgraft.subwords import FittedSubwords, fit_subwords
from vocabgraft.table import EmbeddingTable
from vocabgraft.vocab import Vocab

if TYPE_CHECKING:
    from vocabgraft.io import load

__version__ = _metadata.version("vocabgraft")  # one source: pyproject.toml

__all__ = [
    "AlignmentReport",
    "Copy",
    "EmbeddingTable",
    "FittedSubwords",
    "FormatError",
    "MatchedNormal",
    "Mean",
    "MissingExtraError",
    "Neighbors",
    "RowIndexError",
    "Subtokens",
    "Subword",
    "TokenNotFoundError",
    "Vocab",
    "VocabError",
    "VocabgraftError",
    "Zeros",
    "align",
    "fit_subwords",
    "load",
]


def __getattr__(name: str) -> Any:
    # The readers pull in optional dependencies; import them on first use.
    if name == "load":
        from vocabgraft.io import load

        return load
    raise AttributeError(f"module 'vocabgraft' has no attribute {name!r}")
