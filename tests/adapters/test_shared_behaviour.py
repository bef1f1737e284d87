"""Each behaviour of the row core, tested once against the torch module and the Keras layer."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from _adapters import ADAPTERS, Adapter
from hypothesis import given, settings
from hypothesis import strategies as st

from vocabgraft import EmbeddingTable
from vocabgraft.errors import (
    ArgumentError,
    ArgumentTypeError,
    RowIndexError,
    TokenNotFoundError,
    VocabError,
)
from vocabgraft.init import Mean
from vocabgraft.rows import PartialRows

pytestmark = [pytest.mark.torch, pytest.mark.keras]


def test_both_adapters_are_the_shared_core(adapter: Adapter):
    assert issubclass(adapter.cls, PartialRows)


def test_from_table_refuses_to_train_the_pad_row(adapter: Adapter, padded: EmbeddingTable):
    with pytest.raises(RowIndexError, match=r"^id 0 is the padding row, which never trains"):
        adapter.cls.from_table(padded, trainable=["<pad>", "a"])


def test_unfreeze_never_trains_the_pad_row(adapter: Adapter, padded: EmbeddingTable):
    emb = adapter.cls.from_table(padded, trainable=["a"])
    assert emb.padding_idx == padded.vocab.pad_id == 0
    emb.unfreeze()
    assert adapter.trainable(emb) == [1, 2, 3, 4, 5]
    with pytest.raises(RowIndexError, match=r"id 0 is the padding row"):
        emb.unfreeze(["<pad>"])


def test_tokens_resolve_through_the_vocabulary(adapter: Adapter, padded: EmbeddingTable):
    emb = adapter.cls.from_table(padded, trainable=["c", "a"])
    assert adapter.trainable(emb) == [2, 4]
    with pytest.raises(TokenNotFoundError, match=r"token 'zebra' is not in the vocabulary"):
        emb.freeze(["zebra"])
    bare = adapter.cls.from_pretrained(padded.vectors, trainable=[1])
    kind = "module" if adapter.name == "torch" else "layer"
    with pytest.raises(ArgumentTypeError, match=rf"are tokens, but this {kind} has no vocabulary"):
        bare.unfreeze(["a"])


@pytest.mark.parametrize(
    ("ids", "bad"), [([[1, 6]], 6), ([-2, 3], -2)], ids=["past-the-end", "negative"]
)
def test_one_range_check_and_one_message(adapter: Adapter, padded: EmbeddingTable, ids, bad):
    emb = adapter.cls.from_table(padded, trainable=["a"])
    message = rf"^ids: id {bad} is out of range for a table of 6 rows \(valid ids 0\.\.5\)$"
    with pytest.raises(RowIndexError, match=message):
        adapter.lookup(emb, np.array(ids))


def test_int64_ids_past_int32_are_refused_before_any_cast(adapter: Adapter, padded):
    emb = adapter.cls.from_table(padded, trainable=["a"])
    with pytest.raises(RowIndexError, match=r"id 4294967301 is out of range"):
        adapter.lookup(emb, np.array([2**32 + 5], dtype=np.int64))


def test_freeze_semantics_of_from_pretrained(adapter: Adapter, padded: EmbeddingTable):
    frozen = adapter.cls.from_pretrained(padded.vectors)  # freeze=True by default
    assert adapter.trainable(frozen) == []
    whole = adapter.cls.from_pretrained(padded.vectors, freeze=False, padding_idx=0)
    assert adapter.trainable(whole) == [1, 2, 3, 4, 5]
    with pytest.raises(ArgumentError, match=r"freeze=False trains every row, and trainable="):
        adapter.cls.from_pretrained(padded.vectors, trainable=[1], freeze=False)
    with pytest.raises(RowIndexError, match=r"trainable id set is empty \(table of 6 rows\)"):
        adapter.cls.from_pretrained(padded.vectors, trainable=[])
    frozen.unfreeze([3])
    assert adapter.trainable(frozen) == [3]
    assert np.array_equal(adapter.merged(frozen), padded.vectors)


def test_fresh_table_trains_every_row_until_rows_are_frozen(adapter: Adapter):
    emb = adapter.cls(8, 3, padding_idx=2)
    assert adapter.trainable(emb) == [0, 1, 3, 4, 5, 6, 7]
    before = adapter.merged(emb)
    emb.freeze([0, 5])
    assert adapter.trainable(emb) == [1, 3, 4, 6, 7]
    assert emb.row_map.patch_ids.tolist() == [0, 5]
    assert np.array_equal(adapter.merged(emb), before)
    assert np.array_equal(adapter.lookup(emb, np.arange(8)), before)


def test_extend_refuses_bad_requests_and_changes_nothing(adapter: Adapter, padded):
    emb = adapter.cls.from_table(padded, trainable=["a"])
    cases = [
        (["b"], VocabError, r"token 'b' is already in the vocabulary at id 3"),
        (["x", "x"], VocabError, r"token 'x' is repeated in the tokens to add"),
        (2, VocabError, r"has a vocabulary, so new rows need tokens"),
    ]
    for rows, error, match in cases:
        with pytest.raises(error, match=match):
            emb.extend(rows)
    with pytest.raises(ArgumentError, match=r"pass seed or generator, not both"):
        emb.extend(["x"], init="normal", seed=1, generator=np.random.default_rng(1))
    assert emb.row_map.num_rows == 6 and len(emb.vocab) == 6


def test_whole_table_warning(adapter: Adapter, padded: EmbeddingTable):
    emb = adapter.cls.from_table(padded, trainable=["a"])
    emb.large_table_bytes = 16
    with pytest.warns(UserWarning, match=r"all 6 rows of the table now train"):
        emb.unfreeze()
    quiet = adapter.cls.from_table(padded, trainable=["a"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        quiet.unfreeze(["b"])


def test_both_adapters_grow_a_real_table_to_the_same_rows(glove: EmbeddingTable):
    """GloVe rows: the same calls give the same table, bit for bit, in torch and in Keras."""
    task = glove.subset(["movie", "film", "plot", "actor", "boring", "great"])
    tables = []
    for adapter in ADAPTERS:
        emb = adapter.cls.from_table(task, trainable=["plot"])
        emb.extend(["<special>", "<unk>"], init=Mean(noise=0.1), seed=3)
        emb.freeze(["<special>"])
        emb.unfreeze(["film"])
        assert emb.vocab.tokens[-2:] == ["<special>", "<unk>"]
        tables.append(adapter.merged(emb))
        assert np.array_equal(adapter.lookup(emb, np.arange(8)), tables[-1])
    assert np.array_equal(tables[0], tables[1])
    assert np.array_equal(tables[0][:6], np.asarray(task.vectors))


_change = st.one_of(
    st.tuples(st.just("freeze"), st.sets(st.integers(0, 9), min_size=1, max_size=3)),
    st.tuples(st.just("unfreeze"), st.sets(st.integers(1, 9), min_size=1, max_size=3)),
    st.tuples(st.just("extend"), st.integers(1, 2)),
)


@settings(max_examples=15, deadline=None)
@given(
    first=st.sets(st.integers(1, 9), min_size=1, max_size=4), steps=st.lists(_change, max_size=4)
)
def test_any_change_sequence_gives_the_same_layout_and_values_in_both(first, steps):
    base = np.random.default_rng(5).normal(size=(10, 3)).astype(np.float32)
    results = []
    for adapter in ADAPTERS:
        emb = adapter.cls.from_pretrained(base, trainable=sorted(first), padding_idx=0)
        for k, (op, arg) in enumerate(steps):
            if op == "extend":
                emb.extend(arg, init=np.full((arg, 3), float(k), np.float32))
            else:
                getattr(emb, op)(sorted(arg))
        n = emb.row_map.num_rows
        results.append(
            (
                adapter.trainable(emb),
                emb.row_map.patch_ids.tolist(),
                adapter.lookup(emb, np.arange(n)),
            )
        )
    (ids_t, patch_t, rows_t), (ids_k, patch_k, rows_k) = results
    assert ids_t == ids_k and patch_t == patch_k
    assert np.array_equal(rows_t, rows_k)
    assert 0 not in ids_t
