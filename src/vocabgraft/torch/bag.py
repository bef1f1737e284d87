"""PartialEmbeddingBag: nn.EmbeddingBag over a partially trainable table.

The rows of every id are looked up as in :class:`PartialEmbedding` (frozen
base, compact trainable rows), then reduced by ``F.embedding_bag`` over those
looked-up rows, in the same order. That is the same summation as
``nn.EmbeddingBag`` on the merged table, so the results match bit for bit.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vocabgraft.errors import ArgumentError, ArgumentTypeError, RowIndexError
from vocabgraft.torch._weights import options_of
from vocabgraft.torch.embedding import Ids, PartialEmbedding

__all__ = ["PartialEmbeddingBag"]

Mode = Literal["sum", "mean", "max"]


class PartialEmbeddingBag(PartialEmbedding):
    """``nn.EmbeddingBag`` (sum, mean or max; offsets; per-sample weights) with only chosen rows trained.

    For categorical multi-hot features. Takes the arguments of
    :class:`PartialEmbedding` (a fresh ``(num_embeddings, embedding_dim)``
    table, or a given one), plus ``mode`` and ``include_last_offset`` as in
    ``nn.EmbeddingBag``. Entries equal to ``padding_idx`` are left out of
    their bag (and out of a mean's count), as there.

    >>> import torch
    >>> bag = PartialEmbeddingBag.from_pretrained(torch.randn(6, 3), trainable=[5], mode="sum")
    >>> bag(torch.tensor([1, 5, 2]), torch.tensor([0, 2])).shape
    torch.Size([2, 3])
    """

    def __init__(
        self,
        num_embeddings: int | Tensor | np.ndarray,
        embedding_dim: int | None = None,
        *,
        mode: Mode = "mean",
        include_last_offset: bool = False,
        **kwargs: Any,
    ) -> None:
        """Check ``mode`` and build the table as :class:`PartialEmbedding` does."""
        if mode not in ("sum", "mean", "max"):
            raise ArgumentError(f"mode must be 'sum', 'mean' or 'max'. Received mode={mode!r}")
        if mode == "max" and kwargs.get("scale_grad_by_freq"):
            raise ArgumentError(
                "mode='max' does not support scale_grad_by_freq=True (as in nn.EmbeddingBag)"
            )
        super().__init__(num_embeddings, embedding_dim, **kwargs)
        self.mode: Mode = mode
        self.include_last_offset = include_last_offset

    @classmethod
    def from_embedding(
        cls, embedding: nn.Module, trainable: Ids | None = None, **kwargs: Any
    ) -> PartialEmbeddingBag:
        """A bag with the rows, mode, ``padding_idx`` and options of an ``nn.EmbeddingBag``."""
        if not isinstance(embedding, nn.EmbeddingBag):
            raise ArgumentTypeError(
                f"PartialEmbeddingBag.from_embedding takes an nn.EmbeddingBag. "
                f"Received {type(embedding).__name__}"
            )
        options = {
            **options_of(embedding),
            "mode": embedding.mode,
            "include_last_offset": embedding.include_last_offset,
        }
        return cls.from_pretrained(embedding.weight.detach(), trainable, **{**options, **kwargs})

    def forward(
        self,
        input: Tensor,
        offsets: Tensor | None = None,
        per_sample_weights: Tensor | None = None,
    ) -> Tensor:
        """One reduced row per bag, as ``nn.EmbeddingBag`` gives on the merged table."""
        if input.dim() not in (1, 2):
            raise RowIndexError(
                f"input must be 1-D (with offsets) or 2-D (one bag per row). "
                f"Received shape {tuple(input.shape)}"
            )
        flat = self._checked(input).reshape(-1)
        vectors = self._lookup(flat)
        n = flat.shape[0]
        positions = torch.arange(n, device=flat.device).view(input.shape)
        padding_idx = None
        if self.padding_idx is not None:
            # A zero row after the looked-up ones stands for the padding entries.
            vectors = torch.cat([vectors, vectors.new_zeros((1, vectors.shape[1]))])
            positions = torch.where(input == self.padding_idx, n, positions)
            padding_idx = n
        return F.embedding_bag(
            positions,
            vectors,
            offsets,
            mode=self.mode,
            per_sample_weights=per_sample_weights,
            include_last_offset=self.include_last_offset,
            padding_idx=padding_idx,
        )

    # A bag is a PartialEmbedding in every other respect (lookups, layout changes,
    # saving); its plain counterpart is an nn.EmbeddingBag, not an nn.Embedding.
    def merge(self) -> nn.EmbeddingBag:  # type: ignore[override]
        """A plain, trainable ``nn.EmbeddingBag`` with the merged rows."""
        return nn.EmbeddingBag.from_pretrained(
            self.merged_weight(),
            freeze=False,
            mode=self.mode,
            include_last_offset=self.include_last_offset,
            padding_idx=self.padding_idx,
            scale_grad_by_freq=self.scale_grad_by_freq,
        )

    def extra_repr(self) -> str:
        """The sizes, the layout, the padding row and the mode."""
        return f"{super().extra_repr()}, mode={self.mode!r}"
