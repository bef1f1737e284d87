"""align(): pretrained rows in a task vocabulary's order, and the AlignmentReport."""

from __future__ import annotations

from vocabgraft.align.core import MIN_FIT_ROWS, align, default_init
from vocabgraft.align.match import DEFAULT_MATCH, nfkc_casefold
from vocabgraft.align.report import AlignmentReport, RowSource

__all__ = [
    "DEFAULT_MATCH",
    "MIN_FIT_ROWS",
    "AlignmentReport",
    "RowSource",
    "align",
    "default_init",
    "nfkc_casefold",
]
