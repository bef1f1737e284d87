"""PartialEmbedding in training: frozen rows stay bit-identical, the layout changes mid-life,
optimizer state is handed over, models save and load exactly, and the asker's GloVe model.

Run by test_keras_backends.py in one process per Keras backend (KERAS_BACKEND set);
not collected on its own (the file name does not start with ``test_``).
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
from _kit import BACKEND, LENGTH, V, data, model_over, numpy, partial, slot_state, table

from vocabgraft import EmbeddingTable, Vocab
from vocabgraft.errors import VocabgraftError
from vocabgraft.keras import PartialEmbedding, UnfreezeAt

pytestmark = pytest.mark.keras

OPTIMIZERS = {
    "adamw-wd": lambda: keras.optimizers.AdamW(learning_rate=0.05, weight_decay=0.1),
    "sgd-momentum": lambda: keras.optimizers.SGD(learning_rate=0.5, momentum=0.9),
}


def frozen_ids(layer: PartialEmbedding) -> np.ndarray:
    return np.setdiff1d(np.arange(layer.input_dim), layer.trainable_ids)


@pytest.mark.parametrize("make_opt", OPTIMIZERS.values(), ids=OPTIMIZERS.keys())
def test_frozen_rows_bit_identical_after_fit(make_opt):
    base = table()
    layer = PartialEmbedding.from_pretrained(base, trainable=[3, 7, 20, 59])
    model = model_over(layer, make_opt())
    x, y = data()
    model.fit(x, y, epochs=3, batch_size=16, verbose=0)
    merged = layer.merged_weight()
    frozen = frozen_ids(layer)
    assert np.array_equal(merged[frozen], base[frozen])
    assert np.array_equal(numpy(layer.base), base)
    assert (merged[[3, 7, 20, 59]] != base[[3, 7, 20, 59]]).any(axis=1).all()
    # Only the compact rows are trainable: optimizer state is K x D, not V x D.
    shapes = {v.name: tuple(v.shape) for v in model.optimizer.variables}
    assert all(s[0] == 4 for n, s in shapes.items() if "rows" in n)
    assert not any("base" in n for n in shapes)


def test_extend_with_model_keeps_training_and_hands_over_optimizer_state():
    """The one way to change a compiled model's layer: pass model= (or call rebind(model))."""
    base = table()
    layer = PartialEmbedding.from_pretrained(base, trainable=[3, 7, 20])
    model = model_over(layer)
    x, y = data()
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    steps = int(numpy(model.optimizer.iterations))
    head = slot_state(model, "head_kernel_momentum")
    rows_m = numpy(next(v for v in model.optimizer.variables if v.name.endswith("rows_momentum")))
    trained = layer.merged_weight()

    new = layer.extend(2, init="mean", model=model)  # ids 60, 61, trainable
    layer.unfreeze([5], model=model)
    assert new.tolist() == [V, V + 1] and layer.trainable_ids.tolist() == [3, 5, 7, 20, 60, 61]
    assert int(numpy(model.optimizer.iterations)) == steps  # schedules and bias correction go on
    for name, value in head.items():  # other weights keep their state
        assert np.array_equal(slot_state(model, "head_kernel_momentum")[name], value)
    moved = numpy(next(v for v in model.optimizer.variables if v.name.endswith("rows_momentum")))
    assert np.array_equal(moved[[0, 2, 3]], rows_m)  # rows that stayed keep theirs
    assert not moved[[1, 4, 5]].any()  # unfrozen and new rows start at zero

    start = layer.merged_weight()
    x2 = np.concatenate([x, np.array([[60, 61, 5, 1, 2, 9]] * 8)])
    y2 = np.concatenate([y, np.ones((8, 1), np.float32)])
    model.fit(x2, y2, epochs=2, batch_size=16, verbose=0)
    assert model.predict(x2[-2:], verbose=0).shape == (2, 1)
    merged = layer.merged_weight()
    frozen = frozen_ids(layer)
    assert np.array_equal(merged[frozen], trained[frozen])
    assert (merged[[5, 60, 61]] != start[[5, 60, 61]]).any(axis=1).all()  # they trained


def test_changes_before_the_first_fit_need_no_hand_over_and_later_ones_map_right():
    layer = partial([3, 7, 20])
    model = model_over(layer)
    layer.freeze([7])  # the optimizer is not built yet: nothing to hand over
    layer.extend(1)
    x, y = data()
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    assert layer.trainable_ids.tolist() == [3, 20, 60]
    momentum = slot_state(model, "rows_momentum")
    layer.unfreeze([1, 7], model=model)
    moved = slot_state(model, "rows_momentum")
    (before,), (after,) = momentum.values(), moved.values()
    assert layer.trainable_ids.tolist() == [1, 3, 7, 20, 60]
    assert np.array_equal(after[[1, 3, 4]], before)  # 3, 20 and 60 keep theirs
    assert not after[[0, 2]].any()


def test_freeze_with_model_stops_rows_despite_momentum():
    layer = partial([3, 7, 20])
    model = model_over(layer, keras.optimizers.SGD(learning_rate=0.5, momentum=0.9))
    x, y = data()
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    layer.freeze([7], model=model)
    before = layer.merged_weight()
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    after = layer.merged_weight()
    assert layer.trainable_ids.tolist() == [3, 20] and layer.row_map.patch_ids.tolist() == [7]
    assert np.array_equal(after[7], before[7])
    assert (after[[3, 20]] != before[[3, 20]]).any(axis=1).all()


def trained_model() -> tuple[PartialEmbedding, keras.Model]:
    layer = partial()
    model = model_over(layer)
    x, y = data()
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    return layer, model


def test_a_change_not_handed_over_makes_fit_raise():
    """Keras refuses the replaced weight (on jax that failed first step also leaves the
    model's variables empty, as any failure there does: hand over before fit). On
    tensorflow nothing raises: the traced step goes on training the old weight, and
    the layer's rows do not move."""
    layer, model = trained_model()
    layer.extend(1)
    if BACKEND == "tensorflow":
        before = layer.merged_weight()
        model.fit(*data(), epochs=1, batch_size=16, verbose=0)
        assert np.array_equal(layer.merged_weight(), before)
        return
    with pytest.raises(ValueError, match=r"Unknown variable|StatelessScope"):
        model.fit(*data(), epochs=1, batch_size=16, verbose=0)


def test_recompiling_with_the_old_optimizer_instance_raises_in_fit():
    layer, model = trained_model()
    layer.unfreeze([1])
    model.compile(model.optimizer, loss="mse")  # built for the old weights
    with pytest.raises(ValueError, match=r"Unknown variable|StatelessScope"):
        model.fit(*data(), epochs=1, batch_size=16, verbose=0)


def test_recompiling_with_a_new_optimizer_starts_all_its_state_from_zero():
    """The alternative to a hand-over, documented: every weight's optimizer state restarts."""
    layer, model = trained_model()
    layer.extend(1)
    model.compile(keras.optimizers.AdamW(learning_rate=0.05), loss="mse")
    assert not model.optimizer.built and int(numpy(model.optimizer.iterations)) == 0
    model.fit(*data(), epochs=1, batch_size=16, verbose=0)
    assert int(numpy(model.optimizer.iterations)) == 4  # counted from zero again


def test_rebind_needs_the_model_that_holds_the_layer():
    layer = partial()
    other = model_over(partial())
    with pytest.raises(VocabgraftError, match=r"does not contain this layer"):
        layer.rebind(other)


def test_two_layers_changed_are_handed_over_together():
    a, b = partial([1, 2]), partial([5])
    keras.utils.set_random_seed(0)
    inputs = keras.Input((LENGTH,), dtype="int32")
    joined = keras.layers.Concatenate()([a(inputs), b(inputs)])
    model = keras.Model(
        inputs, keras.layers.Dense(1)(keras.layers.GlobalAveragePooling1D()(joined))
    )
    model.compile(keras.optimizers.Adam(0.05), loss="mse")
    x, y = data()
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    a.unfreeze([9])
    b.extend(1)
    a.rebind(model)
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    assert a.trainable_ids.tolist() == [1, 2, 9] and b.trainable_ids.tolist() == [5, V]


@pytest.mark.parametrize("by", ["layer", "name"], ids=["layer", "name"])
def test_unfreeze_at_trains_the_table_from_that_epoch_on(by):
    base = table()
    layer = PartialEmbedding.from_pretrained(base, trainable=[3], name="emb")
    model = model_over(layer)
    snapshots = []
    record = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: snapshots.append(layer.merged_weight())
    )
    schedule = UnfreezeAt(epoch=2, layer=layer if by == "layer" else "emb", ids=[10, 11])
    x, y = data()
    x[:, 0] = 10  # every batch uses the rows to unfreeze
    history = model.fit(x, y, epochs=4, batch_size=16, verbose=0, callbacks=[schedule, record])
    assert schedule.fired_at == 2 and len(history.history["loss"]) == 4
    assert layer.trainable_ids.tolist() == [3, 10, 11]
    assert np.array_equal(snapshots[1][[10, 11]], base[[10, 11]])  # frozen for epochs 0 and 1
    assert (snapshots[2][10] != base[10]).any()  # trained from epoch 2
    assert int(numpy(model.optimizer.iterations)) == 16  # one optimizer life, 4 x 4 steps
    frozen = frozen_ids(layer)
    assert np.array_equal(snapshots[-1][frozen], base[frozen])


def test_unfreeze_at_fires_at_the_first_epoch_when_resuming_past_it():
    layer = partial()
    model = model_over(layer)
    schedule = UnfreezeAt(epoch=1, layer=layer)
    x, y = data()
    model.fit(x, y, initial_epoch=3, epochs=4, batch_size=32, verbose=0, callbacks=[schedule])
    assert schedule.fired_at == 3 and layer.row_map.num_trainable == V
    with pytest.raises(ValueError, match=r"`epoch` must be a non-negative integer"):
        UnfreezeAt(epoch=-1, layer=layer)


def test_keras_file_round_trip_is_exact(tmp_path: Path, small_table: EmbeddingTable):
    layer = PartialEmbedding.from_table(small_table, trainable=["cat", "mat"], mask_zero=False)
    keras.utils.set_random_seed(0)
    inputs = keras.Input((LENGTH,), dtype="int32")
    model = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.Flatten()(layer(inputs))))
    model.compile(keras.optimizers.AdamW(0.05, weight_decay=0.1), loss="mse")
    x, y = data(rows=len(small_table))
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    layer.extend(["<special>", "<unk>"], init="mean", model=model)
    layer.freeze(["mat"], model=model)
    x[:, 1] = len(small_table)
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)

    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    again = loaded.layers[1]
    assert isinstance(again, PartialEmbedding)
    assert again.get_config() == layer.get_config()
    assert np.array_equal(again.merged_weight(), layer.merged_weight())
    for name in ("base", "rows", "patch"):
        assert np.array_equal(numpy(getattr(again, name)), numpy(getattr(layer, name)))
    assert again.vocab is not None and again.vocab.tokens == layer.vocab.tokens  # type: ignore[union-attr]
    ids = np.arange(len(small_table) + 2).reshape(-1, 1).repeat(LENGTH, axis=1)
    assert np.array_equal(loaded.predict(ids, verbose=0), model.predict(ids, verbose=0))
    state = {v.name: numpy(v) for v in model.optimizer.variables}
    for v in loaded.optimizer.variables:
        assert np.array_equal(numpy(v), state[v.name]), v.name
    loaded.fit(x, y, epochs=1, batch_size=16, verbose=0)  # and it goes on training


def test_weights_file_refuses_another_layout(tmp_path: Path):
    layer = partial()
    model = model_over(layer)
    layer.extend(1)
    model.save_weights(tmp_path / "w.weights.h5")
    fresh = model_over(partial())
    # Keras gathers loading errors into one ValueError that quotes ours.
    with pytest.raises(ValueError, match=r"saved weights have 4 trainable ids but this"):
        fresh.load_weights(tmp_path / "w.weights.h5")


@pytest.mark.slow
def test_glove_plus_a_trainable_special_token(glove: EmbeddingTable):
    """The asker's model: GloVe rows frozen, a special token and the OOV row trained."""
    words = ["the", "movie", "was", "good", "bad", "great", "awful", "plot", "acting", "boring"]
    task = glove.subset(words)
    layer = PartialEmbedding.from_table(task, add=["<special>", "<unk>"], init="mean", seed=0)
    vocab: Vocab = layer.vocab  # type: ignore[assignment]
    special, unk = vocab.lookup_exact(["<special>", "<unk>"]).tolist()
    rng = np.random.default_rng(0)
    x = rng.integers(0, len(words), (64, LENGTH))
    x[:, 0] = special
    x[::2, 1] = unk
    y = (x == vocab["good"]).any(axis=1, keepdims=True).astype(np.float32)
    keras.utils.set_random_seed(0)
    inputs = keras.Input((LENGTH,), dtype="int32")
    pooled = keras.layers.GlobalAveragePooling1D()(layer(inputs))
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(pooled))
    model.compile(keras.optimizers.AdamW(0.01, weight_decay=0.01), loss="binary_crossentropy")
    start = layer.merged_weight()
    model.fit(x, y, epochs=3, batch_size=16, verbose=0)
    merged = layer.merged_weight()
    glove_rows = np.asarray(glove.vectors[glove.vocab.lookup_exact(words)])
    assert np.array_equal(merged[: len(words)], glove_rows)  # every GloVe row bit-identical
    assert (merged[[special, unk]] != start[[special, unk]]).any(axis=1).all()
    assert [w.name for w in model.trainable_weights if w.path.startswith(layer.name)] == ["rows"]
