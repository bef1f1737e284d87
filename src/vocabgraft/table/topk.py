"""The one blockwise cosine top-k of vocabgraft, with bounded memory.

Every nearest-neighbour question in the package (``EmbeddingTable.most_similar``,
drift's neighbour lists, update propagation) goes through :func:`topk`. The
rows are read ``block_rows`` at a time, so a memory-mapped 2,000,000 x 300
table is never copied or normalised whole: the extra memory is one block of
rows (float32), one ``(Q, block_rows)`` block of scores and the running
``(Q, k)`` best.

Ties are broken by the lower row id, so the result does not depend on
``block_rows``.
"""

from __future__ import annotations

import numpy as np

from vocabgraft.errors import ArgumentError, ArgumentTypeError

__all__ = ["DEFAULT_BLOCK_ROWS", "topk", "unit_rows"]

DEFAULT_BLOCK_ROWS = 1 << 14
"""Rows read at once by default: 16,384 x 300 float32 is about 20 MB."""

# Scores held at once (queries x block rows): 16 M float32 values, 64 MB.
_SCORE_FLOATS = 1 << 24


def unit_rows(x: np.ndarray) -> np.ndarray:
    """``x`` (any float dtype) as float32 rows of unit length; zero rows stay zero.

    >>> unit_rows(np.array([[3.0, 4.0], [0.0, 0.0]])).tolist()
    [[0.6000000238418579, 0.800000011920929], [0.0, 0.0]]
    """
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.where(norms == 0, np.float32(1), norms)


def _check(queries: np.ndarray, rows: np.ndarray, k: int, block_rows: int) -> np.ndarray:
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
        raise ArgumentError(f"k must be a positive integer. Received: k={k!r}")
    if not isinstance(block_rows, (int, np.integer)) or block_rows < 1:
        raise ArgumentError(f"block_rows must be a positive integer. Received: {block_rows!r}")
    if not isinstance(rows, np.ndarray) or rows.ndim != 2:
        raise ArgumentTypeError(
            f"rows must be a 2-D numpy array (V x D). Received: {type(rows).__name__} "
            f"of shape {getattr(rows, 'shape', None)}"
        )
    q = np.asarray(queries)
    if q.ndim != 2 or q.shape[1] != rows.shape[1]:
        raise ArgumentError(
            f"queries must be (Q, {rows.shape[1]}) to match rows of width {rows.shape[1]}. "
            f"Received shape {q.shape}; use queries[None] for one vector"
        )
    return q


def _exclusions(exclude: np.ndarray | None, q: int, v: int) -> tuple[np.ndarray, np.ndarray]:
    """``exclude`` as (query index, row id) pairs: 1-D means every query, 2-D one list per query."""
    if exclude is None:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    ex = np.asarray(exclude, dtype=np.int64)
    if ex.ndim == 1:
        ex = np.unique(ex[(ex >= 0) & (ex < v)])
        return np.repeat(np.arange(q), len(ex)), np.tile(ex, q)
    if ex.ndim != 2 or len(ex) != q:
        raise ArgumentError(
            f"exclude must be 1-D (row ids for every query) or (Q, m) with Q={q}, one row of "
            f"ids per query (-1 for none). Received shape {ex.shape}"
        )
    qi = np.repeat(np.arange(q), ex.shape[1])
    ids = ex.reshape(-1)
    ok = (ids >= 0) & (ids < v)
    return qi[ok], ids[ok]


def _merge(
    best_s: np.ndarray, best_i: np.ndarray, scores: np.ndarray, ids: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best of the running best and one block, per query; lower id wins ties."""
    s = np.concatenate([best_s, scores], axis=1)
    i = np.concatenate([best_i, np.broadcast_to(ids, scores.shape)], axis=1)
    if s.shape[1] > k:
        # Keep every score tied with the k-th, so that ids decide ties exactly.
        kth = -np.partition(-s, k - 1, axis=1)[:, k - 1 : k]
        width = int((s >= kth).sum(axis=1).max())
        cand = np.argpartition(-s, min(width, s.shape[1]) - 1, axis=1)[:, :width]
        s = np.take_along_axis(s, cand, axis=1)
        i = np.take_along_axis(i, cand, axis=1)
    # Sort by (-score, id): ids first (stable), then scores.
    by_id = np.argsort(i, axis=1, kind="stable")
    s, i = np.take_along_axis(s, by_id, axis=1), np.take_along_axis(i, by_id, axis=1)
    order = np.argsort(-s, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(s, order, axis=1), np.take_along_axis(i, order, axis=1)


def topk(
    queries: np.ndarray,
    rows: np.ndarray,
    k: int,
    *,
    exclude: np.ndarray | None = None,
    block_rows: int = DEFAULT_BLOCK_ROWS,
    row_norms: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` rows of ``rows`` with the highest cosine to each query, best first.

    Args:
        queries: ``(Q, D)`` query vectors (any float dtype; need not be unit length).
        rows: ``(V, D)`` rows to search (any float dtype; may be a read-only
            memory map). Read ``block_rows`` at a time, never copied whole.
        k: how many neighbours per query (a positive integer). When fewer
            than ``k`` rows are left after ``exclude``, the missing places hold
            id ``-1`` and cosine ``-inf``.
        exclude: row ids that are no query's neighbour: a 1-D array applies to
            every query; a ``(Q, m)`` array gives each query its own ids, with
            ``-1`` as padding. Ids out of range are ignored.
        block_rows: rows per block; bounds the memory to about
            ``block_rows * (D + Q)`` float32 values.
        row_norms: the ``(V,)`` L2 norms of ``rows``, when the caller has
            them (they are otherwise computed per block). A zero norm gives a
            cosine of 0.

    Returns:
        ``(ids, cosines)``: ``(Q, k)`` int64 row ids and ``(Q, k)`` float32
        cosines, highest first; equal cosines are ordered by the lower id.

    Raises:
        ArgumentError: ``k`` or ``block_rows`` not a positive integer, or
            shapes that do not fit together.
        ArgumentTypeError: ``rows`` is not a 2-D numpy array.

    >>> rows = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, 0.0]])
    >>> ids, cos = topk(np.array([[1.0, 0.1]]), rows, 2)
    >>> ids.tolist(), cos.astype(float).round(3).tolist()
    ([[0, 3]], [[0.995, 0.995]])
    >>> topk(np.array([[1.0, 0.1]]), rows, 2, exclude=np.array([0]))[0].tolist()
    [[3, 2]]
    """
    q = unit_rows(_check(queries, rows, k, block_rows))
    v, k, block_rows = len(rows), int(k), int(block_rows)
    if row_norms is not None:
        row_norms = np.asarray(row_norms, dtype=np.float32).reshape(-1)
        if len(row_norms) != v:
            raise ArgumentError(
                f"row_norms must have {v} values, one per row. Received {len(row_norms)}"
            )
    ex_q, ex_i = _exclusions(exclude, len(q), v)
    ids = np.empty((len(q), k), dtype=np.int64)
    cos = np.empty((len(q), k), dtype=np.float32)
    # Queries in chunks too, so one block of scores stays near _SCORE_FLOATS values.
    step = max(1, _SCORE_FLOATS // block_rows)
    for lo in range(0, len(q), step):
        mine = (ex_q >= lo) & (ex_q < lo + step)
        ids[lo : lo + step], cos[lo : lo + step] = _scan(
            q[lo : lo + step], rows, k, (ex_q[mine] - lo, ex_i[mine]), block_rows, row_norms
        )
    return ids, cos


def _scan(
    q: np.ndarray,
    rows: np.ndarray,
    k: int,
    excluded: tuple[np.ndarray, np.ndarray],
    block_rows: int,
    row_norms: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`topk` for unit queries ``q``, reading ``rows`` one block at a time."""
    ex_q, ex_i = excluded
    n_q, v = len(q), len(rows)
    best_s = np.full((n_q, 0), -np.inf, dtype=np.float32)
    best_i = np.full((n_q, 0), -1, dtype=np.int64)
    for lo in range(0, v, block_rows):
        hi = min(v, lo + block_rows)
        block = np.asarray(rows[lo:hi], dtype=np.float32)
        norms = np.linalg.norm(block, axis=1) if row_norms is None else row_norms[lo:hi]
        scores = (q @ block.T) / np.where(norms == 0, np.float32(1), norms)
        inside = (ex_i >= lo) & (ex_i < hi)
        scores[ex_q[inside], ex_i[inside] - lo] = -np.inf
        best_s, best_i = _merge(best_s, best_i, scores, np.arange(lo, hi, dtype=np.int64), k)
    if best_s.shape[1] < k:
        pad = k - best_s.shape[1]
        best_s = np.concatenate([best_s, np.full((n_q, pad), -np.inf, np.float32)], axis=1)
        best_i = np.concatenate([best_i, np.full((n_q, pad), -1, np.int64)], axis=1)
    best_i = np.where(np.isneginf(best_s), -1, best_i)
    return best_i, best_s.astype(np.float32, copy=False)
