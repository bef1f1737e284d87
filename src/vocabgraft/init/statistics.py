"""Initializers from the existing rows' statistics: Zeros, Mean, MatchedNormal."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from vocabgraft.errors import VocabgraftError
from vocabgraft.init.base import _CHUNK_ROWS, InitContext, InitializerBase, _check_finite

__all__ = ["MatchedNormal", "Mean", "Zeros"]


def _moments(w: np.ndarray, *, diagonal: bool) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (or per-dimension variance) of the rows, in float64, in chunks.

    Chunks keep a memory-mapped table from being copied whole; the sums are
    taken about the first chunk's mean to avoid cancellation.
    """
    n = len(w)
    shift = np.asarray(w[:_CHUNK_ROWS], dtype=np.float64).mean(axis=0)
    total = np.zeros(w.shape[1])
    second = np.zeros(w.shape[1]) if diagonal else np.zeros((w.shape[1], w.shape[1]))
    for lo in range(0, n, _CHUNK_ROWS):
        c = np.asarray(w[lo : lo + _CHUNK_ROWS], dtype=np.float64) - shift
        total += c.sum(axis=0)
        c32 = c.astype(np.float32)
        second += (c32 * c32).sum(axis=0) if diagonal else _gram(c32)
    mean_c = total / n
    centered = second - n * (mean_c * mean_c if diagonal else np.outer(mean_c, mean_c))
    cov = centered / (n - 1) if n > 1 else np.zeros_like(second)
    return mean_c + shift, cov


def _mean(w: np.ndarray) -> np.ndarray:
    """The mean row, in float64, summed in chunks."""
    total = sum(
        np.asarray(w[lo : lo + _CHUNK_ROWS], dtype=np.float64).sum(axis=0)
        for lo in range(0, len(w), _CHUNK_ROWS)
    )
    return np.asarray(total) / len(w)


def _gram(c: np.ndarray, block: int = 64) -> np.ndarray:
    """``c.T @ c`` in float64, as a sum of products of ``block`` rows each.

    For narrow tables these products are small enough that OpenBLAS keeps
    them on one thread; one large product is threaded, and on a machine whose
    cores are busy that made the covariance of GloVe 6B 50d take seconds
    instead of 0.07 s. The stacked products are formed a few megabytes at a
    time. Float32 products are ample for an initializer's statistics; the
    sums are float64.
    """
    d = c.shape[1]
    m = len(c) // block * block
    blocks = c[:m].reshape(-1, block, d)
    per_call = max(1, (8 << 20) // (4 * d * d))
    out = c[m:].T.astype(np.float64) @ c[m:]
    for lo in range(0, len(blocks), per_call):
        b = blocks[lo : lo + per_call]
        out += np.matmul(b.transpose(0, 2, 1), b).sum(axis=0, dtype=np.float64)
    return np.asarray(out)


@dataclass(frozen=True)
class Zeros(InitializerBase):
    """All-zero rows."""

    def __call__(self, ctx: InitContext) -> np.ndarray:
        """``ctx.n`` zero rows."""
        return np.zeros((ctx.n, ctx.dim), dtype=np.float32)


@dataclass(frozen=True)
class Mean(InitializerBase):
    """The mean of the existing rows, for every new row (optionally with small noise).

    Args:
        noise: standard deviation of Gaussian noise added per row, relative to
            the rows' per-dimension standard deviation, so new rows are not all
            identical. 0 gives exactly the mean.
        weights: one non-negative weight per existing row (word counts, item
            popularity), for a weighted mean. A plain mean counts a word seen
            once as much as one seen a million times, and rarely seen rows
            are often far from where a new, real item will land. None: all
            rows weigh the same.

    >>> ctx = InitContext(n=1, dim=2, weights_fn=lambda: np.array([[0.0, 0.0], [4.0, 8.0]]))
    >>> Mean()(ctx).tolist(), Mean(weights=[3, 1])(ctx).tolist()
    ([[2.0, 4.0]], [[1.0, 2.0]])
    """

    noise: float = 0.0
    weights: Sequence[float] | np.ndarray | None = field(default=None, compare=False)

    def __call__(self, ctx: InitContext) -> np.ndarray:
        """``ctx.n`` rows at the (weighted) mean of the existing rows, with optional noise."""
        w = ctx.rows_for("Mean")
        if self.weights is not None:
            weights = _row_weights("Mean", self.weights, len(w))
            mean, var = _weighted_moments(w, weights, variance=bool(self.noise))
        elif not self.noise:
            mean = ctx.remember("init:mean", lambda: _mean(w))
            return np.broadcast_to(mean, (ctx.n, ctx.dim)).astype(np.float32)
        else:
            mean, var = ctx.remember("init:moments:diagonal", lambda: _moments(w, diagonal=True))
        if not self.noise:
            return np.broadcast_to(mean, (ctx.n, ctx.dim)).astype(np.float32)
        rows = mean + ctx.rng.normal(0.0, 1.0, (ctx.n, ctx.dim)) * (self.noise * np.sqrt(var))
        return np.asarray(rows, dtype=np.float32)


def _row_weights(name: str, weights: Sequence[float] | np.ndarray, num_rows: int) -> np.ndarray:
    """``weights`` as float64, checked: one per existing row, finite, >= 0, not all 0."""
    a = np.asarray(weights, dtype=np.float64)
    if a.shape != (num_rows,):
        raise VocabgraftError(
            f"{name}: weights has shape {a.shape}, but there are {num_rows} existing rows "
            "(give one weight per row)"
        )
    bad = np.flatnonzero(~np.isfinite(a) | (a < 0))
    if len(bad):
        i = int(bad[0])
        raise VocabgraftError(
            f"{name}: weights must be finite and >= 0. Received {a[i]} at row {i}"
        )
    if not a.any():
        raise VocabgraftError(f"{name}: every weight is 0, so there is no mean to take")
    return a


def _weighted_moments(
    w: np.ndarray, weights: np.ndarray, *, variance: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted mean and per-dimension variance (zeros unless ``variance``), float64, in chunks."""
    total = weights.sum()
    mean = np.zeros(w.shape[1])
    for lo in range(0, len(w), _CHUNK_ROWS):
        mean += weights[lo : lo + _CHUNK_ROWS] @ np.asarray(w[lo : lo + _CHUNK_ROWS], np.float64)
    mean /= total
    var = np.zeros(w.shape[1])
    for lo in range(0, len(w), _CHUNK_ROWS) if variance else ():
        c = np.asarray(w[lo : lo + _CHUNK_ROWS], np.float64) - mean
        var += weights[lo : lo + _CHUNK_ROWS] @ (c * c)
    return mean, var / total


@dataclass(frozen=True)
class MatchedNormal(InitializerBase):
    """Samples from a normal distribution with the existing rows' mean and covariance.

    New rows look like typical existing rows: same centre, same spread, same
    correlations between dimensions, so they have typical norms and differ
    from one another.

    Args:
        diagonal: use per-dimension variances only (no correlations).
        scale: multiplies the standard deviation (the covariance by ``scale**2``).

    The default samples the full spread (``scale=1``). transformers'
    ``resize_token_embeddings(mean_resizing=True)`` samples from
    ``N(mean, 1e-5 * cov)``, which puts every new row within a hair of the
    mean: a deliberate choice there, so that new rows tied to an output layer
    do not shift a language model's predictions. For input rows that will
    train or be compared by cosine, near-identical rows carry no information,
    so we do not copy that factor by default. ``scale=1e-5 ** 0.5`` reproduces
    it; ``Mean()`` is its limit.

    >>> ctx = InitContext(n=2, dim=3, weights_fn=lambda: np.eye(3), rng=np.random.default_rng(0))
    >>> MatchedNormal()(ctx).shape
    (2, 3)
    """

    diagonal: bool = False
    scale: float = 1.0

    def __call__(self, ctx: InitContext) -> np.ndarray:
        """``ctx.n`` samples from the existing rows' normal distribution."""
        w = ctx.rows_for("MatchedNormal")
        kind = "diagonal" if self.diagonal else "full"
        mean, cov = ctx.remember(
            f"init:moments:{kind}", lambda: _moments(w, diagonal=self.diagonal)
        )
        if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(cov))):
            _check_finite("MatchedNormal", np.asarray(w))
        z = ctx.rng.standard_normal((ctx.n, ctx.dim))
        if self.diagonal:
            rows = mean + z * (self.scale * np.sqrt(np.maximum(cov, 0.0)))
        else:
            # eigh, not Cholesky: a covariance of few rows is singular.
            values, vectors = np.linalg.eigh(cov)
            rows = mean + (z * (self.scale * np.sqrt(np.maximum(values, 0.0)))) @ vectors.T
        return np.asarray(rows, dtype=np.float32)
