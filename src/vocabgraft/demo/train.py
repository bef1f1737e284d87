"""Training and scoring loops shared by the steps."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from vocabgraft.demo.text import ReviewSet

__all__ = ["History", "accuracy", "fit", "predict"]


@dataclass
class History:
    """Per-epoch numbers of one training run."""

    loss: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    accuracy: dict[str, list[float]] = field(default_factory=dict)

    @property
    def seconds_per_epoch(self) -> float:
        """The mean time of an epoch (0 before the first)."""
        return float(np.mean(self.seconds)) if self.seconds else 0.0


@torch.no_grad()
def predict(model: nn.Module, data: ReviewSet, *, batch_size: int = 256) -> np.ndarray:
    """Predicted labels (1 = great) for every review of ``data``, in order."""
    was_training = model.training
    model.eval()
    out = [model(ids, items).argmax(dim=1).numpy() for ids, items, _ in data.batches(batch_size)]
    model.train(was_training)
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def accuracy(model: nn.Module, data: ReviewSet) -> float:
    """The share of ``data`` classified right (NaN for an empty set)."""
    if len(data) == 0:
        return float("nan")
    return float((predict(model, data) == data.labels).mean())


def fit(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    data: ReviewSet,
    *,
    epochs: int,
    batch_size: int,
    seed: int,
    score_on: Mapping[str, ReviewSet] | None = None,
    on_epoch: Callable[[int], Any] | None = None,
    progress: Any = None,
) -> History:
    """Train ``epochs`` epochs of cross-entropy with shuffled batches; time each epoch.

    ``on_epoch(epoch)`` runs before each epoch (a freeze schedule's update).
    Each set of ``score_on`` (``{"val": ..., "test": ...}``) is scored after
    each epoch into ``history.accuracy[name]``. Scoring is not part of the
    epoch's time.
    """
    generator = torch.Generator().manual_seed(seed)
    history = History()
    model.train()
    for epoch in range(epochs):
        if on_epoch is not None:
            on_epoch(epoch)
        start = time.perf_counter()
        total, count = 0.0, 0
        for ids, items, labels in data.batches(batch_size, generator=generator):
            loss = nn.functional.cross_entropy(model(ids, items), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(labels)
            count += len(labels)
        history.seconds.append(time.perf_counter() - start)
        history.loss.append(total / max(count, 1))
        for name, scored in (score_on or {}).items():
            history.accuracy.setdefault(name, []).append(accuracy(model, scored))
        if progress is not None:
            progress.update(1)
    return history
