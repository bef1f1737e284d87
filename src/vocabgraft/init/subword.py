"""Subword: a new word's row from its character n-grams (fastText's, or a fitted model)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from vocabgraft.errors import ArgumentTypeError, VocabgraftError

if TYPE_CHECKING:
    from vocabgraft.table.core import EmbeddingTable, SubwordModel
from vocabgraft.init.base import (
    InitContext,
    Initializer,
    InitializerBase,
    _empty_table_error,
    resolve_init,
)

__all__ = ["Subword"]


class Subword(InitializerBase):
    """A token's vector from its character n-grams.

    Args:
        source: where the n-gram vectors come from:

            - a table that carries a subword model (``table.subwords``, e.g. a
              fastText ``.bin``): fastText's exact vector for any word;
            - a table without one (GloVe, word2vec, a trained model's rows): a
              :class:`~vocabgraft.subwords.FittedSubwords` model fitted on
              it at the first call (12 to 30 s for GloVe 6B), kept on the
              table and on disk (:func:`~vocabgraft.subwords.fit_subwords_cached`,
              ``<cache_dir>/subwords``), so later calls and later processes
              load it in milliseconds;
            - a subword model (anything with ``compose(words)``), used as is;
            - ``None``: fit on the existing rows and vocabulary of each
              context (what ``extend(init=Subword())`` sees). That refits on
              every call; pass a table or a model to fit once.
        **fit_options: passed to :func:`~vocabgraft.subwords.fit_subwords`
            when a model is fitted.

    >>> import numpy as np
    >>> from vocabgraft import EmbeddingTable
    >>> rng = np.random.default_rng(0)
    >>> table = EmbeddingTable(rng.normal(size=(3, 4)).astype(np.float32), ["walk", "walks", "talk"])
    >>> init = Subword(table, weighting="uniform")
    >>> init(InitContext(n=1, dim=4, tokens=["walking"])).shape
    (1, 4)
    """

    def __init__(
        self, source: EmbeddingTable | SubwordModel | None = None, **fit_options: Any
    ) -> None:
        from vocabgraft.table.core import EmbeddingTable

        compose = getattr(source, "compose", None)
        if source is not None and not isinstance(source, EmbeddingTable) and not callable(compose):
            raise ArgumentTypeError(
                "Subword takes an EmbeddingTable, a subword model (with compose(words)) "
                f"or None. Received: {type(source).__name__}"
            )
        self.source = source
        self.fit_options = fit_options
        self._model: SubwordModel | None = None

    def __repr__(self) -> str:
        return f"Subword({type(self.source).__name__})"

    @property
    def model(self) -> SubwordModel | None:
        """The subword model in use (None until one is needed, when it has to be fitted)."""
        from vocabgraft.table.core import EmbeddingTable

        if self._model is None and self.source is not None:
            if not isinstance(self.source, EmbeddingTable):
                self._model = self.source
            elif self.source.subwords is not None:
                self._model = self.source.subwords
        return self._model

    def _fit(self, table: EmbeddingTable, *, cached: bool) -> SubwordModel:
        from vocabgraft.subwords.fitted import fit_subwords, fit_subwords_cached

        if len(table) == 0:
            raise _empty_table_error("Subword")
        if not cached:
            return fit_subwords(table, **self.fit_options)
        options = self.fit_options
        name = f"subwords:fitted:{sorted(options.items())!r}"
        return table.derived(name, lambda: fit_subwords_cached(table, **options))

    def __call__(self, ctx: InitContext) -> np.ndarray:
        """The composed vector of each of ``ctx.tokens``."""
        from vocabgraft.table.core import EmbeddingTable

        tokens = ctx.tokens_for("Subword")
        model = self.model
        if model is None and isinstance(self.source, EmbeddingTable):
            model = self._model = self._fit(self.source, cached=True)
        elif model is None:
            w = ctx.rows_for("Subword")
            vocab = ctx.vocab_for("Subword")
            if len(vocab) != len(w):
                raise VocabgraftError(
                    f"Subword: the vocabulary has {len(vocab)} tokens but there are {len(w)} "
                    "existing rows; fit on a table instead: Subword(table)"
                )
            model = self._fit(EmbeddingTable(w, vocab), cached=False)
        assert model is not None
        if model.dim != ctx.dim:
            raise VocabgraftError(
                f"Subword: the subword model gives {model.dim}-d vectors, but rows of width "
                f"{ctx.dim} are being made"
            )
        if not tokens:
            return np.zeros((0, ctx.dim), dtype=np.float32)
        return np.asarray(model.compose(tokens), dtype=np.float32)


def _resolve_fallback(
    name: str,
    fallback: Initializer | None,
    ctx: InitContext,
    rows: np.ndarray,
    missing: list[int],
    why: str,
) -> None:
    """Fill ``rows[missing]`` from ``fallback``, or raise naming the first missing token."""
    if not missing:
        return
    if fallback is None:
        raise VocabgraftError(
            f"{name}: {why} ({len(missing)} of {ctx.n} new tokens). "
            f"Pass fallback=Mean() (or another initializer) to fill such rows"
        )
    rows[missing] = resolve_init(fallback, ctx.subset(missing))
