"""The small classifier every variant trains, and how its cost is measured.

Mean and max pooling of the word vectors, concatenated (``2 * D`` features),
then a hidden layer of 64 with ReLU and dropout 0.2, then two logits
(great / other). It trains in well under a second an epoch on two CPU cores,
and it reads the embedding only through pooling, so the embedding's treatment
is what differs between variants.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

__all__ = [
    "CLASSIFIER",
    "ReviewClassifier",
    "optimizer_state_bytes",
    "trainable_parameters",
]

CLASSIFIER = (
    "masked mean + max pooling of the word vectors (2 x 50 features), optionally plus a "
    "product vector, -> Linear(100, 64) -> ReLU -> Dropout(0.2) -> Linear(64, 2)"
)


class ReviewClassifier(nn.Module):
    """Pooled word vectors -> MLP -> 2 logits; an optional item embedding adds to the features.

    Args:
        embedding: any module mapping ``(B, L)`` ids to ``(B, L, D)`` vectors
            (``nn.Embedding`` or a ``PartialEmbedding``).
        dim: the embedding width ``D``.
        hidden: the hidden layer's width.
        pad_id: the id whose positions are left out of the pooling.

    >>> m = ReviewClassifier(nn.Embedding(10, 4, padding_idx=0), dim=4, hidden=8)
    >>> m(torch.tensor([[3, 4, 0], [5, 0, 0]])).shape
    torch.Size([2, 2])
    """

    def __init__(self, embedding: nn.Module, *, dim: int, hidden: int = 64, pad_id: int = 0):
        super().__init__()
        self.embedding = embedding
        self.pad_id = pad_id
        self.head = nn.Sequential(
            nn.Linear(2 * dim, hidden), nn.ReLU(), nn.Dropout(0.2), nn.Linear(hidden, 2)
        )
        self.items: nn.Module | None = None

    def features(self, ids: Tensor) -> Tensor:
        """``(B, 2D)``: the mean and the max of each review's word vectors (padding left out)."""
        vectors = self.embedding(ids)
        keep = (ids != self.pad_id).unsqueeze(-1)
        count = keep.sum(dim=1).clamp(min=1)
        mean = (vectors * keep).sum(dim=1) / count
        lowest = torch.finfo(vectors.dtype).min
        top = vectors.masked_fill(~keep, lowest).amax(dim=1)
        top = torch.where(keep.any(dim=1), top, torch.zeros_like(top))
        return torch.cat([mean, top], dim=1)

    def forward(self, ids: Tensor, items: Tensor | None = None) -> Tensor:
        """Two logits per review; ``items`` adds each review's item row to its features."""
        feats = self.features(ids)
        if self.items is not None and items is not None:
            feats = feats + self.items(items)
        return self.head(feats)


def trainable_parameters(module: nn.Module) -> int:
    """Elements of the parameters that receive gradients."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def optimizer_state_bytes(optimizer: torch.optim.Optimizer, params: Any = None) -> int:
    """Bytes held by the optimizer's state tensors (for ``params`` only, when given).

    Measured from the tensors themselves (Adam's ``exp_avg``, ``exp_avg_sq``
    and ``step``), not computed from the parameter count.
    """
    wanted = None if params is None else {id(p) for p in params}
    total = 0
    for param, state in optimizer.state.items():
        if wanted is not None and id(param) not in wanted:
            continue
        for value in state.values():
            if isinstance(value, Tensor):
                total += value.numel() * value.element_size()
            elif isinstance(value, np.ndarray):
                total += value.nbytes
    return total
