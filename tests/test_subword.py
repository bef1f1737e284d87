"""fastText-compatible n-grams and hashing, and the FastTextSubwords model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vocabgraft import EmbeddingTable, TokenNotFoundError
from vocabgraft.subwords.fasttext import (
    FastTextSubwords,
    char_ngrams,
    ft_hash,
    ngram_buckets,
    ngram_sums,
)

WORDS = ["where", "é", "日本語", "a", "", "abcabc", "été", "x" * 30, "🙂", "naïve-ish"]
LENGTHS = [(3, 6), (1, 1), (1, 3), (2, 4), (5, 5), (0, 2)]


def test_ft_hash_is_fnv1a_on_ascii() -> None:
    assert ft_hash(b"") == 2166136261
    assert ft_hash(b"a") == 0xE40C292C  # the published FNV-1a test vector


def test_ft_hash_sign_extends_high_bytes() -> None:
    # fastText XORs a signed char: 0xC3 becomes 0xFFFFFFC3.
    plain_fnv = ((2166136261 ^ 0xC3) * 16777619) & 0xFFFFFFFF
    quirk = ((2166136261 ^ 0xFFFFFFC3) * 16777619) & 0xFFFFFFFF
    assert ft_hash(b"\xc3") == quirk != plain_fnv


@pytest.mark.gensim
@pytest.mark.parametrize("word", WORDS, ids=repr)
@pytest.mark.parametrize(("minn", "maxn"), LENGTHS, ids=lambda v: str(v))
def test_ngrams_and_hashes_match_gensim(word: str, minn: int, maxn: int) -> None:
    inner = pytest.importorskip("gensim.models.fasttext_inner")
    expected = inner.compute_ngrams_bytes(word, minn, maxn)
    assert char_ngrams(word, minn, maxn) == expected
    assert [ft_hash(g) for g in expected] == [inner.ft_hash_bytes(g) for g in expected]


@settings(max_examples=200, deadline=None)
@given(
    words=st.lists(st.text(max_size=12), max_size=8),
    minn=st.integers(0, 4),
    extra=st.integers(0, 3),
    bucket=st.integers(1, 5000),
)
def test_vectorised_buckets_equal_the_reference(
    words: list[str], minn: int, extra: int, bucket: int
) -> None:
    maxn = minn + extra
    raw = [w.encode("utf-8", "surrogatepass") for w in words]
    buckets, owner = ngram_buckets(raw, minn, maxn, bucket)
    assert np.all(np.diff(owner) >= 0), "grouped by word"
    for i, w in enumerate(raw):
        want = sorted(ft_hash(g) % bucket for g in char_ngrams(w, minn, maxn))
        assert sorted(buckets[owner == i].tolist()) == want


def test_ngrams_of_non_utf8_bytes_follow_continuation_bytes() -> None:
    # cp852 'ě' is 0xD8, a lead byte; 0x82 ('é') looks like a continuation byte.
    assert char_ngrams(b"\x82a", 2, 2) == [b"<\x82a", b"a>"]
    buckets, _ = ngram_buckets([b"\x82a"], 2, 2, 1000)
    assert sorted(buckets.tolist()) == sorted(ft_hash(g) % 1000 for g in [b"<\x82a", b"a>"])


def _model(bucket: int = 200, dim: int = 4) -> FastTextSubwords:
    rng = np.random.default_rng(0)
    return FastTextSubwords(
        rng.standard_normal((bucket, dim)).astype(np.float32),
        minn=3,
        maxn=5,
        words=["cat", "dog"],
        word_vectors=rng.standard_normal((2, dim)).astype(np.float32),
    )


def test_compose_gives_known_rows_and_ngram_means() -> None:
    model = _model()
    out = model.compose(["dog", "mouse", "cat"])
    np.testing.assert_array_equal(out[0], model.word_vectors[1])
    np.testing.assert_array_equal(out[2], model.word_vectors[0])
    rows = [model.ngrams[ft_hash(g) % 200] for g in char_ngrams("mouse", 3, 5)]
    np.testing.assert_allclose(out[1], np.mean(rows, axis=0), rtol=1e-6)
    assert out.dtype == np.float32


def test_compose_of_a_word_without_ngrams_is_zero() -> None:
    # "<>" has two characters: no n-gram of length 3..5, so fastText gives zeros.
    assert not _model().compose([""]).any()


def test_compose_takes_a_list_not_a_string() -> None:
    with pytest.raises(TypeError, match="wrap a single word in a list"):
        _model().compose("cat")  # type: ignore[arg-type]


def test_model_without_buckets_knows_only_its_words() -> None:
    model = FastTextSubwords(
        np.zeros((0, 3), dtype=np.float32),
        minn=0,
        maxn=0,
        words=["a"],
        word_vectors=np.ones((1, 3), dtype=np.float32),
    )
    assert model.compose(["a"]).tolist() == [[1.0, 1.0, 1.0]]
    with pytest.raises(
        TokenNotFoundError, match=r"'b' is not one of this fastText model's 1 words"
    ):
        model.compose(["a", "b"])


def test_shapes_are_checked() -> None:
    with pytest.raises(ValueError, match=r"word_vectors must be \(2, 4\), one row per word"):
        FastTextSubwords(np.zeros((5, 4), np.float32), minn=3, maxn=6, words=["a", "b"])
    with pytest.raises(ValueError, match="ngrams must be 2-D"):
        FastTextSubwords(np.zeros(5, np.float32), minn=3, maxn=6)


def test_state_round_trip_keeps_everything() -> None:
    model = _model()
    arrays, meta = model.to_state()
    again = FastTextSubwords.from_state(arrays, meta)
    words = ["cat", "mouse", "ünïcödé"]
    np.testing.assert_array_equal(again.compose(words), model.compose(words))
    assert (again.minn, again.maxn, again.words) == (3, 5, ["cat", "dog"])


def test_table_cache_round_trip(tmp_path: Path) -> None:
    model = _model()
    table = EmbeddingTable(model.word_vectors.copy(), model.words, subwords=model)
    table.save(tmp_path / "t")
    again = EmbeddingTable.load(tmp_path / "t")
    assert isinstance(again.subwords, FastTextSubwords)
    np.testing.assert_array_equal(again.subwords.compose(["zebra"]), model.compose(["zebra"]))


def test_ngram_sums_count_every_ngram() -> None:
    ngrams = np.ones((10, 2), dtype=np.float32)
    sums, counts = ngram_sums([b"abc", b""], ngrams, 3, 3)
    # "<abc>": <ab, abc, bc>; "<>": none.
    assert counts.tolist() == [3, 0]
    assert sums.tolist() == [[3.0, 3.0], [0.0, 0.0]]
