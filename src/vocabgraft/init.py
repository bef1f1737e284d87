"""Initializers: first vectors for new or unmatched rows.

Every initializer is a callable that takes an :class:`InitContext` and returns
an ``(n, D)`` array. They are deterministic given the context's generator, and
the same objects serve ``align`` (unmatched rows), ``PartialEmbedding.extend``
(torch and Keras) and ``warmstart``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Protocol, runtime_checkable

import numpy as np

from .errors import VocabgraftError
from .vocab import Vocab

__all__ = ["InitContext", "Initializer", "Mean", "Zeros", "resolve_init"]


@dataclass(frozen=True)
class InitContext:
    """What an initializer may look at.

    Attributes:
        n: how many rows to make.
        dim: their width.
        tokens: the new rows' tokens, when they have names (``None`` for
            anonymous rows, e.g. ``extend(5)``).
        vocab: the vocabulary naming the existing rows, when there is one.
        rng: the generator every random choice comes from.
        weights_fn: returns the existing rows ``(V, D)``. Called at most once,
            and only by initializers that need the rows (``Mean`` does,
            ``Zeros`` does not), so a caller can hand over a memory map or
            build a merged copy lazily.
    """

    n: int
    dim: int
    tokens: Sequence[str] | None = None
    vocab: Vocab | None = None
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))
    weights_fn: Callable[[], np.ndarray] | None = None

    @cached_property
    def weights(self) -> np.ndarray:
        """The existing rows. Do not write to them."""
        if self.weights_fn is None:
            raise VocabgraftError("this initializer needs the existing rows, but none were given")
        return self.weights_fn()


@runtime_checkable
class Initializer(Protocol):
    """Anything that makes ``ctx.n`` rows of width ``ctx.dim`` from an :class:`InitContext`."""

    def __call__(self, ctx: InitContext) -> np.ndarray: ...


def _empty_table_error(name: str) -> VocabgraftError:
    return VocabgraftError(
        f"{name} needs existing rows to compute from, but the table is empty (0 rows). "
        "Use Zeros() or pass the initial values as an array"
    )


@dataclass(frozen=True)
class Zeros:
    """All-zero rows."""

    def __call__(self, ctx: InitContext) -> np.ndarray:
        return np.zeros((ctx.n, ctx.dim), dtype=np.float32)


@dataclass(frozen=True)
class Mean:
    """The mean of the existing rows, for every new row (optionally with small noise).

    Args:
        noise: standard deviation of Gaussian noise added per row, relative to
            the rows' per-dimension standard deviation, so new rows are not all
            identical. 0 gives exactly the mean.
    """

    noise: float = 0.0

    def __call__(self, ctx: InitContext) -> np.ndarray:
        w = ctx.weights
        if len(w) == 0:
            raise _empty_table_error("Mean")
        w = np.asarray(w, dtype=np.float64)
        rows = np.broadcast_to(w.mean(axis=0), (ctx.n, ctx.dim)).astype(np.float32)
        if self.noise:
            rows = rows + ctx.rng.normal(0.0, 1.0, (ctx.n, ctx.dim)) * (self.noise * w.std(axis=0))
        return np.asarray(rows, dtype=np.float32)


def resolve_init(init: Initializer | np.ndarray | str | None, ctx: InitContext) -> np.ndarray:
    """Rows for ``ctx`` from an initializer, an array of values, a name, or ``None`` (zeros).

    Names: ``"zeros"``, ``"mean"``. Arrays must be ``(n, dim)``.
    """
    if init is None or (isinstance(init, str) and init == "zeros"):
        init = Zeros()
    elif isinstance(init, str):
        named: dict[str, Initializer] = {"mean": Mean()}
        if init not in named:
            raise ValueError(
                f"unknown initializer name {init!r}; use one of 'zeros', {sorted(named)} "
                "or an initializer object from vocabgraft.init"
            )
        init = named[init]
    if isinstance(init, np.ndarray) or not callable(init):
        rows = np.asarray(init)
        if rows.shape != (ctx.n, ctx.dim):
            raise ValueError(
                f"initial values have shape {rows.shape}, but {ctx.n} rows of width {ctx.dim} "
                f"are being added; pass an array of shape ({ctx.n}, {ctx.dim})"
            )
        return rows
    rows = np.asarray(init(ctx))
    if rows.shape != (ctx.n, ctx.dim):
        raise VocabgraftError(
            f"{type(init).__name__} returned shape {rows.shape}, expected ({ctx.n}, {ctx.dim})"
        )
    return rows
