"""Which rows of a table train and where each row lives, and the behaviour both framework adapters share."""

from __future__ import annotations

from vocabgraft.rows.layout import (
    BASE,
    BASE_SOURCE,
    NEW,
    PATCH,
    TRAINABLE,
    Gather,
    Plan,
    RowMap,
    check_ids,
    check_row_ids,
    plan_extension,
    warn_if_whole_table,
)

__all__ = [
    "BASE",
    "BASE_SOURCE",
    "NEW",
    "PATCH",
    "TRAINABLE",
    "Gather",
    "Plan",
    "RowMap",
    "check_ids",
    "check_row_ids",
    "plan_extension",
    "warn_if_whole_table",
]
