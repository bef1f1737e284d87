"""Saving the Keras layer: its config (the layout as id runs), its variables, and its vocabulary.

A ``.keras`` file round-trips exactly: ``get_config`` records which ids train
and which are patched, so ``from_config`` rebuilds the same shapes, and the
variables then load into them; the vocabulary is an asset.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import keras
import numpy as np

from vocabgraft.errors import FormatError, StateError
from vocabgraft.rows.ids import from_runs, to_runs
from vocabgraft.vocab.core import Vocab

if TYPE_CHECKING:
    from vocabgraft.keras.embedding import PartialEmbedding

__all__ = [
    "Saving",
    "config_of",
    "decode_config",
    "load_variables",
    "load_vocab",
    "save_variables",
    "save_vocab",
]

_VOCAB_FILE = "vocab.safetensors"
_S = TypeVar("_S", bound="Saving")
_WEIGHTS = ("base", "rows", "patch")


class Saving(keras.layers.Layer):
    """The saving side of :class:`~vocabgraft.keras.PartialEmbedding` (a mixin)."""

    def get_config(self) -> dict[str, Any]:
        """Everything ``from_config`` needs to rebuild the same layout."""
        return config_of(cast("PartialEmbedding", self), super().get_config())

    @classmethod
    def from_config(cls: type[_S], config: dict[str, Any]) -> _S:
        """The layer a ``get_config`` result describes (its weights load afterwards)."""
        return cls(**decode_config(config))

    def save_own_variables(self, store: Any) -> None:
        """The weights and the layout's ids, into a Keras weights store."""
        save_variables(cast("PartialEmbedding", self), store)

    def load_own_variables(self, store: Any) -> None:
        """Load the saved weights; another layout is refused."""
        load_variables(cast("PartialEmbedding", self), store)

    def save_assets(self, dir_path: str) -> None:
        """The vocabulary, when there is one."""
        save_vocab(cast("PartialEmbedding", self), dir_path)

    def load_assets(self, dir_path: str | None) -> None:
        """The saved vocabulary, when one was saved."""
        load_vocab(cast("PartialEmbedding", self), dir_path)


def config_of(layer: PartialEmbedding, config: dict[str, Any]) -> dict[str, Any]:
    """``config`` (the Layer's own) with everything that rebuilds ``layer``'s layout."""
    m = layer.row_map
    config.update(
        {
            "input_dim": m.num_rows,
            "output_dim": layer.output_dim,
            "num_base": m.num_base,
            "trainable_ids": to_runs(m.trainable_ids),
            "patch_ids": to_runs(m.patch_ids),
            "padding_idx": m.padding_idx,
            "embeddings_initializer": keras.initializers.serialize(layer.embeddings_initializer),
            "embeddings_regularizer": keras.regularizers.serialize(layer.embeddings_regularizer),
            "embeddings_constraint": keras.constraints.serialize(layer.embeddings_constraint),
            "mask_zero": layer.mask_zero,
            "check_ids": layer.check_ids,
        }
    )
    return config


def decode_config(config: dict[str, Any]) -> dict[str, Any]:
    """The constructor's arguments from a saved config (id runs back to ids)."""
    config = dict(config)
    for key in ("trainable_ids", "patch_ids"):
        config[key] = from_runs(config.get(key, []))
    if not len(config["trainable_ids"]):
        config["freeze"] = True  # a layer in which no row trains is what was saved
    return config


def save_variables(layer: PartialEmbedding, store: Any) -> None:
    """The three weights and the layout's ids, into a Keras weights store."""
    if not layer.built:
        return
    for name in _WEIGHTS:
        store[name] = getattr(layer, name)
    store["trainable_ids"] = layer.row_map.trainable_ids
    store["patch_ids"] = layer.row_map.patch_ids


def load_variables(layer: PartialEmbedding, store: Any) -> None:
    """Load the weights saved by :func:`save_variables`, refusing another layout.

    Raises:
        StateError: when the saved layout or shapes differ from ``layer``'s.
    """
    if not layer.built:
        layer.build()
    m = layer.row_map
    for key, ids in (("trainable_ids", m.trainable_ids), ("patch_ids", m.patch_ids)):
        saved = np.asarray(store[key])
        if not np.array_equal(saved, ids):
            raise StateError(
                f"{layer.name}: the saved weights have {len(saved)} {key.replace('_', ' ')} "
                f"but this layer has {len(ids)} (or other ids). Load the model with "
                "keras.models.load_model, which rebuilds the layer from its saved config, "
                "or build the layer with the same layout"
            )
    for name in _WEIGHTS:
        value = store[name]
        variable = getattr(layer, name)
        if tuple(value.shape) != tuple(variable.shape):
            raise StateError(
                f"{layer.name}: saved {name} has shape {tuple(value.shape)}, but this layer's "
                f"is {tuple(variable.shape)}. Build the layer over the same table"
            )
        variable.assign(value)


def save_vocab(layer: PartialEmbedding, dir_path: str) -> None:
    """The layer's vocabulary, as an asset of the ``.keras`` file."""
    if layer.vocab is not None:
        layer.vocab.save(Path(dir_path) / _VOCAB_FILE)


def load_vocab(layer: PartialEmbedding, dir_path: str | None) -> None:
    """Give ``layer`` the saved vocabulary, when one was saved.

    Raises:
        FormatError: when its size is not the layer's number of rows.
    """
    path = None if dir_path is None else Path(dir_path) / _VOCAB_FILE
    if path is None or not path.exists():
        return
    vocab = Vocab.load(path, mmap=False)  # the folder is temporary
    if len(vocab) != layer.row_map.num_rows:
        raise FormatError(
            f"{layer.name}: the saved vocabulary has {len(vocab)} tokens but the layer has "
            f"{layer.row_map.num_rows} rows",
            path=path,
        )
    layer.vocab = vocab
