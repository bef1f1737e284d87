"""Changing a PartialEmbedding's layout: new trainable rows and patch from a planned change.

``rows`` stays the same Parameter object with a new shape, so an optimizer
keeps its reference; what moved where is queued for the optimizer hand-over
(:meth:`PartialEmbedding.rebind`).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor, nn

from vocabgraft.errors import StateError
from vocabgraft.rows import layout
from vocabgraft.rows.layout import Gather, LayoutChange, RowMap

if TYPE_CHECKING:
    from vocabgraft.torch.embedding import PartialEmbedding

__all__ = ["adopt", "apply_change", "install"]


def apply_change(module: PartialEmbedding, change: LayoutChange, new: np.ndarray | None) -> None:
    """Build the new arrays of ``change`` (``new``: the appended rows' values) and adopt it.

    Raises:
        StateError: when the trainable rows are sharded (a DTensor).
    """
    if _is_sharded(module.rows):
        raise StateError(
            "the trainable rows are sharded (FSDP fully_shard, a DTensor): freeze, unfreeze "
            "and extend change their shape, which a sharded parameter cannot follow. Change "
            "the layout before sharding, or gather the state, rebuild the module and shard again"
        )
    base = module.base
    values = None if new is None else torch.as_tensor(new).to(dtype=base.dtype, device=base.device)
    rows = _build(module, change.trainable, values)
    patch = _build(module, change.patch, values)
    if change.changes_trainable:
        module._pending.append((change.before.num_trainable, change.new_from_old()))
        _replace_rows(module.rows, rows)
    module.patch = patch
    adopt(module, change.after)


def install(module: PartialEmbedding, base: Tensor, row_map: RowMap, *, fresh: bool) -> None:
    """Register the first base, trainable rows, patch and layout buffers of ``module``.

    ``fresh``: a fresh table in which every row but the padding row trains.
    Only the padding row is then read from the base, so one zero row,
    expanded, stands for all (as ``nn.Embedding`` zeroes its padding row).
    """
    index = torch.from_numpy(row_map.trainable_ids.copy()).to(base.device)
    if fresh:
        rows = base if row_map.padding_idx is None else base[index]
        base = base.new_zeros((1, base.shape[1])).expand_as(base)
    else:
        rows = base[index].clone()
    module.register_buffer("base", base, persistent=module._save_base)
    module.rows = nn.Parameter(rows)
    empty = torch.zeros(0, dtype=torch.int64, device=base.device)
    module.register_buffer("patch", base.new_zeros((0, base.shape[1])))
    module.register_buffer("trainable_index", empty)
    module.register_buffer("patch_index", empty.clone())
    module.register_buffer("slots", empty.int(), persistent=False)
    module.register_buffer("hot", empty.bool(), persistent=False)
    adopt(module, row_map)


def adopt(module: PartialEmbedding, row_map: RowMap) -> None:
    """Make ``row_map`` the layout (buffers follow; values are already in place)."""
    device = module.base.device
    module._map = row_map
    module.trainable_index = torch.from_numpy(row_map.trainable_ids.copy()).to(device)
    module.patch_index = torch.from_numpy(row_map.patch_ids.copy()).to(device)
    module.slots = torch.from_numpy(row_map.slots.copy()).to(device)
    module.hot = torch.from_numpy(row_map.slots != layout.BASE).to(device)


def _replace_rows(param: nn.Parameter, rows: Tensor) -> None:
    """Give ``param`` new values and shape, keeping the Parameter object.

    ``swap_tensors`` also gives the parameter a fresh autograd identity:
    assigning ``.data`` would keep the gradient accumulator of the old shape
    alive in any graph built before the change (a ``loss`` still referenced),
    and the next backward would fail on the shape. Where the swap is refused
    (a weak reference to the parameter, e.g. held by ``torch.compile``),
    ``.data`` is assigned instead; then drop graphs built before the change
    before the next backward.
    """
    fresh = nn.Parameter(rows, requires_grad=param.requires_grad)
    try:
        torch.utils.swap_tensors(param, fresh)
    except RuntimeError:
        param.data = rows
    param.grad = None


def _build(module: PartialEmbedding, gather: Gather, new: Tensor | None) -> Tensor:
    """The rows ``gather`` names, from the module's arrays and ``new``, as a new tensor."""
    base = module.base
    out = base.new_empty((len(gather), base.shape[1]))
    places = {
        layout.TRAINABLE: module.rows.detach(),
        layout.PATCH: module.patch,
        layout.BASE_SOURCE: base,
        layout.NEW: new,
    }
    with torch.no_grad():
        for source, values in places.items():
            dst, src = gather.pairs(source)
            if len(dst):
                assert values is not None
                device = values.device
                out[torch.from_numpy(dst).to(device)] = values[torch.from_numpy(src).to(device)]
    return out


def _is_sharded(param: Tensor) -> bool:
    # A DTensor exists only once its module is imported; importing it here would cost a second.
    module = sys.modules.get("torch.distributed.tensor")
    dtensor = getattr(module, "DTensor", None)
    return dtensor is not None and isinstance(param, dtensor)
