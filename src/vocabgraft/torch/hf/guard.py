"""What a grown model does, before :func:`~vocabgraft.torch.hf.merge`, with transformers calls that expect plain layers.

``save_pretrained`` and ``resize_token_embeddings`` raise a
:class:`~vocabgraft.errors.StateError` that says to call ``merge`` (saving the
PartialEmbedding's buffers would write a checkpoint no ``from_pretrained``
reads); ``tie_weights`` keeps the rows shared as they are; ``num_parameters``
counts the frozen table too, as it did before the tokens were added.
"""

from __future__ import annotations

import types
from typing import Any

from torch import nn

from vocabgraft.errors import StateError
from vocabgraft.torch import PartialEmbedding

__all__ = ["count_parameters", "guard", "unguard"]

_MERGE_FIRST = (
    "the model's embedding is a vocabgraft PartialEmbedding, so {call} would {why}; call "
    "vocabgraft.torch.hf.merge(model) first, which puts plain nn.Embedding/nn.Linear layers back"
)


def count_parameters(model: nn.Module, *, only_trainable: bool = False) -> int:
    """The model's parameters, counting the frozen rows of every PartialEmbedding (its buffers) too.

    ``model.num_parameters()`` of a grown model gives the same (it is patched
    by :func:`~vocabgraft.torch.hf.add_tokens`); ``sum(p.numel() for p in
    model.parameters())`` leaves the frozen table out, as it is a buffer.
    A table shared by a tied head counts once.
    """
    params = {id(p): p for p in model.parameters() if p.requires_grad or not only_trainable}
    total = sum(p.numel() for p in params.values())
    if only_trainable:
        return total
    partial = {id(m): m for m in model.modules() if isinstance(m, PartialEmbedding)}
    return total + sum(m.base.numel() + m.patch.numel() for m in partial.values())


def _refuse(call: str, why: str) -> Any:
    def refuse(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise StateError(_MERGE_FIRST.format(call=call, why=why))

    return refuse


def _tie_weights(self: Any, *args: Any, **kwargs: Any) -> None:
    """The rows are shared already: the tied head reads the PartialEmbedding itself."""


def _num_parameters(
    self: Any, only_trainable: bool = False, exclude_embeddings: bool = False
) -> int:
    if exclude_embeddings:
        skip = {id(p) for m in self.modules() if isinstance(m, nn.Embedding | PartialEmbedding)
                for p in m.parameters()}  # fmt: skip
        return sum(
            p.numel()
            for p in {id(p): p for p in self.parameters()}.values()
            if id(p) not in skip and (p.requires_grad or not only_trainable)
        )
    return count_parameters(self, only_trainable=only_trainable)


_PATCHES = {
    "save_pretrained": _refuse(
        "save_pretrained", "write its buffers, which from_pretrained cannot load"
    ),
    "resize_token_embeddings": _refuse(
        "resize_token_embeddings", "replace it with a plain table in which every row trains"
    ),
    "tie_weights": _tie_weights,
    "num_parameters": _num_parameters,
}


def guard(model: Any) -> None:
    """Patch the calls above on this model object (not its class)."""
    for name, fn in _PATCHES.items():
        if callable(getattr(model, name, None)):
            object.__setattr__(model, name, types.MethodType(fn, model))


def unguard(model: Any) -> None:
    """Undo :func:`guard`."""
    for name in _PATCHES:
        model.__dict__.pop(name, None)
