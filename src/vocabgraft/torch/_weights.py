"""The first tensors of a PartialEmbedding: a given table without a copy, or a fresh one as nn.Embedding makes it."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from vocabgraft.errors import ArgumentError, ArgumentTypeError
from vocabgraft.rows.layout import normalize_padding

__all__ = ["as_tensor", "fresh_table", "refuse_options"]


def as_tensor(weights: Tensor | np.ndarray) -> Tensor:
    """``weights`` as a tensor without copying, also when it is a read-only array (a memory map).

    ``torch.from_numpy`` warns on read-only arrays because torch cannot mark a
    tensor read-only. PartialEmbedding never writes its base (every operation
    on it is out of place), so the warning is silenced here, for this call only.

    Raises:
        ArgumentTypeError: when ``weights`` is neither a tensor nor a numpy array.
    """
    if isinstance(weights, Tensor):
        return weights.detach()
    if not isinstance(weights, np.ndarray):
        raise ArgumentTypeError(
            f"weights must be a torch.Tensor or numpy array. Received {type(weights).__name__}"
        )
    if weights.flags.writeable:
        return torch.from_numpy(weights)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(weights)


def fresh_table(
    num_embeddings: Any, embedding_dim: Any, padding_idx: int | None, **factory: Any
) -> Tensor:
    """A new ``(num_embeddings, embedding_dim)`` table drawn as ``nn.Embedding`` draws it.

    ``N(0, 1)`` from torch's global generator, then the padding row zeroed,
    so ``torch.manual_seed(s)`` gives the same values as ``nn.Embedding``.

    Raises:
        ArgumentError: when a size is not a positive integer.
    """
    for name, value in (("num_embeddings", num_embeddings), ("embedding_dim", embedding_dim)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
            raise ArgumentError(
                f"{name} must be a positive integer. Received {name}={value!r} "
                f"(of type {type(value).__name__})"
            )
    padding_idx = normalize_padding(padding_idx, int(num_embeddings))
    weight = torch.empty((int(num_embeddings), int(embedding_dim)), **factory)
    with torch.no_grad():
        nn.init.normal_(weight)
        if padding_idx is not None:
            weight[padding_idx].fill_(0)
    return weight


def refuse_options(*, max_norm: float | None, sparse: bool) -> None:
    """Refuse the ``nn.Embedding`` options a PartialEmbedding cannot honour, saying why.

    Raises:
        ArgumentError: for ``max_norm`` or ``sparse=True``.
    """
    if max_norm is not None:
        raise ArgumentError(
            f"max_norm={max_norm!r}, which PartialEmbedding does not support: nn.Embedding "
            "renormalises the looked-up rows of its weight in place at every forward, which "
            "would write into the frozen base (shared, and often a read-only memory map). "
            "Renormalise the table once before building the module, and pass max_norm=None"
        )
    if sparse:
        raise ArgumentError(
            "sparse=True, which PartialEmbedding does not support: the rows that train are "
            "already one compact (K, D) parameter, so their dense gradient is O(K) and a "
            "sparse one would save nothing. Pass sparse=False and a dense optimizer"
        )
