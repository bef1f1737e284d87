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

from vocabgraft.errors import VocabgraftError
from vocabgraft.torch.embedding import Ids, PartialEmbedding, _refuse_unsupported

__all__ = ["PartialEmbeddingBag"]

Mode = Literal["sum", "mean", "max"]


class PartialEmbeddingBag(PartialEmbedding):
    """``nn.EmbeddingBag`` (sum, mean or max; offsets; per-sample weights) with only chosen rows trained.

    For categorical multi-hot features. Takes the arguments of
    :class:`PartialEmbedding`, plus ``mode`` and ``include_last_offset`` as in
    ``nn.EmbeddingBag``. Entries equal to ``padding_idx`` are left out of
    their bag (and out of a mean's count), as there.

    >>> import torch
    >>> bag = PartialEmbeddingBag.from_pretrained(torch.randn(6, 3), trainable=[5], mode="sum")
    >>> bag(torch.tensor([1, 5, 2]), torch.tensor([0, 2])).shape
    torch.Size([2, 3])
    """

    def __init__(
        self,
        weights: Tensor | np.ndarray,
        trainable: Ids = (),
        *,
        mode: Mode = "mean",
        include_last_offset: bool = False,
        **kwargs: Any,
    ) -> None:
        if mode not in ("sum", "mean", "max"):
            raise ValueError(f"mode must be 'sum', 'mean' or 'max'. Received mode={mode!r}")
        super().__init__(weights, trainable, **kwargs)
        self.mode: Mode = mode
        self.include_last_offset = include_last_offset

    @classmethod
    def from_embedding(
        cls, embedding: nn.Module, trainable: Ids = (), **kwargs: Any
    ) -> PartialEmbeddingBag:
        """A bag with the rows, mode, ``padding_idx`` and ``include_last_offset`` of an ``nn.EmbeddingBag``."""
        if not isinstance(embedding, nn.EmbeddingBag):
            raise TypeError(
                f"PartialEmbeddingBag.from_embedding takes an nn.EmbeddingBag. "
                f"Received {type(embedding).__name__}"
            )
        _refuse_unsupported(embedding)
        kwargs.setdefault("padding_idx", embedding.padding_idx)
        kwargs.setdefault("mode", embedding.mode)
        kwargs.setdefault("include_last_offset", embedding.include_last_offset)
        return cls(embedding.weight.detach(), trainable, **kwargs)

    def forward(
        self,
        input: Tensor,
        offsets: Tensor | None = None,
        per_sample_weights: Tensor | None = None,
    ) -> Tensor:
        if input.dim() not in (1, 2):
            raise VocabgraftError(
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

    def merge(self) -> nn.Module:
        """A plain, trainable ``nn.EmbeddingBag`` with the merged rows."""
        return nn.EmbeddingBag.from_pretrained(
            self.merged_weight(),
            freeze=False,
            mode=self.mode,
            include_last_offset=self.include_last_offset,
            padding_idx=self.padding_idx,
        )

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, mode={self.mode!r}"
