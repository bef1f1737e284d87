"""propagate(): global ridge map and local neighbours, by hand, as invariants, on GloVe, on layers."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vocabgraft import EmbeddingTable, Vocab
from vocabgraft.drift import (
    Search,
    cosine,
    moved_rows,
    propagate,
    propagate_layer,
)
from vocabgraft.drift.neighbours import nearest_trained
from vocabgraft.drift.propagate import RIDGES
from vocabgraft.errors import ArgumentError, ArgumentTypeError, RowIndexError
from vocabgraft.table.topk import unit_rows


def _affine(seed: int, n: int = 200, dim: int = 6, trained: int = 80) -> tuple:
    rng = np.random.default_rng(seed)
    before = rng.normal(size=(n, dim))
    a, c = rng.normal(scale=0.3, size=(dim, dim)), rng.normal(size=dim)
    ids = np.sort(rng.choice(n, trained, replace=False))
    after = before.copy()
    after[ids] = before[ids] @ (np.eye(dim) + a) + c
    return before, after, ids, before @ (np.eye(dim) + a) + c


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000))
def test_global_recovers_an_affine_change_exactly(seed: int) -> None:
    before, after, ids, truth = _affine(seed)
    result = propagate(before, after, ids, method="global", ridge=0.0, report=False)
    np.testing.assert_allclose(result.table, truth, atol=1e-8)
    np.testing.assert_array_equal(result.table[ids], after[ids])  # trained rows: bit-exact


def test_global_picks_its_ridge_on_held_out_rows_and_reports_it() -> None:
    before, after, ids, truth = _affine(1)
    result = propagate(before, after, ids)
    d = result.details
    assert d["ridge_chosen"] and d["ridge"] in RIDGES
    assert d["ridge"] == RIDGES[0]  # an exact affine change: the least ridge wins
    assert min(d["held_out_mse"].values()) < d["held_out_mse_no_change"]
    assert d["held_out_rows"] == len(ids) // 5
    np.testing.assert_allclose(result.table, truth, atol=1e-3)


def test_global_leaves_rows_in_place_when_the_change_is_noise() -> None:
    rng = np.random.default_rng(3)
    before = rng.normal(size=(300, 8))
    ids = np.arange(100)
    after = before.copy()
    after[ids] += rng.normal(scale=0.5, size=(100, 8))  # unrelated to the pretrained rows
    result = propagate(before, after, ids)
    moved = result.report.groups["propagated"].mean_l2
    assert result.details["ridge"] >= 1  # held-out rows favour a strong pull to no change
    assert moved < 0.5 * result.report.groups["trained"].mean_l2


def test_local_moves_each_row_by_its_neighbours_weighted_mean() -> None:
    rng = np.random.default_rng(0)
    before = rng.normal(size=(60, 5)).astype(np.float32)
    ids = np.arange(20)
    after = before.copy()
    after[ids] += rng.normal(size=(20, 5)).astype(np.float32)
    result = propagate(before, after, ids, method="local", k=3)
    change, unit = after[ids] - before[ids], unit_rows(before[ids])
    for row in range(20, 60):  # the loop a user would write
        cos = unit @ (before[row] / np.linalg.norm(before[row]))
        near = np.argsort(-cos)[:3]
        w = np.clip(cos[near], 0, None)
        want = (
            before[row] + (w[:, None] * change[near]).sum(0) / w.sum() if w.sum() else before[row]
        )
        np.testing.assert_allclose(result.table[row], want, rtol=1e-5, atol=1e-5)
    assert result.details["search"] == "exact" and result.details["k"] == 3


def test_trained_and_kept_rows_stay_and_the_report_has_both_groups() -> None:
    before, _, _, truth = _affine(2, n=50, trained=20)
    ids = np.arange(10, 30)
    after = before.copy()
    after[ids] = truth[ids]
    vocab = Vocab([f"w{i}" for i in range(50)])
    result = propagate(before, after, ids, keep=["w0", "w1"], vocab=vocab, pairs=[("w0", "w2")])
    np.testing.assert_array_equal(result.table[:2], after[:2])
    np.testing.assert_array_equal(result.table[ids], after[ids])
    groups = result.report.groups
    assert groups["trained"].rows == 20
    assert groups["propagated"].rows == len(result.propagated) == 28
    assert groups["propagated"].moved == 28
    assert "propagated" in str(result.report) and result.to_dict()["propagated_rows"] == 28
    assert result.report.pairs[0].first == "w0"


def test_out_is_written_in_place() -> None:
    before, after, ids, truth = _affine(4)
    target = after.copy()
    result = propagate(before, target, ids, ridge=0.0, out=target, report=False)
    assert result.table is target
    np.testing.assert_allclose(target, truth, atol=1e-8)


def test_moved_rows_finds_the_rows_that_trained() -> None:
    before, after, ids, _ = _affine(5)
    np.testing.assert_array_equal(moved_rows(before, after), ids)


def test_the_clustered_search_finds_glove_neighbours(glove: EmbeddingTable) -> None:
    """Real geometry: 4,000 frequent GloVe words trained, the next 3,000 searched both ways."""
    table = np.asarray(glove.vectors[:7000])
    trained, queries = unit_rows(table[:4000]), np.arange(4000, 7000)
    exact, exact_cos, _ = nearest_trained(table, queries, trained, 10, Search("exact"))
    fast, fast_cos, mode = nearest_trained(table, queries, trained, 10, Search("clustered"))
    assert mode == "clustered"
    recall = np.mean([len(set(a) & set(b)) for a, b in zip(exact.tolist(), fast.tolist())]) / 10
    assert recall > 0.7
    # The cosines are exact, so a found neighbour is never better than the true best.
    assert np.all(fast_cos[:, 0] <= exact_cos[:, 0] + 1e-5)
    np.testing.assert_allclose(
        fast_cos[:, 0], cosine(table[queries], table[fast[:, 0]]), rtol=1e-4, atol=1e-5
    )


def test_local_propagation_on_glove_brings_synonyms_along(glove: EmbeddingTable) -> None:
    """Train 'tv' away (with its neighbourhood); 'television' follows under local propagation."""
    vocab = glove.vocab
    table = np.asarray(glove.vectors[:8000], dtype=np.float32)
    tv, television = vocab["tv"], vocab["television"]
    trained = np.setdiff1d(np.arange(3000), [television])
    after = table.copy()
    shift = np.random.default_rng(0).normal(size=table.shape[1]).astype(np.float32)
    near_tv = cosine(table[trained], table[[tv]]) > 0.5
    after[trained[near_tv]] += 2 * shift  # the task moved tv and its neighbours
    result = propagate(table, after, trained, method="local", k=10)
    before_cos = float(cosine(after[[tv]], after[[television]])[0])
    now_cos = float(cosine(result.table[[tv]], result.table[[television]])[0])
    assert now_cos > before_cos + 0.1


def test_propagate_layer_torch_keeps_appended_rows_and_padding() -> None:
    torch = pytest.importorskip("torch")
    from vocabgraft.torch import PartialEmbedding

    before, after, ids, truth = _affine(6, n=40, trained=25)
    emb = PartialEmbedding.from_pretrained(
        torch.tensor(before, dtype=torch.float64),
        trainable=ids,
        padding_idx=int(np.setdiff1d(np.arange(40), ids)[0]),
    )
    emb.extend(2)
    with torch.no_grad():
        emb.rows[: len(ids)] = torch.from_numpy(after[ids])
        emb.rows[len(ids) :] = 7.0
    result = propagate_layer(emb, ridge=0.0)
    pad = emb.padding_idx
    assert result.table.shape == (42, 6)
    np.testing.assert_array_equal(result.table[40:], 7.0)
    np.testing.assert_array_equal(result.table[pad], before[pad])
    others = np.setdiff1d(np.arange(40), [*ids, pad])
    np.testing.assert_allclose(result.table[others], truth[others], atol=1e-8)
    assert torch.equal(emb.base, torch.tensor(before))  # the layer is not changed


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"method": "nearest"}, ArgumentError, "method must be 'global' or 'local'"),
        ({"trained_ids": [3]}, ArgumentError, "trained_ids holds 1; pass at least 2"),
        ({"ids": [0, 1]}, ArgumentError, "ids and trained_ids share row 0"),
        ({"ridge": -1.0}, ArgumentError, "ridge must be a number >= 0"),
        ({"method": "local", "k": 0}, ArgumentError, "k must be a positive integer"),
        ({"out": np.zeros((3, 2))}, ArgumentError, r"out must be a float numpy array of shape"),
        ({"trained_ids": [0, 99]}, RowIndexError, "out of range"),
        (
            {"method": "local", "search": Search("fast")},
            ArgumentError,
            "search mode must be 'auto', 'exact' or 'clustered'",
        ),
    ],
    ids=["method", "few", "overlap", "ridge", "k", "out", "range", "search"],
)
def test_bad_arguments_say_what_to_fix(kwargs: dict, error: type[Exception], match: str) -> None:
    before, after, _, _ = _affine(7, n=20, trained=8)
    options = {"trained_ids": [0, 1, 2, 3], **kwargs}
    with pytest.raises(error, match=match):
        propagate(before, after, **options)


def test_shapes_out_and_layers_are_checked() -> None:
    before, after, ids, _ = _affine(8, n=20, trained=8)
    with pytest.raises(ArgumentError, match=r"same shape. Received \(20, 6\) and \(19, 6\)"):
        propagate(before, after[:19], ids)
    with pytest.raises(ArgumentError, match="out shares memory with before"):
        propagate(before, after, ids, out=before)
    with pytest.raises(ArgumentTypeError, match="ndarray has no row_map, merged_weight"):
        propagate_layer(before)


KERAS_CASE = """
import numpy as np
from vocabgraft.drift import propagate_layer
from vocabgraft.keras import PartialEmbedding

base = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.1], [0.1, 1.0]], np.float32)
emb = PartialEmbedding.from_pretrained(base, trainable=[0, 1])
emb.build()
emb.rows.assign(np.asarray(emb.rows) + np.array([0.5, 0.0], np.float32))
result = propagate_layer(emb, method="local", k=1)
assert np.allclose(result.table[2:], [[1.5, 0.1], [0.6, 1.0]]), result.table
assert np.array_equal(np.asarray(emb.base), base)  # the layer is not changed
print("keras ok", result.report.groups["propagated"].moved)
"""


@pytest.mark.slow
def test_propagate_layer_keras_on_the_torch_backend() -> None:
    if importlib.util.find_spec("keras") is None:
        pytest.skip("keras is not installed")
    env = {**os.environ, "KERAS_BACKEND": "torch"}
    run = subprocess.run(
        [sys.executable, "-c", KERAS_CASE], env=env, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "keras ok 2" in run.stdout
