"""Framework tensors as numpy arrays, without importing a framework."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["is_torch_tensor", "tensor_to_numpy"]


def is_torch_tensor(x: Any) -> bool:
    """Whether ``x`` is a torch tensor (checked by type name: torch need not be imported)."""
    return type(x).__module__.startswith("torch") and hasattr(x, "detach") and hasattr(x, "cpu")


def tensor_to_numpy(x: Any) -> Any:
    """``x`` as numpy when it is a torch tensor (no copy on the CPU), else ``x`` unchanged.

    bfloat16, which numpy has no type for, becomes float32 (a copy).

    >>> tensor_to_numpy([1, 2])
    [1, 2]
    """
    if not is_torch_tensor(x):
        return x
    x = x.detach().cpu()
    if str(x.dtype) == "torch.bfloat16":
        x = x.float()
    return np.asarray(x.numpy())
