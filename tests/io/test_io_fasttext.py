"""fastText .bin: gensim's real test models, read natively and checked against gensim."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from vg_io_writers import fasttext_bin, gensim_file

from vocabgraft import EmbeddingTable, FormatError, TokenNotFoundError
from vocabgraft.io import load
from vocabgraft.subwords.fasttext import FastTextSubwords, char_ngrams, ft_hash

OOV = ["landlord", "xyzzy", "世界", "a", "night-time", "", "qq", "trés", "ночь", "🙂🙂"]

# (file, version, nwords, dim, bucket) as gensim's own docs describe them.
MODELS = [
    ("lee_fasttext.bin", None, 1762, 10, 1000),
    ("lee_fasttext_new.bin", 11, 1763, 10, 1000),
    ("crime-and-punishment.bin", 12, 291, 5, 100),
]


def _gensim_vectors(path: Path) -> object:
    ft = pytest.importorskip("gensim.models.fasttext")
    return ft.load_facebook_vectors(str(path))


@pytest.mark.gensim
@pytest.mark.parametrize(
    ("name", "version", "nwords", "dim", "bucket"), MODELS, ids=[m[0] for m in MODELS]
)
def test_matches_gensim_in_and_out_of_vocabulary(
    name: str, version: int | None, nwords: int, dim: int, bucket: int
) -> None:
    path = gensim_file(name)
    table = load(path)
    wv = _gensim_vectors(path)
    assert table.shape == (nwords, dim)
    assert table.vocab.tokens == list(wv.index_to_key)
    assert table.meta["fasttext"]["version"] == version
    assert table.meta["fasttext"]["bucket"] == bucket
    np.testing.assert_allclose(table.vectors, wv.vectors, atol=1e-5, rtol=0)
    assert isinstance(table.subwords, FastTextSubwords)
    assert table.subwords.bucket == bucket
    words = [w for w in OOV if w not in table.vocab]
    expected = np.stack([wv[w] for w in words])
    np.testing.assert_allclose(table.subwords.compose(words), expected, atol=1e-5, rtol=0)
    some = table.vocab.tokens[::97]
    np.testing.assert_allclose(table.subwords.compose(some), table[some], atol=0, rtol=0)


@pytest.mark.gensim
def test_oov_words_of_crime_and_punishment_come_from_ngrams() -> None:
    path = gensim_file("crime-and-punishment.bin")
    table = load(path)
    wv = _gensim_vectors(path)
    # gensim's own doc example: 'landlord' is out of vocabulary but has a vector.
    assert "landlord" not in table.vocab
    np.testing.assert_allclose(
        table.subwords.compose(["landlord"])[0], wv["landlord"], atol=1e-5, rtol=0
    )
    assert np.abs(table.subwords.compose(["landlord"])).sum() > 0


@pytest.mark.gensim
def test_non_ascii_vocabulary_matches_gensim() -> None:
    path = gensim_file("non_ascii_fasttext.bin")
    table = load(path)
    wv = _gensim_vectors(path)
    assert "který" in table.vocab
    np.testing.assert_allclose(table.vectors, wv.vectors, atol=1e-5, rtol=0)
    words = ["kterého", "přílišný", "žluťoučký"]
    np.testing.assert_allclose(
        table.subwords.compose(words), np.stack([wv[w] for w in words]), atol=1e-5, rtol=0
    )


def _fasttext_reference(
    raw: bytes, own: np.ndarray, ngrams: np.ndarray, minn: int, maxn: int
) -> np.ndarray:
    """fastText's word vector from raw bytes: mean of the own row and the n-gram rows."""
    rows = [own] + [ngrams[ft_hash(g) % len(ngrams)] for g in char_ngrams(raw, minn, maxn)]
    return np.mean(rows, axis=0)


@pytest.mark.gensim
def test_cp852_needs_its_encoding_and_hashes_the_file_bytes() -> None:
    path = gensim_file("cp852_fasttext.bin")
    with pytest.raises(FormatError, match=r"byte 88: token b'kter\\xec' is not valid utf-8"):
        load(path)
    table = load(path, encoding="cp852")
    assert "který" in table.vocab
    ft = pytest.importorskip("gensim.models.fasttext")
    wv = ft.load_facebook_vectors(str(path), encoding="cp852")
    assert table.vocab.tokens == list(wv.index_to_key)
    # ASCII words hash the same bytes in both: they agree with gensim.
    ascii_ids = [i for i, t in enumerate(table.vocab.tokens) if t.isascii()]
    np.testing.assert_allclose(table.vectors[ascii_ids], wv.vectors[ascii_ids], atol=1e-5, rtol=0)
    # Non-ASCII words: fastText hashed the file's cp852 bytes (gensim re-encodes as UTF-8).
    sub = table.subwords
    from gensim.models import _fasttext_bin

    model = _fasttext_bin.load(str(path), encoding="cp852", full_model=False)
    rows = model.vectors_ngrams
    own, ngrams = rows[: model.nwords], rows[model.nwords :]
    for i, token in enumerate(table.vocab.tokens):
        if not token.isascii():
            expected = _fasttext_reference(token.encode("cp852"), own[i], ngrams, 2, 4)
            np.testing.assert_allclose(table.vectors[i], expected, atol=1e-5, rtol=0)
    oov = "žížala"
    oov_expected = np.mean(
        [ngrams[ft_hash(g) % len(ngrams)] for g in char_ngrams(oov.encode("cp852"), 2, 4)],
        axis=0,
    )
    np.testing.assert_allclose(sub.compose([oov])[0], oov_expected, atol=1e-5, rtol=0)


@pytest.mark.gensim
def test_cp852_with_skip_drops_undecodable_words_and_says_so() -> None:
    path = gensim_file("cp852_fasttext.bin")
    with pytest.warns(UserWarning, match=r"skipped \d+ malformed row\(s\): \d+ undecodable"):
        table = load(path, on_error="skip")
    skipped = table.meta["skipped"]["reasons"]["undecodable"]
    assert skipped["count"] == 171 - len(table)
    assert skipped["first"][0] == "byte 88"


@pytest.mark.gensim
def test_supervised_model_without_buckets_loads_its_words() -> None:
    path = gensim_file("pang_lee_polarity_fasttext.bin")
    # gensim refuses supervised models; the words of this one are cp1252.
    table = load(path, encoding="cp1252")
    info = table.meta["fasttext"]
    assert (info["model"], info["bucket"], info["maxn"]) == ("supervised", 0, 0)
    assert table.meta["labels"] == ["__label__pos", "__label__neg"]
    assert table.dim == 100
    assert not any(t.startswith("__label__") for t in table.vocab.tokens)
    word = table.vocab.tokens[5]
    np.testing.assert_array_equal(table.subwords.compose([word])[0], table[word])
    with pytest.raises(TokenNotFoundError, match=r"has no character n-grams \(bucket=0"):
        table.subwords.compose(["definitely-not-a-word"])


@pytest.mark.gensim
def test_cache_round_trip_keeps_the_subword_model(tmp_path: Path) -> None:
    table = load(gensim_file("crime-and-punishment.bin"))
    table.save(tmp_path / "cache")
    again = load(tmp_path / "cache")
    assert isinstance(again.subwords, FastTextSubwords)
    words = ["landlord", *table.vocab.tokens[:5], "преступление"]
    np.testing.assert_array_equal(again.subwords.compose(words), table.subwords.compose(words))
    np.testing.assert_array_equal(again.vectors, table.vectors)


def _subword_arrays(folder: Path) -> dict[str, np.ndarray]:
    from vocabgraft._safetensors import open_arrays

    return open_arrays(folder / "subwords.safetensors")[0]


def test_fasttext_word_vectors_are_stored_once_and_come_back(tmp_path: Path) -> None:
    table = load(_model(tmp_path))
    table.save(tmp_path / "cache")
    assert "word_vectors" not in _subword_arrays(tmp_path / "cache")
    again = load(tmp_path / "cache")
    assert again.subwords.word_vectors is again.vectors  # one memory map, not two
    words = [*table.vocab.tokens[:3], "unseen-word"]
    np.testing.assert_array_equal(again.subwords.compose(words), table.subwords.compose(words))
    # A subset's vectors differ from the model's words: both are kept.
    part = table.subset(table.vocab.tokens[:2])
    part.save(tmp_path / "part")
    assert "word_vectors" in _subword_arrays(tmp_path / "part")
    np.testing.assert_array_equal(
        load(tmp_path / "part").subwords.compose(words), table.subwords.compose(words)
    )


def test_version_1_cache_with_word_vectors_inside_still_loads(tmp_path: Path) -> None:
    import json

    from vocabgraft._safetensors import save_arrays

    table = load(_model(tmp_path))
    table.save(tmp_path / "cache")
    folder = tmp_path / "cache"
    arrays, meta = table.subwords.to_state()
    save_arrays(folder / "subwords.safetensors", arrays, meta)  # as version 1 wrote it
    info = json.loads((folder / "table.json").read_text())
    info["version"] = 1
    del info["subword_arrays_from_vectors"]
    (folder / "table.json").write_text(json.dumps(info))
    again = load(folder)
    words = [*table.vocab.tokens[:3], "unseen-word"]
    np.testing.assert_array_equal(again.subwords.compose(words), table.subwords.compose(words))


@pytest.mark.gensim
def test_limit_keeps_the_first_words_and_all_buckets() -> None:
    path = gensim_file("lee_fasttext_new.bin")
    full, part = load(path), load(path, limit=10)
    assert part.vocab.tokens == full.vocab.tokens[:10]
    np.testing.assert_array_equal(part.vectors, full.vectors[:10])
    np.testing.assert_array_equal(part.subwords.ngrams, full.subwords.ngrams)


# -- files written here: the layout's edge cases -----------------------------------------


def _model(tmp_path: Path, name: str = "m.bin", **kwargs: object) -> Path:
    rng = np.random.default_rng(0)
    words = [b"cat", b"dog", b"caf\xc3\xa9"]
    bucket = int(kwargs.pop("bucket", 20))  # type: ignore[call-overload]
    matrix = rng.standard_normal((len(words) + bucket, 4)).astype(np.float32)
    path = tmp_path / name
    path.write_bytes(fasttext_bin(words, matrix, bucket=bucket, **kwargs))  # type: ignore[arg-type]
    return path


@pytest.mark.parametrize("new_format", [True, False], ids=["v12", "before-0.2"])
def test_written_model_matches_the_reference_formula(tmp_path: Path, new_format: bool) -> None:
    path = _model(tmp_path, new_format=new_format)
    table = load(path)
    rng = np.random.default_rng(0)
    matrix = rng.standard_normal((23, 4)).astype(np.float32)
    own, ngrams = matrix[:3], matrix[3:]
    for i, word in enumerate([b"cat", b"dog", b"caf\xc3\xa9"]):
        expected = _fasttext_reference(word, own[i], ngrams, 3, 6)
        np.testing.assert_allclose(table.vectors[i], expected, atol=1e-6, rtol=0)
    assert table.vocab.tokens == ["cat", "dog", "café"]


@pytest.mark.parametrize(
    ("cut", "match"),
    [
        (6, r"byte 0: the file ends at byte 6 while reading the file signature"),
        (95, r"byte 64: the header field size is 3, but a fastText model allows at most 0, as "
         r"the 3 bytes left in the file hold no more entries"),
        (130, r"byte 124: the file ends at byte 130 while reading entry 3 of the dictionary"),
        (160, r"while reading the input matrix \(4 x 4 float32\)"),
        (-3, r"while reading the output matrix"),
    ],
    ids=["signature", "dictionary-size", "dictionary", "input-matrix", "output-matrix"],
)  # fmt: skip
def test_truncated_model_names_what_was_cut(tmp_path: Path, cut: int, match: str) -> None:
    path = _model(tmp_path, bucket=1)
    data = path.read_bytes()
    path.write_bytes(data[:cut])
    with pytest.raises(FormatError, match=match):
        load(path, format="fasttext-bin")


def test_header_promising_more_buckets_than_the_file_holds(tmp_path: Path) -> None:
    path = _model(tmp_path)
    path.write_bytes(path.read_bytes()[:150])
    with pytest.raises(
        FormatError,
        match=r"byte 40: the header field bucket is 20, but a fastText model allows at most 5, "
        r"as the 86 bytes left in the file hold no more rows of 4 float32",
    ):
        load(path, format="fasttext-bin")


def test_quantized_model_is_refused_with_advice(tmp_path: Path) -> None:
    path = _model(tmp_path, quantized=True)
    with pytest.raises(FormatError, match=r"quantized fastText model .* Use the unquantized"):
        load(path)


def test_pruned_dictionary_is_refused(tmp_path: Path) -> None:
    path = _model(tmp_path, prune=0)
    with pytest.raises(FormatError, match=r"dictionary is pruned"):
        load(path)


def test_future_version_is_refused(tmp_path: Path) -> None:
    path = _model(tmp_path, version=13)
    with pytest.raises(FormatError, match=r"fastText format version 13 is not supported"):
        load(path)


def test_trailing_bytes_are_an_error(tmp_path: Path) -> None:
    path = _model(tmp_path)
    path.write_bytes(path.read_bytes() + b"extra")
    with pytest.raises(FormatError, match=r"5 unexpected bytes follow the end of the model"):
        load(path)


def test_version_11_supervised_models_have_no_char_ngrams(tmp_path: Path) -> None:
    path = _model(tmp_path, version=11, model=3, labels=[b"__label__a"])
    table = load(path)
    assert table.meta["fasttext"]["maxn"] == 0
    rng = np.random.default_rng(0)
    matrix = rng.standard_normal((23, 4)).astype(np.float32)
    np.testing.assert_array_equal(table.vectors, matrix[:3])


def test_duplicate_words_are_reported_with_offsets(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    matrix = rng.standard_normal((3 + 5, 4)).astype(np.float32)
    path = tmp_path / "dup.bin"
    path.write_bytes(fasttext_bin([b"a", b"b", b"a"], matrix, bucket=5))
    with pytest.raises(FormatError, match=r"token 'a' appears again; it first appeared at offset"):
        load(path)
    with pytest.warns(UserWarning, match="1 duplicate token"):
        table = load(path, on_error="skip")
    assert table.vocab.tokens == ["a", "b"]


def test_compose_of_10000_words_is_fast(tmp_path: Path) -> None:
    import time

    rng = np.random.default_rng(0)
    sub = FastTextSubwords(rng.standard_normal((200_000, 100)).astype(np.float32), minn=3, maxn=6)
    words = [f"word{i}x{i * 7919 % 1000}" for i in range(10_000)]
    start = time.process_time()  # CPU time: the test machines are shared
    vectors = sub.compose(words)
    elapsed = time.process_time() - start
    assert vectors.shape == (10_000, 100)
    assert elapsed < 1.0, f"compose took {elapsed:.2f} s for 10,000 words"


def test_table_with_fasttext_subwords_saves_and_loads(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    sub = FastTextSubwords(
        rng.standard_normal((50, 3)).astype(np.float32),
        minn=2,
        maxn=3,
        words=["x", "y"],
        word_vectors=rng.standard_normal((2, 3)).astype(np.float32),
    )
    table = EmbeddingTable(sub.word_vectors.copy(), ["x", "y"], subwords=sub)
    table.save(tmp_path / "t")
    again = EmbeddingTable.load(tmp_path / "t")
    assert isinstance(again.subwords, FastTextSubwords)
    np.testing.assert_array_equal(
        again.subwords.compose(["x", "zz", "日本"]), sub.compose(["x", "zz", "日本"])
    )
