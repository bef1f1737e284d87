"""Checked arguments and first values of the Keras layer's weights."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
from keras import ops

from vocabgraft._arrays import tensor_to_numpy
from vocabgraft.errors import ArgumentError, ArgumentTypeError, StateError
from vocabgraft.rows.ids import normalize_padding
from vocabgraft.rows.partial import check_weights

__all__ = [
    "Start",
    "check_positive",
    "check_sizes",
    "constant",
    "embedding_options",
    "matrix",
    "padding_row",
]


@dataclass
class Start:
    """First values of the weights, held until ``build()`` makes them variables."""

    base: np.ndarray | None
    rows: np.ndarray | None
    patch: np.ndarray | None


def check_positive(name: str, value: Any) -> None:
    """Refuse a size that is not a positive integer, in Keras' words.

    Raises:
        ArgumentError: naming the argument, the value and its type.
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ArgumentError(
            f"`{name}` must be a positive integer. Received: {name}={value!r} "
            f"(of type {type(value).__name__})"
        )


def check_sizes(input_dim: Any, output_dim: Any, num_base: Any) -> int:
    """Check the layer's sizes; return ``num_base`` (``input_dim`` when None).

    Raises:
        ArgumentError: for a size that is not a positive integer, or a base
            larger than the table.
    """
    for name, value in (("input_dim", input_dim), ("output_dim", output_dim)):
        check_positive(name, value)
    num_base = input_dim if num_base is None else num_base
    check_positive("num_base", num_base)
    if num_base > input_dim:
        raise ArgumentError(
            f"`num_base` ({num_base}) cannot exceed `input_dim` ({input_dim}): the base "
            "rows are the first rows of the table"
        )
    return int(num_base)


def matrix(weights: Any, shape: tuple[int, int] | None) -> np.ndarray:
    """``weights`` as a 2-D float numpy array (no copy when it already is one), checked.

    Raises:
        ArgumentError: for a shape other than ``shape`` or a non-float dtype.
    """
    if isinstance(weights, list) and len(weights) == 1:
        weights = weights[0]  # keras.layers.Embedding takes weights=[matrix]
    weights = tensor_to_numpy(weights)
    arr = weights if isinstance(weights, np.ndarray) else np.asarray(weights)
    check_weights(arr.shape, arr.dtype, floating=arr.dtype.kind == "f")
    if shape is not None and arr.shape != shape:
        raise ArgumentError(
            f"weights have shape {arr.shape}, but the base table is {shape[0]} x {shape[1]} "
            "(num_base x output_dim)"
        )
    return arr


def padding_row(padding_idx: int | None, mask_zero: bool, num_rows: int) -> int | None:
    """The row that never trains: ``padding_idx``, or 0 with ``mask_zero``; checked.

    Raises:
        ArgumentError: when ``mask_zero=True`` and ``padding_idx`` names another row.
    """
    pad = normalize_padding(padding_idx, num_rows)
    if mask_zero and pad not in (None, 0):
        raise ArgumentError(
            f"mask_zero=True masks id 0, which makes it the padding row, but padding_idx={pad} "
            "names another row (from_table takes the vocabulary's pad token). Put the pad "
            "token at id 0, pass padding_idx=0, or pass mask_zero=False"
        )
    return 0 if mask_zero else pad


def embedding_options(embedding: Any) -> dict[str, Any]:
    """The options of a built, plain ``keras.layers.Embedding`` a PartialEmbedding takes over.

    Raises:
        ArgumentTypeError: for another kind of layer.
        StateError: for an Embedding not built yet, or with LoRA or quantization.
    """
    if not isinstance(embedding, keras.layers.Embedding):
        raise ArgumentTypeError(
            f"from_embedding takes a keras.layers.Embedding. Received {type(embedding).__name__}"
        )
    if not embedding.built:
        raise StateError(
            f"the Embedding {embedding.name!r} is not built, so it has no rows yet. Call "
            "it once or call embedding.build() first"
        )
    if getattr(embedding, "lora_enabled", False) or getattr(embedding, "quantization_mode", None):
        raise StateError(
            "the Embedding uses LoRA or quantization; PartialEmbedding takes a plain "
            "float table. Merge or dequantize it first"
        )
    return {
        "mask_zero": embedding.mask_zero,
        "dtype": embedding.dtype_policy,
        "embeddings_regularizer": embedding.embeddings_regularizer,
        "embeddings_constraint": embedding.embeddings_constraint,
    }


def constant(value: np.ndarray) -> Callable[..., Any]:
    """A Keras initializer giving ``value`` (a copy in the variable's dtype)."""

    def initializer(shape: Any, dtype: Any = None) -> Any:
        return ops.convert_to_tensor(np.array(value, dtype=dtype, copy=True), dtype=dtype)

    return initializer
