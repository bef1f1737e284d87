"""drift(): how far the rows of an embedding table moved during training.

:func:`drift` compares two tables with the same rows, before and after: the L2
and cosine distance of every row, a summary over all rows and over named
groups, the rows that moved most, the cosine of chosen word pairs, and how
many of a word's nearest neighbours are still its neighbours.
:class:`~vocabgraft.drift.monitor.DriftMonitor` copies the table once and
records a report per epoch or step. The tables accepted are those of
:mod:`vocabgraft.drift.metrics`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from vocabgraft.drift.metrics import as_matrix, cosine, nearest
from vocabgraft.drift.monitor import DriftMonitor
from vocabgraft.drift.plan import compare, make_plan
from vocabgraft.drift.report import DriftReport, Key
from vocabgraft.errors import ArgumentError
from vocabgraft.vocab.core import Vocab

__all__ = ["DriftMonitor", "DriftReport", "cosine", "drift", "nearest"]


def drift(
    before: Any,
    after: Any,
    *,
    vocab: Vocab | None = None,
    groups: Mapping[str, Any] | None = None,
    pairs: Iterable[tuple[Key, Key]] = (),
    watch: Iterable[Key] = (),
    k: int = 10,
    top: int = 10,
    exclude: Iterable[Key] = (),
) -> DriftReport:
    """How far each row moved from ``before`` to ``after`` (two tables of the same shape).

    Args:
        before: the table before training (array, tensor, or layer; see the module).
        after: the same table after.
        vocab: names the rows, so tokens can stand for ids below and the
            report shows tokens.
        groups: ``{name: ids}``; each group gets its own summary.
        pairs: ``(word, word)`` pairs whose cosine is reported before and after.
        watch: words whose ``k`` nearest neighbours are found before and after.
        k: neighbours per watched word.
        top: how many of the rows that moved most to list.
        exclude: rows never counted as neighbours (padding, ``<unk>``).

    Returns:
        The :class:`DriftReport`.

    Raises:
        ArgumentError: tables of different shapes, or a bad option.
        ArgumentTypeError: a table that is not 2-D numbers, or a key of the wrong type.
        RowIndexError: an id out of range.

    >>> import numpy as np
    >>> before = np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 4.0]])
    >>> after = np.array([[1.0, 0.0], [0.0, -2.0], [6.0, 8.0]])
    >>> report = drift(before, after, groups={"last two": [1, 2]}, pairs=[(0, 2)])
    >>> report.summary.moved, report.summary.max_l2, report.groups["last two"].mean_l2
    (2, 5.0, 4.5)
    >>> [(r.id, r.l2, r.cosine_distance) for r in report.top]
    [(2, 5.0, 0.0), (1, 4.0, 2.0)]
    >>> print(report)
    drift: 2 of 3 rows moved (2 dims)
    <BLANKLINE>
    group     rows  moved  mean L2  p95 L2  max L2  mean cos d  max cos d
    all          3      2        3     4.9       5      0.6667          2
    last two     2      2      4.5    4.95       5           1          2
    moved most (L2): 2 (5), 1 (4)
    cosine 0 / 2: 0.6000 -> 0.6000
    """
    b = as_matrix(before, "before")
    a = as_matrix(after, "after")
    if b.shape != a.shape:
        raise ArgumentError(
            f"before and after must have the same shape. Received {b.shape} and {a.shape}; "
            "to compare a grown table, pass the rows both have (after[:len(before)])"
        )
    plan = make_plan(
        len(b),
        vocab=vocab,
        row_ids=None,
        groups=groups,
        pairs=pairs,
        watch=watch,
        exclude=exclude,
        k=k,
        top=top,
    )
    return compare(b, a, plan)
