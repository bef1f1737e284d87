"""PartialEmbedding as a layer: lookups, masking, config, bad ids, construction, warmstart.

Run by test_keras_backends.py in one process per Keras backend (KERAS_BACKEND set);
not collected on its own (the file name does not start with ``test_``).
"""

from __future__ import annotations

import doctest
import warnings

import keras
import numpy as np
import pytest
from _kit import BACKEND, LENGTH, D, V, model_over, numpy, partial, table
from hypothesis import given, settings
from hypothesis import strategies as st

import vocabgraft.keras._warmstart
import vocabgraft.keras.embedding
from vocabgraft import EmbeddingTable, Vocab
from vocabgraft.errors import RowIndexError, TokenNotFoundError, VocabError, VocabgraftError
from vocabgraft.init import Copy, Mean
from vocabgraft.keras import PartialEmbedding, warmstart

pytestmark = pytest.mark.keras


def reference(layer: PartialEmbedding) -> keras.layers.Embedding:
    merged = layer.merged_weight()
    return keras.layers.Embedding(
        merged.shape[0], merged.shape[1], weights=[merged], mask_zero=layer.mask_zero
    )


def mixed_layout() -> PartialEmbedding:
    """Trainable rows, a patched row and two appended rows, all different from the base."""
    layer = partial([1, 4, 9, 30])
    layer.extend(2, init=np.full((2, D), 0.5, np.float32))
    layer.freeze([4])
    layer.build()
    layer.rows.assign(numpy(layer.rows) + 1.0)  # as if trained
    return layer


@pytest.mark.parametrize(
    "shape", [(7,), (3, 4), (2, 3, 5), (0,), ()], ids=["1d", "2d", "3d", "empty", "scalar"]
)
@pytest.mark.parametrize("id_dtype", ["int32", "int64"], ids=["i32", "i64"])
def test_output_equals_embedding_on_merged_table(shape, id_dtype):
    layer = mixed_layout()
    assert layer.row_map.num_patched == 1 and layer.input_dim == V + 2
    ids = np.random.default_rng(0).integers(0, V + 2, shape).astype(id_dtype)
    out = numpy(layer(ids))
    assert out.shape == (*shape, D)
    assert np.array_equal(out, numpy(reference(layer)(ids)))


@pytest.mark.parametrize(
    "policy", ["float32", "float64", "mixed_bfloat16"], ids=["f32", "f64", "mixed-bf16"]
)
def test_dtype_policies_follow_embedding(policy):
    layer = PartialEmbedding.from_pretrained(table(), trainable=[2, 5], dtype=policy)
    layer.extend(1, init="mean")
    merged = layer.merged_weight()
    theirs = keras.layers.Embedding(V + 1, D, weights=[merged], dtype=policy)
    ids = np.array([[2, 5, 9, V]])
    out, expected = layer(ids), theirs(ids)
    assert out.dtype == expected.dtype  # jax without x64 computes float64 in float32, as Keras does
    assert numpy(layer.base).dtype == numpy(theirs.embeddings).dtype
    assert np.array_equal(numpy(out), numpy(expected))


def test_output_equals_embedding_inside_predict():
    """The traced path (jit on jax) gives the same rows as the eager one."""
    layer = mixed_layout()
    ids = np.random.default_rng(1).integers(0, V + 2, (16, LENGTH))
    inputs = keras.Input((LENGTH,), dtype="int32")
    ours = keras.Model(inputs, layer(inputs))
    theirs = keras.Model(inputs, reference(layer)(inputs))
    assert np.array_equal(ours.predict(ids, verbose=0), theirs.predict(ids, verbose=0))


def test_float_ids_are_cast_as_embedding_does():
    layer = partial()
    ids = np.array([[3.0, 5.0]], dtype=np.float32)
    assert np.array_equal(numpy(layer(ids)), numpy(reference(layer)(ids)))


def test_one_sgd_step_moves_rows_as_a_trainable_embedding_would():
    """Repeated ids accumulate gradient; the step equals a trainable Embedding's on those rows."""
    ids = np.array([[3, 3, 7, 0, 3, 20]] * 4)
    y = np.ones((4, 1), np.float32)
    ours = partial()
    dense = keras.layers.Embedding(V, D, weights=[table()])
    sgd = lambda: keras.optimizers.SGD(learning_rate=1.0)  # noqa: E731
    m1, m2 = model_over(ours, sgd()), model_over(dense, sgd())
    m1.train_on_batch(ids, y)
    m2.train_on_batch(ids, y)
    np.testing.assert_allclose(
        numpy(ours.rows), numpy(dense.embeddings)[[3, 7, 20]], rtol=1e-6, atol=1e-7
    )


def test_mask_zero_masks_like_embedding_and_padding_never_trains():
    layer = partial([3, 7], mask_zero=True)
    ids = np.array([[0, 3, 5, 0], [7, 0, 0, 0]])
    assert np.array_equal(numpy(layer.compute_mask(ids)), numpy(reference(layer).compute_mask(ids)))
    inputs = keras.Input((4,), dtype="int32")
    pooled = keras.layers.GlobalAveragePooling1D()  # uses the mask
    ours = keras.Model(inputs, pooled(layer(inputs)))
    theirs = keras.Model(inputs, pooled(reference(layer)(inputs)))
    assert np.array_equal(ours.predict(ids, verbose=0), theirs.predict(ids, verbose=0))
    with pytest.raises(RowIndexError, match=r"id 0 is the padding row, which never trains"):
        partial([0, 3], mask_zero=True)
    layer.unfreeze()
    assert layer.trainable_ids.tolist() == list(range(1, V))


def test_no_mask_without_mask_zero():
    assert partial().compute_mask(np.array([[0, 1]])) is None


def test_bad_ids_raise_a_clear_error_in_eager_calls():
    layer = mixed_layout()
    with pytest.raises(RowIndexError, match=r"id 62 is out of range for a table of 62 rows"):
        layer(np.array([[1, 62]]))
    with pytest.raises(RowIndexError, match=r"ids: id -1 is out of range for a table of 62 rows"):
        layer(np.array([-1, 3]))
    with pytest.raises(IndexError, match=r"valid ids 0\.\.61"):  # RowIndexError is an IndexError
        layer(np.array([100]))


def test_bad_ids_inside_predict_follow_the_documented_backend_behaviour():
    """jax (jit): out-of-range ids give NaN rows, the rest are exact. torch (eager): raise.
    tensorflow (graph): tf.gather raises, naming the index."""
    layer = mixed_layout()
    inputs = keras.Input((4,), dtype="int32")
    model = keras.Model(inputs, layer(inputs))
    ids = np.array([[1, 62, -1, 60], [-63, 4, 9, 1000]])
    if BACKEND == "jax":
        out = model.predict(ids, verbose=0)
        bad = np.array([[False, True, True, False], [True, False, False, True]])
        assert np.isnan(out[bad]).all()
        good = np.where(bad, 0, ids)
        assert np.array_equal(out[~bad], numpy(reference(layer)(good))[~bad])
    elif BACKEND == "tensorflow":
        import tensorflow as tf

        with pytest.raises(tf.errors.InvalidArgumentError, match=r"indices\[.*\] = .* is not in"):
            model.predict(ids, verbose=0)
    else:
        with pytest.raises(RowIndexError, match=r"id -63 is out of range"):
            model.predict(ids, verbose=0)


def test_check_ids_off_skips_the_check_but_not_the_lookup():
    layer = partial(check_ids=False)
    ids = np.array([[3, 5, 7]])
    assert np.array_equal(numpy(layer(ids)), numpy(reference(layer)(ids)))


def test_get_config_round_trip_keeps_layout_and_is_small():
    layer = mixed_layout()
    config = layer.get_config()
    assert config["trainable_ids"] == [[1, 2], [9, 10], [30, 31], [60, 62]]
    assert config["patch_ids"] == [[4, 5]]
    again = PartialEmbedding.from_config(config)
    assert again.get_config() == config
    assert again.row_map.slots.tolist() == layer.row_map.slots.tolist()
    layer.unfreeze()
    assert layer.get_config()["trainable_ids"] == [[0, 62]]  # every row, one run


def test_registered_as_serializable():
    assert keras.saving.get_registered_object("vocabgraft>PartialEmbedding") is PartialEmbedding
    layer = keras.layers.deserialize(keras.layers.serialize(partial()))
    assert isinstance(layer, PartialEmbedding)


def test_weights_the_keras_way():
    layer = partial()
    layer.build()
    assert [w.name for w in layer.trainable_weights] == ["rows"]
    assert sorted(w.name for w in layer.non_trainable_weights) == ["base", "patch", "slots"]
    assert numpy(layer.rows).shape == (3, D)
    layer.trainable = False  # Keras: the whole layer, every row
    assert layer.trainable_weights == []


def test_layer_is_built_by_build_not_init():
    layer = partial()
    assert not layer.built and layer.weights == []
    layer(np.array([1]))
    assert layer.built


def test_constructor_validates_arguments():
    with pytest.raises(ValueError, match=r"`input_dim` must be a positive integer. Received: "):
        PartialEmbedding(3.5, 4, trainable_ids=[0])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"`output_dim` must be a positive integer"):
        PartialEmbedding(10, 0, trainable_ids=[0])
    with pytest.raises(ValueError, match=r"weights have shape \(10, 4\), but the base table is"):
        PartialEmbedding(10, 5, trainable_ids=[0], weights=np.zeros((10, 4), np.float32))
    with pytest.raises(ValueError, match=r"weights must be floating point"):
        PartialEmbedding.from_pretrained(np.zeros((4, 2), np.int64), trainable=[0])
    with pytest.raises(ValueError, match=r"weights must be 2-D"):
        PartialEmbedding.from_pretrained(np.zeros(4, np.float32), trainable=[0])
    with pytest.raises(RowIndexError, match=r"the trainable id set is empty .* nothing would"):
        partial([])
    with pytest.raises(RowIndexError, match=r"trainable ids: id 60 is out of range"):
        partial([60])
    with pytest.raises(RowIndexError, match=r"trainable ids must be integers"):
        partial([1.5])
    with pytest.raises(VocabgraftError, match=r"are tokens, but this layer has no vocabulary"):
        partial(["cat"])
    with pytest.raises(ValueError, match=r"`num_base` \(8\) cannot exceed `input_dim` \(5\)"):
        PartialEmbedding(5, 2, num_base=8, trainable_ids=[0])


def test_from_table_takes_tokens_and_keeps_its_own_vocab(small_table: EmbeddingTable):
    layer = PartialEmbedding.from_table(small_table, trainable=["cat", "mat"])
    assert layer.trainable_ids.tolist() == small_table.vocab.lookup_exact(["cat", "mat"]).tolist()
    ids = layer.extend(["dog"], init=Copy("cat"))
    assert ids.tolist() == [len(small_table)]
    assert "dog" in layer.vocab and "dog" not in small_table.vocab
    row = numpy(layer(np.array([ids[0]])))[0]
    assert np.array_equal(row, small_table.vectors[small_table.vocab["cat"]])
    with pytest.raises(TokenNotFoundError, match=r"token 'zebra' is not in the vocabulary"):
        PartialEmbedding.from_table(small_table, trainable=["zebra"])


def test_extend_refuses_known_repeated_and_anonymous_rows(small_table: EmbeddingTable):
    layer = PartialEmbedding.from_table(small_table, trainable=["cat"])
    with pytest.raises(VocabError, match=r"token 'cat' is already in the vocabulary at id 1"):
        layer.extend(["new", "cat"])
    with pytest.raises(VocabError, match=r"token 'x' is repeated in the tokens to add"):
        layer.extend(["x", "y", "x"])
    with pytest.raises(VocabError, match=r"new rows need tokens: pass extend\(tokens\)"):
        layer.extend(2)
    assert layer.input_dim == len(small_table)  # nothing changed
    with pytest.raises(VocabgraftError, match=r"extend got tokens, but this layer has no vocab"):
        partial().extend(["x"])
    with pytest.raises(VocabgraftError, match=r"extend needs a positive number of rows"):
        partial().extend(0)


def test_add_appends_trainable_rows_from_an_initializer():
    base = table()
    layer = PartialEmbedding.from_pretrained(base, add=2, init=Mean())
    assert layer.trainable_ids.tolist() == [V, V + 1]
    expected = base.astype(np.float64).mean(axis=0).astype(np.float32)
    assert np.array_equal(numpy(layer(np.array([V, V + 1]))), np.stack([expected] * 2))
    assert np.array_equal(numpy(layer(np.array([5]))), base[[5]])


def test_extend_before_and_after_build_agree():
    early, late = partial(), partial()
    late.build()
    for layer in (early, late):
        layer.extend(3, init="normal", seed=4)
        layer.freeze([7])
        layer.unfreeze([11])
    assert np.array_equal(early.merged_weight(), late.merged_weight())
    assert {**early.get_config(), "name": ""} == {**late.get_config(), "name": ""}


def test_from_embedding_copies_rows_mask_and_constraint():
    embedding = keras.layers.Embedding(V, D, mask_zero=True)
    with pytest.raises(VocabgraftError, match=r"is not built, so it has no rows yet"):
        PartialEmbedding.from_embedding(embedding, trainable=[1])
    embedding.build()
    layer = PartialEmbedding.from_embedding(embedding, trainable=[1, 2])
    ids = np.array([[0, 1, 2, 9]])
    assert layer.mask_zero
    assert np.array_equal(numpy(layer(ids)), numpy(embedding(ids)))
    with pytest.raises(TypeError, match=r"from_embedding takes a keras.layers.Embedding"):
        PartialEmbedding.from_embedding(keras.layers.Dense(3), trainable=[1])  # type: ignore[arg-type]
    constrained = keras.layers.Embedding(V, D, embeddings_constraint="non_neg")
    constrained.build()
    layer = PartialEmbedding.from_embedding(constrained, trainable=[1])
    assert layer.embeddings_constraint is constrained.embeddings_constraint


def test_merge_gives_a_plain_embedding_with_the_same_outputs():
    layer = mixed_layout()
    merged = layer.merge()
    ids = np.arange(V + 2).reshape(2, -1)
    assert type(merged) is keras.layers.Embedding
    assert np.array_equal(numpy(merged(ids)), numpy(layer(ids)))


def test_unfreezing_a_large_table_warns():
    layer = partial()
    layer.large_table_bytes = 100
    with pytest.warns(UserWarning, match=r"all 60 rows of the table now train"):
        layer.unfreeze()
    small = partial()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        small.unfreeze([5])


@settings(max_examples=25, deadline=None)
@given(
    trainable=st.sets(st.integers(1, 19), min_size=1, max_size=6),
    steps=st.lists(
        st.one_of(
            st.tuples(st.just("freeze"), st.sets(st.integers(0, 24), min_size=1, max_size=4)),
            st.tuples(st.just("unfreeze"), st.sets(st.integers(1, 24), min_size=1, max_size=4)),
            st.tuples(st.just("extend"), st.integers(1, 3)),
        ),
        max_size=4,
    ),
)
def test_any_change_sequence_keeps_ids_and_values(trainable, steps):
    """Whatever is frozen, unfrozen or appended, every id keeps its value, and a fresh
    layer from the config with the same weights gives the same rows."""
    base = table(20, 3)
    layer = PartialEmbedding.from_pretrained(base, trainable=sorted(trainable))
    expected = base.copy()
    for k, (op, arg) in enumerate(steps):
        if op == "extend":
            new = np.full((arg, 3), float(k + 10), np.float32)
            layer.extend(arg, init=new)
            expected = np.concatenate([expected, new])
        else:
            ids = [i for i in arg if i < layer.input_dim]
            if ids:
                getattr(layer, op)(ids)
    ids = np.arange(layer.input_dim)
    assert np.array_equal(numpy(layer(ids)), expected)
    again = PartialEmbedding.from_config(layer.get_config())
    again.build()
    for name in ("base", "rows", "patch"):
        getattr(again, name).assign(numpy(getattr(layer, name)))
    assert np.array_equal(numpy(again(ids)), expected)


def test_warmstart_moves_rows_by_token_and_initialises_new_ones():
    old = table(4, 3)
    out = warmstart(["a", "b", "c", "d"], ["d", "z", "b", "y"], old, init="mean")
    assert out.dtype == np.float32 and out.shape == (4, 3)
    assert np.array_equal(out[[0, 2]], old[[3, 1]])  # bit for bit
    mean = old.astype(np.float64).mean(axis=0).astype(np.float32)
    assert np.array_equal(out[[1, 3]], np.stack([mean, mean]))
    values = np.ones((2, 3), np.float32)
    assert np.array_equal(warmstart(Vocab(["a"]), ["x", "a", "y"], old[:1], init=values)[1], old[0])
    same = warmstart(["a", "b"], ["b", "a"], old[:2], init=None)
    assert np.array_equal(same, old[[1, 0]])


def test_warmstart_errors_name_the_problem():
    old = table(3, 2)
    with pytest.raises(
        VocabgraftError, match=r"old_weights has 3 rows but the old vocabulary has 2"
    ):
        warmstart(["a", "b"], ["a"], old)
    with pytest.raises(VocabError, match=r"'b'"):
        warmstart(["a", "b", "c"], ["b", "b"], old)
    with pytest.raises(ValueError, match=r"initial values have shape \(1, 2\), but 2 rows"):
        warmstart(["a", "b", "c"], ["x", "y"], old, init=np.zeros((1, 2)))
    with pytest.raises(VocabgraftError, match=r"old_weights must be a 2-D float matrix"):
        warmstart(["a"], ["a"], np.zeros((1, 2), np.int32))


def test_docstring_examples_run():
    for module in (vocabgraft.keras.embedding, vocabgraft.keras._warmstart):
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.failed == 0 and result.attempted > 0, module.__name__
