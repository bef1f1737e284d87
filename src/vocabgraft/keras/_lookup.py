"""The lookup of the Keras PartialEmbedding, in ``keras.ops``: base rows, a few replaced.

Every position reads its base row (one gather, no gradient: the base is not
trainable). The slot map (one int per id) says which positions hold a
trainable or patched id; ``ops.where`` puts those rows in. The work is
O(batch x D); nothing is O(table), and the gradient of the trainable rows is a
gather's, into a ``(K, D)`` array. That is :func:`lookup_ops`, for every backend
and for traced calls. Eager torch calls (Keras runs torch eagerly by default)
use :mod:`vocabgraft.torch.kernel` instead: the same values, with only
the few trainable positions overwritten and sent gradient, which makes a
training step about twice as fast there (``benches/bench_keras_step.py``).

Out-of-range ids: the layer checks ids that have values (eager calls) with
:func:`bounds` and the shared check of :mod:`vocabgraft.rows`, which raises
:class:`~vocabgraft.errors.RowIndexError`; numpy ids are checked in their own
dtype before Keras converts them, so int64 ids past int32 given to the layer
never wrap on jax. Ids given to a Keras model (``model(x)``, ``predict``,
``fit``) are converted by Keras before any layer runs: on jax without
``jax_enable_x64`` int64 becomes int32 there, and ids past int32 wrap before the
layer can see them; check such ids first, or enable x64. Inside a traced function (``jax.jit``,
which ``fit``, ``predict`` and ``evaluate`` use on the jax backend) no check can
run; there the lookup sends every id outside ``[0, num_rows)`` past the end of
the base, where jax's gather gives a row of NaN, as ``keras.layers.Embedding``
gives for ids past its end on jax. A NaN loss names the problem; a clamped,
plausible row would hide it. On tensorflow, in a ``tf.function``, ``tf.gather``
raises InvalidArgumentError naming the index when the step runs. On torch
Keras runs eagerly (unless ``jit_compile=True``), so the check runs.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

from vocabgraft.keras._backend import to_numpy

__all__ = ["bounds", "lookup", "lookup_ops", "numpy_bounds"]


def bounds(ids: Any) -> tuple[int, int] | None:
    """The smallest and largest of ``ids`` (a tensor with values), or None when there are none."""
    values = to_numpy(ids)
    if not values.size:
        return None
    return int(values.min()), int(values.max())


def numpy_bounds(ids: Any) -> tuple[int, int] | None:
    """The smallest and largest of integer numpy ids (or a list), read in their own dtype.

    None for anything else (tensors, floats, empty), which the layer's call checks.
    """
    if not isinstance(ids, (np.ndarray, list)):
        return None
    arr = np.asarray(ids)
    if arr.dtype.kind not in "iu" or not arr.size:
        return None
    return int(arr.min()), int(arr.max())


def lookup(
    ids: Any, base: Any, rows: Any, patch: Any, slots: Any, *, eager: bool, checked: bool
) -> Any:
    """``(*ids.shape, D)`` rows for ``ids`` (``eager``: they have values; ``checked``: in range).

    The torch backend runs Keras eagerly unless ``jit_compile=True``; there the
    kernel of :mod:`vocabgraft.torch` (the same values, bit for bit) overwrites
    only the positions of trainable ids and sends back only their gradient,
    instead of selecting over every position forward and backward. Unchecked
    ids past the end raise torch's IndexError there.
    """
    if eager and keras.backend.backend() == "torch":
        from vocabgraft.torch.kernel import lookup as torch_lookup

        return torch_lookup(ids, _value(base), _value(rows), _value(patch), _value(slots))
    return lookup_ops(ids, base, rows, patch, slots, checked=checked)


def _value(variable: Any) -> Any:
    return variable.value if isinstance(variable, keras.Variable) else variable


def lookup_ops(ids: Any, base: Any, rows: Any, patch: Any, slots: Any, *, checked: bool) -> Any:
    """``(*ids.shape, D)`` rows; ``checked`` says the ids are known to be in range.

    ``slots[i]`` is ``k >= 0`` for id ``i`` in trainable slot ``k``, -1 for a
    base row, ``-2 - p`` for patch row ``p`` (see :mod:`vocabgraft.rows`).
    Unchecked ids on jax take the NaN path described in the module docstring;
    on other backends they go to ``ops.take`` as they are.
    """
    num_base, num_rows = base.shape[0], slots.shape[0]
    valid = None
    if not checked and keras.backend.backend() == "jax":
        valid = ops.logical_and(ops.greater_equal(ids, 0), ops.less(ids, num_rows))
        in_base = ops.logical_and(valid, ops.less(ids, num_base))
        base_ids = ops.where(in_base, ids, num_base)  # past the end: a NaN row
        slot_ids = ops.where(valid, ids, 0)
    else:
        # Appended ids (>= num_base) have no base row; any row will do, it is replaced.
        base_ids = ops.minimum(ids, num_base - 1) if num_rows > num_base else ids
        slot_ids = ids
    out = ops.take(base, base_ids, axis=0)
    if rows.shape[0] == 0 and patch.shape[0] == 0:
        return out
    s = ops.take(slots, slot_ids, axis=0)
    if valid is not None:
        s = ops.where(valid, s, -1)  # a bad id keeps its NaN base row
    if patch.shape[0]:
        picked = ops.take(patch, ops.maximum(-2 - s, 0), axis=0)
        out = ops.where(ops.expand_dims(ops.less_equal(s, -2), -1), picked, out)
    if rows.shape[0]:
        picked = ops.take(rows, ops.maximum(s, 0), axis=0)
        out = ops.where(ops.expand_dims(ops.greater_equal(s, 0), -1), picked, out)
    return out
