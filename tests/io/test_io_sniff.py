"""Format sniffing, the cache folder, and gensim interop."""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import numpy as np
import pytest
from vg_io_writers import (
    fasttext_bin,
    gensim_file,
    write_glove,
    write_word2vec_binary,
    write_word2vec_text,
    write_word_list,
)

from vocabgraft import EmbeddingTable, FormatError, MissingExtraError
from vocabgraft.io import formats, from_gensim, load, sniff_format, to_gensim

TOKENS = ["a", "b", "c"]
VECTORS = np.arange(6, dtype=np.float32).reshape(3, 2)


def _fasttext(path: Path, new_format: bool) -> Path:
    matrix = np.ones((3 + 4, 2), dtype=np.float32)
    path.write_bytes(fasttext_bin([b"a", b"b", b"c"], matrix, bucket=4, new_format=new_format))
    return path


WRITERS = {
    "glove": lambda p: write_glove(p, TOKENS, VECTORS),
    "word2vec": lambda p: write_word2vec_text(p, TOKENS, VECTORS),
    "word2vec-binary": lambda p: write_word2vec_binary(p, TOKENS, VECTORS),
    "word2vec-binary-no-newlines": lambda p: write_word2vec_binary(
        p, TOKENS, VECTORS, newlines=False
    ),
    "fasttext-bin": lambda p: _fasttext(p, new_format=True),
    "fasttext-bin-old": lambda p: _fasttext(p, new_format=False),
}


@pytest.mark.parametrize("kind", list(WRITERS), ids=list(WRITERS))
def test_sniffs_each_written_format(tmp_path: Path, kind: str) -> None:
    path = WRITERS[kind](tmp_path / "vectors")
    expected = kind.removesuffix("-no-newlines").removesuffix("-old")
    assert sniff_format(path) == expected
    assert expected in formats
    table = load(path)
    assert table.vocab.tokens == TOKENS
    assert table.meta["format"] == expected


def test_sniffs_npy_and_cache(tmp_path: Path) -> None:
    np.save(tmp_path / "m.npy", VECTORS)
    write_word_list(tmp_path / "m.txt", TOKENS)
    assert sniff_format(tmp_path / "m.npy") == "npy"
    load(tmp_path / "m.npy").save(tmp_path / "cache")
    assert sniff_format(tmp_path / "cache") == "cache"
    table = load(tmp_path / "cache")
    assert table.vocab.tokens == TOKENS
    np.testing.assert_array_equal(table.vectors, VECTORS)


def test_cache_limit_and_dtype(tmp_path: Path) -> None:
    EmbeddingTable(VECTORS, TOKENS).save(tmp_path / "cache")
    table = load(tmp_path / "cache", limit=2, dtype=np.float64)
    assert (table.vocab.tokens, table.dtype) == (["a", "b"], np.float64)


@pytest.mark.gensim
@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("test_glove.txt", "glove"),
        ("word2vec_pre_kv_c", "word2vec"),
        ("lee_fasttext.vec", "word2vec"),
        ("euclidean_vectors.bin", "word2vec-binary"),
        ("high_precision.kv.bin", "word2vec-binary"),
        ("lee_fasttext.bin", "fasttext-bin"),
        ("lee_fasttext_new.bin", "fasttext-bin"),
        ("cp852_fasttext.bin", "fasttext-bin"),
    ],
    ids=lambda v: str(v),
)
def test_sniffs_real_files(name: str, expected: str) -> None:
    assert sniff_format(gensim_file(name)) == expected


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"", r"the file is empty"),
        (b"hello world\n", r"the format is not recognised \(the file starts b'hello world"),
        (pickle.dumps({"x": 1}), r"a Python pickle, not a vectors file"),
    ],
    ids=["empty", "prose", "pickle"],
)
def test_unrecognised_files(tmp_path: Path, content: bytes, match: str) -> None:
    path = tmp_path / "f"
    path.write_bytes(content)
    with pytest.raises(FormatError, match=match):
        load(path)


def test_folder_without_table_json(tmp_path: Path) -> None:
    with pytest.raises(FormatError, match=r"a folder, but not a vocabgraft table cache"):
        load(tmp_path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="No such file"):
        load(tmp_path / "nope.txt")
    with pytest.raises(FileNotFoundError, match="No such file"):
        load(tmp_path / "nope.txt", format="glove")


def test_format_aliases(tmp_path: Path) -> None:
    path = write_word2vec_text(tmp_path / "v.vec", TOKENS, VECTORS)
    assert load(path, format="word2vec-text").meta["format"] == "word2vec"
    assert load(path, format="fasttext-vec").vocab.tokens == TOKENS


def test_load_is_the_package_entry_point() -> None:
    import vocabgraft

    assert vocabgraft.load is load


# -- gensim interop --------------------------------------------------------------------


@pytest.mark.gensim
def test_gensim_round_trip() -> None:
    models = pytest.importorskip("gensim.models")
    kv = models.KeyedVectors(2)
    kv.add_vectors(TOKENS, VECTORS)
    table = from_gensim(kv)
    assert table.vocab.tokens == TOKENS
    np.testing.assert_array_equal(table.vectors, VECTORS)
    back = to_gensim(table)
    assert list(back.index_to_key) == TOKENS
    np.testing.assert_array_equal(back["b"], VECTORS[1])
    assert back.most_similar("a", topn=1)[0][0] in TOKENS


@pytest.mark.gensim
def test_fasttext_keyed_vectors_round_trip() -> None:
    ft = pytest.importorskip("gensim.models.fasttext")
    wv = ft.load_facebook_vectors(str(gensim_file("crime-and-punishment.bin")))
    table = from_gensim(wv)
    assert table.subwords is not None
    np.testing.assert_allclose(table.subwords.compose(["landlord"])[0], wv["landlord"], atol=1e-6)
    back = to_gensim(table)
    assert isinstance(back, ft.FastTextKeyedVectors)
    np.testing.assert_allclose(back["landlord"], wv["landlord"], atol=1e-6)
    np.testing.assert_allclose(back.vectors_vocab, wv.vectors_vocab, atol=1e-5)
    back.adjust_vectors()  # recompute the word vectors from the recovered own rows
    np.testing.assert_allclose(back.vectors, wv.vectors, atol=1e-5)


@pytest.mark.gensim
def test_reading_a_gensim_save_needs_the_format_named(tmp_path: Path) -> None:
    models = pytest.importorskip("gensim.models")
    kv = models.KeyedVectors(2)
    kv.add_vectors(TOKENS, VECTORS)
    kv.save(str(tmp_path / "kv.model"))
    assert sniff_format(tmp_path / "kv.model") == "gensim"
    with pytest.raises(FormatError, match=r"a gensim save, which is a Python pickle"):
        load(tmp_path / "kv.model")
    table = load(tmp_path / "kv.model", format="gensim")
    np.testing.assert_array_equal(table.vectors, VECTORS)
    (tmp_path / "bad.model").write_bytes(b"\x80\x04garbage gensim")
    with pytest.raises(FormatError, match=r"gensim could not load the file"):
        load(tmp_path / "bad.model", format="gensim")


def test_missing_gensim_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gensim", None)
    monkeypatch.setitem(sys.modules, "gensim.models", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'vocabgraft\[gensim\]'"):
        from_gensim(object())
    with pytest.raises(MissingExtraError, match=r"needs the 'gensim.models' package"):
        to_gensim(EmbeddingTable(VECTORS, TOKENS))
