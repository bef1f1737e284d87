"""The layer as a keras.layers.Embedding user expects it: a fresh table, regularizer, constraint,
embeddings, get/set_weights, .keras files, and int64 ids that never wrap.

Run by test_keras_backends.py in one process per Keras backend (KERAS_BACKEND set);
not collected on its own (the file name does not start with ``test_``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest
from _kit import LENGTH, D, V, data, model_over, numpy, partial, table

from vocabgraft import EmbeddingTable, Vocab
from vocabgraft.errors import RowIndexError, StateError
from vocabgraft.keras import PartialEmbedding

pytestmark = pytest.mark.keras


def sgd_step(layer: keras.layers.Layer, x: np.ndarray, y: np.ndarray) -> keras.Model:
    model = model_over(layer, keras.optimizers.SGD(learning_rate=0.5))
    model.train_on_batch(x, y)
    return model


def test_fresh_layer_trains_every_row_as_an_embedding_does():
    ours = PartialEmbedding(V, D)
    ours.build()
    assert ours.row_map.num_trainable == V
    dense = keras.layers.Embedding(V, D, weights=ours.get_weights())
    x, y = data(16)
    sgd_step(ours, x, y)
    sgd_step(dense, x, y)
    np.testing.assert_allclose(ours.get_weights()[0], numpy(dense.embeddings), rtol=1e-6, atol=1e-7)
    ours.freeze([3, 4])
    assert ours.row_map.num_trainable == V - 2


def test_regularizer_applies_to_the_trainable_rows_only():
    base = table()
    ours = PartialEmbedding.from_pretrained(base, trainable=[3, 7], embeddings_regularizer="l2")
    dense = keras.layers.Embedding(V, D, weights=[base], embeddings_regularizer="l2")
    ours.build()
    expected = 0.01 * float(np.sum(base[[3, 7]].astype(np.float64) ** 2))
    assert float(numpy(sum(ours.losses))) == pytest.approx(expected, rel=1e-5)
    x, y = data(16)
    x[:, 0] = 3
    sgd_step(ours, x, y)
    sgd_step(dense, x, y)
    trained = numpy(dense.embeddings)[[3, 7]]  # frozen rows add a constant: same gradient
    np.testing.assert_allclose(numpy(ours.rows), trained, rtol=1e-5, atol=1e-6)
    ours.unfreeze([9])
    assert ours.rows.regularizer is ours.embeddings_regularizer


def test_constraint_applies_to_the_trainable_rows_only():
    base = -np.abs(table())
    layer = PartialEmbedding.from_pretrained(
        base, trainable=[3, 7], embeddings_constraint="non_neg"
    )
    x, y = data(16)
    sgd_step(layer, x, y)
    merged = layer.merged_weight()
    assert (merged[[3, 7]] >= 0).all()
    frozen = np.setdiff1d(np.arange(V), [3, 7])
    assert np.array_equal(merged[frozen], base[frozen])


class Recording(keras.regularizers.Regularizer):
    """An L2 penalty that records each bind(layer) call, as an L2-SP regularizer would use it."""

    def __init__(self) -> None:
        self.bound: list[list[int]] = []

    def bind(self, layer: Any) -> None:
        self.bound.append(layer.trainable_ids.tolist())

    def __call__(self, x: Any) -> Any:
        return 0.0 * keras.ops.sum(x)

    def get_config(self) -> dict[str, Any]:
        return {}


def test_regularizer_bind_is_called_after_build_and_each_layout_change():
    regularizer = Recording()
    layer = partial([3, 7], embeddings_regularizer=regularizer)
    layer.freeze([7])  # before build: bound once the weights exist
    assert regularizer.bound == []
    layer.build()
    layer.unfreeze([9])
    layer.extend(1)
    assert regularizer.bound == [[3], [3, 9], [3, 9, V]]


def test_embeddings_and_weights_in_embedding_layout():
    layer = partial()
    layer.extend(1, init=np.ones((1, D), np.float32))
    table_now = layer.embeddings
    assert table_now.shape == (V + 1, D) and np.array_equal(table_now, layer.merged_weight())
    with pytest.raises(ValueError, match=r"read-only"):
        table_now[0] = 1.0
    with pytest.raises(StateError, match=r"embeddings is the merged table, read-only"):
        layer.embeddings = np.zeros((V + 1, D))
    [weights] = layer.get_weights()
    new = weights + 1.0
    layer.set_weights([new])
    assert np.array_equal(layer.get_weights()[0], new)
    assert np.array_equal(numpy(layer(np.arange(V + 1))), new)
    assert layer.trainable_ids.tolist() == [3, 7, 20, V]
    with pytest.raises(ValueError, match=r"weights have shape \(2, 2\), but the base table is"):
        layer.set_weights([np.zeros((2, 2), np.float32)])


def test_keras_file_round_trip_with_regularizer_constraint_and_padding(tmp_path: Path):
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(8, D)).astype(np.float32)
    padded = EmbeddingTable(vectors, Vocab(list("abcdef"), pad="<pad>", unk="<unk>"))
    layer = PartialEmbedding.from_table(
        padded,
        trainable=["a", "b"],
        embeddings_regularizer=keras.regularizers.L2(0.001),
        embeddings_constraint="non_neg",
    )
    inputs = keras.Input((LENGTH,), dtype="int32")
    model = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.Flatten()(layer(inputs))))
    model.compile(keras.optimizers.Adam(0.01), loss="mse")
    x, y = data(rows=8)
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    model.save(tmp_path / "m.keras")
    again = keras.models.load_model(tmp_path / "m.keras").layers[1]
    assert again.padding_idx == 0 and again.get_config() == layer.get_config()
    assert isinstance(again.embeddings_regularizer, keras.regularizers.L2)
    assert isinstance(again.embeddings_constraint, keras.constraints.NonNeg)
    assert np.array_equal(again.merged_weight(), layer.merged_weight())
    again.unfreeze()
    assert 0 not in again.trainable_ids.tolist()


def test_int64_ids_past_int32_are_refused_not_wrapped():
    """On jax (no x64) Keras casts int64 inputs to int32, which wraps 2**32 + 5 to 5."""
    layer = partial()
    for bad in (2**32 + 5, 2**31):
        with pytest.raises(RowIndexError, match=rf"ids: id {bad} is out of range"):
            layer(np.array([[1, bad]], dtype=np.int64))
    assert np.array_equal(numpy(layer(np.array([5], dtype=np.int64))), table()[[5]])


def test_compat_refuses_an_untested_keras_naming_versions(monkeypatch: pytest.MonkeyPatch):
    from vocabgraft.errors import UnsupportedVersionError
    from vocabgraft.keras._compat import check_version

    check_version("3.15.9")
    for found in ("3.16.0", "3.14.2", "4.0.0"):
        with pytest.raises(
            UnsupportedVersionError, match=rf"Keras {found} is installed.*>=3.15,<3.16"
        ):
            check_version(found)
    monkeypatch.setenv("VOCABGRAFT_KERAS_UNTESTED", "1")
    with pytest.warns(UserWarning, match=r"Keras 3.16.0 is installed"):
        check_version("3.16.0")
