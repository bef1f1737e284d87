"""The Keras layer's weights as numpy, and their swap when the layout changes.

A Keras variable cannot change shape, so a change of layout gives the layer a
new ``rows`` (and ``patch``, ``slots``) weight. The layer remembers which ids
each ``rows`` weight it made holds, because a compiled model's optimizer may
still be built for an earlier one (see :mod:`vocabgraft.keras._optim`).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from keras import ops

from vocabgraft.keras._backend import to_numpy
from vocabgraft.keras._compat import replace_weight
from vocabgraft.keras._values import Start, constant
from vocabgraft.rows.layout import BASE_SOURCE, NEW, PATCH, TRAINABLE, Gather

if TYPE_CHECKING:
    from vocabgraft.keras.embedding import PartialEmbedding

__all__ = [
    "assign_table",
    "base_all",
    "build_weights",
    "first_values",
    "gather",
    "hold",
    "ids_held_by",
    "merged",
    "replace",
    "start",
    "values",
]


def build_weights(layer: PartialEmbedding) -> None:
    """Create the layer's weights from its first values (or its initializer's base)."""
    m = layer.row_map
    given = layer._start.base
    first = layer.embeddings_initializer if given is None else constant(given)
    layer.base = weight(layer, "base", (m.num_base, layer.output_dim), first)
    held = layer._start if given is not None else start(layer, None)  # from the built base
    assert held.rows is not None and held.patch is not None
    layer.rows = weight(layer, "rows", held.rows.shape, constant(held.rows), trains=True)
    hold(layer, layer.rows, m.trainable_ids)
    layer.patch = weight(layer, "patch", held.patch.shape, constant(held.patch))
    layer.slots = weight(layer, "slots", m.slots.shape, constant(m.slots), dtype="int32")
    layer._start = Start(None, None, None)


def weight(
    layer: PartialEmbedding,
    name: str,
    shape: Any,
    initializer: Any,
    *,
    trains: bool = False,
    dtype: Any = None,
) -> Any:
    """A new weight of ``layer``; the trainable rows carry the regularizer and the constraint."""
    return layer.add_weight(
        name=name,
        shape=shape,
        dtype=dtype,
        initializer=initializer,
        trainable=trains,
        regularizer=layer.embeddings_regularizer if trains else None,
        constraint=layer.embeddings_constraint if trains else None,
    )


def merged(layer: PartialEmbedding) -> np.ndarray:
    """The full ``(input_dim, output_dim)`` table as a new numpy array (copies the base once)."""
    m = layer.row_map
    out = np.empty((m.num_rows, layer.output_dim), dtype=layer.variable_dtype)
    out[: m.num_base] = base_all(layer)
    out[m.trainable_ids] = values(layer, "rows")
    out[m.patch_ids] = values(layer, "patch")
    return out


def assign_table(layer: PartialEmbedding, table: np.ndarray) -> None:
    """Give every row of a built layer its value in the ``(V, D)`` ``table``; the layout stays."""
    m = layer.row_map
    layer.base.assign(table[: m.num_base])
    layer.rows.assign(table[m.trainable_ids])
    layer.patch.assign(table[m.patch_ids])


def hold(layer: PartialEmbedding, rows: Any, ids: np.ndarray) -> None:
    """Remember that the ``rows`` weight holds ``ids`` (forgetting weights no longer alive)."""
    layer._held = {k: v for k, v in layer._held.items() if v[0]() is not None}
    layer._held[id(rows)] = (weakref.ref(rows), ids)


def ids_held_by(layer: PartialEmbedding, rows: Any) -> np.ndarray | None:
    """The ids a ``rows`` weight ``layer`` made holds, or None for another variable."""
    entry = layer._held.get(id(rows))
    return entry[1] if entry is not None and entry[0]() is rows else None


def start(layer: PartialEmbedding, base: np.ndarray | None) -> Start:
    """The first values of the weights: from ``base`` when given, else from the built base.

    Without ``base`` and before ``build()`` the rows wait (``None``) for the
    initialised base.
    """
    held = layer._start = Start(base, None, None)
    if base is not None or getattr(layer, "base", None) is not None:
        m = layer.row_map
        held.rows = first_values(layer, m.trainable_ids)
        held.patch = first_values(layer, m.patch_ids)
    return held


def first_values(layer: PartialEmbedding, ids: np.ndarray) -> np.ndarray:
    """First values of rows ``ids``: their base rows (zeros for appended rows)."""
    out = np.zeros((len(ids), layer.output_dim), dtype=layer.variable_dtype)
    in_base = ids < layer.row_map.num_base
    if in_base.any():
        out[in_base] = base_rows(layer, ids[in_base])
    return out


def gather(layer: PartialEmbedding, rows: Gather, new: np.ndarray | None) -> np.ndarray:
    """The rows ``rows`` names, from the layer's weights and ``new``, as a new numpy array."""
    out = np.empty((len(rows), layer.output_dim), dtype=layer.variable_dtype)
    sources: dict[int, Callable[[np.ndarray], np.ndarray]] = {
        TRAINABLE: lambda i: values(layer, "rows")[i],
        PATCH: lambda i: values(layer, "patch")[i],
        BASE_SOURCE: lambda i: base_rows(layer, i),
        NEW: lambda i: np.asarray(new)[i],
    }
    for source, read in sources.items():
        dst, src = rows.pairs(source)
        if len(dst):
            out[dst] = read(src)
    return out


def values(layer: PartialEmbedding, name: str) -> np.ndarray:
    """The current values of ``rows`` or ``patch`` as numpy (small: K or P rows)."""
    if layer.built:
        return to_numpy(getattr(layer, name))
    value = getattr(layer._start, name)
    assert value is not None
    return value


def base_all(layer: PartialEmbedding) -> np.ndarray:
    """The base rows as numpy: the array given, or the variable's values (no copy on CPU)."""
    if layer._start.base is not None:
        return layer._start.base
    layer.build()  # the base comes from the initializer
    return to_numpy(layer.base)


def base_rows(layer: PartialEmbedding, ids: np.ndarray) -> np.ndarray:
    """Rows ``ids`` of the base, as numpy."""
    if layer._start.base is not None:
        return np.asarray(layer._start.base[ids])
    return to_numpy(ops.take(layer.base.value, ids, axis=0))


def replace(
    layer: PartialEmbedding, name: str, value: np.ndarray, *, ids: np.ndarray | None = None
) -> None:
    """Give weight ``name`` new values: in place when the shape is the same, else a new variable."""
    old = getattr(layer, name)
    held = ids_held_by(layer, old)
    same_ids = ids is None or (held is not None and np.array_equal(ids, held))
    if tuple(old.shape) == value.shape and same_ids:
        old.assign(value)
        return
    new = replace_weight(
        layer,
        old,
        lambda: weight(
            layer, name, value.shape, constant(value), trains=name == "rows", dtype=old.dtype
        ),
    )
    setattr(layer, name, new)
    if ids is not None:
        hold(layer, new, ids)
