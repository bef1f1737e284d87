"""Drift measures on tiny tables whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from vocabgraft import EmbeddingTable
from vocabgraft.demo.drift import cosine, find_pairs, nearest, row_drift


def test_row_drift_by_group() -> None:
    before = np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 4.0], [1.0, 1.0]], dtype=np.float32)
    after = before.copy()
    after[1] = [0.0, -2.0]  # reversed: L2 4, cosine distance 2
    after[2] = [6.0, 8.0]  # scaled: L2 5, cosine distance 0
    out = row_drift(before, after, {"still": np.array([0, 3]), "moved": np.array([1, 2])})
    assert out["still"] == {
        "rows": 2,
        "moved": 0,
        "mean_l2": 0.0,
        "max_l2": 0.0,
        "mean_cosine_distance": 0.0,
        "max_cosine_distance": 0.0,
    }
    moved = out["moved"]
    assert moved["moved"] == 2
    assert moved["mean_l2"] == pytest.approx(4.5)
    assert moved["max_l2"] == pytest.approx(5.0)
    assert moved["mean_cosine_distance"] == pytest.approx(1.0)
    assert moved["max_cosine_distance"] == pytest.approx(2.0)


def test_row_drift_of_an_empty_group_says_so() -> None:
    assert row_drift(np.eye(2), np.eye(2), {"none": np.array([], dtype=np.int64)}) == {
        "none": {"rows": 0}
    }


def test_cosine_of_a_zero_row_is_zero_not_nan() -> None:
    assert cosine(np.zeros((1, 3)), np.ones((1, 3))).tolist() == [0.0]


def test_nearest_leaves_out_the_word_itself_and_skipped_rows() -> None:
    tokens = ["<pad>", "tv", "television", "radio", "banana"]
    w = np.array([[0, 0], [1, 0.1], [1, 0.12], [0.8, 0.6], [-1, 0]], dtype=np.float64)
    assert nearest(w, tokens, ["tv"], k=2, skip=[0]) == {"tv": ["television", "radio"]}
    assert nearest(w, tokens, ["tv"], k=1, skip=[2]) == {"tv": ["radio"]}


def test_find_pairs_splits_neighbours_by_whether_the_task_vocabulary_has_them() -> None:
    tokens = ["tv", "television", "radio", "banana"]
    w = np.array([[1, 0.1], [1, 0.12], [0.8, 0.6], [-1, 0]], dtype=np.float32)
    table = EmbeddingTable(w, tokens)
    pairs = find_pairs(table, ["tv"], {"tv", "radio"}, skip_top=0)
    assert pairs == {"both_in_vocab": [("tv", "radio")], "one_absent": [("tv", "television")]}
