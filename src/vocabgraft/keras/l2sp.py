"""L2-SP for the Keras PartialEmbedding: a regularizer pulling the trainable rows toward their pretrained values.

``PartialEmbedding(..., embeddings_regularizer=L2SP(strength))`` puts the
regularizer on the compact ``rows`` weight only: frozen rows are non-trainable
weights with no regularizer and no gradient, so they stay bit-exact. The
penalty is ``strength / 2 * ||rows - reference||^2``, where the reference of a
trainable slot is its id's base row (its pretrained value), and for a row
appended by ``extend`` its first value. The layer calls :meth:`L2SP.bind` after
``build()`` and after every ``freeze``, ``unfreeze`` and ``extend``, which
refreshes the reference to the new layout.

As a penalty, its gradient goes through the optimizer like the loss's (Adam
rescales it); for the decoupled form of AdamW's decay, use the torch module's
``l2sp_decay``, or a penalty under SGD, where the two coincide.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

from vocabgraft.errors import ArgumentError, StateError
from vocabgraft.keras._backend import to_numpy

__all__ = ["L2SP"]


@keras.saving.register_keras_serializable(package="vocabgraft")
class L2SP(keras.regularizers.Regularizer):
    """``strength / 2 * ||rows - pretrained rows||^2`` on a PartialEmbedding's trainable rows.

    Args:
        strength: the pull toward the pretrained rows (>= 0; 0 adds exactly nothing).

    >>> import keras
    >>> import numpy as np
    >>> from vocabgraft.keras import PartialEmbedding
    >>> reg = L2SP(0.5)
    >>> emb = PartialEmbedding.from_pretrained(
    ...     np.zeros((5, 2), "float32"), trainable=[1, 3], embeddings_regularizer=reg
    ... )
    >>> emb.build()
    >>> _ = emb.rows.assign(np.full((2, 2), 2.0, "float32"))
    >>> keras.ops.convert_to_numpy(reg(emb.rows)).item()  # 0.5 / 2 * (4 values of 2.0 squared)
    4.0
    """

    def __init__(self, strength: float = 0.01) -> None:
        if isinstance(strength, bool) or not np.isfinite(strength) or strength < 0:
            raise ArgumentError(f"strength must be a number >= 0. Received: strength={strength!r}")
        self.strength = float(strength)
        self._reference: Any = None
        self._shape: tuple[int, ...] | None = None
        self._first_ids = np.empty(0, dtype=np.int64)
        self._first = np.empty((0, 0), dtype=np.float32)

    def bind(self, layer: Any) -> None:
        """Take the reference rows from ``layer``'s current layout (the layer calls this)."""
        row_map = layer.row_map
        ids = row_map.trainable_ids
        rows = to_numpy(layer.rows)
        ref = np.empty_like(rows)
        base = ids < row_map.num_base
        if base.any():
            ref[base] = to_numpy(ops.take(layer.base.value, ids[base], axis=0))
        slots = np.flatnonzero(~base)
        appended = ids[~base]
        known = np.isin(appended, self._first_ids)
        if self._first.shape[1] != rows.shape[1]:
            self._first = np.empty((0, rows.shape[1]), dtype=rows.dtype)
        first_ids = np.concatenate([self._first_ids, appended[~known]])
        first = np.concatenate([self._first, rows[slots[~known]]])
        order = np.argsort(first_ids, kind="stable")
        self._first_ids, self._first = first_ids[order], first[order]
        ref[slots] = self._first[np.searchsorted(self._first_ids, appended)]
        self._reference = ops.convert_to_tensor(ref)
        self._shape = ref.shape

    def __call__(self, x: Any) -> Any:
        """The penalty for the rows ``x`` (the layer's ``rows`` weight)."""
        if self._reference is None:
            raise StateError(
                "L2SP has no reference rows yet: it is bound by a vocabgraft PartialEmbedding "
                "(pass it as embeddings_regularizer=) when the layer is built"
            )
        if tuple(x.shape) != self._shape:
            raise StateError(
                f"L2SP's reference has shape {self._shape} but the rows have {tuple(x.shape)}: "
                "the layout changed without bind(layer); regularize only the layer it is bound to"
            )
        if self.strength == 0:
            return ops.zeros((), dtype=x.dtype)
        diff = x - ops.cast(self._reference, x.dtype)
        return 0.5 * self.strength * ops.sum(ops.square(diff))

    def get_config(self) -> dict[str, Any]:
        """``{"strength": ...}``; the reference rows come back from ``bind``."""
        return {"strength": self.strength}
