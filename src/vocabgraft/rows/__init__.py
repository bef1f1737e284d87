"""Which rows of a table train and where each row lives, and the behaviour both framework adapters share.

:mod:`vocabgraft.rows.ids` checks ids; :mod:`vocabgraft.rows.layout` is the
integer bookkeeping (:class:`RowMap`, :class:`LayoutChange`, :class:`Gather`);
:mod:`vocabgraft.rows.partial` is the framework-neutral behaviour of a
``PartialEmbedding`` (:class:`PartialRows`). All are numpy only.
"""

from __future__ import annotations

from vocabgraft.rows.ids import check_bounds, check_ids, check_row_ids
from vocabgraft.rows.layout import (
    BASE,
    BASE_SOURCE,
    NEW,
    PATCH,
    TRAINABLE,
    Gather,
    LayoutChange,
    RowMap,
)
from vocabgraft.rows.partial import PartialRows, warn_if_whole_table

__all__ = [
    "BASE",
    "BASE_SOURCE",
    "NEW",
    "PATCH",
    "TRAINABLE",
    "Gather",
    "LayoutChange",
    "PartialRows",
    "RowMap",
    "check_bounds",
    "check_ids",
    "check_row_ids",
    "warn_if_whole_table",
]
