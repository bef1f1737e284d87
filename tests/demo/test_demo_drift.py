"""The demo's word pairs on a tiny table whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from vocabgraft import EmbeddingTable
from vocabgraft.demo.drift import find_pairs


def test_find_pairs_splits_neighbours_by_whether_the_task_vocabulary_has_them() -> None:
    tokens = ["tv", "television", "radio", "banana"]
    w = np.array([[1, 0.1], [1, 0.12], [0.8, 0.6], [-1, 0]], dtype=np.float32)
    table = EmbeddingTable(w, tokens)
    pairs = find_pairs(table, ["tv"], {"tv", "radio"}, skip_top=0)
    assert pairs == {"both_in_vocab": [("tv", "radio")], "one_absent": [("tv", "television")]}
