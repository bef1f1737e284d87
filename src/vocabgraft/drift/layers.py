"""Propagation for a trained layer: a torch or Keras ``PartialEmbedding``.

:func:`propagate_layer` reads the layer's public state (``base``, the pretrained
rows; ``row_map``, which rows trained or were patched; ``merged_weight()``, the
table now) and returns a :class:`~vocabgraft.drift.propagate.Propagation`
whose ``table`` is the whole merged table with the untrained base rows
propagated. It does not change the layer: a frozen row is a buffer (torch) or
a non-trainable weight (Keras) that vocabgraft never writes. Serve or keep
training from the new table:

- torch: ``nn.Embedding.from_pretrained(torch.from_numpy(result.table))``, or
  ``PartialEmbedding.from_pretrained(result.table, trainable=...)``;
- Keras: ``PartialEmbedding.from_pretrained(result.table, trainable=...)``, or
  ``keras.layers.Embedding(..., weights=[result.table])``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from vocabgraft._arrays import tensor_to_numpy
from vocabgraft.drift.propagate import Propagation, propagate
from vocabgraft.errors import ArgumentTypeError

__all__ = ["propagate_layer"]


def _numpy(x: Any) -> np.ndarray:
    """A tensor or Keras variable as a numpy array (no copy on the CPU where possible)."""
    value = getattr(x, "value", x)  # a Keras variable holds its backend tensor in .value
    return np.asarray(tensor_to_numpy(value))


def propagate_layer(layer: Any, *, method: str = "global", **options: Any) -> Propagation:
    """Propagate what a trained ``PartialEmbedding``'s rows learned to its frozen base rows.

    The trained rows are the base rows that train now or were trained and then
    frozen (patched); the rows propagated to are the other base rows, less the
    padding row. Rows appended by ``extend`` have no pretrained value: they
    keep theirs and take no part.

    Args:
        layer: a ``vocabgraft.torch.PartialEmbedding`` or
            ``vocabgraft.keras.PartialEmbedding`` (any object with ``base``,
            ``row_map`` and ``merged_weight()``).
        method: ``"global"`` or ``"local"``, as for :func:`propagate`.
        **options: passed to :func:`propagate` (``ridge``, ``k``, ``search``,
            ``keep``, ``pairs``, ``vocab``, ``report``).

    Returns:
        The :class:`Propagation`; its ``table`` has every row of the layer.

    Raises:
        ArgumentTypeError: ``layer`` lacks ``base``, ``row_map`` or ``merged_weight()``.

    >>> import torch
    >>> from vocabgraft.torch import PartialEmbedding
    >>> base = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.1], [0.1, 1.0]])
    >>> emb = PartialEmbedding.from_pretrained(base, trainable=[0, 1])
    >>> with torch.no_grad():
    ...     emb.rows += torch.tensor([0.5, 0.0])
    >>> propagate_layer(emb, method="local", k=1).table[2:].astype(float).round(2).tolist()
    [[1.5, 0.1], [0.6, 1.0]]
    """
    missing = [n for n in ("base", "row_map", "merged_weight") if not hasattr(layer, n)]
    if missing:
        raise ArgumentTypeError(
            f"propagate_layer takes a vocabgraft PartialEmbedding (torch or Keras); "
            f"{type(layer).__name__} has no {', '.join(missing)}. For plain tables use propagate()"
        )
    row_map = layer.row_map
    n = row_map.num_base
    merged = np.array(_numpy(layer.merged_weight()))
    ids = np.concatenate([row_map.trainable_ids, row_map.patch_ids])
    trained = np.unique(ids[ids < n])
    keep = list(options.pop("keep", ()))
    if row_map.padding_idx is not None and row_map.padding_idx < n:
        keep.append(int(row_map.padding_idx))
    view = merged[:n]  # written in place: the base rows of the merged copy
    result = propagate(
        _numpy(layer.base), view, trained, method=method, keep=keep, out=view, **options
    )
    return replace(result, table=merged)
