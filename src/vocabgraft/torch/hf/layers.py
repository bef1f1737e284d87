"""Finding a model's input and output layers, growing them, and putting plain layers back."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from vocabgraft.errors import StateError, VocabgraftError
from vocabgraft.torch import PartialEmbedding
from vocabgraft.torch.hf.head import PartialLMHead

__all__ = ["GraftedEmbedding", "Layers", "find_layers", "grow", "replace_module"]


class GraftedEmbedding(PartialEmbedding):
    """The PartialEmbedding :func:`~vocabgraft.torch.hf.add_tokens` puts into a model.

    For embeddings that scale their output (Gemma's ``embed_scale``) it keeps
    the scale, so outputs stay as they were, and :meth:`merge` gives back a
    module of the original class, with its scale and settings.
    """

    embed_scale: Tensor | None

    def set_template(self, original: nn.Embedding) -> None:
        """Keep the original module's class, scale and settings for :meth:`merge`."""
        scale = getattr(original, "embed_scale", None)
        if scale is not None:
            scale = torch.as_tensor(scale).detach().clone()
        self.register_buffer("embed_scale", scale, persistent=False)
        self.__dict__["_template"] = original  # not a submodule: its weight is our base

    def forward(self, ids: Tensor) -> Tensor:
        """The rows (times ``embed_scale`` when the original scaled them)."""
        out = super().forward(ids)
        scale = self.__dict__["_buffers"].get("embed_scale")
        return out if scale is None else out * scale.to(out.dtype)

    def merge(self) -> nn.Embedding:
        """A module of the original class (same scale and settings) with the merged rows."""
        original = self.__dict__.get("_template")
        if original is None or type(original) is nn.Embedding:
            return super().merge()
        weight = original._parameters.pop("weight")
        try:
            plain: nn.Embedding = copy.deepcopy(original)  # without the old table: replaced below
        finally:
            original._parameters["weight"] = weight
        plain.weight = nn.Parameter(self.merged_weight())
        plain.num_embeddings = self.num_embeddings
        return plain


@dataclass
class Layers:
    """A model's input embedding, output layer and how they relate."""

    inp: Any
    out: Any
    tied: bool
    bias: Tensor | None  # the output layer's bias, or None


def _input(model: Any) -> Any:
    inp = model.get_input_embeddings()
    if isinstance(inp, PartialEmbedding):
        return inp
    if not isinstance(inp, nn.Embedding):
        raise VocabgraftError(
            f"the model's input embedding is a {type(inp).__name__}; add_tokens grows an "
            "nn.Embedding (or a PartialEmbedding from an earlier add_tokens)"
        )
    if type(inp).forward is not nn.Embedding.forward and not hasattr(inp, "embed_scale"):
        raise VocabgraftError(
            f"the model's input embedding is a {type(inp).__name__}, an nn.Embedding with its own "
            "forward, which add_tokens cannot reproduce; its outputs would change. Grow it with "
            "resize_token_embeddings instead"
        )
    return inp


def output_layer(model: Any) -> Any:
    """``model.get_output_embeddings()``, or None."""
    get = getattr(model, "get_output_embeddings", None)
    return get() if callable(get) else None


def find_layers(model: Any) -> Layers:
    """The input embedding, the output layer (or None) and whether they share rows; or raise.

    Raises:
        VocabgraftError: a layer is of a kind add_tokens cannot grow, or the
            sizes disagree.
    """
    inp = _input(model)
    out = output_layer(model)
    if out is None:
        return Layers(inp, None, False, None)
    if isinstance(out, PartialLMHead):
        return Layers(inp, out, out.embedding is inp, out.bias_base)
    if not isinstance(out, nn.Linear):
        raise VocabgraftError(
            f"the model's output layer is a {type(out).__name__}; add_tokens grows an nn.Linear"
        )
    tied = isinstance(inp, nn.Embedding) and out.weight is inp.weight
    if not tied and tuple(out.weight.shape) != (inp.num_embeddings, inp.embedding_dim):
        raise VocabgraftError(
            f"the output layer has {tuple(out.weight.shape)} weights but the input embedding is "
            f"{inp.num_embeddings} x {inp.embedding_dim}; add_tokens needs one row per token in both"
        )
    return Layers(inp, out, tied, None if out.bias is None else out.bias.detach())


def table(layer: Any) -> Tensor:
    """The full current table of an embedding, a linear layer, a head or a PartialEmbedding."""
    if isinstance(layer, PartialEmbedding):
        return layer.merged_weight()
    if isinstance(layer, PartialLMHead):
        return layer.embedding.merged_weight()
    return layer.weight.detach()


def grow(layer: Any, values: np.ndarray, first: int, train_ids: list[int]) -> PartialEmbedding:
    """A PartialEmbedding with ``values`` at ids ``first...``: spare rows first, then new ones.

    ``layer`` is an ``nn.Embedding``, a weight tensor, or a PartialEmbedding to grow in place.
    """
    num_rows = int(layer.num_embeddings if hasattr(layer, "num_embeddings") else layer.shape[0])
    spare = list(range(first, min(first + len(values), num_rows)))
    k, appended = len(spare), values[len(spare) :]
    trainable = sorted(set(spare) | set(train_ids))
    if isinstance(layer, PartialEmbedding):
        emb = layer
        if trainable:
            emb.unfreeze(trainable)
        if len(appended):
            emb.extend(len(appended), init=appended)
    else:
        add: dict[str, Any] = {"add": len(appended), "init": appended} if len(appended) else {}
        if isinstance(layer, nn.Embedding):
            emb = GraftedEmbedding.from_embedding(layer, trainable, **add)
            emb.set_template(layer)
        else:
            emb = PartialEmbedding.from_pretrained(layer.detach(), trainable, **add)
    if k:
        # Spare rows are base rows: their new values go into the trainable copy, never the base.
        slots = np.searchsorted(emb.trainable_ids.numpy(), spare)
        with torch.no_grad():
            emb.rows[torch.from_numpy(slots).to(emb.rows.device)] = torch.from_numpy(values[:k]).to(
                emb.rows
            )
    return emb


def replace_module(model: nn.Module, old: nn.Module, new: nn.Module | None) -> list[str]:
    """Put ``new`` wherever ``old`` is a submodule of ``model``; return the names replaced."""
    names = [name for name, m in model.named_modules(remove_duplicate=False) if m is old and name]
    if not names:
        raise StateError(f"the {type(old).__name__} to replace is not a submodule of the model")
    for name in names:
        parent_name, _, attr = name.rpartition(".")
        model.get_submodule(parent_name)._modules[attr] = new
    return names


def param_aliases(model: nn.Module, param: Tensor, skip: nn.Module) -> list[tuple[nn.Module, str]]:
    """Where else (module, attribute) ``param`` is registered, outside ``skip``."""
    return [
        (module, attr)
        for module in model.modules()
        if module is not skip
        for attr, p in module._parameters.items()
        if p is param
    ]


def set_vocab_size(model: Any, n: int) -> None:
    """``config.vocab_size`` (the text config's, for multimodal models) and ``model.vocab_size``."""
    config = model.config
    get_text = getattr(config, "get_text_config", None)
    (get_text() if callable(get_text) else config).vocab_size = n
    if isinstance(vars(model).get("vocab_size"), int):
        model.vocab_size = n
