"""The few places where the Keras backend matters: reading values, and whether they can be read."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

from vocabgraft._arrays import tensor_to_numpy

__all__ = ["has_values", "to_numpy"]


def has_values(x: Any) -> bool:
    """Whether ``x`` holds values that Python can read (not a tracer or a symbolic tensor)."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return not isinstance(x, jax.core.Tracer)
    if backend == "torch":
        import torch

        compiling = torch.compiler.is_compiling() or torch.compiler.is_exporting()
        return not compiling and x.device.type != "meta"
    if backend == "tensorflow":
        import tensorflow as tf

        return bool(tf.executing_eagerly())
    return True  # numpy


def to_numpy(x: Any) -> np.ndarray:
    """The values of a variable or tensor as numpy; no copy where the backend allows (CPU).

    Callers only read the result. On torch, the tensor's own ``.numpy()``
    (bfloat16 becomes float32) rather than ``ops.convert_to_numpy``, whose
    ``np.array(tensor)`` copies and, with numpy 2, warns about torch's ``__array__``.
    """
    if isinstance(x, keras.Variable):
        x = x.value
    if keras.backend.backend() == "torch":
        return np.asarray(tensor_to_numpy(x))
    return np.asarray(ops.convert_to_numpy(x))
