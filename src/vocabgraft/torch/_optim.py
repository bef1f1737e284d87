"""Handing a changed trainable parameter to an optimizer.

When rows move in or out of training, the module's ``rows`` parameter keeps
its identity but changes shape. Optimizer state is per row (``exp_avg``,
``exp_avg_sq``, ``momentum_buffer``, Adagrad's ``sum`` ...): rows that stay
trainable keep theirs, moved to their new slot; rows that left lose it, so
nothing can move them again; new rows start from zero state. Scalar state
(``step``) is kept as it is.

A forgotten rebind fails loudly: the optimizer's state no longer matches the
parameter's shape, and stepping raises.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from vocabgraft.errors import StateError

__all__ = ["compose", "hand_over", "remap_state"]


def compose(first: np.ndarray, then: np.ndarray) -> np.ndarray:
    """The map of two changes in a row: ``new_from_old`` of ``first`` followed by ``then``.

    Each map gives, for every row of the new array, its row in the old one, or -1.
    """
    out = np.full(len(then), -1, dtype=np.int64)
    known = then >= 0
    out[known] = first[then[known]]
    return out


def remap_state(
    optimizer: torch.optim.Optimizer, param: Tensor, old_rows: int, new_from_old: np.ndarray
) -> None:
    """Move ``param``'s per-row state in ``optimizer`` from ``old_rows`` rows to the new layout."""
    if not any(any(p is param for p in g["params"]) for g in optimizer.param_groups):
        raise StateError(
            f"{type(optimizer).__name__} does not hold this module's trainable rows. Build the "
            "optimizer from model.parameters() (or include module.rows) before rebinding"
        )
    state = optimizer.state.get(param)
    if not state:
        return
    dst = torch.from_numpy(np.flatnonzero(new_from_old >= 0))
    src = torch.from_numpy(new_from_old[new_from_old >= 0])
    for key, value in list(state.items()):
        if not isinstance(value, Tensor) or value.dim() != param.dim():
            continue
        if value.shape[0] != old_rows or value.shape[1:] != param.shape[1:]:
            raise StateError(
                f"optimizer state {key!r} has shape {tuple(value.shape)}, but the rows had "
                f"{old_rows} x {param.shape[1]} before this change. Rebind after each change, "
                "or pass optimizer= to freeze/unfreeze/extend"
            )
        new = value.new_zeros((param.shape[0], *value.shape[1:]))
        if len(dst):
            new[dst.to(value.device)] = value[src.to(value.device)]
        state[key] = new


def hand_over(
    optimizer: torch.optim.Optimizer, param: Tensor, pending: list[tuple[int, np.ndarray]]
) -> None:
    """Apply the queued changes ``pending`` (``(old rows, new_from_old)`` each) to ``optimizer``.

    The changes are composed into one map first; ``pending`` is emptied.
    """
    if not pending:
        remap_state(optimizer, param, param.shape[0], np.arange(param.shape[0]))
        return
    old_rows, total = pending[0]
    for _, step in pending[1:]:
        total = compose(total, step)
    remap_state(optimizer, param, old_rows, total)
    pending.clear()
