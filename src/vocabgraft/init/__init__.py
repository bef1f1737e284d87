"""Initializers: first vectors for new or unmatched rows.

Every initializer is a callable that takes an :class:`InitContext` and returns
an ``(n, D)`` array. They are deterministic given the context's generator, and
the same objects serve ``align`` (unmatched rows), ``PartialEmbedding.extend``
(torch and Keras) and ``warmstart``.

=================  ============================================================
``Zeros``          all-zero rows
``Mean``           the mean of the existing rows
``MatchedNormal``  samples from a normal with the existing rows' mean and covariance
``Subword``        a word's vector from its character n-grams (fastText's, or fitted)
``Subtokens``      the mean of the rows of the pieces a tokenizer splits a token into
``Neighbors``      the (weighted) mean of the rows of named related items
``Copy``           the row of one existing token
``FromFeatures``   a ridge map from items' features (categories, tags, numbers, text) to rows
=================  ============================================================

Initializers that read the existing rows raise :class:`VocabgraftError` on an
empty table, naming themselves.
"""

from __future__ import annotations

from vocabgraft.init.base import InitContext, Initializer, InitializerBase, resolve_init
from vocabgraft.init.features import FeatureFit, FromFeatures
from vocabgraft.init.featurize import (
    Categorical,
    ColumnSpec,
    ItemFeatures,
    Numeric,
    Tags,
    Text,
    infer_specs,
    read_item_features,
)
from vocabgraft.init.pooled import Copy, Neighbors, Subtokens
from vocabgraft.init.statistics import MatchedNormal, Mean, Zeros
from vocabgraft.init.subword import Subword

__all__ = [
    "Categorical",
    "ColumnSpec",
    "Copy",
    "FeatureFit",
    "FromFeatures",
    "InitContext",
    "Initializer",
    "InitializerBase",
    "ItemFeatures",
    "MatchedNormal",
    "Mean",
    "Neighbors",
    "Numeric",
    "Subtokens",
    "Subword",
    "Tags",
    "Text",
    "Zeros",
    "infer_specs",
    "read_item_features",
    "resolve_init",
]
