"""align(): matching steps, initializers for the rest, specials, and the report."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vg_testdata import gensim_data
from vocabgraft import EmbeddingTable, Vocab, VocabError, VocabgraftError
from vocabgraft._cache import cache_dir
from vocabgraft.align import core as align_core
from vocabgraft.align.core import (
    MIN_FIT_ROWS,
    AlignmentReport,
    RowSource,
    align,
    default_init,
    nfkc_casefold,
)
from vocabgraft.init import Copy, InitContext, MatchedNormal, Mean, Subword, Zeros

TABLE_TOKENS = ["the", "Apple", "apple", "APPLE", "strasse", "café", "Ｄｏｇ", "cat"]


@pytest.fixture
def table() -> EmbeddingTable:
    rng = np.random.default_rng(0)
    return EmbeddingTable(
        rng.normal(size=(len(TABLE_TOKENS), 6)).astype(np.float32), TABLE_TOKENS, source="test"
    )


def _kinds(report: AlignmentReport) -> dict[str, str]:
    return {r.token: r.kind for r in report.rows()}


def test_match_steps_fall_back_in_order(table: EmbeddingTable) -> None:
    vocab = Vocab(["the", "THE", "Straße", "CAFÉ", "dog", "apple", "bird"], pad="<pad>")
    weights, report = align(table, vocab)
    assert _kinds(report) == {
        "<pad>": "pad",
        "the": "exact",
        "THE": "lower",
        "Straße": "nfkc_casefold",
        "CAFÉ": "lower",
        "dog": "nfkc_casefold",  # full-width "Ｄｏｇ" in the table
        "apple": "exact",
        "bird": "init",
    }
    assert report.row("Straße").table_token == "strasse"
    assert report.row("dog").table_token == "Ｄｏｇ"
    assert report.row("bird").initializer == "MatchedNormal"
    np.testing.assert_array_equal(weights[vocab["THE"]], table["the"])
    assert not weights[0].any()


def test_several_table_spellings_prefer_the_lowest_row(table: EmbeddingTable) -> None:
    _, report = align(table, ["aPPle"])
    assert report.row("aPPle") == RowSource(0, "aPPle", "lower", 1, "Apple")


def test_match_can_be_restricted(table: EmbeddingTable) -> None:
    _, report = align(table, ["THE", "Straße"], match=("exact", "lower"))
    assert report.by_kind == {
        "exact": 0,
        "lower": 1,
        "init": 1,
        "bucket": 0,
        "special": 0,
        "pad": 0,
    }
    _, only = align(table, ["THE"], match="exact")
    assert only.row("THE").kind == "init"


@pytest.mark.parametrize(
    ("match", "message"),
    [(("exact", "stem"), r"unknown match step 'stem'"), (("lower", "lower"), r"a step twice")],
    ids=["unknown", "twice"],
)
def test_bad_match_steps(table: EmbeddingTable, match: tuple[str, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        align(table, ["the"], match=match)


def test_specials_get_their_own_rule(table: EmbeddingTable) -> None:
    vocab = Vocab(["cat", "the"], specials=["<cls>"], pad="<pad>", unk="<unk>")
    weights, report = align(table, vocab)
    mean = np.asarray(table.vectors, dtype=np.float64).mean(axis=0)
    for tok in ("<unk>", "<cls>"):
        np.testing.assert_allclose(weights[vocab[tok]], mean, rtol=1e-5)
        assert report.row(tok).kind == "special"
    assert not weights[vocab["<pad>"]].any()
    zeros, _ = align(table, vocab, special_init=Zeros())
    assert not zeros[vocab["<unk>"]].any()
    copied, report = align(table, vocab, special_init=Copy("cat"))
    np.testing.assert_array_equal(copied[vocab["<cls>"]], table["cat"])
    assert report.initializers["special"] == "Copy"


def test_hash_buckets_start_apart_and_do_not_count_as_unmatched(table: EmbeddingTable) -> None:
    vocab = Vocab(["cat", "zebra"], oov="hash", num_buckets=3)
    weights, report = align(table, vocab)
    assert [r.kind for r in report.rows()] == ["exact", "init", "bucket", "bucket", "bucket"]
    assert report.type_coverage == 0.5
    assert len({weights[i].tobytes() for i in vocab.bucket_ids}) == 3
    assert report.unmatched() == [("zebra", None)]


def test_a_token_list_may_declare_leading_specials(table: EmbeddingTable) -> None:
    weights, report = align(table, ["<pad>", "<unk>", "cat"], pad="<pad>", specials=["<unk>"])
    assert [r.kind for r in report.rows()] == ["pad", "special", "exact"]
    np.testing.assert_array_equal(weights[2], table["cat"])


@pytest.mark.parametrize(
    ("tokens", "kwargs"),
    [
        (["cat", "<pad>"], {"pad": "<pad>"}),
        (["<unk>", "<pad>", "cat"], {"pad": "<pad>", "specials": ["<unk>"]}),
        (["<pad>", "cat", "<cls>"], {"pad": "<pad>", "specials": ["<cls>"]}),
    ],
    ids=["pad-last", "pad-second", "special-late"],
)
def test_specials_out_of_order_are_an_error(
    table: EmbeddingTable, tokens: list[str], kwargs: dict[str, object]
) -> None:
    with pytest.raises(VocabError, match=r"specials out of order: .* must start with its specials"):
        align(table, tokens, **kwargs)  # type: ignore[arg-type]


def test_specials_for_a_vocab_belong_on_the_vocab(table: EmbeddingTable) -> None:
    with pytest.raises(VocabError, match=r"this Vocab already names its specials"):
        align(table, Vocab(["cat"]), pad="<pad>")


def test_duplicates_are_an_error(table: EmbeddingTable) -> None:
    with pytest.raises(VocabError, match=r"token 'cat' appears twice, at ids 0 and 2"):
        align(table, ["cat", "the", "cat"])


def test_a_single_string_is_not_a_vocabulary(table: EmbeddingTable) -> None:
    with pytest.raises(TypeError, match="not one string"):
        align(table, "cat")


def test_empty_table_says_so_for_unmatched_rows() -> None:
    empty = EmbeddingTable(np.zeros((0, 4), np.float32), [])
    with pytest.raises(
        VocabgraftError, match=r"MatchedNormal needs existing rows.*empty \(0 rows\)"
    ):
        align(empty, ["cat"])
    weights, report = align(empty, Vocab(["cat"], pad="<pad>"), init=Zeros())
    assert weights.shape == (2, 4) and not weights.any()
    assert report.type_coverage == 0.0


def test_output_dtype_follows_the_table(table: EmbeddingTable) -> None:
    half = table.astype(np.float16)
    weights, _ = align(half, Vocab(["cat", "unseen"], unk="<unk>"))
    assert weights.dtype == np.float16
    assert weights[1].tobytes() == np.asarray(half["cat"]).tobytes()


def test_tables_with_subwords_default_to_them() -> None:
    from vocabgraft.io import load

    ft = load(gensim_data("lee_fasttext.bin"))
    assert ft.subwords is not None
    weights, report = align(ft, ["the", "zebrafication"])
    np.testing.assert_array_equal(weights[1], ft.subwords.compose(["zebrafication"])[0])
    assert report.initializers["init"] == "Subword(fasttext)"


def test_counts_give_frequency_coverage_and_order_the_unmatched(table: EmbeddingTable) -> None:
    vocab = Vocab.from_counts({"cat": 90, "zebra": 7, "okapi": 3, "the": 0}, unk="<unk>")
    _, report = align(table, vocab)
    assert report.type_coverage == pytest.approx(1 / 3)
    assert report.token_coverage == pytest.approx(0.9)
    assert report.unmatched() == [("zebra", 7), ("okapi", 3)]
    _, explicit = align(table, ["okapi", "zebra", "cat"], counts={"zebra": 1, "cat": 3})
    assert explicit.token_coverage == pytest.approx(0.75)
    assert explicit.unmatched() == [("zebra", 1), ("okapi", 0)]


def test_counts_by_id_must_fit(table: EmbeddingTable) -> None:
    with pytest.raises(VocabError, match=r"one count per vocabulary id \(2\)"):
        align(table, ["cat", "dog"], counts=[1, 2, 3])


def test_report_renders_as_text_markdown_and_json(table: EmbeddingTable) -> None:
    vocab = Vocab.from_counts({"cat": 5, "The": 4, "zebra|x": 2}, pad="<pad>")
    _, report = align(table, vocab)
    text = str(report)
    assert report.to_text().startswith("4 tokens aligned to test (8 x 6, float32)")
    assert "init (MatchedNormal)" in text and "coverage by frequency: 81.82%" in text
    assert "most frequent unmatched: zebra|x (2)" in text
    md = report.to_markdown()
    assert "| row source | rows | share |" in md and "| `zebra\\|x` | 2 |" in md
    data = json.loads(report.to_json())
    assert data["by_kind"]["lower"] == 1 and data["token_coverage"] == pytest.approx(9 / 11)
    assert data["rows"][2] == {"id": 2, "token": "The", "kind": "lower", "from": "the"}
    assert "rows" not in report.to_dict(rows=False)


def test_report_row_lookup_errors(table: EmbeddingTable) -> None:
    _, report = align(table, ["cat"])
    with pytest.raises(VocabError, match=r"'dog' is not in the aligned vocabulary"):
        report.row("dog")
    with pytest.raises(VocabError, match=r"row 5 is out of range for 1 rows"):
        report.row(5)


def test_nfkc_casefold() -> None:
    assert nfkc_casefold("Ｓtraße") == "strasse"
    assert nfkc_casefold("ABC") == "abc"


# -- invariants --------------------------------------------------------------------------

ALPHABET = st.sampled_from(list("aAbBßéÉ\u0301 Ｄ"))
TOKEN = st.text(ALPHABET, min_size=1, max_size=4)


@settings(max_examples=60, deadline=None)
@given(
    table_tokens=st.lists(TOKEN, unique=True, max_size=12),
    vocab_tokens=st.lists(TOKEN, unique=True, max_size=12),
    seed=st.integers(0, 2**16),
    with_specials=st.booleans(),
)
def test_alignment_invariants(
    table_tokens: list[str], vocab_tokens: list[str], seed: int, with_specials: bool
) -> None:
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(len(table_tokens), 3)).astype(np.float32)
    table = EmbeddingTable(vectors, table_tokens)
    specials = {"pad": "<pad>", "unk": "<unk>"} if with_specials else {}
    vocab = Vocab(vocab_tokens, **specials)  # type: ignore[arg-type]
    init = Zeros() if len(table) == 0 else None
    special_init = Zeros() if len(table) == 0 else None
    weights, report = align(table, vocab, seed=seed, init=init, special_init=special_init)
    again, _ = align(table, vocab, seed=seed, init=init, special_init=special_init)
    assert weights.shape == (len(vocab), 3)
    assert np.all(np.isfinite(weights))
    assert weights.tobytes() == again.tobytes()
    assert sum(report.by_kind.values()) == len(vocab)
    for r in report.rows():
        if r.kind == "exact":
            assert r.table_token == r.token
            assert weights[r.id].tobytes() == vectors[r.table_id].tobytes()
        elif r.kind in ("lower", "nfkc_casefold"):
            assert r.table_id is not None
            assert weights[r.id].tobytes() == vectors[r.table_id].tobytes()
            key = str.lower if r.kind == "lower" else nfkc_casefold
            assert key(r.token) == key(table_tokens[r.table_id])
            # the lowest row with that key
            assert all(key(t) != key(r.token) for t in table_tokens[: r.table_id])
        else:
            assert r.table_id is None and r.initializer
    if with_specials:
        assert not weights[vocab["<pad>"]].any()


def test_different_seeds_give_different_unmatched_rows(table: EmbeddingTable) -> None:
    a, _ = align(table, ["cat", "zebra"], seed=0)
    b, _ = align(table, ["cat", "zebra"], seed=1)
    assert a[0].tobytes() == b[0].tobytes()
    assert a[1].tobytes() != b[1].tobytes()


# -- real data ---------------------------------------------------------------------------


@pytest.mark.slow
def test_glove_alignment_of_a_cased_task_vocabulary(glove: EmbeddingTable) -> None:
    words = ["The", "Cat", "sat", "Ｎａïｖｅ", "Straße", "zzqvocabgraftzz"]
    vocab = Vocab.from_counts(dict(zip(words, [50, 10, 9, 3, 2, 1])), pad="<pad>", unk="<unk>")
    weights, report = align(glove, vocab)
    kinds = _kinds(report)
    assert kinds["The"] == "lower" and kinds["sat"] == "exact"
    assert kinds["Ｎａïｖｅ"] == "nfkc_casefold"
    assert report.row("Ｎａïｖｅ").table_token == "naïve"
    assert kinds["zzqvocabgraftzz"] == "init"
    assert weights.dtype == np.float32
    np.testing.assert_array_equal(weights[vocab["The"]], glove["the"])
    assert report.token_coverage == pytest.approx(74 / 75)
    # the unmatched row has the spread of a real GloVe row, not the mean's small norm
    norm = float(np.linalg.norm(weights[vocab["zzqvocabgraftzz"]]))
    assert 2.0 < norm < 8.0


@pytest.mark.slow
def test_glove_alignment_defaults_to_a_fitted_subword_model_fitted_once(
    glove: EmbeddingTable,
) -> None:
    weights, report = align(glove, ["running", "unrunnable"])
    assert report.initializers["init"] == "Subword(fitted)"
    assert "init (Subword(fitted))" in report.to_text()
    # Other tests of the session may have saved models of other tables; this one adds none.
    saved = set((cache_dir() / "subwords").glob("subwords-*.safetensors"))
    assert saved
    init = Subword(glove)  # the same model: kept on the table, and on disk
    ctx = InitContext(n=1, dim=50, tokens=["unrunnable"])
    np.testing.assert_array_equal(weights[1], init(ctx)[0])
    assert set((cache_dir() / "subwords").glob("subwords-*.safetensors")) == saved
    near = [t for t, _ in glove.most_similar(weights[1], k=30)]
    assert any(t.startswith("run") or t.endswith("able") for t in near), near
    # A new process loads the saved model instead of fitting: fitting is made to fail there.
    script = (
        "import numpy as np, vocabgraft.subwords.fitted as f\n"
        "def refit(*a, **k): raise SystemExit('refitted')\n"
        "f.fit_subwords = refit\n"
        "from vocabgraft import align\n"
        "from vocabgraft.datasets import glove_6b_50d\n"
        "w, r = align(glove_6b_50d(), ['running', 'unrunnable'])\n"
        "print(r.initializers['init'], np.asarray(w[1], np.float64).tolist())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=True
    ).stdout.split(" ", 1)
    assert out[0] == "Subword(fitted)"
    np.testing.assert_array_equal(np.array(json.loads(out[1]), np.float32), weights[1])


def test_default_initializer_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)
    big = EmbeddingTable(
        rng.normal(size=(MIN_FIT_ROWS, 4)).astype(np.float32),
        [f"w{i}" for i in range(MIN_FIT_ROWS)],
    )
    small = big.subset(big.vocab.tokens[: MIN_FIT_ROWS - 1])
    assert isinstance(default_init(big), Subword)
    assert isinstance(default_init(small), MatchedNormal)
    monkeypatch.setattr(align_core, "_has_scipy", lambda: False)
    assert isinstance(default_init(big), MatchedNormal)


def test_mean_special_rows_match_the_table_mean(glove: EmbeddingTable) -> None:
    weights, _ = align(glove, Vocab(["the"], unk="<unk>"), special_init=Mean())
    np.testing.assert_allclose(
        weights[0], np.asarray(glove.vectors, dtype=np.float64).mean(axis=0), atol=1e-6
    )


def test_report_ids_select_rows_by_source() -> None:
    table = EmbeddingTable(np.eye(3, dtype=np.float32), ["tv", "radio", "news"])
    vocab = Vocab(["TV", "radio", "zzz"], pad="<pad>", unk="<unk>")
    _, report = align(table, vocab)
    assert report.ids("init", "special").tolist() == [1, 4]
    assert report.ids("lower").tolist() == [2]
    assert report.ids("pad").tolist() == [0]
    with pytest.raises(ValueError, match=r"unknown row kinds \['matched'\]"):
        report.ids("matched")


_ODD = [
    "a",
    "A",
    "k",
    "K",
    "\u212a",
    "ß",
    "SS",
    "ss",
    "Ｋ",
    "é",
    "É",
    "e\u0301",
    "İ",
    "i",
    "ﬁ",
    "fi",
]
_ODD_TOKENS = st.lists(st.sampled_from(_ODD), min_size=1, max_size=3).map("".join)


@settings(max_examples=150, deadline=None)
@given(
    table_tokens=st.lists(_ODD_TOKENS, unique=True, max_size=25),
    words=st.lists(_ODD_TOKENS, max_size=25),
)
def test_indexes_agree_with_a_plain_scan(table_tokens: list[str], words: list[str]) -> None:
    from vocabgraft.align.match import KEYS, match_rows

    table = EmbeddingTable(np.zeros((len(table_tokens), 2), np.float32), table_tokens)
    words = list(dict.fromkeys(words))
    for step in ("exact", "lower", "nfkc_casefold"):
        kinds = ["init"] * len(words)
        ids = np.full(len(words), -1, dtype=np.int64)
        match_rows(table, words, list(range(len(words))), (step,), kinds, ids)
        key = KEYS[step]
        want = [
            min((j for j, t in enumerate(table_tokens) if key(t) == key(w)), default=-1)
            for w in words
        ]
        assert ids.tolist() == want, step
