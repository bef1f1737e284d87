"""vocabgraft: reuse trained embedding tables.

Align pretrained vectors to a task vocabulary, train only the rows that need
it, and grow a trained table with new items without retraining.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .align import AlignmentReport, align
from .errors import (
    FormatError,
    MissingExtraError,
    RowIndexError,
    TokenNotFoundError,
    VocabError,
    VocabgraftError,
)
from .init import Copy, MatchedNormal, Mean, Neighbors, Subtokens, Subword, Zeros
from .subword_model import FittedSubwords, fit_subwords
from .table import EmbeddingTable
from .vocab import Vocab

if TYPE_CHECKING:
    from .io import load

__version__ = "0.1.0"

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
        from .io import load

        return load
    raise AttributeError(f"module 'vocabgraft' has no attribute {name!r}")
