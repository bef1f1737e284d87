"""L2-SP for a PartialEmbedding: pull the trainable rows toward their pretrained values.

AdamW's weight decay pulls rows toward zero. L2-SP (Li et al., 2018, "Explicit
inductive bias for transfer learning") pulls them toward where they started,
so that fine-tuning keeps what pretraining learned unless the task pays for the
change. Only the compact ``rows`` parameter is touched: frozen rows are
buffers, outside every optimizer, and stay bit-exact.

Two forms, as for weight decay:

- :func:`l2sp_penalty` (or :meth:`L2SP.penalty`): ``strength / 2 * ||rows - reference||^2``,
  added to the loss. Its gradient, ``strength * (rows - reference)``, then
  goes through the optimizer like any other (Adam rescales it, momentum
  accumulates it), as the L2 penalty of ``torch.optim.Adam(weight_decay=)`` does.
- :func:`l2sp_decay` (or :meth:`L2SP.attach`): decoupled, as AdamW's decay:
  before each ``optimizer.step()``, ``rows -= lr * strength * (rows - reference)``,
  whatever the optimizer, with the ``lr`` of the parameter group holding ``rows``.

The reference of a trainable slot is its id's base row (its pretrained value);
for a row appended by ``extend``, its value when the reference is first read
after the row appeared: its first value, since the penalty and the decay read
the reference at every step. The reference is refreshed whenever the module's
layout changes (``freeze``, ``unfreeze``, ``extend``, loading a state), which
the module signals by a new :attr:`~PartialEmbedding.row_map` object.
"""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np
import torch
from torch import Tensor

from vocabgraft.errors import ArgumentError, ArgumentTypeError, StateError
from vocabgraft.torch.embedding import PartialEmbedding

__all__ = ["L2SP", "l2sp_decay", "l2sp_penalty"]


class L2SP:
    """The pretrained reference of a module's trainable rows, and the penalty and decay toward it.

    Args:
        module: the :class:`PartialEmbedding` whose ``rows`` are pulled.
        strength: the pull: ``strength / 2 * ||rows - reference||^2`` as a
            penalty, ``lr * strength * (rows - reference)`` per step as a decay.

    >>> import torch
    >>> emb = PartialEmbedding.from_pretrained(torch.zeros(5, 2), trainable=[1, 3])
    >>> reg = L2SP(emb, strength=0.5)
    >>> with torch.no_grad():
    ...     emb.rows += 2.0
    >>> reg.penalty().item()  # 0.5 / 2 * (4 values of 2.0 squared)
    4.0
    """

    def __init__(self, module: PartialEmbedding, strength: float) -> None:
        if not isinstance(module, PartialEmbedding):
            raise ArgumentTypeError(
                f"L2-SP takes a vocabgraft.torch.PartialEmbedding. Received {type(module).__name__}"
            )
        if isinstance(strength, bool) or not np.isfinite(strength) or strength < 0:
            raise ArgumentError(f"strength must be a number >= 0. Received: strength={strength!r}")
        self.module = module
        self.strength = float(strength)
        self._map: Any = None
        self._reference = module.rows.detach().new_empty((0, module.embedding_dim))
        # First values of appended rows, by id, so a later refresh does not take trained values.
        self._first_ids = np.empty(0, dtype=np.int64)
        self._first: Tensor = self._reference

    @property
    def reference(self) -> Tensor:
        """``(K, D)``: the value each trainable slot is pulled toward (refreshed on a layout change)."""
        if self.module.row_map is not self._map:
            self._refresh()
        return self._reference

    def _refresh(self) -> None:
        m = self.module
        row_map = m.row_map
        ids = row_map.trainable_ids
        rows = m.rows.detach()
        ref = rows.new_empty(rows.shape)
        base = ids < row_map.num_base
        with torch.no_grad():
            if base.any():
                at = torch.from_numpy(np.flatnonzero(base)).to(rows.device)
                ref[at] = m.base[torch.from_numpy(ids[base]).to(m.base.device)].to(ref)
            appended = ids[~base]
            known = np.isin(appended, self._first_ids)
            slots = np.flatnonzero(~base)
            new_first = rows[torch.from_numpy(slots[~known]).to(rows.device)].clone()
            ids_all = np.concatenate([self._first_ids, appended[~known]])
            first = torch.cat([self._first.to(rows), new_first])
            order = np.argsort(ids_all, kind="stable")
            self._first_ids = ids_all[order]
            self._first = first[torch.from_numpy(order).to(rows.device)]
            pos = torch.from_numpy(np.searchsorted(self._first_ids, appended)).to(rows.device)
            if len(slots):
                ref[torch.from_numpy(slots).to(rows.device)] = self._first[pos]
        self._reference = ref
        self._map = row_map

    def penalty(self) -> Tensor:
        """``strength / 2 * ||rows - reference||^2``: a scalar to add to the loss."""
        rows = self.module.rows
        if self.strength == 0:
            return rows.new_zeros(())  # plain training, exactly
        return 0.5 * self.strength * (rows - self.reference).square().sum()

    def decay_(self, lr: float) -> None:
        """Move ``rows`` by ``-lr * strength * (rows - reference)``, in place, outside autograd."""
        if self.strength == 0 or lr == 0:
            return
        with torch.no_grad():
            rows = self.module.rows
            rows.sub_((rows - self.reference) * (lr * self.strength))

    def attach(self, optimizer: torch.optim.Optimizer) -> Any:
        """Decay before every ``optimizer.step()``; returns the hook's handle (``.remove()``)."""

        def before_step(opt: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
            rows = self.module.rows  # the same Parameter object across layout changes
            for group in opt.param_groups:
                if any(p is rows for p in group["params"]):
                    self.decay_(float(group["lr"]))
                    return
            raise StateError(
                "the optimizer holds no parameter group with the module's rows; build it "
                "over the module's parameters (module.rows), or pass it to freeze/unfreeze/extend"
            )

        return optimizer.register_step_pre_hook(before_step)


_CACHE: weakref.WeakKeyDictionary[PartialEmbedding, L2SP] = weakref.WeakKeyDictionary()


def _for(module: PartialEmbedding, strength: float) -> L2SP:
    reg = _CACHE.get(module)
    if reg is None:
        reg = _CACHE[module] = L2SP(module, strength)
    else:
        reg.strength = L2SP(module, strength).strength  # checked the same way
    return reg


def l2sp_penalty(module: PartialEmbedding, strength: float) -> Tensor:
    """``strength / 2 * ||rows - pretrained||^2`` for ``module``'s trainable rows; add it to the loss.

    The reference rows are kept per module (weakly) and refreshed when its layout changes.

    Args:
        module: a :class:`PartialEmbedding`.
        strength: the pull (>= 0; 0 adds exactly nothing).

    Returns:
        A scalar tensor with a gradient toward the pretrained rows.

    Raises:
        ArgumentTypeError: ``module`` is not a ``PartialEmbedding``.
        ArgumentError: ``strength`` is negative or not finite.
    """
    return _for(module, strength).penalty()


def l2sp_decay(module: PartialEmbedding, optimizer: torch.optim.Optimizer, strength: float) -> Any:
    """Decoupled L2-SP: before each ``optimizer.step()``, ``rows -= lr * strength * (rows - pretrained)``.

    Args:
        module: a :class:`PartialEmbedding` whose ``rows`` the optimizer trains.
        optimizer: any ``torch.optim.Optimizer``; its ``lr`` scales the pull.
        strength: the pull per unit of learning rate (>= 0).

    Returns:
        The hook's handle; ``handle.remove()`` stops the decay.

    Raises:
        ArgumentTypeError: ``module`` is not a ``PartialEmbedding``.
        ArgumentError: ``strength`` is negative or not finite.
        StateError: (at the step) the optimizer does not hold ``module.rows``.
    """
    return L2SP(module, strength).attach(optimizer)
