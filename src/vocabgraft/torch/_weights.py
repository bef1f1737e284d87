"""The first tensors of a PartialEmbedding: a given table without a copy, or a fresh one as nn.Embedding makes it."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from vocabgraft.errors import ArgumentError, ArgumentTypeError
from vocabgraft.rows.ids import normalize_padding
from vocabgraft.rows.partial import check_weights

__all__ = ["as_tensor", "first_table", "fresh_table", "options_of", "refuse_options"]


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


def first_table(
    num_embeddings: Any, embedding_dim: Any, padding_idx: Any, device: Any, dtype: Any
) -> tuple[Tensor, bool]:
    """The base tensor (a given table, or a fresh one) and whether it is fresh.

    Raises:
        ArgumentTypeError: for a table with a second positional argument.
        ArgumentError: for a table that is not a 2-D float matrix, or bad sizes.
    """
    if isinstance(num_embeddings, (Tensor, np.ndarray)):
        if embedding_dim is not None:
            raise ArgumentTypeError(
                "PartialEmbedding(weights, ...) takes the rows that train as trainable=, "
                f"not as the second argument (received {type(embedding_dim).__name__}); "
                "or use PartialEmbedding.from_pretrained(weights, trainable)"
            )
        base = as_tensor(num_embeddings)
        check_weights(tuple(base.shape), base.dtype, floating=base.is_floating_point())
        if device is not None or dtype is not None:
            base = base.to(device=device, dtype=dtype)
        return base, False
    table = fresh_table(num_embeddings, embedding_dim, padding_idx, device=device, dtype=dtype)
    return table, True


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


def options_of(embedding: nn.Embedding | nn.EmbeddingBag) -> dict[str, Any]:
    """The options of an ``nn.Embedding`` (or bag) a PartialEmbedding takes over, or refuses."""
    return {
        "padding_idx": embedding.padding_idx,
        "max_norm": embedding.max_norm,
        "scale_grad_by_freq": embedding.scale_grad_by_freq,
        "sparse": embedding.sparse,
    }


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
