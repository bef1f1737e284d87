"""EmbeddingTable answers gensim's KeyedVectors calls with gensim's numbers, on real tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vocabgraft import EmbeddingTable, TokenNotFoundError
from vocabgraft.errors import ArgumentError

gensim = pytest.importorskip("gensim")
from gensim.models import KeyedVectors  # noqa: E402
from gensim.test.utils import datapath  # noqa: E402

pytestmark = pytest.mark.gensim
ROWS = 30_000  # a slice of GloVe 6B 50d: every benchmark word is in the first 30k rows or not


def _kv(table: EmbeddingTable) -> KeyedVectors:
    kv = KeyedVectors(table.dim)
    kv.add_vectors(table.vocab.tokens, np.asarray(table.vectors, dtype=np.float32))
    return kv


@pytest.fixture(scope="module")
def glove_slice(glove: EmbeddingTable) -> EmbeddingTable:
    return EmbeddingTable(np.array(glove.vectors[:ROWS]), glove.vocab.tokens[:ROWS])


@pytest.fixture(scope="module")
def test_glove() -> EmbeddingTable:
    """gensim's own test_glove.txt (76 x 50, non-ASCII tokens), read by gensim."""
    kv = KeyedVectors.load_word2vec_format(datapath("test_glove.txt"), no_header=True)
    return EmbeddingTable(np.array(kv.vectors), list(kv.index_to_key))


def _same(ours: list[tuple[str, float]], theirs: list[tuple[str, float]]) -> None:
    assert [t for t, _ in ours] == [t for t, _ in theirs]
    np.testing.assert_allclose([c for _, c in ours], [c for _, c in theirs], atol=1e-5)


@pytest.mark.parametrize(
    ("positive", "negative"),
    [
        (["king"], []),
        (["king", "woman"], ["man"]),
        ("paris", None),
        ([("king", 2.0), "woman"], [("man", 0.5)]),
        (["television"], ["radio", "news"]),
    ],
    ids=["one", "analogy", "str", "weighted", "two-negative"],
)
def test_most_similar_is_gensims(
    glove_slice: EmbeddingTable, positive: object, negative: object
) -> None:
    kv = _kv(glove_slice)
    _same(
        glove_slice.most_similar(positive=positive, negative=negative, topn=15),  # type: ignore[arg-type]
        kv.most_similar(positive=positive, negative=negative, topn=15),
    )
    _same(
        glove_slice.most_similar(positive, topn=5, restrict_vocab=2000),  # type: ignore[arg-type]
        kv.most_similar(positive, topn=5, restrict_vocab=2000),
    )


def test_vector_queries_and_all_cosines_are_gensims(test_glove: EmbeddingTable) -> None:
    kv = _kv(test_glove)
    vec = test_glove["the"] * 3 + 1
    _same(test_glove.most_similar(positive=[vec], topn=7), kv.most_similar(positive=[vec], topn=7))
    np.testing.assert_allclose(
        test_glove.most_similar("the", topn=None), kv.most_similar("the", topn=None), atol=1e-5
    )
    assert test_glove.most_similar("the", topn=0) == kv.most_similar("the", topn=0) == []


def test_pair_calls_are_gensims(test_glove: EmbeddingTable) -> None:
    kv = _kv(test_glove)
    words = kv.index_to_key
    a, b, c, d = words[1], words[5], words[9], words[20]
    assert test_glove.similarity(a, b) == pytest.approx(float(kv.similarity(a, b)), abs=1e-6)
    assert test_glove.distance(a, b) == pytest.approx(float(kv.distance(a, b)), abs=1e-6)
    assert test_glove.n_similarity([a, b], [c, d]) == pytest.approx(
        float(kv.n_similarity([a, b], [c, d])), abs=1e-6
    )
    np.testing.assert_allclose(test_glove.distances(a), kv.distances(a), atol=1e-6)
    np.testing.assert_allclose(test_glove.distances(a, [b, c]), kv.distances(a, [b, c]), atol=1e-6)
    assert test_glove.doesnt_match([a, b, c, d]) == kv.doesnt_match([a, b, c, d])
    assert test_glove.rank(a, b) == kv.rank(a, b)
    assert test_glove.closer_than(a, b) == kv.closer_than(a, b)
    assert test_glove.vector_size == kv.vector_size == 50
    assert dict(test_glove.key_to_index) == kv.key_to_index
    assert test_glove.index_to_key == kv.index_to_key
    np.testing.assert_allclose(
        test_glove.get_vector(c, norm=True), kv.get_vector(c, norm=True), atol=1e-6
    )
    with pytest.raises(ArgumentError, match="two non-empty lists"):
        test_glove.n_similarity([], [a])


@pytest.mark.parametrize("name", ["wordsim353.tsv", "simlex999.txt"])
def test_evaluate_word_pairs_is_gensims(glove_slice: EmbeddingTable, name: str) -> None:
    kv = _kv(glove_slice)
    for options in ({}, {"restrict_vocab": 5000, "case_insensitive": False, "dummy4unknown": True}):
        pearson, spearman, oov = glove_slice.evaluate_word_pairs(datapath(name), **options)
        g_pearson, g_spearman, g_oov = kv.evaluate_word_pairs(datapath(name), **options)
        assert pearson[0] == pytest.approx(g_pearson[0], abs=1e-5)
        assert pearson[1] == pytest.approx(g_pearson[1], abs=1e-5)
        assert spearman[0] == pytest.approx(g_spearman[0], abs=1e-5)
        assert oov == pytest.approx(g_oov, abs=1e-9)


def test_evaluate_word_analogies_is_gensims(glove_slice: EmbeddingTable, tmp_path: Path) -> None:
    # Two sections of questions-words.txt keep the test fast; the rules are the same for all.
    lines = Path(datapath("questions-words.txt")).read_text().splitlines()
    heads = [i for i, line in enumerate(lines) if line.startswith(": ")]
    part = lines[heads[0] : heads[0] + 120] + lines[heads[3] : heads[3] + 200]
    path = tmp_path / "questions.txt"
    path.write_text("\n".join(part) + "\n")
    kv = _kv(glove_slice)
    scores = []
    for options in ({"restrict_vocab": 20000}, {"restrict_vocab": 3000, "dummy4unknown": True}):
        score, sections = glove_slice.evaluate_word_analogies(path, **options)
        g_score, g_sections = kv.evaluate_word_analogies(str(path), **options)
        assert score == pytest.approx(g_score, abs=1e-12)
        assert sections == g_sections
        scores.append(score)
    assert scores[0] > 0.3 > scores[1]  # GloVe solves many; unknown words count as wrong


def test_lookups_are_read_only_and_cosines_never_stale(test_glove: EmbeddingTable) -> None:
    word = test_glove.index_to_key[3]
    for vec in (
        test_glove[word],
        test_glove.get_vector(word),
        test_glove.get_vector(word, norm=True),
        test_glove[[word]],
        test_glove.vectors,
    ):
        with pytest.raises(ValueError, match="read-only"):
            vec[...] = 0
    before = test_glove.most_similar(word, topn=3)
    assert test_glove.most_similar(word, topn=3) == before


def test_mutating_the_source_array_is_seen_at_once() -> None:
    # The table keeps no normalised copy: a caller who writes into the array
    # they passed gets neighbours of the new values, never stale cosines.
    rows = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]], dtype=np.float32)
    table = EmbeddingTable(rows, ["tv", "television", "radio"])
    assert table.most_similar("tv", topn=1)[0][0] == "television"
    rows[1] = [-1.0, 0.0]
    ((word, cos),) = table.most_similar("tv", topn=1)
    assert word == "radio" and cos == pytest.approx(0.0, abs=1e-6)


def test_unknown_words_raise_a_key_error(test_glove: EmbeddingTable) -> None:
    with pytest.raises(TokenNotFoundError, match="'no-such-word' is not in the vocabulary"):
        test_glove.most_similar(positive=["no-such-word"])
    with pytest.raises(KeyError):
        test_glove.similarity("no-such-word", test_glove.index_to_key[0])


def test_fasttext_tables_compose_oov_words_as_gensim_does() -> None:
    from gensim.models.fasttext import load_facebook_vectors

    from vocabgraft.io import load

    path = datapath("lee_fasttext.bin")
    ours = load(path, progress=False)
    kv = load_facebook_vectors(path)
    for word in ["night", "nightx", "chocolatecake", "zz"]:
        np.testing.assert_allclose(ours[word], kv[word], atol=1e-5)
        np.testing.assert_allclose(
            ours.get_vector(word, norm=True), kv.get_vector(word, norm=True), atol=1e-5
        )
    assert "nightx" not in ours  # a composed word has no row of its own
    _same(ours.most_similar("nightx", topn=8), kv.most_similar("nightx", topn=8))
    _same(
        ours.most_similar(positive=["nightx", "day"], negative=["sun"], topn=8),
        kv.most_similar(positive=["nightx", "day"], negative=["sun"], topn=8),
    )
    assert ours.similarity("nightx", "night") == pytest.approx(
        float(kv.similarity("nightx", "night")), abs=1e-5
    )
    assert ours[["night", "nightx"]].shape == (2, 10)


@pytest.mark.parametrize("binary", [False, True], ids=["text", "binary"])
def test_save_word2vec_format_round_trips_through_gensim(
    test_glove: EmbeddingTable, tmp_path: Path, binary: bool
) -> None:
    path = test_glove.save_word2vec_format(tmp_path / "vectors.w2v", binary=binary)
    kv = KeyedVectors.load_word2vec_format(str(path), binary=binary)
    assert kv.index_to_key == test_glove.index_to_key
    np.testing.assert_array_equal(kv.vectors, test_glove.vectors)
