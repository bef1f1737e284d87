"""PartialLMHead: logits from a PartialEmbedding's rows without a merged ``V x D`` copy.

Why a custom autograd function? One product with a merged table that carries
the gradient makes autograd compute the whole ``(V, D)`` weight gradient, a
product as large as the forward one, only to keep K rows of it, and it builds
a merged ``V x D`` copy on every forward. Here the logits are ``h @ base.T``
(the frozen base, used in place) with the columns of the trainable and patched
rows written over or appended, and the backward pass computes the hidden
states' gradient plus the gradient of the K trainable rows only: ``B·K·D``
work for the weights, not ``B·V·D``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from vocabgraft.errors import ArgumentError, StateError
from vocabgraft.torch import PartialEmbedding

__all__ = ["PartialLMHead"]


class _Logits(torch.autograd.Function):
    """``hidden @ table.T`` for a table that is a frozen base with some rows replaced or added.

    ``cols`` are the ids whose column comes from ``values`` (trainable rows
    first, then patched rows); ids below ``num_base`` overwrite a base column.
    ``bias`` (frozen, one per base row) and ``new_bias`` (one per row past the
    base) are added in place; either may be empty.
    """

    @staticmethod
    def forward(
        ctx: Any,
        hidden: Tensor,
        rows: Tensor,
        base: Tensor,
        patch: Tensor,
        cols: Tensor,
        bias: Tensor,
        new_bias: Tensor,
    ) -> Tensor:
        num_base = base.shape[0]
        values = torch.cat([rows.detach(), patch]) if len(patch) else rows.detach()
        flat = hidden.reshape(-1, hidden.shape[-1])
        num_rows = max(num_base, int(cols.max()) + 1 if len(cols) else 0)
        out = flat.new_empty((flat.shape[0], num_rows))
        torch.mm(flat, base.t(), out=out[:, :num_base])
        if len(cols):
            out[:, cols] = flat @ values.t()
        if len(bias):
            out[:, :num_base] += bias
        if len(new_bias):
            out[:, num_base:] += new_bias
        ctx.save_for_backward(flat, rows, base, values, cols)
        ctx.hidden_shape = hidden.shape
        return out.reshape(*hidden.shape[:-1], num_rows)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        flat, rows, base, values, cols = ctx.saved_tensors
        num_base = base.shape[0]
        g = grad.reshape(-1, grad.shape[-1])
        g_cols = g[:, cols]
        grad_hidden = grad_rows = None
        if ctx.needs_input_grad[0]:
            grad_hidden = g[:, :num_base] @ base
            if len(cols):
                # Columns of replaced base rows came from ``values``, not the base.
                inside = cols < num_base
                swap = values - torch.where(inside[:, None], base[cols.clamp(max=num_base - 1)], 0)
                grad_hidden += g_cols @ swap
            grad_hidden = grad_hidden.reshape(ctx.hidden_shape)
        if ctx.needs_input_grad[1]:
            grad_rows = g_cols[:, : len(rows)].t() @ flat
        grad_new_bias = g[:, num_base:].sum(0) if ctx.needs_input_grad[6] else None
        return grad_hidden, grad_rows, None, None, None, None, grad_new_bias


class PartialLMHead(nn.Module):
    """An output layer (logits) whose rows are a PartialEmbedding's rows, plus an optional bias.

    With ``tied=True`` the PartialEmbedding is the model's input embedding, so
    new tokens get logits from the rows that train, as a tied ``nn.Linear``
    would. The logits are ``hidden @ base.T`` with the trainable and patched
    rows' columns computed from those rows: no merged ``V x D`` copy is made,
    and only the K trainable rows get a weight gradient.

    Args:
        embedding: the rows.
        tied: whether ``embedding`` is the model's input embedding.
        bias: the frozen bias of the original head (one value per base row),
            or None.
        new_bias: the bias of the rows past the base (trainable when given as
            an ``nn.Parameter``), or None for zeros. With ``bias`` None it is a
            logit offset of the new tokens only.

    >>> import torch
    >>> from vocabgraft.torch import PartialEmbedding
    >>> emb = PartialEmbedding.from_pretrained(torch.randn(10, 4), add=2)
    >>> PartialLMHead(emb, tied=True)(torch.randn(3, 4)).shape
    torch.Size([3, 12])
    """

    bias_base: Tensor | None
    new_bias: Tensor | None

    def __init__(
        self,
        embedding: PartialEmbedding,
        *,
        tied: bool,
        bias: Tensor | None = None,
        new_bias: Tensor | None = None,
    ) -> None:
        """Wrap ``embedding``; see the class docstring for the arguments."""
        super().__init__()
        self.embedding = embedding
        self.tied = tied
        if bias is not None and bias.shape != (embedding.num_base,):
            raise ArgumentError(
                f"bias must have one value per base row ({embedding.num_base}). "
                f"Received shape {tuple(bias.shape)}"
            )
        self.register_buffer("bias_base", None if bias is None else bias.detach())
        self.set_new_bias(new_bias)

    def set_new_bias(self, values: Tensor | None) -> None:
        """Set the bias (logit offset) of the rows past the base; an ``nn.Parameter`` trains."""
        n = self.embedding.num_embeddings - self.embedding.num_base
        if values is not None and values.shape != (n,):
            raise ArgumentError(
                f"new_bias must have one value per row past the base ({n}). "
                f"Received shape {tuple(values.shape)}"
            )
        self._parameters.pop("new_bias", None)
        self._buffers.pop("new_bias", None)
        if isinstance(values, nn.Parameter):
            self.register_parameter("new_bias", values)
        else:
            self.register_buffer("new_bias", None if values is None else values.detach())

    @property
    def out_features(self) -> int:
        """The number of logits: the rows of the embedding."""
        return self.embedding.num_embeddings

    @property
    def in_features(self) -> int:
        """The hidden size."""
        return self.embedding.embedding_dim

    @property
    def weight(self) -> Tensor:
        """The merged ``(V, D)`` table, read-only (a new tensor without gradient)."""
        return self.embedding.merged_weight()

    def full_bias(self) -> Tensor | None:
        """The ``(V,)`` bias (old bias, then the new rows' bias), or None when there is none."""
        emb = self.embedding
        n_new = emb.num_embeddings - emb.num_base
        if self.bias_base is None and self.new_bias is None:
            return None
        old = self.bias_base if self.bias_base is not None else emb.base.new_zeros(emb.num_base)
        new = self.new_bias if self.new_bias is not None else old.new_zeros(n_new)
        if len(new) != n_new:
            raise ArgumentError(
                f"the head's new_bias has {len(new)} values but the embedding has {n_new} rows "
                "past the base; call set_new_bias after extending the embedding"
            )
        return torch.cat([old, new])

    def forward(self, hidden: Tensor) -> Tensor:
        """Logits ``(*hidden.shape[:-1], V)``."""
        emb = self.embedding
        cols = torch.cat([emb.trainable_index, emb.patch_index])
        rows = emb.rows.to(hidden.dtype)
        extra = emb.num_embeddings - emb.num_base
        if self.new_bias is not None and len(self.new_bias) != extra:
            raise StateError(
                f"the head's new_bias has {len(self.new_bias)} values but the embedding has "
                f"{extra} rows past the base; call set_new_bias after extending the embedding"
            )
        none = hidden.new_zeros(0)
        bias = none if self.bias_base is None else self.bias_base.to(hidden.dtype)
        new_bias = none if self.new_bias is None else self.new_bias.to(hidden.dtype)
        base, patch = emb.base.to(hidden.dtype), emb.patch.to(hidden.dtype)
        return _Logits.apply(hidden, rows, base, patch, cols, bias, new_bias)

    def extra_repr(self) -> str:
        """The sizes and whether the rows are tied."""
        bias = self.bias_base is not None or self.new_bias is not None
        return f"{self.in_features} -> {self.out_features}, tied={self.tied}, bias={bias}"
