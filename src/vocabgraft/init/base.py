"""The initializer protocol: what an initializer sees (InitContext) and how a spec resolves."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast, runtime_checkable

import numpy as np

from vocabgraft.errors import ArgumentError, StateError, VocabgraftError
from vocabgraft.vocab.core import Vocab

if TYPE_CHECKING:
    pass

__all__ = ["InitContext", "Initializer", "InitializerBase", "resolve_init"]

_T = TypeVar("_T")

# Rows read at once when computing statistics of a (possibly memory-mapped) table.
_CHUNK_ROWS = 1 << 16


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
        memo: ``memo(name, build)`` returns a value computed from the
            existing rows, kept by the caller across calls (``align`` passes
            :meth:`EmbeddingTable.derived`), so statistics of a big
            read-only table are computed once. None: computed every time.
    """

    n: int
    dim: int
    tokens: Sequence[str] | None = None
    vocab: Vocab | None = None
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))
    weights_fn: Callable[[], np.ndarray] | None = None
    memo: Callable[[str, Callable[[], Any]], Any] | None = None

    @classmethod
    def build(
        cls,
        n: int,
        dim: int,
        *,
        tokens: Sequence[str] | None = None,
        vocab: Vocab | None = None,
        seed: int | None = None,
        generator: np.random.Generator | None = None,
        weights_fn: Callable[[], np.ndarray] | None = None,
        memo: Callable[[str, Callable[[], Any]], Any] | None = None,
    ) -> InitContext:
        """A context from the arguments every entry point takes: ``seed`` or ``generator``.

        Raises :class:`~vocabgraft.errors.ArgumentError` when both are given.
        """
        if generator is not None and seed is not None:
            raise ArgumentError(
                f"pass seed or generator, not both. Received seed={seed!r} and a generator"
            )
        rng = generator if generator is not None else np.random.default_rng(seed)
        return cls(
            n=n, dim=dim, tokens=tokens, vocab=vocab, rng=rng, weights_fn=weights_fn, memo=memo
        )

    def remember(self, name: str, build: Callable[[], _T]) -> _T:
        """``build()``, or the value the caller keeps under ``name`` (see ``memo``)."""
        if self.memo is None:
            return build()
        return cast(_T, self.memo(name, build))

    @cached_property
    def weights(self) -> np.ndarray:
        """The existing rows. Do not write to them."""
        if self.weights_fn is None:
            raise VocabgraftError("this initializer needs the existing rows, but none were given")
        return self.weights_fn()

    def rows_for(self, name: str) -> np.ndarray:
        """The existing rows, or a clear error naming initializer ``name`` if there are none."""
        w = self.weights
        if len(w) == 0:
            raise _empty_table_error(name)
        if w.ndim != 2 or w.shape[1] != self.dim:
            raise VocabgraftError(
                f"{name}: the existing rows have shape {w.shape}, but rows of width {self.dim} "
                "are being made"
            )
        return w

    def tokens_for(self, name: str) -> list[str]:
        """The new rows' tokens, or a clear error if the rows are anonymous."""
        if self.tokens is None:
            raise VocabgraftError(
                f"{name} builds a row from its token, but these {self.n} rows have no tokens. "
                "Add rows by token (extend(['word', ...])) or use Mean() or MatchedNormal()"
            )
        tokens = list(self.tokens)
        if len(tokens) != self.n:
            raise VocabgraftError(f"{name}: {len(tokens)} tokens given for {self.n} rows")
        return tokens

    def vocab_for(self, name: str) -> Vocab:
        """The vocabulary of the existing rows, or a clear error if there is none."""
        if self.vocab is None:
            raise VocabgraftError(
                f"{name} looks existing tokens up by name, but the existing rows have no "
                "vocabulary. Build the table or module with one"
            )
        return self.vocab

    def subset(self, index: Sequence[int]) -> InitContext:
        """The context for some of the new rows (shares the generator and the rows)."""
        tokens = None if self.tokens is None else [self.tokens[i] for i in index]
        return InitContext(
            n=len(index),
            dim=self.dim,
            tokens=tokens,
            vocab=self.vocab,
            rng=self.rng,
            weights_fn=lambda: self.weights,
            memo=self.memo,
        )


@runtime_checkable
class Initializer(Protocol):
    """Anything that makes ``ctx.n`` rows of width ``ctx.dim`` from an :class:`InitContext`."""

    def __call__(self, ctx: InitContext) -> np.ndarray:
        """Rows for ``ctx``: an ``(ctx.n, ctx.dim)`` array."""
        ...


class InitializerBase:
    """A base for initializers (optional: the protocol is just ``__call__(ctx)``).

    Every initializer here derives from it, so a mix of them, such as
    ``{"zeros": Zeros(), "mean": Mean()}``, types as one kind of
    :class:`Initializer`.
    """

    def __call__(self, ctx: InitContext) -> np.ndarray:
        """Rows for ``ctx``: an ``(ctx.n, ctx.dim)`` array (each initializer defines it)."""
        raise StateError(f"{type(self).__name__} does not define __call__(ctx)")


def _empty_table_error(name: str) -> VocabgraftError:
    return VocabgraftError(
        f"{name} needs existing rows to compute from, but the table is empty (0 rows). "
        "Use Zeros() or pass the initial values as an array"
    )


def _check_finite(name: str, w: np.ndarray) -> None:
    if not np.all(np.isfinite(w)):
        raise VocabgraftError(f"{name}: the existing rows hold NaN or infinite values")


def _named(name: str) -> Initializer:
    from vocabgraft.init.statistics import MatchedNormal, Mean
    from vocabgraft.init.subword import Subword

    named: dict[str, Callable[[], Initializer]] = {
        "mean": Mean,
        "normal": MatchedNormal,
        "subword": Subword,
    }
    if name not in named:
        raise ArgumentError(
            f"unknown initializer name {name!r}; use one of {['zeros', *sorted(named)]} "
            "or an initializer object from vocabgraft.init"
        )
    return named[name]()


def resolve_init(init: Initializer | np.ndarray | str | None, ctx: InitContext) -> np.ndarray:
    """Rows for ``ctx`` from an initializer, an array of values, a name, or ``None`` (zeros).

    Names: ``"zeros"``, ``"mean"``, ``"normal"`` (:class:`MatchedNormal`),
    ``"subword"`` (:class:`Subword` fitted on the existing rows). Arrays must
    be ``(n, dim)``.
    """
    if init is None or (isinstance(init, str) and init == "zeros"):
        from vocabgraft.init.statistics import Zeros

        init = Zeros()
    elif isinstance(init, str):
        init = _named(init)
    if isinstance(init, np.ndarray) or not callable(init):
        rows = np.asarray(init)
        if rows.shape != (ctx.n, ctx.dim):
            raise ArgumentError(
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
