"""The lookup kernel of PartialEmbedding: base rows, with the few non-base positions overwritten.

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
        flat: Tensor,
        base: Tensor,
        rows: Tensor,
        patch: Tensor,
        slots: Tensor,
        num_base: int,
    ) -> Tensor:
        num_rows = slots.shape[0]
        base_ids = flat.clamp(max=num_base - 1) if num_rows > num_base else flat
        out = F.embedding(base_ids, base)
        pos = sel = None
        if rows.shape[0] or patch.shape[0]:
            s = slots.index_select(0, flat)
            if rows.shape[0]:
                pos = torch.nonzero(s >= 0).squeeze(1)
                if pos.numel():
                    sel = s.index_select(0, pos)
                    out.index_copy_(0, pos, rows.index_select(0, sel))
                else:
                    pos = None
            if patch.shape[0]:
                ppos = torch.nonzero(s <= -2).squeeze(1)
                if ppos.numel():
                    psel = -2 - s.index_select(0, ppos)
                    out.index_copy_(0, ppos, patch.index_select(0, psel))
        if pos is not None and sel is not None:
            ctx.save_for_backward(pos, sel)
        ctx.hit = pos is not None
        ctx.rows_shape = rows.shape
        ctx.mark_non_differentiable()
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        grad_rows = None
        if ctx.needs_input_grad[2]:
            grad_rows = grad.new_zeros(ctx.rows_shape)
            if ctx.hit:
                pos, sel = ctx.saved_tensors
                grad_rows.index_add_(0, sel, grad.index_select(0, pos))
        return None, None, grad_rows, None, None, None


def lookup(flat: Tensor, base: Tensor, rows: Tensor, patch: Tensor, slots: Tensor) -> Tensor:
    """Rows for the 1-D ids ``flat`` (already checked), ``(len(flat), D)``; eager fast path."""
    out: Tensor = _PartialLookup.apply(flat, base, rows, patch, slots, base.shape[0])
    return out


def lookup_dense(flat: Tensor, base: Tensor, rows: Tensor, patch: Tensor, slots: Tensor) -> Tensor:
    """The same values with fixed shapes (no ``nonzero``), for ``torch.compile`` and ``torch.export``."""
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
        picked = F.embedding(s.clamp(min=0), rows)
        out = torch.where((s >= 0).unsqueeze(-1), picked, out)
    return out
