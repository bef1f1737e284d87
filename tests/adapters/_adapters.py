"""The two PartialEmbedding adapters behind one small interface (imported by conftest and the tests).

Keras runs on its torch backend in this process: ``KERAS_BACKEND`` is set
before Keras is imported.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

import vocabgraft.keras
import vocabgraft.torch
from vocabgraft.keras._backend import to_numpy


@dataclass(frozen=True)
class Adapter:
    """What a test needs from an adapter: its class, a lookup, and how a change is handed over."""

    name: str
    cls: Any

    def lookup(self, emb: Any, ids: Any) -> np.ndarray:
        """The rows of ``ids`` (numpy in, numpy out)."""
        ids = np.asarray(ids)
        if self.name == "torch":
            return emb(torch.as_tensor(ids)).detach().numpy()
        return to_numpy(emb(ids)).copy()

    def merged(self, emb: Any) -> np.ndarray:
        """The merged table as numpy."""
        table = emb.merged_weight()
        return table.numpy() if self.name == "torch" else table

    def trainable(self, emb: Any) -> list[int]:
        """The ids that train."""
        return [int(i) for i in emb.trainable_ids]


ADAPTERS = [
    Adapter("torch", vocabgraft.torch.PartialEmbedding),
    Adapter("keras", vocabgraft.keras.PartialEmbedding),
]
