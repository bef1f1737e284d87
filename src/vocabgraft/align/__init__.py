"""align(): pretrained rows in a task vocabulary's order, and the AlignmentReport."""

from __future__ import annotations

from vocabgraft.align.core import (
    DEFAULT_MATCH,
    AlignmentReport,
    RowSource,
    align,
    nfkc_casefold,
)

__all__ = [
    "DEFAULT_MATCH",
    "AlignmentReport",
    "RowSource",
    "align",
    "nfkc_casefold",
]
