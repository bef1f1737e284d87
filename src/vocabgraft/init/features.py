"""FromFeatures: new items' rows predicted from what is known about them.

A new product, movie or user arrives after training. Its attributes, tags,
numbers and text are known; its row is not. :class:`FromFeatures` fits a
closed-form ridge regression from the existing items' features to their
trained rows (each item weighted by how many interactions trained its row,
the penalty chosen by exact leave-one-out on those items), then predicts the
new items' rows. It is an initializer, so it serves ``align(..., init=)``,
``PartialEmbedding.extend(tokens, init=)`` in torch and Keras, and ``graft``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vocabgraft.errors import ArgumentError, VocabgraftError
from vocabgraft.init.base import InitContext, Initializer, InitializerBase
from vocabgraft.init.featurize import ColumnSpec, Encoder, ItemFeatures, infer_specs
from vocabgraft.init.ridge import DEFAULT_ALPHAS, RidgeFit, fit_ridge
from vocabgraft.init.subword import _resolve_fallback

__all__ = ["FeatureFit", "FromFeatures"]


@dataclass(frozen=True)
class FeatureFit:
    """The fitted map from features to rows, and how well it predicts held-out rows.

    Attributes:
        specs: the column specs, in block order.
        blocks: each column's number of features.
        ridge: the regression (its ``r2`` is the leave-one-out R² per dimension).
        weighted: whether the items were weighted.
    """

    specs: tuple[ColumnSpec, ...]
    encoders: tuple[Encoder, ...]
    scales: tuple[float, ...]
    blocks: tuple[int, ...]
    ridge: RidgeFit
    weighted: bool

    def transform(self, features: ItemFeatures, ids: Sequence[str]) -> np.ndarray:
        """``(len(ids), p)``: the features of ``ids`` as the regression sees them."""
        index = features.rows_of(ids)
        parts = [
            enc(features.take(index, spec.column)) * scale
            for spec, enc, scale in zip(self.specs, self.encoders, self.scales)
        ]
        return np.concatenate(parts, axis=1) if parts else np.zeros((len(ids), 0))

    def predict(self, features: ItemFeatures, ids: Sequence[str]) -> np.ndarray:
        """``(len(ids), D)`` float32 rows for items ``ids`` (each must have features)."""
        return self.ridge.predict(self.transform(features, ids))

    @property
    def r2_mean(self) -> float:
        """The mean over dimensions of the held-out R²."""
        return float(np.mean(self.ridge.r2))

    def to_dict(self) -> dict[str, Any]:
        """The fit's facts as plain Python (for JSON reports)."""
        return {
            "items": self.ridge.items,
            "weighted": self.weighted,
            "features": {s.column: b for s, b in zip(self.specs, self.blocks)},
            "kinds": {s.column: type(s).__name__ for s in self.specs},
            "alpha": self.ridge.alpha,
            "alphas_tried": len(self.ridge.alphas),
            "r2_per_dimension": self.ridge.r2.tolist(),
            "r2_mean": self.r2_mean,
        }

    def summary(self) -> str:
        """One paragraph: items, features per column, the penalty, and held-out R²."""
        if len(self.specs) <= 6:
            cols = ", ".join(
                f"{s.column}: {type(s).__name__.lower()} {b}"
                for s, b in zip(self.specs, self.blocks)
            )
        else:
            kinds = Counter(type(s).__name__.lower() for s in self.specs)
            cols = ", ".join(f"{n} {kind} columns" for kind, n in kinds.items())
        r2 = self.ridge.r2
        how = "weighted by interactions" if self.weighted else "unweighted"
        return (
            f"ridge from {sum(self.blocks)} features ({cols}) to {len(r2)}-d rows, fitted on "
            f"{self.ridge.items:,} existing items ({how}); alpha {self.ridge.alpha:.4g}, chosen "
            f"by leave-one-out among {len(self.ridge.alphas)}; held-out R² mean {self.r2_mean:.3f} "
            f"(per dimension {r2.min():.3f} to {r2.max():.3f})"
        )


def _block_scale(x: np.ndarray) -> float:
    """1 / sqrt(total variance): every column block starts equally loud under one penalty."""
    total = float(x.var(axis=0).sum())
    return 1.0 / np.sqrt(total) if total > 0 else 1.0


class FromFeatures(InitializerBase):
    """Rows for new items from their features, by ridge regression fitted on the existing items.

    Args:
        features: what is known about the items, old and new, keyed by the
            tokens of the table (:class:`ItemFeatures`; :func:`read_item_features`
            reads a file).
        specs: how each column becomes numbers (:class:`Categorical`,
            :class:`Tags`, :class:`Numeric`, :class:`Text`); ``None`` infers
            them (:func:`infer_specs`).
        weights: how many interactions trained each existing row: an array
            with one value per existing row, or ``{token: count}`` (tokens it
            does not name weigh 0). Rarely seen rows are mostly their random
            start, so they should count less. ``None`` weighs all rows 1.
        alphas: the ridge penalties tried, relative to the mean eigenvalue of
            the weighted Gram matrix; the one with the smallest leave-one-out
            error on the existing items is used.
        fallback: the initializer for new tokens without features; without
            one they are an error.

    After a call, :attr:`last_fit` holds the :class:`FeatureFit` (with
    :meth:`FeatureFit.summary`). Existing rows without features are left out
    of the fit.

    >>> from vocabgraft import Vocab
    >>> feats = ItemFeatures(["a", "b", "c", "d", "new"],
    ...                      {"kind": ["x", "x", "y", "y", "y"]})
    >>> ctx = InitContext(n=1, dim=2, tokens=["new"], vocab=Vocab(["a", "b", "c", "d"]),
    ...                   weights_fn=lambda: np.array([[1., 0], [1, 0], [0, 1], [0, 1]]))
    >>> np.round(FromFeatures(feats)(ctx), 1).tolist()
    [[0.0, 1.0]]
    """

    def __init__(
        self,
        features: ItemFeatures,
        specs: Sequence[ColumnSpec] | None = None,
        *,
        weights: np.ndarray | Sequence[float] | Mapping[str, float] | None = None,
        alphas: Sequence[float] = DEFAULT_ALPHAS,
        fallback: Initializer | None = None,
    ) -> None:
        if not isinstance(features, ItemFeatures):
            raise ArgumentError(
                f"FromFeatures: features must be ItemFeatures (see read_item_features); "
                f"received {type(features).__name__}"
            )
        self.features = features
        self.specs = tuple(specs) if specs is not None else tuple(infer_specs(features))
        if not self.specs:
            raise ArgumentError("FromFeatures: no feature columns; give specs or more columns")
        self.weights = weights
        self.alphas = tuple(alphas)
        self.fallback = fallback
        self.last_fit: FeatureFit | None = None

    def __repr__(self) -> str:
        cols = ", ".join(s.column for s in self.specs)
        return f"FromFeatures({len(self.features):,} items; columns {cols})"

    def _item_weights(self, tokens: Sequence[str]) -> np.ndarray | None:
        if self.weights is None:
            return None
        if isinstance(self.weights, Mapping):
            return np.array([float(self.weights.get(t, 0.0)) for t in tokens])
        w = np.asarray(self.weights, dtype=np.float64)
        if w.shape != (len(tokens),):
            raise ArgumentError(
                f"FromFeatures: weights has shape {w.shape}, but there are {len(tokens)} "
                "existing rows; give one weight per existing row or a {token: count} dict"
            )
        return w

    def fit(self, rows: np.ndarray, tokens: Sequence[str]) -> FeatureFit:
        """Fit the map on existing rows ``rows`` named ``tokens`` (those with features).

        Raises:
            VocabgraftError: fewer than 3 existing items have features (and weight).
        """
        weights = self._item_weights(tokens)
        known = self.features.has(tokens)
        if weights is not None:
            known &= weights > 0
        index = np.flatnonzero(known)
        if len(index) < 3:
            raise VocabgraftError(
                f"FromFeatures: only {len(index)} of {len(tokens)} existing items have features"
                f"{' and a positive weight' if weights is not None else ''} in "
                f"{self.features.source}; at least 3 are needed. Do the ids match the tokens?"
            )
        at = self.features.rows_of([tokens[i] for i in index.tolist()])
        encoders, scales, blocks, parts = [], [], [], []
        for spec in self.specs:
            values = self.features.take(at, spec.column)
            enc = spec.fit(values)
            x = enc(values)
            encoders.append(enc)
            scales.append(_block_scale(x))
            blocks.append(x.shape[1])
            parts.append(x * scales[-1])
        y = np.asarray(rows[index], dtype=np.float64)
        ridge = fit_ridge(
            np.concatenate(parts, axis=1),
            y,
            None if weights is None else weights[index],
            alphas=self.alphas,
        )
        return FeatureFit(
            self.specs, tuple(encoders), tuple(scales), tuple(blocks), ridge, weights is not None
        )

    def __call__(self, ctx: InitContext) -> np.ndarray:
        """Fit on the existing rows of ``ctx``, then predict a row per new token."""
        tokens = ctx.tokens_for("FromFeatures")
        rows = ctx.rows_for("FromFeatures")
        old = list(ctx.vocab_for("FromFeatures").tokens)[: len(rows)]
        fit = self.fit(rows, old)
        self.last_fit = fit
        out = np.zeros((ctx.n, ctx.dim), dtype=np.float32)
        have = self.features.has(tokens)
        if have.any():
            out[have] = fit.predict(self.features, [t for t, h in zip(tokens, have) if h])
        missing = np.flatnonzero(~have).tolist()
        _resolve_fallback(
            "FromFeatures",
            self.fallback,
            ctx,
            out,
            missing,
            f"no features in {self.features.source}",
        )
        return out
