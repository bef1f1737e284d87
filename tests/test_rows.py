"""RowMap: the framework-neutral bookkeeping of trainable, patched and base rows."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vocabgraft.errors import RowIndexError, VocabgraftError
from vocabgraft.rows.ids import check_row_ids
from vocabgraft.rows.layout import (
    BASE,
    BASE_SOURCE,
    NEW,
    PATCH,
    TRAINABLE,
    LayoutChange,
    RowMap,
)


def apply(
    plan: LayoutChange, base: np.ndarray, rows: np.ndarray, patch: np.ndarray, new: np.ndarray
):
    """Build the new trainable and patch arrays the way a framework adapter does."""
    places = {TRAINABLE: rows, PATCH: patch, BASE_SOURCE: base, NEW: new}
    out = []
    for gather in (plan.trainable, plan.patch):
        arr = np.zeros((len(gather), base.shape[1]))
        for source, values in places.items():
            dst, src = gather.pairs(source)
            arr[dst] = values[src]
        out.append(arr)
    return out


def merged(m: RowMap, base: np.ndarray, rows: np.ndarray, patch: np.ndarray) -> np.ndarray:
    """The full table a map describes."""
    full = np.zeros((m.num_rows, base.shape[1]))
    full[: m.num_base] = base
    full[m.trainable_ids] = rows
    full[m.patch_ids] = patch
    return full


def test_create_sorts_and_slots_ids():
    m = RowMap.create(6, trainable=[4, 1, 4])
    assert m.trainable_ids.tolist() == [1, 4]
    assert m.slots.tolist() == [BASE, 0, BASE, BASE, 1, BASE]
    assert (m.num_trainable, m.num_frozen, m.num_patched) == (2, 4, 0)


def test_freeze_moves_rows_to_patch_and_unfreeze_brings_them_back():
    m = RowMap.create(6, trainable=[1, 4])
    frozen = m.freeze([4]).after
    assert frozen.trainable_ids.tolist() == [1]
    assert frozen.patch_ids.tolist() == [4]
    assert frozen.slots[4] == -2
    back = frozen.unfreeze([4])
    assert back.after.trainable_ids.tolist() == [1, 4]
    assert back.after.patch_ids.tolist() == []
    assert back.trainable.pairs(PATCH)[1].tolist() == [0]


def test_kept_pairs_follow_rows_that_stay_trainable():
    m = RowMap.create(10, trainable=[2, 5, 8])
    plan = m.unfreeze([0, 6])
    new_slot, old_slot = plan.kept
    assert plan.after.trainable_ids[new_slot].tolist() == m.trainable_ids[old_slot].tolist()
    assert plan.after.trainable_ids.tolist() == [0, 2, 5, 6, 8]


def test_extend_places_new_rows_without_touching_old_ids():
    m = RowMap.create(4, trainable=[1])
    plan = m.extend(3)
    assert plan.after.num_rows == 7
    assert plan.after.trainable_ids.tolist() == [1, 4, 5, 6]
    assert plan.trainable.pairs(NEW)[1].tolist() == [0, 1, 2]
    frozen = m.extend(2, trainable=False).after
    assert frozen.patch_ids.tolist() == [4, 5]
    assert frozen.trainable_ids.tolist() == [1]


def test_unfreeze_all_skips_padding():
    m = RowMap.create(5, trainable=[3], padding_idx=-5)
    assert m.padding_idx == 0
    assert m.unfreeze().after.trainable_ids.tolist() == [1, 2, 3, 4]


@pytest.mark.parametrize(
    ("ids", "match"),
    [
        ([7], r"id 7 is out of range for a table of 5 rows"),
        ([-1], r"trainable ids: id -1 is out of range for a table of 5 rows"),
        ([1.5], r"must be integers. Received dtype float64"),
        ([True], r"must be integers. Received dtype bool"),
        ([0], r"id 0 is the padding row"),
    ],
    ids=["too-big", "negative", "float", "bool", "padding"],
)
def test_bad_trainable_ids_are_named(ids, match):
    with pytest.raises(RowIndexError, match=match):
        RowMap.create(5, trainable=ids, padding_idx=0)


def test_empty_id_set_is_an_error_where_one_is_needed():
    m = RowMap.create(5, trainable=[1])
    with pytest.raises(
        RowIndexError, match=r"no ids to unfreeze: the id set is empty \(table of 5"
    ):
        m.unfreeze([])
    with pytest.raises(RowIndexError, match="no ids to freeze"):
        m.freeze(np.array([], dtype=np.int64))


@pytest.mark.parametrize("n", [0, -2, 1.0, True], ids=["zero", "negative", "float", "bool"])
def test_extend_needs_a_positive_count(n):
    with pytest.raises(VocabgraftError, match="extend needs a positive number of rows"):
        RowMap.create(3, trainable=[0]).extend(n)


def test_appended_rows_must_be_placed():
    with pytest.raises(VocabgraftError, match="appended row 3 is neither trainable nor patched"):
        RowMap.from_ids(3, 4, [0])


def test_check_row_ids_accepts_empty_list():
    assert check_row_ids([], 3).tolist() == []


_ops = st.lists(
    st.tuples(
        st.sampled_from(["freeze", "unfreeze", "extend", "extend_frozen", "freeze_all"]),
        st.lists(st.integers(0, 40), min_size=1, max_size=6),
    ),
    max_size=8,
)


@settings(max_examples=150, deadline=None)
@given(ops=_ops, first=st.lists(st.integers(0, 11), max_size=5), seed=st.integers(0, 2**16))
def test_plans_preserve_every_row_value(ops, first, seed):
    """Whatever the sequence of changes, the merged table only gains the appended rows."""
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(12, 3))
    m = RowMap.create(12, trainable=first, padding_idx=5 if 5 not in first else None)
    rows, patch = base[m.trainable_ids], np.zeros((0, 3))
    expected = base.copy()
    for op, ids in ops:
        new = np.zeros((0, 3))
        valid = [i for i in ids if i < m.num_rows and i != m.padding_idx] or [m.num_rows - 1]
        if m.padding_idx in valid:
            continue
        if op == "freeze":
            plan = m.freeze(valid)
        elif op == "freeze_all":
            plan = m.freeze()
        elif op == "unfreeze":
            plan = m.unfreeze(valid)
        else:
            new = rng.normal(size=(len(ids), 3))
            plan = m.extend(len(ids), trainable=op == "extend")
            expected = np.concatenate([expected, new])
        rows, patch = apply(plan, base, rows, patch, new)
        m = plan.after
        np.testing.assert_array_equal(merged(m, base, rows, patch), expected)
        assert (m.slots[m.num_base :] != BASE).all()
        assert sorted(m.trainable_ids.tolist()) == m.trainable_ids.tolist()
        # simulate training: change every trainable row
        rows = rows + 1.0
        expected[m.trainable_ids] += 1.0
