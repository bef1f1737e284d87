"""Integer ids: the checks every id set and every batch goes through, and compact id runs.

Numpy only. :func:`check_bounds` is the one id-range check of vocabgraft's
adapters, with its one message.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vocabgraft.errors import RowIndexError

__all__ = [
    "check_bounds",
    "check_ids",
    "check_row_ids",
    "from_runs",
    "normalize_padding",
    "to_runs",
]


def check_row_ids(ids: Any, num_rows: int, *, what: str = "ids") -> np.ndarray:
    """``ids`` as a sorted, unique int64 array, or :class:`RowIndexError` naming the bad one.

    Accepts an int, any integer array-like (lists, numpy arrays, CPU tensors
    converted by the caller). Floats and booleans are refused rather than cast.

    Raises:
        RowIndexError: for a non-integer dtype or an id outside ``[0, num_rows)``.
    """
    arr = np.asarray(ids)
    if arr.dtype == object or arr.dtype.kind not in "iu":
        if arr.size == 0 and arr.dtype.kind == "f":  # np.asarray([]) is float64
            arr = arr.astype(np.int64)
        else:
            raise RowIndexError(
                f"{what} must be integers. Received dtype {arr.dtype}"
                + (f" (first value {arr.ravel()[0]!r})" if arr.size else "")
            )
    arr = arr.ravel()
    check_ids(arr, num_rows, what=what)  # in the ids' own dtype: nothing wraps first
    return np.unique(arr.astype(np.int64, copy=False))


def check_ids(ids: np.ndarray, num_rows: int, *, what: str = "ids") -> None:
    """Raise :class:`RowIndexError` if any of the integer ``ids`` is outside ``[0, num_rows)``.

    Reads the ids in their own dtype (int64 stays int64), so nothing wraps
    before the check.
    """
    if ids.size:
        check_bounds(int(ids.min()), int(ids.max()), num_rows, what=what)


def check_bounds(lo: int, hi: int, num_rows: int, *, what: str = "ids") -> None:
    """The one id-range check: raise :class:`RowIndexError` unless ``0 <= lo <= hi < num_rows``.

    Framework adapters compute the smallest and largest id of a batch their
    own way (on the device, in one reduction) and hand them here, so every
    path reports a bad id with the same message.

    Raises:
        RowIndexError: naming the bad id, the table size and the valid range.
    """
    bad = lo if lo < 0 else hi if hi >= num_rows else None
    if bad is not None:
        raise RowIndexError(
            f"{what}: id {bad} is out of range for a table of {num_rows} rows "
            f"(valid ids 0..{num_rows - 1})"
        )


def to_runs(ids: np.ndarray) -> list[list[int]]:
    """Sorted unique ids as ``[start, stop)`` runs, so a saved layout stays small for any id set.

    >>> to_runs(np.array([1, 2, 3, 7]))
    [[1, 4], [7, 8]]
    """
    if ids.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(ids) != 1) + 1
    starts = np.concatenate([[0], breaks])
    stops = np.concatenate([breaks, [ids.size]])
    return [[int(ids[a]), int(ids[b - 1]) + 1] for a, b in zip(starts, stops)]


def from_runs(runs: Any) -> np.ndarray:
    """Ids from ``[start, stop)`` runs (what :func:`to_runs` writes)."""
    parts = [np.arange(int(a), int(b), dtype=np.int64) for a, b in runs]
    return np.concatenate(parts) if parts else np.empty(0, np.int64)


def normalize_padding(padding_idx: int | None, num_rows: int) -> int | None:
    """``padding_idx`` as a non-negative id (``-1`` is the last row), checked; None stays None.

    Raises:
        RowIndexError: when it is not an integer or not a row of the table.
    """
    if padding_idx is None:
        return None
    if isinstance(padding_idx, bool) or not isinstance(padding_idx, (int, np.integer)):
        raise RowIndexError(f"padding_idx must be an integer or None. Received {padding_idx!r}")
    p = int(padding_idx)
    if not -num_rows <= p < num_rows:
        raise RowIndexError(
            f"padding_idx {p} is out of range for a table of {num_rows} rows "
            f"(valid: {-num_rows}..{num_rows - 1})"
        )
    return p + num_rows if p < 0 else p
