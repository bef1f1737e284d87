"""Unfreeze rows at a chosen epoch or step, and hand them to the optimizer."""

from __future__ import annotations

from collections.abc import Mapping

import torch

from vocabgraft.errors import ArgumentError, ArgumentTypeError
from vocabgraft.torch.embedding import Ids, PartialEmbedding

__all__ = ["FreezeSchedule", "unfreeze_at"]


class FreezeSchedule:
    """Unfreeze rows of ``module`` when a counter (epoch or step) reaches given values.

    Args:
        module: the PartialEmbedding.
        optimizer: the optimizer that trains it; it is rebound at each change.
        events: ``{when: ids}``; ``ids`` None unfreezes every row (and warns
            when that is a large table).

    Call :meth:`update` with the current epoch (or step) at its start; each
    event fires once, the first time the counter reaches it, in order.

    >>> import torch
    >>> emb = PartialEmbedding.from_pretrained(torch.randn(8, 2), trainable=[0])
    >>> opt = torch.optim.SGD(emb.parameters(), lr=0.1)
    >>> schedule = unfreeze_at(emb, opt, epoch=2, ids=[5, 6])
    >>> schedule.update(1), schedule.update(2), emb.trainable_ids.tolist()
    ([], [2], [0, 5, 6])
    """

    def __init__(
        self,
        module: PartialEmbedding,
        optimizer: torch.optim.Optimizer,
        events: Mapping[int, Ids | None],
    ) -> None:
        """Check the arguments; events fire in :meth:`update`."""
        if not isinstance(module, PartialEmbedding):
            raise ArgumentTypeError(
                f"FreezeSchedule needs a PartialEmbedding. Received {type(module).__name__}"
            )
        if not events:
            raise ArgumentError("FreezeSchedule needs at least one event {when: ids}")
        self.module = module
        self.optimizer = optimizer
        self.events = dict(sorted(events.items()))
        self.fired: list[int] = []

    def update(self, now: int) -> list[int]:
        """Fire the events due at ``now``; return their keys."""
        due = [w for w in self.events if w <= now and w not in self.fired]
        for when in due:
            self.module.unfreeze(self.events[when], optimizer=self.optimizer)
            self.fired.append(when)
        return due


def unfreeze_at(
    module: PartialEmbedding,
    optimizer: torch.optim.Optimizer,
    *,
    epoch: int | None = None,
    step: int | None = None,
    ids: Ids | None = None,
) -> FreezeSchedule:
    """A schedule that unfreezes ``ids`` (all rows when None) at ``epoch`` or ``step``.

    Call ``schedule.update(epoch)`` (or ``update(step)``) as training goes.
    """
    if (epoch is None) == (step is None):
        raise ArgumentError("unfreeze_at needs exactly one of epoch= or step=")
    when = epoch if epoch is not None else step
    assert when is not None
    return FreezeSchedule(module, optimizer, {when: ids})
