"""Update propagation: carry what fine-tuning taught the trained rows over to the rows it never saw.

Fine-tuning moves the rows of the words in the training data ("tv") and leaves
every other row where the pretrained table put it ("television"), so the two
drift apart. :func:`propagate` moves the untrained rows too, guided by the
pretrained geometry:

- ``method="global"``: one linear map ``x -> x + x W + b``, fitted by ridge
  least squares on the trained rows (pretrained value -> change), applied to
  every other row. The ridge pulls the map toward "no change"; it is chosen
  on a held-out fifth of the trained rows unless given, and the held-out
  errors are reported.
- ``method="local"``: each untrained row moves by the mean change of its
  ``k`` nearest trained rows (cosine in the pretrained space), weighted by
  their cosine (negative cosines count 0). See :mod:`vocabgraft.drift.neighbours`
  for how the neighbours are found on large tables.

Both read the tables a block of rows at a time and write the result into one
new table (or into ``out=``). The :class:`Propagation` they return holds the
table and a :class:`~vocabgraft.drift.report.DriftReport` from the pretrained
table to it, with the groups ``trained`` and ``propagated``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from vocabgraft.drift.core import drift
from vocabgraft.drift.metrics import as_matrix
from vocabgraft.drift.neighbours import Search, nearest_trained
from vocabgraft.drift.plan import resolve_ids
from vocabgraft.drift.report import DriftReport, Key
from vocabgraft.errors import ArgumentError
from vocabgraft.table.topk import unit_rows
from vocabgraft.vocab.core import Vocab

__all__ = ["METHODS", "Propagation", "moved_rows", "propagate"]

METHODS = ("global", "local")
RIDGES = tuple(10.0 ** np.arange(-4.0, 3.0))
"""The ridge terms tried on the held-out rows, relative to the mean eigenvalue of the
centred Gram matrix of the trained rows' pretrained values."""
_BLOCK_ROWS = 1 << 13


@dataclass(frozen=True)
class Propagation:
    """What :func:`propagate` did.

    Attributes:
        table: the propagated ``(V, D)`` table (``out`` when one was given).
        method: ``"global"`` or ``"local"``.
        trained: the ids of the rows that trained (their values are ``after``'s).
        propagated: the ids of the rows moved by propagation.
        report: how far every row moved from the pretrained table, with the
            groups ``trained`` and ``propagated`` (None with ``report=False``).
        details: for ``global``, the ridge chosen and the held-out mean squared
            error of each ridge tried, of no change and of the mean change; for
            ``local``, ``k``, the search used and the mean cosine of the neighbours.
        seconds: the time taken, report included.
    """

    table: np.ndarray
    method: str
    trained: np.ndarray
    propagated: np.ndarray
    report: DriftReport | None
    details: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: everything but the table."""
        return {
            "method": self.method,
            "trained_rows": len(self.trained),
            "propagated_rows": len(self.propagated),
            "details": self.details,
            "seconds": self.seconds,
            "report": None if self.report is None else self.report.to_dict(),
        }


def moved_rows(before: Any, after: Any) -> np.ndarray:
    """The ids of the rows that differ between two tables of the same shape (read in blocks).

    After plain fine-tuning of an ``nn.Embedding``, these are the rows that trained.

    >>> moved_rows(np.zeros((4, 2)), np.array([[0, 0], [1, 0], [0, 0], [0, 2.0]])).tolist()
    [1, 3]
    """
    b, a = _pair(before, after)
    found = [
        lo + np.flatnonzero(np.any(b[lo : lo + _BLOCK_ROWS] != a[lo : lo + _BLOCK_ROWS], axis=1))
        for lo in range(0, len(b), _BLOCK_ROWS)
    ]
    return np.concatenate(found) if found else np.empty(0, np.int64)


def propagate(
    before: Any,
    after: Any,
    trained_ids: Any,
    *,
    method: str = "global",
    ids: Any = None,
    keep: Iterable[Key] = (),
    ridge: float | None = None,
    k: int = 10,
    search: Search | None = None,
    out: np.ndarray | None = None,
    vocab: Vocab | None = None,
    pairs: Iterable[tuple[Key, Key]] = (),
    report: bool = True,
) -> Propagation:
    """Move the rows that did not train by what the rows that trained learned.

    Args:
        before: the pretrained table (array, tensor or layer; see
            :mod:`vocabgraft.drift.metrics`).
        after: the fine-tuned table, same shape. Its trained rows are the
            examples; its other rows are replaced by propagated values.
        trained_ids: ids (or, with ``vocab``, tokens) of the rows that trained;
            :func:`moved_rows` finds them after plain fine-tuning.
        method: ``"global"`` (ridge linear map) or ``"local"`` (k nearest trained rows).
        ids: the rows to propagate to; default every row neither trained nor in ``keep``.
        keep: rows left as ``after`` has them (padding, ``<unk>``).
        ridge: global: the ridge term relative to the mean eigenvalue of the
            trained rows' centred Gram matrix; None picks one of :data:`RIDGES`
            on a held-out fifth of the trained rows.
        k: local: trained neighbours per row.
        search: local: how neighbours are found (default :class:`Search`()).
        out: a ``(V, D)`` array to write the result into (may be ``after``
            itself, when it is a writable array); default a new array.
        vocab: names the rows, for tokens in the arguments and the report.
        pairs: ``(word, word)`` pairs whose cosine the report gives before and after.
        report: build the :class:`DriftReport` (reads both tables once more).

    Returns:
        A :class:`Propagation` holding the table and the report.

    Raises:
        ArgumentError: an unknown method, tables of different shapes, too few
            trained rows, or an ``out`` that does not fit.

    >>> before = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.1], [0.1, 1.0]])
    >>> after = before.copy()
    >>> after[:2] += [0.5, 0.0]  # rows 0 and 1 trained: both moved right
    >>> result = propagate(before, after, [0, 1], method="local", k=1)
    >>> result.table[2:].round(2).tolist()
    [[1.5, 0.1], [0.6, 1.0]]
    >>> result.report.groups["propagated"].moved
    2
    """
    start = time.perf_counter()
    if method not in METHODS:
        raise ArgumentError(f"method must be 'global' or 'local'. Received: method={method!r}")
    b, a = _pair(before, after)
    n = len(b)
    trained = np.unique(resolve_ids(trained_ids, vocab, n, "trained_ids"))
    targets = _targets(n, trained, ids, keep, vocab)
    if len(trained) < 2:
        raise ArgumentError(
            f"propagation learns from the trained rows, and trained_ids holds {len(trained)}; "
            "pass at least 2 (moved_rows(before, after) finds the rows that trained)"
        )
    table = _output(a, b, out)
    if method == "global":
        details = _global(b, a, trained, targets, table, ridge)
    else:
        details = _local(b, a, trained, targets, table, k, search or Search())
    drift_report = None
    if report:
        groups = {"trained": trained, "propagated": targets}
        drift_report = drift(b, table, vocab=vocab, groups=groups, pairs=pairs)
    seconds = time.perf_counter() - start
    return Propagation(table, method, trained, targets, drift_report, details, seconds)


def _pair(before: Any, after: Any) -> tuple[np.ndarray, np.ndarray]:
    b, a = as_matrix(before, "before"), as_matrix(after, "after")
    if b.shape != a.shape:
        raise ArgumentError(
            f"before and after must have the same shape. Received {b.shape} and {a.shape}; "
            "for a grown table pass the rows both have (after[:len(before)])"
        )
    return b, a


def _targets(
    n: int, trained: np.ndarray, ids: Any, keep: Iterable[Key], vocab: Vocab | None
) -> np.ndarray:
    if ids is not None:
        targets = np.unique(resolve_ids(ids, vocab, n, "ids"))
        both = np.intersect1d(targets, trained)
        if len(both):
            raise ArgumentError(
                f"ids and trained_ids share row {both[0]}: a trained row keeps its trained "
                "value. Leave it out of ids"
            )
        return targets
    mask = np.ones(n, dtype=bool)
    mask[trained] = False
    mask[resolve_ids(list(keep), vocab, n, "keep")] = False
    return np.flatnonzero(mask)


def _output(a: np.ndarray, b: np.ndarray, out: np.ndarray | None) -> np.ndarray:
    if out is None:
        return np.array(a, dtype=np.result_type(a.dtype, np.float32))
    if not isinstance(out, np.ndarray) or out.shape != a.shape or out.dtype.kind != "f":
        raise ArgumentError(
            f"out must be a float numpy array of shape {a.shape}. Received "
            f"{type(out).__name__} of shape {getattr(out, 'shape', None)}"
        )
    if not out.flags.writeable:
        raise ArgumentError("out is read-only (a memory map opened 'r'?); pass a writable array")
    if np.may_share_memory(out, b):
        raise ArgumentError(
            "out shares memory with before, which propagation reads while it writes; "
            "pass after (or a new array) as out"
        )
    if out is not a:
        for lo in range(0, len(a), _BLOCK_ROWS):
            out[lo : lo + _BLOCK_ROWS] = a[lo : lo + _BLOCK_ROWS]
    return out


# -- global: one ridge linear map ---------------------------------------------------


def _pairs(b: np.ndarray, a: np.ndarray, rows: np.ndarray) -> Iterator[tuple[np.ndarray, ...]]:
    """``(x, y)`` blocks of ``rows``: pretrained values and their change, in float64."""
    for lo in range(0, len(rows), _BLOCK_ROWS):
        x = np.asarray(b[rows[lo : lo + _BLOCK_ROWS]], dtype=np.float64)
        yield x, np.asarray(a[rows[lo : lo + _BLOCK_ROWS]], dtype=np.float64) - x


class _Ridge:
    """Ridge least squares of the change ``y`` on ``[x, 1]``, for any ridge, from one eigh.

    Built from sums over blocks of rows (the Gram matrix and cross products), so
    no copy of the trained rows is held.
    """

    def __init__(self, b: np.ndarray, a: np.ndarray, rows: np.ndarray) -> None:
        dim = b.shape[1]
        sx, sy = np.zeros(dim), np.zeros(dim)
        xx, xy = np.zeros((dim, dim)), np.zeros((dim, dim))
        for x, y in _pairs(b, a, rows):
            sx += x.sum(0)
            sy += y.sum(0)
            xx += x.T @ x
            xy += x.T @ y
        n = len(rows)
        self.x_mean, self.y_mean = sx / n, sy / n
        self.eig, self.vec = np.linalg.eigh(xx - n * np.outer(self.x_mean, self.x_mean))
        self.eig = np.clip(self.eig, 0.0, None)
        self.proj = self.vec.T @ (xy - n * np.outer(self.x_mean, self.y_mean))
        self.scale = max(float(self.eig.mean()), 1e-12)

    def solve(self, relative: float) -> tuple[np.ndarray, np.ndarray]:
        """``(W, b)`` with ``y ~ x W + b`` for the ridge ``relative * mean eigenvalue``."""
        w = self.vec @ (self.proj / (self.eig + relative * self.scale)[:, None])
        return w, self.y_mean - self.x_mean @ w


def _choose_ridge(b: np.ndarray, a: np.ndarray, rows: np.ndarray) -> tuple[float, dict[str, Any]]:
    """The ridge of :data:`RIDGES` with the lowest error on a held-out fifth of the rows."""
    order = np.random.default_rng(0).permutation(len(rows))
    cut = max(1, len(rows) // 5)
    val, fit = np.sort(rows[order[:cut]]), np.sort(rows[order[cut:]])
    fitted = _Ridge(b, a, fit)
    maps = {r: fitted.solve(r) for r in RIDGES}
    errors = dict.fromkeys(RIDGES, 0.0)
    still = shifted = 0.0
    for x, y in _pairs(b, a, val):
        for r, (w, bias) in maps.items():
            errors[r] += float(np.sum((x @ w + bias - y) ** 2))
        still += float(np.sum(y**2))
        shifted += float(np.sum((y - fitted.y_mean) ** 2))
    best = min(errors, key=lambda r: errors[r])
    return best, {
        "held_out_rows": int(cut),
        "held_out_mse": {f"{r:g}": e / cut for r, e in errors.items()},
        "held_out_mse_no_change": still / cut,
        "held_out_mse_mean_change": shifted / cut,
    }


def _global(
    b: np.ndarray,
    a: np.ndarray,
    trained: np.ndarray,
    targets: np.ndarray,
    out: np.ndarray,
    ridge: float | None,
) -> dict[str, Any]:
    details: dict[str, Any] = {}
    if ridge is None:
        ridge, details = _choose_ridge(b, a, trained)
    elif not np.isfinite(ridge) or ridge < 0:
        raise ArgumentError(f"ridge must be a number >= 0. Received: ridge={ridge!r}")
    w, bias = _Ridge(b, a, trained).solve(float(ridge))
    w, bias = w.astype(out.dtype), bias.astype(out.dtype)
    for lo in range(0, len(targets), _BLOCK_ROWS):
        rows = targets[lo : lo + _BLOCK_ROWS]
        xs = np.asarray(b[rows], dtype=out.dtype)
        out[rows] = xs + xs @ w + bias
    return {"ridge": float(ridge), "ridge_chosen": bool(details), **details}


# -- local: the k nearest trained rows ----------------------------------------------


def _local(
    b: np.ndarray,
    a: np.ndarray,
    trained: np.ndarray,
    targets: np.ndarray,
    out: np.ndarray,
    k: int,
    search: Search,
) -> dict[str, Any]:
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
        raise ArgumentError(f"k must be a positive integer. Received: k={k!r}")
    k = min(int(k), len(trained))
    pretrained = np.asarray(b[trained], dtype=np.float32)
    change = (np.asarray(a[trained], dtype=np.float32) - pretrained).astype(out.dtype)
    unit = unit_rows(pretrained)
    near, cos, mode = nearest_trained(b, targets, unit, k, search)
    weights = np.clip(cos, 0.0, None).astype(out.dtype)
    total = weights.sum(axis=1, keepdims=True)
    weights /= np.where(total == 0, 1, total)  # no positive neighbour: no move
    step = 4096  # rows whose k neighbour changes (step x k x D) are gathered at once
    for lo in range(0, len(targets), step):
        rows = targets[lo : lo + step]
        moved = np.einsum("bk,bkd->bd", weights[lo : lo + step], change[near[lo : lo + step]])
        out[rows] = np.asarray(b[rows], dtype=out.dtype) + moved
    return {
        "k": k,
        "search": mode,
        "search_settings": asdict(search) if mode == "clustered" else {},
        "mean_neighbour_cosine": float(cos.mean()) if cos.size else None,
        "rows_without_positive_neighbour": int((total[:, 0] == 0).sum()),
    }
