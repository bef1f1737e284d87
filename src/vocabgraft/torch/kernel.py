"""The lookup kernel of PartialEmbedding: base rows, with the few non-base positions overwritten.

Used by :class:`vocabgraft.torch.PartialEmbedding`, and by the Keras layer on
the torch backend in eager calls (the same values, bit for bit, as its
``keras.ops`` kernel).

Why not ``torch.where`` over two full lookups, or a merged table? Both cost
O(batch x D) extra work in forward and backward, and ``F.embedding``'s
backward (``embedding_dense_backward``) sorts every id of the batch. In a
typical step only a handful of positions hold a trainable id (1,000 trainable
rows out of 400,000: about 20 of 8,192 positions), so the eager path reads the
base for every position, then overwrites just those few, and saves only them
for backward, which is one ``index_add_`` of their gradient rows into a
``(K, D)`` gradient.

Under ``torch.compile`` and ``torch.export`` the data-dependent ``nonzero``
would break the graph, so :func:`lookup_dense` does the same with
``torch.where`` and fixed shapes. Both give the same values, bit for bit.

``scale_grad_by_freq`` divides each trainable row's gradient by how often its
id occurs in the batch, as ``nn.Embedding(scale_grad_by_freq=True)`` does.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["lookup", "lookup_dense"]


class _PartialLookup(torch.autograd.Function):
    """``out[i] = rows[slot[i]]`` where the slot is >= 0, ``patch[-2 - slot[i]]`` where <= -2, else the base row."""

    @staticmethod
    def forward(
        ctx: Any,
        ids: Tensor,
        base: Tensor,
        rows: Tensor,
        patch: Tensor,
        slots: Tensor,
        hot: Tensor | None,
        scale: bool,
    ) -> Tensor:
        num_base = base.shape[0]
        out = F.embedding(ids.clamp(max=num_base - 1) if slots.shape[0] > num_base else ids, base)
        ctx.hit = False
        ctx.scale = scale
        ctx.rows_shape = rows.shape
        ctx.ids_shape = ids.shape
        if not (rows.shape[0] or patch.shape[0]):
            return out
        # One byte per id says "not a base row": a gather from a table a quarter
        # the size of ``slots``, and ``nonzero`` straight on it. Only the few hits
        # then look up their slot.
        flat = ids.reshape(-1)
        if hot is None:
            every = slots.index_select(0, flat)
            pos = (every != -1).nonzero().squeeze(1)
            sel = every.index_select(0, pos)
        else:
            pos = hot.index_select(0, flat).nonzero().squeeze(1)
            sel = slots.index_select(0, flat.index_select(0, pos))
        if not pos.numel():
            return out
        flat_out = out.view(-1, out.shape[-1])
        if patch.shape[0]:
            in_rows = sel >= 0
            in_patch = ~in_rows
            flat_out.index_copy_(0, pos[in_patch], patch.index_select(0, -2 - sel[in_patch]))
            pos, sel = pos[in_rows], sel[in_rows]
        if pos.numel():
            flat_out.index_copy_(0, pos, rows.index_select(0, sel))
            ctx.hit = True
            ctx.save_for_backward(pos, sel)
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        grad_rows = None
        if ctx.needs_input_grad[2]:
            grad_rows = grad.new_zeros(ctx.rows_shape)
            if ctx.hit:
                pos, sel = ctx.saved_tensors
                per_position = _rows_at(grad, pos, ctx.ids_shape)
                if ctx.scale:  # as embedding_dense_backward: divided by the id's count
                    counts = torch.bincount(sel, minlength=grad_rows.shape[0])
                    per_position = per_position / counts.index_select(0, sel).unsqueeze(-1)
                grad_rows.index_add_(0, sel, per_position)
        return None, None, grad_rows, None, None, None, None


def _rows_at(grad: Tensor, pos: Tensor, ids_shape: torch.Size) -> Tensor:
    """``grad.reshape(-1, D)[pos]`` without materializing ``grad``.

    The gradient of a pooled output often arrives expanded (stride 0 along the
    sequence, from ``sum``); reshaping it would copy the whole batch. Only the
    few rows at ``pos`` are needed, so index them where they are.
    """
    if grad.is_contiguous() or len(ids_shape) <= 1:
        return grad.reshape(-1, grad.shape[-1]).index_select(0, pos)
    return grad[torch.unravel_index(pos, ids_shape)]


def lookup(
    ids: Tensor,
    base: Tensor,
    rows: Tensor,
    patch: Tensor,
    slots: Tensor,
    hot: Tensor | None = None,
    *,
    scale_grad_by_freq: bool = False,
    dense: bool = False,
) -> Tensor:
    """Rows for ``ids`` of any shape (already checked), ``(*ids.shape, D)``; eager fast path.

    Args:
        ids: int32 or int64 ids, each in ``[0, len(slots))``.
        base: the ``(V0, D)`` base rows.
        rows: the ``(K, D)`` trainable rows (the only input that gets a gradient).
        patch: the ``(P, D)`` patched rows.
        slots: ``(V,)`` int32, where each id lives (see :mod:`vocabgraft.rows.layout`).
        hot: ``slots != -1`` as a bool table (the ids that are not base rows),
            which makes finding the few non-base positions cheaper; optional.
        scale_grad_by_freq: divide each row's gradient by its id's count in the batch.
        dense: use the fixed-shape kernel (:func:`lookup_dense`).

    Returns:
        The ``(*ids.shape, D)`` rows.
    """
    if dense:
        return _dense(ids, base, rows, patch, slots, scale_grad_by_freq)
    out: Tensor = _PartialLookup.apply(ids, base, rows, patch, slots, hot, scale_grad_by_freq)
    return out


def lookup_dense(*args: Any, **kwargs: Any) -> Tensor:
    """The same values as :func:`lookup` with fixed shapes (no ``nonzero``), for ``torch.compile`` and ``torch.export``.

    Takes the arguments of :func:`lookup` (``hot`` is not needed here).
    """
    return lookup(*args, dense=True, **kwargs)


def _dense(
    ids: Tensor, base: Tensor, rows: Tensor, patch: Tensor, slots: Tensor, scale: bool
) -> Tensor:
    flat = ids.reshape(-1)
    num_base = base.shape[0]
    base_ids = flat.clamp(max=num_base - 1) if slots.shape[0] > num_base else flat
    out = F.embedding(base_ids, base)
    if rows.shape[0] == 0 and patch.shape[0] == 0:
        return out
    s = slots.index_select(0, flat)
    if patch.shape[0]:
        picked = F.embedding((-2 - s).clamp(min=0), patch)
        out = torch.where((s <= -2).unsqueeze(-1), picked, out)
    if rows.shape[0]:
        slot = s.clamp(min=0)
        picked = F.embedding(slot, rows)
        trains = s >= 0
        if scale:
            picked = _scaled_gradient(picked, slot, trains, rows.shape[0])
        out = torch.where(trains.unsqueeze(-1), picked, out)
    return out.view(*ids.shape, base.shape[1])


def _scaled_gradient(picked: Tensor, slot: Tensor, trains: Tensor, num_slots: int) -> Tensor:
    """``picked`` with the same values, whose gradient is divided by each slot's count."""
    counts = torch.zeros(num_slots, dtype=torch.int64, device=slot.device)
    counts = counts.index_add(0, slot, trains.long())
    count = counts.index_select(0, slot).clamp(min=1).unsqueeze(-1).to(picked.dtype)
    frozen = picked.detach()
    return frozen + (picked - frozen) / count  # adds exactly zero; divides the gradient
