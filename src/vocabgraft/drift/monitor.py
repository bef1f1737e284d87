"""DriftMonitor: copy a table once, then report how far it moved at each epoch or step."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

import numpy as np

from vocabgraft.drift.metrics import as_matrix, unwrap
from vocabgraft.drift.plan import compare, make_plan, resolve_ids
from vocabgraft.drift.report import DriftReport, Key, When
from vocabgraft.errors import ArgumentError
from vocabgraft.vocab.core import Vocab

__all__ = ["DriftMonitor"]


class DriftMonitor:
    """Copies a table once, then reports how far it moved each time :meth:`update` is called.

    Args:
        reference: the table to measure from (copied now, so training cannot
            change it).
        ids: compare only these rows (ids or tokens); the copy and each
            update then cost these rows only. Groups and pairs must lie among
            them, and ``watch`` is not available.
        vocab, groups, pairs, watch, k, top, exclude: as for :func:`drift`.

    ``history`` holds one :class:`DriftReport` per update, each with its ``when``.

    >>> table = np.eye(3)
    >>> monitor = DriftMonitor(table, ids=[1, 2])
    >>> table[2, 0] = 1.0  # training writes in place
    >>> monitor.update(1, table).summary.moved
    1
    >>> [r.when for r in monitor.history], monitor.history[0].top[0].id
    ([1], 2)
    """

    def __init__(
        self,
        reference: Any,
        *,
        ids: Any = None,
        vocab: Vocab | None = None,
        groups: Mapping[str, Any] | None = None,
        pairs: Iterable[tuple[Key, Key]] = (),
        watch: Iterable[Key] = (),
        k: int = 10,
        top: int = 10,
        exclude: Iterable[Key] = (),
    ) -> None:
        table = as_matrix(reference, "reference")
        n = len(table)
        self.ids = None if ids is None else np.unique(resolve_ids(ids, vocab, n, "ids"))
        self._plan = make_plan(
            n,
            vocab=vocab,
            row_ids=self.ids,
            groups=groups,
            pairs=pairs,
            watch=watch,
            exclude=exclude,
            k=k,
            top=top,
        )
        self.num_rows = n
        self.reference = np.array(table if self.ids is None else table[self.ids])
        self.history: list[DriftReport] = []

    def update(self, when: When, current: Any) -> DriftReport:
        """Compare ``current`` (the same table, now) with the reference; record and return it."""
        x = unwrap(current)
        n = x.shape[0] if hasattr(x, "shape") else len(x)
        if n != self.num_rows:
            raise ArgumentError(
                f"the monitored table had {self.num_rows:,} rows; current has {n:,}. "
                "A grown table needs a new DriftMonitor"
            )
        now = as_matrix(x, "current", rows=self.ids)
        if now.shape != self.reference.shape:
            raise ArgumentError(
                f"current has rows of {now.shape[1]} dims; the reference has "
                f"{self.reference.shape[1]}"
            )
        report = replace(compare(self.reference, now, self._plan), when=when)
        self.history.append(report)
        return report

    def to_dict(self) -> dict[str, Any]:
        """Every report so far, JSON-safe."""
        return {
            "ids": None if self.ids is None else self.ids.tolist(),
            "history": [r.to_dict() for r in self.history],
        }
