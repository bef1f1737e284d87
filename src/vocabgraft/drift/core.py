"""drift(): how far the rows of an embedding table moved during training.

:func:`drift` compares two tables with the same rows, before and after: the L2
and cosine distance of every row, a summary over all rows and over named
groups, the rows that moved most, the cosine of chosen word pairs, and how
many of a word's nearest neighbours are still its neighbours.
:class:`DriftMonitor` copies the table once and records a report per epoch or
step.

A table may be a numpy array, a torch tensor, a ``PartialEmbedding`` (torch or
Keras; read through ``merged_weight()``), an ``nn.Embedding`` (``.weight``), a
``keras.layers.Embedding`` (``.embeddings``) or an :class:`EmbeddingTable`.
The work is numpy in float64, done a block of rows at a time, so a 400,000 x
300 table never needs a float64 copy of the whole table.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from vocabgraft.errors import RowIndexError
from vocabgraft.table.core import EmbeddingTable
from vocabgraft.vocab.core import Vocab

__all__ = [
    "DriftMonitor",
    "DriftReport",
    "NeighbourChange",
    "PairChange",
    "RowChange",
    "RowSummary",
    "cosine",
    "drift",
    "nearest",
]

Key = int | str  # a row id, or a token of ``vocab``
When = int | str | None
_BLOCK = 1 << 22  # float64 values per block of rows (32 MiB)


# -- tables -------------------------------------------------------------------------


def _unwrap(table: Any) -> Any:
    """The weights behind a layer or a table object (still a tensor for torch)."""
    if isinstance(table, EmbeddingTable):
        return table.vectors
    if callable(getattr(table, "merged_weight", None)):
        return table.merged_weight()
    for name in ("weight", "embeddings"):  # nn.Embedding, keras.layers.Embedding
        if not isinstance(table, np.ndarray) and hasattr(table, name):
            return getattr(table, name)
    return table


def _to_numpy(x: Any, what: str) -> np.ndarray:
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # a torch tensor; torch is loaded already
        x = x.detach().cpu()
        if str(x.dtype) == "torch.bfloat16":  # numpy has no bfloat16
            x = x.float()
        x = x.numpy()
    try:
        arr = np.asarray(x)
    except Exception as e:  # a foreign object: say what is accepted
        raise TypeError(
            f"{what} must be a (rows, dims) table: a numpy array, a torch tensor, or a layer "
            f"with merged_weight() or .weight. Received {type(x).__name__} ({e})"
        ) from None
    if arr.ndim != 2 or arr.dtype.kind not in "fiu":
        raise TypeError(
            f"{what} must be a 2-D table of numbers (rows, dims). Received shape "
            f"{arr.shape}, dtype {arr.dtype} (from {type(x).__name__})"
        )
    return arr


def as_matrix(table: Any, what: str = "table", rows: np.ndarray | None = None) -> np.ndarray:
    """``table`` as a 2-D numpy array (no copy where possible); only ``rows`` when given."""
    x = _unwrap(table)
    if rows is not None and hasattr(x, "index_select"):
        import torch  # only reached with a torch tensor in hand

        # Take the rows on the tensor's device: only they cross to the CPU.
        x = x.detach().index_select(0, torch.as_tensor(rows, device=x.device))
        return _to_numpy(x, what)
    arr = _to_numpy(x, what)
    return arr if rows is None else arr[rows]


def _blocks(n: int, dim: int) -> Iterable[slice]:
    step = max(1, _BLOCK // max(dim, 1))
    return (slice(s, min(s + step, n)) for s in range(0, n, step))


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    n = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.where(n == 0, 1, n)


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity in float64 (0 where a row is zero).

    >>> cosine(np.array([[1.0, 0.0]]), np.array([[1.0, 1.0]])).round(4).tolist()
    [0.7071]
    """
    return np.sum(_unit(a) * _unit(b), axis=-1)


def _row_changes(before: np.ndarray, after: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row: the L2 distance and the cosine distance (in [0, 2]) from before to after."""
    n = len(before)
    l2, cd = np.empty(n), np.empty(n)
    for s in _blocks(n, before.shape[1]):
        b = np.asarray(before[s], np.float64)
        a = np.asarray(after[s], np.float64)
        l2[s] = np.linalg.norm(a - b, axis=1)
        cd[s] = np.clip(1.0 - cosine(b, a), 0.0, 2.0)
    cd[l2 == 0] = 0.0  # an unmoved row is at distance 0, not 1e-16
    return l2, cd


def _keep_top(scores: np.ndarray, ids: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` highest scores and their ids, highest first; the lower id wins a tie."""
    if len(scores) > k:
        kth = np.partition(scores, len(scores) - k)[len(scores) - k]
        keep = scores >= kth  # every tie of the k-th score, so the id decides exactly
        scores, ids = scores[keep], ids[keep]
    order = np.lexsort((ids, -scores))[:k]
    return scores[order], ids[order]


def nearest(
    table: Any, ids: Sequence[int] | np.ndarray, k: int, exclude: Iterable[int] = ()
) -> np.ndarray:
    """The ``k`` nearest rows by cosine of each row in ``ids``, nearest first: ``(len(ids), k)``.

    A row is never its own neighbour, and rows in ``exclude`` (padding,
    ``<unk>``) are nobody's. Ties go to the lower id. The table is read a block
    of rows at a time.

    >>> w = np.array([[0, 0], [1, 0.1], [1, 0.12], [0.8, 0.6], [-1, 0]])
    >>> nearest(w, [1], k=2, exclude=[0]).tolist()
    [[2, 3]]
    """
    arr = as_matrix(table)
    n, dim = arr.shape
    ids = np.asarray(ids, dtype=np.int64).reshape(-1)
    skip = np.unique(np.asarray(list(exclude), dtype=np.int64))
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
        raise ValueError(f"k must be a positive integer. Received: k={k!r}")
    for i in ids.tolist():
        left = n - len(np.union1d(skip, [i]))
        if k > left:
            raise ValueError(
                f"k={k} nearest neighbours of row {i} need {k} other rows, but the table has "
                f"{n} rows of which {n - left} are the row itself or excluded; lower k"
            )
    queries = _unit(arr[ids])
    best = [(np.empty(0), np.empty(0, np.int64)) for _ in ids]
    for s in _blocks(n, dim):
        unit = _unit(arr[s])
        block_ids = np.arange(s.start, s.stop)
        gone = (skip >= s.start) & (skip < s.stop)
        for j, q in enumerate(queries):
            scores = unit @ q
            scores[skip[gone] - s.start] = -np.inf
            if s.start <= ids[j] < s.stop:
                scores[ids[j] - s.start] = -np.inf
            top_s, top_i = best[j]
            best[j] = _keep_top(
                np.concatenate([top_s, scores]), np.concatenate([top_i, block_ids]), k
            )
    return np.array([i for _, i in best], dtype=np.int64).reshape(len(ids), k)


# -- the report ---------------------------------------------------------------------


def _num(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else x


@dataclass(frozen=True)
class RowSummary:
    """How far a set of rows moved; the distances are None for an empty set.

    Attributes:
        rows: rows in the set.
        moved: rows whose L2 distance is above 0.
        mean_l2, median_l2, p95_l2, max_l2: statistics of the L2 distances.
        mean_cosine_distance, max_cosine_distance: of ``1 - cosine``, in [0, 2].
    """

    rows: int
    moved: int
    mean_l2: float | None = None
    median_l2: float | None = None
    p95_l2: float | None = None
    max_l2: float | None = None
    mean_cosine_distance: float | None = None
    max_cosine_distance: float | None = None

    @classmethod
    def of(cls, l2: np.ndarray, cd: np.ndarray) -> RowSummary:
        if len(l2) == 0:
            return cls(rows=0, moved=0)
        return cls(
            rows=len(l2),
            moved=int((l2 > 0).sum()),
            mean_l2=float(l2.mean()),
            median_l2=float(np.median(l2)),
            p95_l2=float(np.percentile(l2, 95)),
            max_l2=float(l2.max()),
            mean_cosine_distance=float(cd.mean()),
            max_cosine_distance=float(cd.max()),
        )

    def to_dict(self) -> dict[str, Any]:
        return {k: _num(v) if isinstance(v, float) else v for k, v in asdict(self).items()}


@dataclass(frozen=True)
class RowChange:
    """One row that moved: its id, its token (when a vocabulary was given), how far."""

    id: int
    token: str | None
    l2: float
    cosine_distance: float


@dataclass(frozen=True)
class PairChange:
    """The cosine similarity of two rows before and after."""

    first: Key
    second: Key
    before: float
    after: float


@dataclass(frozen=True)
class NeighbourChange:
    """A word's ``k`` nearest neighbours before and after, and the share kept (overlap@k)."""

    word: Key
    before: tuple[Key, ...]
    after: tuple[Key, ...]
    overlap: float


@dataclass(frozen=True)
class DriftReport:
    """What :func:`drift` measured. ``str(report)`` is a text table, :meth:`to_dict` JSON-safe.

    Attributes:
        shape: ``(rows, dims)`` of the compared rows.
        summary: over every compared row.
        groups: the same per named group of ids.
        top: the rows that moved most, by L2 distance, most first (moved rows only).
        pairs: the cosine of each requested pair, before and after.
        neighbours: overlap@``k`` of each watched word's nearest neighbours.
        k: neighbours per watched word.
        when: the epoch or step :meth:`DriftMonitor.update` was given, else None.
    """

    shape: tuple[int, int]
    summary: RowSummary
    groups: Mapping[str, RowSummary] = field(default_factory=dict)
    top: tuple[RowChange, ...] = ()
    pairs: tuple[PairChange, ...] = ()
    neighbours: tuple[NeighbourChange, ...] = ()
    k: int = 10
    when: When = None

    def to_dict(self) -> dict[str, Any]:
        """Plain lists, dicts, numbers and strings; non-finite numbers become None."""
        return {
            "when": self.when,
            "shape": list(self.shape),
            "summary": self.summary.to_dict(),
            "groups": {name: s.to_dict() for name, s in self.groups.items()},
            "top": [{**asdict(r), "l2": _num(r.l2)} for r in self.top],
            "pairs": [
                {**asdict(p), "before": _num(p.before), "after": _num(p.after)} for p in self.pairs
            ],
            "neighbours": [
                {
                    "word": n.word,
                    "before": list(n.before),
                    "after": list(n.after),
                    "overlap": n.overlap,
                }
                for n in self.neighbours
            ],
            "k": self.k,
        }

    def __str__(self) -> str:
        at = "" if self.when is None else f" at {self.when}"
        s = self.summary
        lines = [f"drift{at}: {s.moved:,} of {s.rows:,} rows moved ({self.shape[1]} dims)", ""]
        lines += _table(
            ["group", "rows", "moved", "mean L2", "p95 L2", "max L2", "mean cos d", "max cos d"],
            [_summary_cells("all", s), *(_summary_cells(g, v) for g, v in self.groups.items())],
        )
        if self.top:
            moved = ", ".join(
                f"{r.token if r.token is not None else r.id} ({r.l2:.4g})" for r in self.top
            )
            lines.append(f"moved most (L2): {moved}")
        for p in self.pairs:
            lines.append(f"cosine {p.first} / {p.second}: {p.before:.4f} -> {p.after:.4f}")
        if self.neighbours:
            kept = ", ".join(f"{n.word} {n.overlap:.2f}" for n in self.neighbours)
            lines.append(f"overlap@{self.k} of nearest neighbours: {kept}")
        return "\n".join(lines)


def _summary_cells(name: str, s: RowSummary) -> list[str]:
    def g(x: float | None) -> str:
        return "-" if x is None else f"{x:.4g}"

    return [
        name,
        f"{s.rows:,}",
        f"{s.moved:,}",
        *map(g, [s.mean_l2, s.p95_l2, s.max_l2, s.mean_cosine_distance, s.max_cosine_distance]),
    ]


def _table(headers: list[str], rows: list[list[str]]) -> list[str]:
    cells = [headers, *rows]
    widths = [max(len(r[c]) for r in cells) for c in range(len(headers))]
    return [
        "  ".join(t.ljust(w) if c == 0 else t.rjust(w) for c, (t, w) in enumerate(zip(r, widths)))
        for r in cells
    ]


# -- what to measure ----------------------------------------------------------------


@dataclass(frozen=True)
class _Plan:
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
            raise ValueError(
                f"{what} names the token {key!r}; pass vocab= to look tokens up, or give row ids"
            )
        return vocab[key]
    if not isinstance(key, (int, np.integer)) or isinstance(key, bool):
        raise TypeError(
            f"{what} takes row ids or tokens. Received {key!r} (of type {type(key).__name__})"
        )
    if not 0 <= key < num_rows:
        raise RowIndexError(f"{what}: id {key} is out of range for a table of {num_rows} rows")
    return int(key)


def _ids(keys: Any, vocab: Vocab | None, num_rows: int, what: str) -> np.ndarray:
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
        raise ValueError(f"{what}: row {missing[0]} is not among the monitored ids=; add it there")
    return pos


def _plan(
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
) -> _Plan:
    if vocab is not None and len(vocab) != num_rows:
        raise ValueError(
            f"vocab has {len(vocab):,} tokens but the table has {num_rows:,} rows; "
            "they must match one to one"
        )
    for name, value in (("k", k), ("top", top)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 0:
            raise ValueError(f"{name} must be an integer >= 0. Received: {name}={value!r}")
    pair_list = []
    for pair in pairs:
        if isinstance(pair, str) or len(pair) != 2:
            raise ValueError(f"pairs are (word, word) tuples. Received: {pair!r}")
        a, b = (_id(w, vocab, num_rows, "pairs") for w in pair)
        pa, pb = _positions(np.array([a, b]), row_ids, "pairs").tolist()
        pair_list.append((pair[0], pair[1], pa, pb))
    watched = tuple((w, _id(w, vocab, num_rows, "watch")) for w in watch)
    if watched and row_ids is not None:
        raise ValueError(
            "watch= finds neighbours in the whole table; leave ids= out to watch words"
        )
    if watched and k < 1:
        raise ValueError(f"watch= needs k >= 1 neighbours. Received: k={k}")
    return _Plan(
        vocab=vocab,
        row_ids=row_ids,
        groups={
            str(name): _positions(
                _ids(ids, vocab, num_rows, f"group {name!r}"), row_ids, f"group {name!r}"
            )
            for name, ids in (groups or {}).items()
        },
        pairs=tuple(pair_list),
        watch=watched,
        exclude=_ids(list(exclude), vocab, num_rows, "exclude"),
        k=int(k),
        top=int(top),
    )


def _compare(before: np.ndarray, after: np.ndarray, plan: _Plan) -> DriftReport:
    l2, cd = _row_changes(before, after)
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


# -- the entry points ---------------------------------------------------------------


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
        before, after: the tables (arrays, tensors, or layers; see the module).
        vocab: names the rows, so tokens can stand for ids below and the
            report shows tokens.
        groups: ``{name: ids}``; each group gets its own summary.
        pairs: ``(word, word)`` pairs whose cosine is reported before and after.
        watch: words whose ``k`` nearest neighbours are found before and after.
        k: neighbours per watched word.
        top: how many of the rows that moved most to list.
        exclude: rows never counted as neighbours (padding, ``<unk>``).

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
        raise ValueError(
            f"before and after must have the same shape. Received {b.shape} and {a.shape}; "
            "to compare a grown table, pass the rows both have (after[:len(before)])"
        )
    plan = _plan(
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
    return _compare(b, a, plan)


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
        self.ids = None if ids is None else np.unique(_ids(ids, vocab, n, "ids"))
        self._plan = _plan(
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
        x = _unwrap(current)
        n = x.shape[0] if hasattr(x, "shape") else len(x)
        if n != self.num_rows:
            raise ValueError(
                f"the monitored table had {self.num_rows:,} rows; current has {n:,}. "
                "A grown table needs a new DriftMonitor"
            )
        now = as_matrix(x, "current", rows=self.ids)
        if now.shape != self.reference.shape:
            raise ValueError(
                f"current has rows of {now.shape[1]} dims; the reference has "
                f"{self.reference.shape[1]}"
            )
        report = replace(_compare(self.reference, now, self._plan), when=when)
        self.history.append(report)
        return report

    def to_dict(self) -> dict[str, Any]:
        """Every report so far, JSON-safe."""
        return {
            "ids": None if self.ids is None else self.ids.tolist(),
            "history": [r.to_dict() for r in self.history],
        }
