"""The one blockwise cosine top-k: the answer of a full sort, whatever the block size."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vocabgraft.datasets import glove_6b_50d
from vocabgraft.errors import ArgumentError, ArgumentTypeError
from vocabgraft.table.topk import topk


def _brute(q: np.ndarray, rows: np.ndarray, exclude: list[int]) -> np.ndarray:
    """Every cosine in float64, excluded rows at -inf."""
    qn = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-300)
    norms = np.linalg.norm(rows, axis=1)
    s = (qn @ rows.T) / np.where(norms == 0, 1, norms)
    s[:, exclude] = -np.inf
    return s


def _brute_ids(s: np.ndarray, k: int) -> np.ndarray:
    out = []
    for r in s:
        order = np.lexsort((np.arange(len(r)), -r))[:k]
        out.append([int(i) if np.isfinite(r[i]) else -1 for i in order])
    return np.array(out).reshape(len(s), -1)


@settings(max_examples=80, deadline=None)
@given(
    v=st.integers(1, 40),
    q=st.integers(1, 5),
    k=st.integers(1, 45),
    block=st.integers(1, 50),
    seed=st.integers(0, 2**16),
)
def test_topk_is_a_full_sort(v: int, q: int, k: int, block: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    rows = rng.normal(size=(v, 3)).astype(np.float32)
    queries = rng.normal(size=(q, 3)).astype(np.float32)
    exclude = sorted(set(rng.integers(0, v, 2).tolist()))
    ids, cos = topk(queries, rows, k, exclude=np.array(exclude), block_rows=block)
    assert ids.shape == cos.shape == (q, k)
    assert ids.dtype == np.int64 and cos.dtype == np.float32
    s = _brute(queries.astype(np.float64), rows.astype(np.float64), exclude)
    best = np.full((q, k), -np.inf)
    best[:, : min(k, v)] = -np.sort(-s, axis=1)[:, :k]
    found = ids >= 0
    assert (found.sum(axis=1) == min(k, v - len(exclude))).all()
    np.testing.assert_allclose(cos[found], best[found], atol=1e-6)
    rows_idx = np.nonzero(found)[0]
    np.testing.assert_allclose(cos[found], s[rows_idx, ids[found]], atol=1e-6)
    assert np.isneginf(cos[~found]).all()


@settings(max_examples=60, deadline=None)
@given(
    v=st.integers(1, 30), k=st.integers(1, 35), block=st.integers(1, 40), seed=st.integers(0, 999)
)
def test_ties_go_to_the_lower_id_in_every_block_size(v: int, k: int, block: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    rows = rng.integers(-1, 2, size=(v, 2)).astype(np.float32)  # many equal cosines, zero rows
    queries = rng.integers(-1, 2, size=(3, 2)).astype(np.float32)
    ids, _ = topk(queries, rows, k, block_rows=block)
    want = _brute_ids(_brute(queries.astype(np.float64), rows.astype(np.float64), []), k)
    padded = np.full((3, k), -1)
    padded[:, : want.shape[1]] = want
    np.testing.assert_array_equal(ids, padded)


def test_per_query_exclusions_and_given_norms() -> None:
    rows = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]], dtype=np.float32)
    q = rows[[0, 2]]
    ids, cos = topk(q, rows, 1, exclude=np.array([[0, -1], [2, 1]]))
    assert ids.tolist() == [[1], [0]]
    ids2, cos2 = topk(
        q, rows, 1, exclude=np.array([[0, -1], [2, 1]]), row_norms=np.linalg.norm(rows, axis=1)
    )
    assert ids2.tolist() == ids.tolist() and np.allclose(cos, cos2)


def test_glove_neighbours_agree_with_a_full_normalised_copy() -> None:
    table = glove_6b_50d()
    rows = table.vectors[:50_000]
    q = rows[[table.vocab["king"], table.vocab["paris"]]]
    ids, cos = topk(q, rows, 10, block_rows=4096)
    unit = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    full = (q / np.linalg.norm(q, axis=1, keepdims=True)) @ unit.T
    want = np.argsort(-full, axis=1, kind="stable")[:, :10]
    np.testing.assert_array_equal(ids, want)
    np.testing.assert_allclose(cos, np.take_along_axis(full, want, axis=1), atol=1e-6)


def test_bad_arguments_are_named() -> None:
    rows = np.eye(3, dtype=np.float32)
    with pytest.raises(ArgumentError, match="k must be a positive integer"):
        topk(rows, rows, 0)
    with pytest.raises(ArgumentError, match="block_rows must be a positive integer"):
        topk(rows, rows, 1, block_rows=0)
    with pytest.raises(ArgumentError, match=r"queries must be \(Q, 3\)"):
        topk(rows[0], rows, 1)
    with pytest.raises(ArgumentTypeError, match="rows must be a 2-D numpy array"):
        topk(rows, [[1.0, 0.0, 0.0]], 1)  # type: ignore[arg-type]
    with pytest.raises(ArgumentError, match="row_norms must have 3 values"):
        topk(rows, rows, 1, row_norms=np.ones(2))
    with pytest.raises(ArgumentError, match="exclude must be 1-D"):
        topk(rows, rows, 1, exclude=np.zeros((2, 1), np.int64))


def test_memory_is_bounded_by_the_block_not_the_table() -> None:
    import tracemalloc

    rows = np.random.default_rng(0).normal(size=(100_000, 64)).astype(np.float32)  # 25.6 MB
    from vocabgraft import EmbeddingTable

    table = EmbeddingTable(rows, [f"w{i}" for i in range(len(rows))])
    tracemalloc.start()
    topk(rows[:3], rows, 10, block_rows=4096)
    table.most_similar("w5", topn=10)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < rows.nbytes / 4, peak  # never a normalised copy of the whole table
