"""GloVe and word2vec text and binary: real files, line rules, and malformed input."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from vg_io_writers import (
    gensim_file,
    number,
    write_glove,
    write_word2vec_binary,
    write_word2vec_text,
)

import vocabgraft.io._floats as floats_module
import vocabgraft.io._lines as lines_module
from vocabgraft import FormatError
from vocabgraft.errors import ArgumentError
from vocabgraft.io import load

TOKENS = ["the", "cat", "naïve", "日本", "sat"]
VECTORS = np.array(
    [[0.1, -0.2, 3.0], [1e-05, 2.5, -0.0], [0.333, 0.25, -7.0], [1.0, 2.0, 3.0], [4.0, 5.0, 6.5]],
    dtype=np.float32,
)


def _gensim_kv(path: Path, **kwargs: object) -> object:
    models = pytest.importorskip("gensim.models")
    return models.KeyedVectors.load_word2vec_format(str(path), **kwargs)


# -- real files ----------------------------------------------------------------------


@pytest.mark.gensim
def test_gensim_glove_file_reads_like_gensim() -> None:
    path = gensim_file("test_glove.txt")
    table = load(path)
    kv = _gensim_kv(path, no_header=True)
    assert table.shape == (76, 50)
    assert table.meta["format"] == "glove"
    assert table.vocab.tokens == list(kv.index_to_key)
    assert {"ö", "é"} <= set(table.vocab.tokens)
    np.testing.assert_array_equal(table.vectors, kv.vectors)


WORD2VEC_FILES = [
    ("word2vec_pre_kv_c", False, (1750, 10)),
    ("lee_fasttext.vec", False, (1762, 10)),
    ("crime-and-punishment.vec", False, (291, 5)),
    ("high_precision.kv.txt", False, (2, 2)),
    ("euclidean_vectors.bin", True, (2747, 10)),
    ("high_precision.kv.bin", True, (2, 2)),
    ("poincare_vectors.bin", True, (1182, 10)),
]


@pytest.mark.gensim
@pytest.mark.parametrize(
    ("name", "binary", "shape"), WORD2VEC_FILES, ids=[f[0] for f in WORD2VEC_FILES]
)
def test_gensim_word2vec_files_read_like_gensim(
    name: str, binary: bool, shape: tuple[int, int]
) -> None:
    path = gensim_file(name)
    table = load(path)
    kv = _gensim_kv(path, binary=binary)
    assert table.meta["format"] == ("word2vec-binary" if binary else "word2vec")
    assert table.shape == shape
    assert table.vocab.tokens == list(kv.index_to_key)
    np.testing.assert_array_equal(table.vectors, kv.vectors)


@pytest.mark.gensim
def test_real_file_with_a_wrong_header_count() -> None:
    # gensim's pretrained.vec says 3 vectors and holds 1.
    path = gensim_file("pretrained.vec")
    with pytest.raises(FormatError, match=r"line 1: the header says 3 vectors, but 1 line follows"):
        load(path)
    with pytest.warns(UserWarning, match="1 header count"):
        table = load(path, on_error="skip")
    assert table.vocab.tokens == ["dummy"]


@pytest.mark.gensim
def test_real_cp1252_vec_names_the_line_and_reads_with_its_encoding() -> None:
    path = gensim_file("pang_lee_polarity_fasttext.vec")
    with pytest.raises(FormatError, match=r"line 150: token b'\\x97' is not valid utf-8"):
        load(path)
    table = load(path, encoding="cp1252")
    assert "\u2014" in table.vocab  # cp1252 0x97 is an em dash


# -- line rules ----------------------------------------------------------------------


def test_tokens_with_spaces_keep_the_last_fields_as_the_vector(tmp_path: Path) -> None:
    path = tmp_path / "v.txt"
    path.write_text("the 1 2\nnew york 3 4\n. . . 5 6\ncity 7 8\n", encoding="utf-8")
    table = load(path)
    assert table.vocab.tokens == ["the", "new york", ". . .", "city"]
    assert table["new york"].tolist() == [3.0, 4.0]
    assert table.meta["dim"] == 2


def test_dim_is_the_most_common_count_of_the_first_lines(tmp_path: Path) -> None:
    path = tmp_path / "v.txt"
    path.write_text("new york 1 2\nthe 1 2\ncat 3 4\n", encoding="utf-8")
    assert load(path).shape == (3, 2)


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b"\xef\xbb\xbfcat 1 2\r\ndog 3 4\r\n", "BOM and CRLF"),
        (b"cat 1 2 \ndog 3 4 \n", "trailing space (fastText .vec)"),
        (b"cat 1 2 \r\ndog 3 4\r\n", "space and CRLF"),
        (b"cat 1 2\ndog 3 4", "no final newline"),
        (b"cat 1 2\ndog 3 4\n\n  \n\n", "blank lines at the end"),
    ],
    ids=["bom-crlf", "trailing-space", "space-crlf", "no-final-newline", "trailing-blanks"],
)
def test_line_end_variants_read_the_same(tmp_path: Path, raw: bytes, why: str) -> None:
    path = tmp_path / "v.txt"
    path.write_bytes(raw)
    table = load(path)
    assert table.vocab.tokens == ["cat", "dog"], why
    assert table.vectors.tolist() == [[1.0, 2.0], [3.0, 4.0]], why


def test_word2vec_text_with_bom_and_crlf(tmp_path: Path) -> None:
    path = tmp_path / "v.vec"
    path.write_bytes(b"\xef\xbb\xbf2 2\r\ncat 1 2\r\ndog 3 4\r\n")
    table = load(path)
    assert (table.vocab.tokens, table.meta["format"]) == (["cat", "dog"], "word2vec")


@pytest.mark.parametrize(
    "writer",
    [write_glove, write_word2vec_text, write_word2vec_binary],
    ids=["glove", "word2vec", "word2vec-binary"],
)
def test_limit_reads_the_first_vectors(tmp_path: Path, writer: object) -> None:
    path = writer(tmp_path / "v", TOKENS, VECTORS)  # type: ignore[operator]
    table = load(path, limit=2)
    assert table.vocab.tokens == TOKENS[:2]
    np.testing.assert_array_equal(table.vectors, VECTORS[:2])
    assert len(load(path, limit=0)) == 0
    assert len(load(path, limit=100)) == len(TOKENS)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64], ids=str)
def test_dtype(tmp_path: Path, dtype: type) -> None:
    path = write_glove(tmp_path / "v.txt", TOKENS, VECTORS)
    table = load(path, dtype=dtype)
    assert table.dtype == dtype
    # float64 is parsed from the text (0.1 -> 0.1), the others through float32.
    written = np.array([[float(number(x)) for x in row] for row in VECTORS])
    expected = written if dtype == np.float64 else VECTORS.astype(dtype)
    np.testing.assert_array_equal(table.vectors, expected)


def test_float64_is_parsed_straight_from_the_text(tmp_path: Path) -> None:
    path = tmp_path / "v.txt"
    path.write_text("a 0.1 0.123456789012345\n", encoding="utf-8")
    assert load(path, dtype=np.float64)["a"].tolist() == [0.1, 0.123456789012345]


def test_bad_arguments_are_named(tmp_path: Path) -> None:
    path = write_glove(tmp_path / "v.txt", TOKENS, VECTORS)
    with pytest.raises(ArgumentError, match=r"dtype must be float16, float32 or float64"):
        load(path, dtype=np.int32)
    with pytest.raises(ArgumentError, match=r"on_error must be 'raise' or 'skip'"):
        load(path, on_error="ignore")  # type: ignore[arg-type]
    with pytest.raises(ArgumentError, match=r"limit must be a non-negative integer"):
        load(path, limit=-1)
    with pytest.raises(ArgumentError, match=r"unknown format 'csv'; vocabgraft reads: cache"):
        load(path, format="csv")
    with pytest.raises(ArgumentError, match=r"does not write space and newline as single ASCII"):
        load(path, encoding="utf-16")


def test_progress_bar_goes_to_stderr_when_asked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_glove(tmp_path / "v.txt", TOKENS, VECTORS)
    load(path, progress=False)
    assert capsys.readouterr().err == ""
    load(path, progress=True)
    assert "reading v.txt" in capsys.readouterr().err


# -- malformed input: exactly one clear error, or skipped and counted -----------------------

MALFORMED = [
    (
        "a 1 2 3\nb 1 2\nc 1 2 3\n",
        r"line 2: expected a token and 3 numbers separated by single spaces, found 3 field\(s\): 'b 1 2'",
        "field_count",
    ),
    (
        "a 1 2 3\nb 1 abc 3\n",
        r"line 2: number 2 of the vector is 'abc', which is not a number",
        "not_a_number",
    ),
    (
        "a 1 2 3\nb 1 nan 3\n",
        r"line 2: number 2 of the vector is 'nan'; vectors must be finite",
        "non_finite",
    ),
    (
        "a 1 2 3\nb 1 2 -inf\n",
        r"line 2: number 3 of the vector is '-inf'; vectors must be finite",
        "non_finite",
    ),
    (
        "a 1 2 3\nb 1 1e39 3\n",
        r"line 2: number 2 of the vector is '1e39'; vectors must be finite",
        "non_finite",
    ),
    (
        "a 1 2 3\nb 1  3\n",
        r"line 2: number 2 of the vector is '', which is not a number",
        "not_a_number",
    ),
    ("a 1 2 3\n\nb 1 2 3\n", r"line 2: blank line between vectors", "blank_line"),
    (
        "a 1 2 3\n 1 2 3\n",
        r"line 2: the line starts with a space, so its token is empty",
        "empty_token",
    ),
    (
        "a 1 2 3\nb 1 2 3\na 4 5 6\n",
        r"line 3: token 'a' appears again; it first appeared at line 1",
        "duplicate_token",
    ),
    (
        "a 1 2 3\nb 1 2 3\nc 1 2",
        r"line 3: expected a token and 3 numbers .*found 3 field\(s\)",
        "field_count",
    ),
    (
        "a 1 2 3\nb 1 2 0x10\n",
        r"line 2: number 3 of the vector is '0x10', which is not a number",
        "not_a_number",
    ),
    (
        "a 1 2 3\nb 1 2 1,5\n",
        r"line 2: number 3 of the vector is '1,5', which is not a number",
        "not_a_number",
    ),
]
MALFORMED_IDS = [
    "too-few-fields", "word", "nan", "inf", "overflow", "double-space", "blank-line",
    "empty-token", "duplicate", "truncated-last-line", "hex", "decimal-comma",
]  # fmt: skip


@pytest.mark.parametrize(("text", "match", "reason"), MALFORMED, ids=MALFORMED_IDS)
def test_malformed_glove_raises_one_clear_error_or_skips_the_row(
    tmp_path: Path, text: str, match: str, reason: str
) -> None:
    path = tmp_path / "bad.txt"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(FormatError, match=match) as info:
        load(path, format="glove")
    assert str(info.value).startswith(str(path))
    assert "on_error='skip'" in str(info.value)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = load(path, format="glove", on_error="skip")
    assert len(caught) == 1
    assert "skipped 1 malformed row(s)" in str(caught[0].message)
    summary = table.meta["skipped"]
    assert summary["total"] == 1
    assert list(summary["reasons"]) == [reason]
    assert summary["reasons"][reason]["first"][0].startswith("line ")
    assert table.vocab.tokens[0] == "a"
    assert table["a"].tolist() == [1.0, 2.0, 3.0]


def test_undecodable_token_names_the_line_and_the_encoding(tmp_path: Path) -> None:
    path = tmp_path / "bad.txt"
    path.write_bytes(b"a 1 2\ncaf\xe9 3 4\n")
    with pytest.raises(FormatError, match=r"line 2: token b'caf\\xe9' is not valid utf-8"):
        load(path)
    assert load(path, encoding="latin-1").vocab.tokens == ["a", "café"]


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.txt"
    path.write_bytes(b"")
    with pytest.raises(FormatError, match=r"empty.txt: the file is empty"):
        load(path)
    with pytest.raises(FormatError, match=r"the file has no vector lines"):
        load(path, format="glove")


def test_word2vec_header_count_disagrees(tmp_path: Path) -> None:
    path = tmp_path / "v.vec"
    path.write_text("5 2\na 1 2\nb 3 4\n", encoding="utf-8")
    with pytest.raises(FormatError, match=r"line 1: the header says 5 vectors, but 2 lines follow"):
        load(path)
    path.write_text("1 2\na 1 2\nb 3 4\n", encoding="utf-8")
    with pytest.raises(FormatError, match=r"the header says 1 vectors, but 2 lines follow"):
        load(path)


def test_word2vec_rows_must_match_the_header_dim(tmp_path: Path) -> None:
    path = tmp_path / "v.vec"
    path.write_text("2 3\na 1 2 3\nb 3 4\n", encoding="utf-8")
    with pytest.raises(FormatError, match=r"line 3: expected a token and 3 numbers"):
        load(path)


def test_bad_word2vec_header(tmp_path: Path) -> None:
    path = tmp_path / "v.vec"
    path.write_text("2 0\n", encoding="utf-8")
    with pytest.raises(FormatError, match=r"line 1: the header says the vectors have 0 dimensions"):
        load(path, format="word2vec")
    path.write_text("a 1 2\n", encoding="utf-8")
    with pytest.raises(FormatError, match=r"line 1: expected a header line 'count dim'"):
        load(path, format="word2vec")


# -- word2vec binary -------------------------------------------------------------------


@pytest.mark.parametrize("newlines", [True, False], ids=["c-tool", "gensim-style"])
def test_binary_round_trip(tmp_path: Path, newlines: bool) -> None:
    path = write_word2vec_binary(tmp_path / "v.bin", TOKENS, VECTORS, newlines=newlines)
    table = load(path)
    assert table.vocab.tokens == TOKENS
    np.testing.assert_array_equal(table.vectors, VECTORS)


def test_truncated_binary(tmp_path: Path) -> None:
    path = write_word2vec_binary(tmp_path / "v.bin", TOKENS, VECTORS)
    data = path.read_bytes()
    path.write_bytes(data[:-7])
    with pytest.raises(FormatError, match=r"byte \d+: the file ends inside vector 5 of 5"):
        load(path)
    with pytest.warns(UserWarning, match="1 truncated"):
        table = load(path, on_error="skip")
    assert table.vocab.tokens == TOKENS[:4]


def test_binary_with_fewer_vectors_than_its_header(tmp_path: Path) -> None:
    path = write_word2vec_binary(tmp_path / "v.bin", TOKENS, VECTORS, count=7)
    with pytest.raises(FormatError, match=r"the header says 7 vectors, but the file ends after 5"):
        load(path)


def test_binary_with_more_data_than_its_header(tmp_path: Path) -> None:
    path = write_word2vec_binary(tmp_path / "v.bin", TOKENS, VECTORS, count=3)
    with pytest.raises(FormatError, match=r"the header says 3 vectors, but more data follows"):
        load(path)
    assert len(load(path, limit=2)) == 2


def test_binary_bad_rows(tmp_path: Path) -> None:
    vectors = VECTORS.copy()
    vectors[1, 0] = np.nan
    path = write_word2vec_binary(tmp_path / "v.bin", ["a", "b", "a", "c", "d"], vectors)
    with pytest.raises(FormatError, match=r"byte \d+: the vector of 'b' holds nan or inf"):
        load(path)
    with pytest.warns(UserWarning, match="1 duplicate token .* 1 non finite"):
        table = load(path, on_error="skip")
    assert table.vocab.tokens == ["a", "c", "d"]


# -- the parser's paths agree ------------------------------------------------------------


def _awkward_lines(n: int) -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng(3)
    tokens = [f"w{i}" if i % 7 else f"multi word {i}" for i in range(n)]
    vectors = rng.standard_normal((n, 6)).astype(np.float32) * 10.0 ** rng.integers(-8, 8, (n, 6))
    return tokens, vectors.astype(np.float32)


def _no_pyarrow(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(floats_module, "arrow", lambda: None)
    monkeypatch.setattr(lines_module, "arrow", lambda: None)


PATHS = {
    "one-chunk": lambda mp: None,
    "chunks-smaller-than-a-line": lambda mp: mp.setattr(lines_module, "CHUNK_BYTES", 97),
    "exact-path-only": lambda mp: mp.setattr(lines_module, "fast_chunk", lambda *args: None),
    "no-pyarrow": _no_pyarrow,
}


@pytest.mark.parametrize("variant", list(PATHS), ids=list(PATHS))
@pytest.mark.parametrize("newline", ["\n", "\r\n"], ids=["lf", "crlf"])
def test_every_parser_path_gives_the_same_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variant: str, newline: str
) -> None:
    tokens, vectors = _awkward_lines(300)
    path = write_glove(tmp_path / "v.txt", tokens, vectors, newline=newline)
    PATHS[variant](monkeypatch)
    table = load(path)
    assert table.vocab.tokens == tokens
    np.testing.assert_array_equal(table.vectors, vectors)


def test_errors_name_the_right_line_across_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tokens, vectors = _awkward_lines(200)
    path = write_glove(tmp_path / "v.txt", tokens, vectors)
    text = path.read_text(encoding="utf-8").splitlines()
    text[150] = "bad 1 2"
    path.write_text("\n".join(text) + "\n", encoding="utf-8")
    monkeypatch.setattr(lines_module, "CHUNK_BYTES", 300)
    with pytest.raises(FormatError, match=r"line 151: expected a token and 6 numbers"):
        load(path)


def test_without_pyarrow_bad_numbers_are_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_pyarrow(monkeypatch)
    bad = tmp_path / "bad.txt"
    bad.write_text("a 1 2\nb 1 x\n", encoding="utf-8")
    with pytest.raises(FormatError, match=r"line 2: number 2 of the vector is 'x'"):
        load(bad)


def test_python_floats_round_halfway_cases_once() -> None:
    # 1.00000005960464477539062 is the midpoint between float32 1.0 and its
    # successor; a hair above it must round up, a hair below it down.
    up = floats_module.python_floats([b"1.0000000596046448"], np.dtype(np.float32))
    down = floats_module.python_floats([b"1.0000000596046447"], np.dtype(np.float32))
    assert up is not None and down is not None
    assert up[0] == np.nextafter(np.float32(1), np.float32(2))
    assert down[0] == np.float32(1)
    pa = pytest.importorskip("pyarrow")
    arrow = pa.array([b"1.0000000596046448"], pa.binary()).cast(pa.float32())
    assert arrow.to_numpy()[0] == up[0]
