"""How many torch threads the demo trains with: measured on its own workload, at the start.

The classifier is tiny (a 100-feature MLP over pooled 50-d word vectors, 32
reviews a batch), so a second thread may cost more in hand-offs than it gives,
and on a machine whose cores other work keeps busy it can make every epoch
several times slower. Neither can be known in advance, so the demo times the
same training steps of its step-2 model with each candidate count, in
alternating rounds (noise from other work falls on all of them alike), and
trains with the fastest.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from vocabgraft.demo.config import DemoConfig
from vocabgraft.demo.transfer import Transfer

__all__ = ["candidate_threads", "measure_threads", "torch_threads", "training_step"]


def candidate_threads() -> list[int]:
    """1 and the number of cores this process may run on (just 1 on a one-core machine)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return sorted({1, max(1, cores)})


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(n)``, then restore the count."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def training_step(transfer: Transfer, cfg: DemoConfig) -> Callable[[], None]:
    """One training batch of step 2's model (ii), as a callable: the demo's own workload."""
    from vocabgraft.demo.compare import _embedding
    from vocabgraft.demo.model import ReviewClassifier

    torch.manual_seed(cfg.seed)
    model = ReviewClassifier(
        _embedding("partial", transfer),
        dim=transfer.weights.shape[1],
        hidden=cfg.hidden,
        pad_id=transfer.pad_id,
    )
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=cfg.lr)
    batches = list(transfer.train.subset(transfer.fit).batches(cfg.batch_size))
    position = [0]

    def step() -> None:
        ids, items, labels = batches[position[0] % len(batches)]
        position[0] += 1
        loss = nn.functional.cross_entropy(model(ids, items), labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def measure_threads(
    step: Callable[[], None], counts: Sequence[int], *, rounds: int = 3, steps: int = 15
) -> dict[str, Any]:
    """Time ``steps`` calls of ``step`` per thread count, in ``rounds`` alternating rounds.

    Returns:
        ``{"seconds_per_step": {count: median}, "chosen": fastest count}``.
    """
    times: dict[int, list[float]] = {n: [] for n in counts}
    for _ in range(rounds):
        for n in counts:
            with torch_threads(n):
                step()  # a warm-up call at this count, not timed
                start = time.perf_counter()
                for _ in range(steps):
                    step()
                times[n].append((time.perf_counter() - start) / steps)
    median = {n: statistics.median(t) for n, t in times.items()}
    return {
        "seconds_per_step": {str(n): m for n, m in median.items()},
        "chosen": min(median, key=lambda n: (median[n], n)),
    }
