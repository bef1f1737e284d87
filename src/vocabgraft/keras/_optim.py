"""Handing a changed PartialEmbedding to a compiled Keras model.

``freeze``, ``unfreeze`` and ``extend`` give the layer a new ``rows`` variable
(Keras variables cannot change shape). A Keras optimizer is built for a fixed
list of variables, so after a change it would refuse the new one. The hand-over
builds a new optimizer of the same class and config over the model's current
variables and carries the old state across:

- every other variable keeps its slots (moments, momentum, accumulators) as they are;
- ``iterations`` and the other scalar state are kept, so Adam's bias correction
  and learning-rate schedules go on where they were;
- rows that stay trainable keep their per-row slots, moved to their new slot;
- rows that left lose theirs (so momentum cannot move a frozen row);
- new rows start from the optimizer's initial slot values (zeros for Adam's moments).

The model's compiled step functions are reset, so the next ``fit``,
``evaluate`` or ``predict`` traces again with the new shapes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import keras
import numpy as np

from vocabgraft.errors import ArgumentTypeError, StateError
from vocabgraft.keras._backend import to_numpy
from vocabgraft.keras._compat import built_for, flatten_layers, reset_step_functions, slot_prefix
from vocabgraft.keras._swap import ids_held_by
from vocabgraft.rows.partial import PartialRows

__all__ = ["hand_over", "partial_layers"]


def partial_layers(model: keras.Model) -> Iterator[Any]:
    """Every PartialEmbedding inside ``model``, nested ones included."""
    for layer in flatten_layers(model):
        if isinstance(layer, PartialRows):
            yield layer


def hand_over(model: keras.Model) -> None:
    """Rebuild ``model``'s optimizer over its current variables, keeping the state.

    Which rows moved where is read from the variables themselves: the
    optimizer's own list names the ``rows`` weight it was built for, and each
    PartialEmbedding knows which ids each of its ``rows`` weights held.
    """
    if not isinstance(model, keras.Model):
        raise ArgumentTypeError(f"model must be a keras.Model. Received {type(model).__name__}")
    old = getattr(model, "optimizer", None)
    if old is not None and old.built:
        changes = _changes(model, old)
        if changes:
            new = type(old).from_config(old.get_config())
            new.build(model.trainable_variables)
            _carry(old, new, changes)
            model.optimizer = new
    reset_step_functions(model)  # the next fit / evaluate / predict traces again


def _changes(
    model: keras.Model, optimizer: keras.optimizers.Optimizer
) -> dict[str, tuple[int, int, np.ndarray]]:
    """``{rows path: (old rows, dim, new_from_old)}``, one per ``rows`` weight replaced.

    Replaced since ``optimizer`` was built, that is.
    """
    by_path = {v.path: v for v in built_for(optimizer)}
    changes = {}
    for layer in partial_layers(model):
        if not layer.built:
            continue
        old = by_path.get(layer.rows.path)
        if old is None or old is layer.rows:
            continue
        old_ids = ids_held_by(layer, old)
        if old_ids is None:
            raise StateError(
                f"{layer.name}: the optimizer was built for a 'rows' weight this layer did not "
                "make. Compile the model again with a new optimizer instead"
            )
        changes[layer.rows.path] = (
            len(old_ids),
            layer.output_dim,
            _moves(old_ids, layer.row_map.trainable_ids),
        )
    return changes


def _moves(old_ids: np.ndarray, new_ids: np.ndarray) -> np.ndarray:
    """For each of ``new_ids`` (sorted), its slot in ``old_ids`` (sorted), or -1."""
    out = np.full(len(new_ids), -1, dtype=np.int64)
    if len(old_ids):
        pos = np.searchsorted(old_ids, new_ids).clip(max=len(old_ids) - 1)
        hit = old_ids[pos] == new_ids
        out[hit] = pos[hit]
    return out


def _carry(
    old: keras.optimizers.Optimizer,
    new: keras.optimizers.Optimizer,
    changes: dict[str, tuple[int, int, np.ndarray]],
) -> None:
    olds, news = old.variables, new.variables
    if [v.name for v in olds] != [v.name for v in news]:
        raise StateError(
            f"cannot carry the state of {type(old).__name__} over: rebuilt over the model's "
            f"current variables it has {len(news)} state variables, but it had {len(olds)} "
            "(the model's variables changed in more ways than PartialEmbedding rows). "
            "Compile the model again with a new optimizer instead; its state starts from zero"
        )
    prefixes = {slot_prefix(path): change for path, change in changes.items()}
    for o, n in zip(olds, news):
        change = next((c for p, c in prefixes.items() if o.name.startswith(p)), None)
        if change is not None and _per_row(o.shape, change[0], change[1]):
            new_from_old = change[2]
            value = to_numpy(n).copy()
            dst = np.flatnonzero(new_from_old >= 0)
            if len(dst):
                value[dst] = to_numpy(o)[new_from_old[dst]]
            n.assign(value)
        elif tuple(o.shape) == tuple(n.shape):
            # A copy: on jax the old array would be donated to the next step and
            # deleted, and the old optimizer (still in the model's compile config)
            # reads its learning rate when the model is saved.
            n.assign(to_numpy(o).copy())
        else:
            raise StateError(
                f"optimizer variable {o.name!r} changed shape from {tuple(o.shape)} to "
                f"{tuple(n.shape)}, and it is not the state of changed PartialEmbedding rows. "
                "Compile the model again with a new optimizer instead"
            )


def _per_row(shape: tuple[int | None, ...], rows: int, dim: int) -> bool:
    """Whether optimizer state of this shape holds one entry per trainable row."""
    shape = tuple(shape)
    return shape == (rows, dim) or (len(shape) == 1 and shape[0] == rows != dim)
