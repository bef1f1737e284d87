"""A training step on random batches, shared by the torch tests (imported as ``_steps``)."""

from __future__ import annotations

from collections.abc import Callable

import torch


def make_step(
    module: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    num_rows: int,
    dim: int,
    seed: int = 0,
) -> Callable[[], float]:
    """A training step on random batches over all ids, with a linear head on the mean."""
    gen = torch.Generator().manual_seed(seed)
    head_weight = torch.randn(dim, 1, generator=gen)

    def step() -> float:
        ids = torch.randint(0, num_rows, (8, 5), generator=gen)
        target = torch.randn(8, 1, generator=gen)
        loss = torch.nn.functional.mse_loss(module(ids).mean(1) @ head_weight, target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return float(loss.detach())

    return step
