"""drift()'s options checked once, and the comparison they drive."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from vocabgraft.drift.metrics import cosine, nearest, row_changes
from vocabgraft.drift.report import (
    DriftReport,
    Key,
    NeighbourChange,
    PairChange,
    RowChange,
    RowSummary,
)
from vocabgraft.errors import ArgumentError, ArgumentTypeError, RowIndexError
from vocabgraft.vocab.core import Vocab

__all__ = ["Plan", "compare", "make_plan", "resolve_ids"]


@dataclass(frozen=True)
class Plan:
    """drift()'s options, checked once, with ids turned into positions among the compared rows."""

    vocab: Vocab | None
    row_ids: np.ndarray | None  # the table ids of the compared rows; None: every row
    groups: dict[str, np.ndarray]
    pairs: tuple[tuple[Key, Key, int, int], ...]  # the keys as given, then positions
    watch: tuple[tuple[Key, int], ...]  # the key as given, then its table id
    exclude: np.ndarray
    k: int
    top: int


def _id(key: Any, vocab: Vocab | None, num_rows: int, what: str) -> int:
    if isinstance(key, str):
        if vocab is None:
            raise ArgumentError(
                f"{what} names the token {key!r}; pass vocab= to look tokens up, or give row ids"
            )
        return vocab[key]
    if not isinstance(key, (int, np.integer)) or isinstance(key, bool):
        raise ArgumentTypeError(
            f"{what} takes row ids or tokens. Received {key!r} (of type {type(key).__name__})"
        )
    if not 0 <= key < num_rows:
        raise RowIndexError(f"{what}: id {key} is out of range for a table of {num_rows} rows")
    return int(key)


def resolve_ids(keys: Any, vocab: Vocab | None, num_rows: int, what: str) -> np.ndarray:
    """Row ids (int64) from ids or tokens, checked against ``num_rows``; ``what`` names them in errors."""
    arr = np.asarray([keys] if isinstance(keys, str) else keys).reshape(-1)
    if arr.dtype.kind not in "iu" or len(arr) == 0:
        return np.array([_id(k, vocab, num_rows, what) for k in arr.tolist()], dtype=np.int64)
    bad = arr[(arr < 0) | (arr >= num_rows)]
    if len(bad):
        raise RowIndexError(f"{what}: id {bad[0]} is out of range for a table of {num_rows} rows")
    return arr.astype(np.int64)


def _positions(ids: np.ndarray, row_ids: np.ndarray | None, what: str) -> np.ndarray:
    if row_ids is None:
        return ids
    pos = np.searchsorted(row_ids, ids).clip(max=len(row_ids) - 1)
    missing = ids[row_ids[pos] != ids]
    if len(missing):
        raise ArgumentError(
            f"{what}: row {missing[0]} is not among the monitored ids=; add it there"
        )
    return pos


def make_plan(
    num_rows: int,
    *,
    vocab: Vocab | None,
    row_ids: np.ndarray | None,
    groups: Mapping[str, Any] | None,
    pairs: Iterable[tuple[Key, Key]],
    watch: Iterable[Key],
    exclude: Iterable[Key],
    k: int,
    top: int,
) -> Plan:
    """drift()'s options checked once, ids turned into positions among the compared rows."""
    if vocab is not None and len(vocab) != num_rows:
        raise ArgumentError(
            f"vocab has {len(vocab):,} tokens but the table has {num_rows:,} rows; "
            "they must match one to one"
        )
    for name, value in (("k", k), ("top", top)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 0:
            raise ArgumentError(f"{name} must be an integer >= 0. Received: {name}={value!r}")
    pair_list = []
    for pair in pairs:
        if isinstance(pair, str) or len(pair) != 2:
            raise ArgumentError(f"pairs are (word, word) tuples. Received: {pair!r}")
        a, b = (_id(w, vocab, num_rows, "pairs") for w in pair)
        pa, pb = _positions(np.array([a, b]), row_ids, "pairs").tolist()
        pair_list.append((pair[0], pair[1], pa, pb))
    watched = tuple((w, _id(w, vocab, num_rows, "watch")) for w in watch)
    if watched and row_ids is not None:
        raise ArgumentError(
            "watch= finds neighbours in the whole table; leave ids= out to watch words"
        )
    if watched and k < 1:
        raise ArgumentError(f"watch= needs k >= 1 neighbours. Received: k={k}")
    return Plan(
        vocab=vocab,
        row_ids=row_ids,
        groups={
            str(name): _positions(
                resolve_ids(ids, vocab, num_rows, f"group {name!r}"), row_ids, f"group {name!r}"
            )
            for name, ids in (groups or {}).items()
        },
        pairs=tuple(pair_list),
        watch=watched,
        exclude=resolve_ids(list(exclude), vocab, num_rows, "exclude"),
        k=int(k),
        top=int(top),
    )


def compare(before: np.ndarray, after: np.ndarray, plan: Plan) -> DriftReport:
    """The :class:`DriftReport` of ``before`` -> ``after`` (same shape) that ``plan`` asks for."""
    l2, cd = row_changes(before, after)
    vocab, row_ids = plan.vocab, plan.row_ids

    def token(i: int) -> str | None:
        return None if vocab is None else vocab.token(i)

    moved = np.flatnonzero(l2 > 0)
    most = moved[np.argsort(-l2[moved], kind="stable")][: plan.top]
    top = tuple(
        RowChange(i, token(i), float(l2[p]), float(cd[p]))
        for p, i in zip(most.tolist(), (most if row_ids is None else row_ids[most]).tolist())
    )
    pairs = tuple(
        PairChange(
            a,
            b,
            float(cosine(before[[pa]], before[[pb]])[0]),
            float(cosine(after[[pa]], after[[pb]])[0]),
        )
        for a, b, pa, pb in plan.pairs
    )
    neighbours: tuple[NeighbourChange, ...] = ()
    if plan.watch:
        ids = [i for _, i in plan.watch]
        near = [nearest(t, ids, plan.k, plan.exclude).tolist() for t in (before, after)]

        def name(i: int) -> Key:
            return i if vocab is None else vocab.token(i)

        neighbours = tuple(
            NeighbourChange(
                w,
                tuple(map(name, b)),
                tuple(map(name, a)),
                len(set(b) & set(a)) / plan.k,
            )
            for (w, _), b, a in zip(plan.watch, *near)
        )
    return DriftReport(
        shape=(before.shape[0], before.shape[1]),
        summary=RowSummary.of(l2, cd),
        groups={g: RowSummary.of(l2[p], cd[p]) for g, p in plan.groups.items()},
        top=top,
        pairs=pairs,
        neighbours=neighbours,
        k=plan.k,
    )
