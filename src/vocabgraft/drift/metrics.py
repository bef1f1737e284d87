"""Row metrics of drift: tables as numpy, cosine, per-row distances, nearest neighbours.

A table may be a numpy array, a torch tensor, a ``PartialEmbedding`` (torch or
Keras; read through ``merged_weight()``), an ``nn.Embedding`` (``.weight``), a
``keras.layers.Embedding`` (``.embeddings``) or an :class:`EmbeddingTable`.
The work is numpy in float64, done a block of rows at a time, so a 400,000 x
300 table never needs a float64 copy of the whole table.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from vocabgraft._arrays import tensor_to_numpy
from vocabgraft.errors import ArgumentError, ArgumentTypeError
from vocabgraft.table.core import EmbeddingTable
from vocabgraft.table.topk import topk

__all__ = ["as_matrix", "blocks", "cosine", "nearest", "row_changes", "unit"]

BLOCK = 1 << 20  # float64 values per block of rows (8 MiB)


def unwrap(table: Any) -> Any:
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
    x = tensor_to_numpy(x)
    try:
        arr = np.asarray(x)
    except Exception as e:  # a foreign object: say what is accepted
        raise ArgumentTypeError(
            f"{what} must be a (rows, dims) table: a numpy array, a torch tensor, or a layer "
            f"with merged_weight() or .weight. Received {type(x).__name__} ({e})"
        ) from None
    if arr.ndim != 2 or arr.dtype.kind not in "fiu":
        raise ArgumentTypeError(
            f"{what} must be a 2-D table of numbers (rows, dims). Received shape "
            f"{arr.shape}, dtype {arr.dtype} (from {type(x).__name__})"
        )
    return arr


def as_matrix(table: Any, what: str = "table", rows: np.ndarray | None = None) -> np.ndarray:
    """``table`` as a 2-D numpy array (no copy where possible); only ``rows`` when given."""
    x = unwrap(table)
    if rows is not None and hasattr(x, "index_select"):
        import torch  # only reached with a torch tensor in hand

        # Take the rows on the tensor's device: only they cross to the CPU.
        x = x.detach().index_select(0, torch.as_tensor(rows, device=x.device))
        return _to_numpy(x, what)
    arr = _to_numpy(x, what)
    return arr if rows is None else arr[rows]


def blocks(n: int, dim: int) -> Iterable[slice]:
    """Slices of ``n`` rows of ``dim`` values, each about :data:`BLOCK` values."""
    step = max(1, BLOCK // max(dim, 1))
    return (slice(s, min(s + step, n)) for s in range(0, n, step))


def unit(x: np.ndarray) -> np.ndarray:
    """Rows of ``x`` scaled to length 1, in float64 (zero rows stay zero)."""
    x = np.asarray(x, dtype=np.float64)
    n = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.where(n == 0, 1, n)


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity in float64 (0 where a row is zero).

    >>> cosine(np.array([[1.0, 0.0]]), np.array([[1.0, 1.0]])).round(4).tolist()
    [0.7071]
    """
    return np.asarray(np.sum(unit(a) * unit(b), axis=-1))


def row_changes(before: np.ndarray, after: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row: the L2 distance and the cosine distance (in [0, 2]) from before to after."""
    n = len(before)
    l2, cd = np.empty(n), np.empty(n)
    for s in blocks(n, before.shape[1]):
        b = np.asarray(before[s], np.float64)
        a = np.asarray(after[s], np.float64)
        l2[s] = np.linalg.norm(a - b, axis=1)
        cd[s] = np.clip(1.0 - cosine(b, a), 0.0, 2.0)
    cd[l2 == 0] = 0.0  # an unmoved row is at distance 0, not 1e-16
    return l2, cd


def nearest(
    table: Any, ids: Sequence[int] | np.ndarray, k: int, exclude: Iterable[int] = ()
) -> np.ndarray:
    """The ``k`` nearest rows by cosine of each row in ``ids``, nearest first: ``(len(ids), k)``.

    A row is never its own neighbour, and rows in ``exclude`` (padding,
    ``<unk>``) are nobody's. Ties go to the lower id. The table is read a block
    of rows at a time, by :func:`vocabgraft.table.topk.topk`.

    >>> w = np.array([[0, 0], [1, 0.1], [1, 0.12], [0.8, 0.6], [-1, 0]])
    >>> nearest(w, [1], k=2, exclude=[0]).tolist()
    [[2, 3]]
    """
    arr = as_matrix(table)
    n = len(arr)
    ids = np.asarray(ids, dtype=np.int64).reshape(-1)
    skip = np.unique(np.asarray(list(exclude), dtype=np.int64))
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
        raise ArgumentError(f"k must be a positive integer. Received: k={k!r}")
    for i in ids.tolist():
        left = n - len(np.union1d(skip, [i]))
        if k > left:
            raise ArgumentError(
                f"k={k} nearest neighbours of row {i} need {k} other rows, but the table has "
                f"{n} rows of which {n - left} are the row itself or excluded; lower k"
            )
    # Each query leaves out itself and the excluded rows.
    own = np.column_stack([ids, np.broadcast_to(skip, (len(ids), len(skip)))])
    found, _ = topk(arr[ids], arr, int(k), exclude=own)
    return found
