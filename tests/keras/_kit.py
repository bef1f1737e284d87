"""Small tables, data and models shared by the Keras cases (imported inside the backend's process)."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from vocabgraft.keras import PartialEmbedding
from vocabgraft.keras._backend import to_numpy

BACKEND = keras.backend.backend()
V, D, LENGTH = 60, 8, 6


def table(rows: int = V, dim: int = D, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(rows, dim)).astype(np.float32)


def data(n: int = 64, rows: int = V, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Random ids over every row, and regression targets."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, rows, (n, LENGTH)), rng.normal(size=(n, 1)).astype(np.float32)


def model_over(layer: keras.layers.Layer, optimizer: Any = None, seed: int = 0) -> keras.Model:
    """ids -> layer -> mean over positions -> Dense(1), compiled with MSE."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((LENGTH,), dtype="int32")
    pooled = keras.layers.GlobalAveragePooling1D()(layer(inputs))
    model = keras.Model(inputs, keras.layers.Dense(1, name="head")(pooled))
    if optimizer is None:
        optimizer = keras.optimizers.AdamW(learning_rate=0.05, weight_decay=0.1)
    model.compile(optimizer=optimizer, loss="mse")
    return model


def partial(trainable: Any = (3, 7, 20), **kwargs: Any) -> PartialEmbedding:
    return PartialEmbedding.from_pretrained(table(), trainable=list(trainable), **kwargs)


def numpy(x: Any) -> np.ndarray:
    """A copy of the values of a variable or tensor."""
    return to_numpy(x).copy()


def slot_state(model: keras.Model, suffix: str) -> dict[str, np.ndarray]:
    """The optimizer's state variables whose name ends with ``suffix``, by name."""
    return {v.name: numpy(v) for v in model.optimizer.variables if v.name.endswith(suffix)}
