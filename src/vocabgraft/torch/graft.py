"""Swap a model's embedding for a PartialEmbedding in place, and keep DDP off the frozen rows."""

from __future__ import annotations

from typing import Any

from torch import nn

from vocabgraft.errors import ArgumentError, StateError
from vocabgraft.torch.bag import PartialEmbeddingBag
from vocabgraft.torch.embedding import Ids, PartialEmbedding

__all__ = ["ddp_ignore_frozen", "graft"]


def graft(
    model: nn.Module, target: str | nn.Module, trainable: Ids | None = None, **kwargs: Any
) -> PartialEmbedding:
    """Replace the ``nn.Embedding`` (or ``nn.EmbeddingBag``) ``target`` of ``model``; return the new module.

    ``target`` is a dotted name (``"encoder.embed_tokens"``) or the module
    itself. The model's inputs stay integer ids. Build the optimizer after
    grafting. A weight tied to another parameter (an LM head sharing the input
    embedding) cannot be grafted: that would silently untie it. ``trainable``
    and the keywords are those of :meth:`PartialEmbedding.from_embedding`.

    Raises:
        ArgumentError: when ``target`` names no embedding of ``model``.
        StateError: when its weight is tied to another parameter.

    >>> from torch import nn
    >>> model = nn.Sequential(nn.Embedding(10, 4), nn.Linear(4, 2))
    >>> graft(model, "0", trainable=[3]).row_map.num_trainable
    1
    """
    name, old = _find(model, target)
    for other, p in model.named_parameters(remove_duplicate=False):
        if p is old.weight and not other == f"{name}.weight":
            raise StateError(
                f"{name}.weight is tied to {other}; grafting would untie them. Untie the "
                "weights first, or graft a model without weight tying"
            )
    if isinstance(old, nn.EmbeddingBag):
        new: PartialEmbedding = PartialEmbeddingBag.from_embedding(old, trainable, **kwargs)
    elif isinstance(old, nn.Embedding):
        new = PartialEmbedding.from_embedding(old, trainable, **kwargs)
    else:
        raise ArgumentError(
            f"{name!r} is a {type(old).__name__}, not an nn.Embedding or nn.EmbeddingBag"
        )
    parent_name, _, attr = name.rpartition(".")
    parent = model.get_submodule(parent_name)
    parent._modules[attr] = new  # works for attributes and for Sequential/ModuleList entries
    return new


def _find(model: nn.Module, target: str | nn.Module) -> tuple[str, nn.Module]:
    if isinstance(target, str):
        try:
            return target, model.get_submodule(target)
        except AttributeError:
            names = [
                n for n, m in model.named_modules() if isinstance(m, nn.Embedding | nn.EmbeddingBag)
            ]
            raise ArgumentError(
                f"the model has no submodule {target!r}; its embeddings are: {names}"
            ) from None
    for name, module in model.named_modules():
        if module is target and name:
            return name, module
    raise ArgumentError(f"the {type(target).__name__} to graft is not a submodule of the model")


def ddp_ignore_frozen(model: nn.Module) -> list[str]:
    """Tell DistributedDataParallel to leave the frozen state of every PartialEmbedding alone.

    Call it before wrapping ``model`` in DDP. By default DDP broadcasts every
    buffer from rank 0 at start and before each forward: for a frozen base that
    is the whole table every step, and writing into a read-only memory-mapped
    base crashes. Every rank builds the same base from the same table, and
    freeze/unfreeze/extend are deterministic, so nothing needs syncing. The
    trainable rows stay a normal parameter whose gradient DDP all-reduces.
    Returns the names it set.
    """
    from torch.nn.parallel import DistributedDataParallel

    names = [
        f"{mod_name}.{buf}" if mod_name else buf
        for mod_name, module in model.named_modules()
        if isinstance(module, PartialEmbedding)
        for buf, _ in module.named_buffers(recurse=False)
    ]
    previous = list(getattr(model, "_ddp_params_and_buffers_to_ignore", []))
    DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(
        model, sorted(set(previous) | set(names))
    )
    return names
