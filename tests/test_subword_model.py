"""The subword model fitted on tables without n-grams."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vocabgraft import EmbeddingTable, FormatError, MissingExtraError, Vocab, VocabgraftError
from vocabgraft.subwords.fitted import FittedSubwords, fit_subwords, ngram_hashes

WORDS = ["walk", "walks", "walked", "walking", "talk", "talks", "talked", "run", "runs", "sun"]


def _reference_hashes(word: str, minn: int, maxn: int) -> list[int]:
    """FNV-1a 64 over code points of each n-gram of <word>, in the order ngram_hashes gives."""
    codes = [0x110000, *map(ord, word), 0x110001]
    out = []
    for n in range(minn, maxn + 1):
        for start in range(len(codes) - n + 1):
            h = 0xCBF29CE484222325
            for c in codes[start : start + n]:
                h = ((h ^ c) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
            out.append(h)
    return out


@settings(max_examples=60, deadline=None)
@given(
    words=st.lists(st.text(max_size=12), max_size=8),
    minn=st.integers(1, 4),
    extra=st.integers(0, 3),
)
def test_ngram_hashes_match_a_plain_python_reference(
    words: list[str], minn: int, extra: int
) -> None:
    indptr, hashes = ngram_hashes(words, minn, minn + extra)
    assert len(indptr) == len(words) + 1
    for i, w in enumerate(words):
        got = hashes[indptr[i] : indptr[i + 1]].tolist()
        assert got == _reference_hashes(w, minn, minn + extra)


def test_ngram_hashes_reject_bad_lengths() -> None:
    with pytest.raises(ValueError, match=r"need 1 <= minn <= maxn. Received: minn=4, maxn=3"):
        ngram_hashes(["a"], 4, 3)


def test_markers_are_not_the_characters_lt_and_gt() -> None:
    _, plain = ngram_hashes(["ab"], 2, 2)
    _, literal = ngram_hashes(["<ab>"], 2, 2)
    # "ab" -> [<a, ab, b>]; "<ab>" -> [<<, <a, ab, b>, >>]: only the inner "ab" is shared
    assert set(plain.tolist()) & set(literal.tolist()) == {int(plain[1])}


@pytest.fixture
def table() -> EmbeddingTable:
    rng = np.random.default_rng(0)
    stems = {"walk": rng.normal(size=8), "talk": rng.normal(size=8), "run": rng.normal(size=8)}
    rows = []
    for w in WORDS:
        stem = next((s for s in stems if w.startswith(s)), None)
        base = stems[stem] if stem else rng.normal(size=8)
        rows.append(base + 0.1 * rng.normal(size=8))
    return EmbeddingTable(np.array(rows, dtype=np.float32), WORDS)


def test_fitted_model_recovers_the_stem_of_new_words(table: EmbeddingTable) -> None:
    model = fit_subwords(table, weighting="uniform", min_weight=0)
    out = model.compose(["walker", "talking", "runner"])
    unit = table.vectors / np.linalg.norm(table.vectors, axis=1, keepdims=True)
    nearest = [WORDS[int(i)] for i in np.argmax(out @ unit.T, axis=1)]
    assert [n[:3] for n in nearest] == ["wal", "tal", "run"]
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), model.norm, rtol=1e-5)


def test_word_without_known_ngrams_gets_the_fallback(table: EmbeddingTable) -> None:
    model = fit_subwords(table, weighting="uniform")
    np.testing.assert_array_equal(model.compose(["xyz"])[0], model.fallback)
    np.testing.assert_allclose(model.fallback, table.vectors.mean(axis=0), rtol=1e-5)


def test_compose_rejects_a_bare_string(table: EmbeddingTable) -> None:
    model = fit_subwords(table, weighting="uniform")
    with pytest.raises(TypeError, match="wrap a single word in a list"):
        model.compose("walk")


def test_fit_is_deterministic(table: EmbeddingTable) -> None:
    a, b = (fit_subwords(table) for _ in range(2))
    np.testing.assert_array_equal(a.keys, b.keys)
    np.testing.assert_array_equal(a.vectors, b.vectors)


def test_fit_skips_specials_excluded_and_zero_rows() -> None:
    vectors = np.ones((4, 3), dtype=np.float32)
    vectors[3] = 0
    table = EmbeddingTable(vectors, Vocab(["abc", "abd", "zero"], pad="<pad>"))
    model = fit_subwords(table, exclude=["abd"], min_weight=0)
    _, abc = ngram_hashes(["abc"], 3, 6)
    assert set(model.keys.tolist()) == set(abc.tolist())


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"l2": 0.0}, ValueError, r"l2 must be positive"),
        ({"iters": 0}, ValueError, r"iters must be at least 1"),
        ({"minn": 3, "maxn": 2}, ValueError, r"need 1 <= minn <= maxn"),
        ({"weighting": "zipf"}, ValueError, r"weighting must be 'rank', 'uniform' or an array"),
        ({"weighting": np.ones(3)}, ValueError, r"one weight per table row \(10,\)"),
        ({"exclude": WORDS}, VocabgraftError, r"no rows to fit a subword model on"),
    ],
    ids=["l2", "iters", "lengths", "weighting-name", "weighting-shape", "nothing-left"],
)
def test_fit_errors(
    table: EmbeddingTable, kwargs: dict[str, object], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        fit_subwords(table, **kwargs)  # type: ignore[arg-type]


def test_fit_without_scipy_names_the_extra(
    table: EmbeddingTable, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "scipy.sparse", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'vocabgraft\[subword\]'"):
        fit_subwords(table)


def test_fit_on_an_empty_table_says_so() -> None:
    empty = EmbeddingTable(np.zeros((0, 4), np.float32), [])
    with pytest.raises(VocabgraftError, match=r"empty table \(0 rows\)"):
        FittedSubwords.fit(empty)


def test_save_load_round_trip(table: EmbeddingTable, tmp_path: Path) -> None:
    model = fit_subwords(table)
    model.save(tmp_path / "sw.safetensors")
    back = FittedSubwords.load(tmp_path / "sw.safetensors")
    words = ["walker", "sunny", "q"]
    np.testing.assert_array_equal(back.compose(words), model.compose(words))


def test_load_rejects_another_file(tmp_path: Path) -> None:
    Vocab(["a"]).save(tmp_path / "vocab.safetensors")
    with pytest.raises(FormatError, match=r"vocab.safetensors: not a fitted subword model"):
        FittedSubwords.load(tmp_path / "vocab.safetensors")


def test_table_cache_carries_the_fitted_model(table: EmbeddingTable, tmp_path: Path) -> None:
    model = fit_subwords(table)
    with_model = EmbeddingTable(table.vectors, table.vocab, subwords=model)
    with_model.save(tmp_path / "t")
    back = EmbeddingTable.load(tmp_path / "t")
    assert isinstance(back.subwords, FittedSubwords)
    np.testing.assert_array_equal(back.subwords.compose(["walker"]), model.compose(["walker"]))


@pytest.mark.slow
def test_fitted_on_glove_beats_the_mean_on_held_out_words(glove: EmbeddingTable) -> None:
    rng = np.random.default_rng(0)
    held = np.sort(rng.choice(20_000, 500, replace=False))
    words = [glove.vocab.token(int(i)) for i in held]
    model = fit_subwords(glove, max_words=60_000, exclude=words)
    assert 0 < len(model) < 2_000_000
    truth = np.asarray(glove.vectors[held])

    def mean_cos(pred: np.ndarray) -> float:
        num = (pred * truth).sum(axis=1)
        den = np.linalg.norm(pred, axis=1) * np.linalg.norm(truth, axis=1)
        return float((num / den).mean())

    fitted = mean_cos(model.compose(words))
    mean = mean_cos(np.broadcast_to(np.asarray(glove.vectors).mean(axis=0), truth.shape))
    assert fitted > 0.35
    assert fitted > mean + 0.2
