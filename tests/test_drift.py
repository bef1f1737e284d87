"""drift() and DriftMonitor: hand-checked tables, invariants, a trained PartialEmbedding, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import vocabgraft.drift.metrics as drift_metrics
from vocabgraft import Vocab
from vocabgraft.drift.core import DriftMonitor, cosine, drift, nearest
from vocabgraft.errors import RowIndexError, TokenNotFoundError

TOKENS = ["<pad>", "tv", "television", "radio", "banana"]
NEAR = np.array([[0, 0], [1, 0.1], [1, 0.12], [0.8, 0.6], [-1, 0]], dtype=np.float64)


@pytest.fixture
def four_rows() -> tuple[np.ndarray, np.ndarray]:
    before = np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 4.0], [1.0, 1.0]], dtype=np.float32)
    after = before.copy()
    after[1] = [0.0, -2.0]  # reversed: L2 4, cosine distance 2
    after[2] = [6.0, 8.0]  # scaled: L2 5, cosine distance 0
    return before, after


# -- hand-checked ---------------------------------------------------------------------


def test_rows_groups_and_top_by_hand(four_rows: tuple[np.ndarray, np.ndarray]) -> None:
    before, after = four_rows
    report = drift(before, after, groups={"still": [0, 3], "moved": np.array([1, 2])}, top=5)
    still, moved, every = report.groups["still"], report.groups["moved"], report.summary
    assert (still.rows, still.moved, still.max_l2, still.max_cosine_distance) == (2, 0, 0.0, 0.0)
    assert (moved.rows, moved.moved, moved.mean_l2, moved.max_l2) == (2, 2, 4.5, 5.0)
    assert (moved.mean_cosine_distance, moved.max_cosine_distance) == (1.0, 2.0)
    assert (every.rows, every.moved, every.mean_l2, every.median_l2) == (4, 2, 2.25, 2.0)
    assert every.p95_l2 == pytest.approx(4.85)
    assert [(r.id, r.token, r.l2, r.cosine_distance) for r in report.top] == [
        (2, None, 5.0, 0.0),
        (1, None, 4.0, 2.0),
    ]
    assert report.shape == (4, 2)


def test_an_empty_group_has_no_distances(four_rows: tuple[np.ndarray, np.ndarray]) -> None:
    report = drift(*four_rows, groups={"none": np.array([], dtype=np.int64)})
    assert report.groups["none"].to_dict() == {
        "rows": 0,
        "moved": 0,
        "mean_l2": None,
        "median_l2": None,
        "p95_l2": None,
        "max_l2": None,
        "mean_cosine_distance": None,
        "max_cosine_distance": None,
    }


def test_cosine_of_a_zero_row_is_zero_not_nan() -> None:
    assert cosine(np.zeros((1, 3)), np.ones((1, 3))).tolist() == [0.0]


def test_nearest_leaves_out_the_row_itself_and_excluded_rows() -> None:
    assert nearest(NEAR, [1], k=2, exclude=[0]).tolist() == [[2, 3]]
    assert nearest(NEAR, [1, 3], k=1, exclude=[2]).tolist() == [[3], [1]]


def test_pairs_and_neighbours_by_token() -> None:
    after = NEAR.copy()
    after[2] = [0.0, -1.0]  # television turns away from tv
    report = drift(
        NEAR,
        after,
        vocab=Vocab(TOKENS),
        pairs=[("tv", "television"), (1, 4)],
        watch=["tv"],
        k=1,
        exclude=["<pad>"],
    )
    tv_tv = report.pairs[0]
    assert (tv_tv.first, tv_tv.second) == ("tv", "television")
    assert tv_tv.before == pytest.approx(cosine(NEAR[[1]], NEAR[[2]])[0])
    assert tv_tv.after == pytest.approx(-0.1 / np.hypot(1, 0.1))
    assert report.pairs[1].before == report.pairs[1].after  # neither row moved
    (tv,) = report.neighbours
    assert (tv.word, tv.before, tv.after, tv.overlap) == ("tv", ("television",), ("radio",), 0.0)
    assert [(r.id, r.token) for r in report.top] == [(2, "television")]


def test_text_and_json(four_rows: tuple[np.ndarray, np.ndarray]) -> None:
    vocab = Vocab(["a", "b", "c", "d"])
    report = drift(*four_rows, vocab=vocab, groups={"bc": ["b", "c"]}, pairs=[("a", "c")])
    text = str(report)
    assert text.splitlines()[0] == "drift: 2 of 4 rows moved (2 dims)"
    assert "moved most (L2): c (5), b (4)" in text
    assert "cosine a / c: 0.6000 -> 0.6000" in text
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert data["groups"]["bc"]["moved"] == 2
    assert data["top"][0] == {"id": 2, "token": "c", "l2": 5.0, "cosine_distance": 0.0}


# -- invariants -----------------------------------------------------------------------

_tables = hnp.arrays(
    np.float64,
    st.tuples(st.integers(3, 12), st.integers(1, 5)),
    elements=st.floats(-8, 8, allow_nan=False, width=32),
)


@settings(max_examples=80, deadline=None)
@given(table=_tables)
def test_a_table_against_itself_has_not_moved(table: np.ndarray) -> None:
    n = len(table)
    report = drift(table, table.copy(), groups={"all": np.arange(n)}, watch=range(n), k=n - 1)
    for s in (report.summary, report.groups["all"]):
        assert (s.moved, s.max_l2, s.max_cosine_distance) == (0, 0.0, 0.0)
    assert report.top == ()
    assert all(w.overlap == 1.0 and w.before == w.after for w in report.neighbours)


@settings(max_examples=80, deadline=None)
@given(
    before=_tables,
    noise=st.integers(0, 2**16),
    moved=st.lists(st.integers(0, 11), max_size=6),
)
def test_l2_is_the_row_norm_of_the_difference(
    before: np.ndarray, noise: int, moved: list[int]
) -> None:
    after = before.copy()
    ids = [i for i in moved if i < len(before)]
    after[ids] += np.random.default_rng(noise).normal(size=(len(ids), before.shape[1]))
    expected = np.linalg.norm(after - before, axis=1)
    report = drift(before, after, top=len(before))
    listed = {r.id: r.l2 for r in report.top}
    assert set(listed) == set(np.flatnonzero(expected > 0).tolist())
    for i, l2 in listed.items():
        assert l2 == pytest.approx(expected[i], rel=1e-12)
    assert report.summary.max_l2 == pytest.approx(expected.max(), rel=1e-12)
    assert report.summary.moved == int((expected > 0).sum())


@settings(max_examples=60, deadline=None)
@given(
    table=hnp.arrays(
        np.float64, st.tuples(st.integers(5, 30), st.integers(1, 3)), elements=st.integers(-2, 2)
    ),
    k=st.integers(1, 3),
)
def test_nearest_in_blocks_finds_the_top_scores_of_the_whole_table(
    table: np.ndarray, k: int
) -> None:
    n = len(table)
    norms = np.linalg.norm(table, axis=1, keepdims=True)
    unit = table / np.where(norms == 0, 1, norms)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(drift_metrics, "BLOCK", 3)  # blocks of one to three rows; small ints: ties
        found = nearest(table, range(n), k, exclude=[0])
    for i, near in enumerate(found.tolist()):
        scores = unit @ unit[i]
        scores[[i, 0]] = -np.inf
        # Equal scores may differ in the last bit between block sizes, so compare scores.
        assert len(set(near)) == k and not {i, 0} & set(near)
        np.testing.assert_allclose(scores[near], np.sort(scores)[::-1][:k], rtol=0, atol=1e-12)


# -- DriftMonitor ---------------------------------------------------------------------


class _Layer:
    """Stands for a Keras PartialEmbedding: merged_weight() returns numpy."""

    def __init__(self, table: np.ndarray) -> None:
        self.table = table

    def merged_weight(self) -> np.ndarray:
        return self.table.copy()


def test_monitor_copies_the_reference_and_records_each_update() -> None:
    layer = _Layer(np.eye(4))
    monitor = DriftMonitor(layer, vocab=Vocab(list("abcd")), pairs=[("a", "b")])
    layer.table[1] = [0.0, 0.0, 1.0, 0.0]  # in place, as training does
    first = monitor.update(1, layer)
    layer.table[3] *= 2
    second = monitor.update(2, layer)
    assert [r.when for r in monitor.history] == [1, 2]
    assert (first.summary.moved, second.summary.moved) == (1, 2)
    assert first.pairs[0].after == 0.0
    assert json.loads(json.dumps(monitor.to_dict()))["history"][1]["when"] == 2


def test_monitor_of_some_rows_names_them_by_table_id() -> None:
    table = np.arange(12.0).reshape(6, 2)
    monitor = DriftMonitor(table, ids=[5, 1], groups={"five": [5]}, pairs=[(1, 5)])
    moved = table.copy()
    moved[[0, 5]] += 1.0  # row 0 is not monitored
    report = monitor.update("step 10", moved)
    assert monitor.reference.shape == (2, 2)
    assert (report.summary.rows, report.summary.moved) == (2, 1)
    assert [r.id for r in report.top] == [5]
    assert report.groups["five"].max_l2 == pytest.approx(np.sqrt(2))


# -- a trained PartialEmbedding ------------------------------------------------------


@pytest.mark.torch
def test_only_trainable_rows_of_a_partial_embedding_move() -> None:
    torch = pytest.importorskip("torch")
    from vocabgraft.torch import PartialEmbedding

    torch.manual_seed(0)
    trainable = [1, 4, 7]
    emb = PartialEmbedding.from_pretrained(torch.randn(10, 4), trainable=trainable)
    frozen = [i for i in range(10) if i not in trainable]
    monitor = DriftMonitor(emb, groups={"frozen": frozen, "trainable": trainable})
    sparse = DriftMonitor(emb.merged_weight(), ids=[1, 2])
    opt = torch.optim.AdamW(emb.parameters(), lr=0.1, weight_decay=0.1)
    for step in range(3):
        opt.zero_grad()
        emb(torch.arange(10)).pow(2).sum().backward()
        opt.step()
        report = monitor.update(step, emb)
    assert report.groups["frozen"].moved == 0
    assert report.groups["frozen"].max_l2 == 0.0
    assert report.groups["trainable"].moved == 3
    assert sorted(r.id for r in report.top) == trainable
    assert sparse.update(3, emb.merged_weight()).summary.moved == 1
    merged = emb.merge()  # nn.Embedding: read through .weight
    assert drift(emb, merged).summary.moved == 0
    half = drift(emb.merged_weight().to(torch.bfloat16), emb.merged_weight())
    assert half.summary.rows == 10


# -- errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"pairs": [("tv", "radio")]}, ValueError, "pass vocab= to look tokens up"),
        ({"watch": [9]}, RowIndexError, "id 9 is out of range for a table of 5 rows"),
        ({"groups": {"g": [0, 5]}}, RowIndexError, "group 'g': id 5 is out of range"),
        ({"watch": [1], "k": 4, "exclude": [0]}, ValueError, "k=4 nearest neighbours of row 1"),
        ({"pairs": ["tv"]}, ValueError, "pairs are \\(word, word\\) tuples"),
        ({"top": -1}, ValueError, "top must be an integer >= 0. Received: top=-1"),
        ({"vocab": Vocab(["a", "b"])}, ValueError, "vocab has 2 tokens but the table has 5"),
        ({"watch": [1.5]}, TypeError, "row ids or tokens. Received 1.5"),
    ],
    ids=[
        "token-no-vocab",
        "id-range",
        "group-range",
        "k-too-big",
        "bad-pair",
        "top",
        "vocab",
        "float",
    ],
)
def test_bad_options_say_what_to_fix(kwargs: dict, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        drift(NEAR, NEAR, **kwargs)


def test_an_unknown_token_is_named() -> None:
    with pytest.raises(TokenNotFoundError, match="token 'radar' is not in the vocabulary"):
        drift(NEAR, NEAR, vocab=Vocab(TOKENS), watch=["radar"])


def test_tables_of_different_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match=r"same shape. Received \(5, 2\) and \(6, 2\)"):
        drift(NEAR, np.vstack([NEAR, NEAR[:1]]))


def test_a_table_must_be_two_dimensional_numbers() -> None:
    with pytest.raises(TypeError, match=r"before must be a 2-D table of numbers.*shape \(5,\)"):
        drift(NEAR[:, 0], NEAR[:, 0])


def test_monitor_refusals() -> None:
    with pytest.raises(ValueError, match="watch= finds neighbours in the whole table"):
        DriftMonitor(NEAR, ids=[1, 2], watch=[1])
    with pytest.raises(ValueError, match="group 'g': row 3 is not among the monitored ids="):
        DriftMonitor(NEAR, ids=[1, 2], groups={"g": [3]})
    monitor = DriftMonitor(NEAR)
    with pytest.raises(ValueError, match=r"had 5 rows; current has 6\. A grown table needs"):
        monitor.update(1, np.vstack([NEAR, NEAR[:1]]))
    with pytest.raises(ValueError, match="current has rows of 3 dims; the reference has 2"):
        monitor.update(1, np.ones((5, 3)))
