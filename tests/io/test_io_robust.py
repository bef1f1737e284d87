"""Bad input never hangs, crashes or is read wrong: header bounds, files that change, FIFOs."""

from __future__ import annotations

import ast
import os
import struct
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from vg_io_writers import fasttext_bin, gensim_file, write_glove, write_word2vec_binary

import vocabgraft.errors as errors_module
from vocabgraft.errors import FileChangedError, FormatError, InputNotFoundError
from vocabgraft.io import load

# -- fastText header fields are bounded ------------------------------------------------

# (file, byte offset, value, what the message says); offsets in gensim's real files.
FIELDS = [
    ("toy-model.bin", 48, 2**31 - 1, r"byte 48: the header field maxn is 2147483647, but a "
     r"fastText model allows 0 to 64"),
    ("toy-model.bin", 44, -1, r"byte 44: the header field minn is -1, .* allows 0 to 64"),
    ("toy-model.bin", 8, 0, r"byte 8: the header field dim is 0, .* allows 1 to 1048576"),
    ("toy-model.bin", 8, 2**20, r"byte 40: the header field bucket is 100, .* allows at most 0"),
    ("toy-model.bin", 40, 2**31 - 1, r"byte 40: the header field bucket is 2147483647, .* at "
     r"most \d+, as the \d+ bytes left in the file hold no more rows of 5 float32"),
    ("toy-model.bin", 32, 9, r"byte 32: the header field loss is 9, .* allows 1 to 4"),
    ("toy-model.bin", 36, 0, r"byte 36: the header field model is 0, .* allows 1 to 3"),
    ("toy-model.bin", 12, -5, r"byte 12: the header field ws is -5, .* allows 0 to 2147483647"),
    ("toy-model.bin", 64, 2**31 - 1, r"byte 64: the dictionary says 2147483647 entries, 22 "
     r"words and 0 labels, which do not add up"),
    ("lee_fasttext.bin", 40, 2**31 - 1, r"byte 40: the header field maxn is 2147483647"),
    ("lee_fasttext_new.bin", 48, 2**31 - 1, r"byte 48: the header field maxn is 2147483647"),
    ("lee_fasttext_new.bin", 40, 2**31 - 1, r"byte 40: the header field bucket is 2147483647"),
]  # fmt: skip


def _patched(tmp_path: Path, name: str, offset: int, value: int) -> Path:
    data = bytearray(gensim_file(name).read_bytes())
    struct.pack_into("<i", data, offset, value)
    path = tmp_path / name
    path.write_bytes(bytes(data))
    return path


@pytest.mark.gensim
@pytest.mark.parametrize(("name", "offset", "value", "match"), FIELDS)
def test_fasttext_header_fields_out_of_range_are_named(
    tmp_path: Path, name: str, offset: int, value: int, match: str
) -> None:
    path = _patched(tmp_path, name, offset, value)
    with pytest.raises(FormatError, match=match):
        load(path, format="fasttext-bin")


@pytest.mark.gensim
def test_dictionary_larger_than_the_file_is_named(tmp_path: Path) -> None:
    path = _patched(tmp_path, "toy-model.bin", 64, 2**30)
    data = bytearray(path.read_bytes())
    struct.pack_into("<i", data, 68, 2**30)  # nwords, so that the sizes add up
    path.write_bytes(bytes(data))
    with pytest.raises(
        FormatError,
        match=r"byte 64: the header field size is 1073741824, but a fastText model allows at "
        r"most \d+, as the \d+ bytes left in the file hold no more entries",
    ):
        load(path)


@pytest.mark.gensim
def test_huge_maxn_returns_at_once_in_a_fresh_process(tmp_path: Path) -> None:
    # Before the bound, this 3.3 KB file made load() run for ever, growing memory.
    path = _patched(tmp_path, "toy-model.bin", 48, 2**31 - 1)
    code = f"import vocabgraft.io as io; io.load({str(path)!r})"
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert run.returncode == 1
    assert "the header field maxn is 2147483647" in run.stderr


# -- fastText vectors must be finite ---------------------------------------------------


def _fasttext_with(tmp_path: Path, bad_rows: list[int]) -> Path:
    rng = np.random.default_rng(0)
    words = [b"cat", b"dog", b"emu"]
    matrix = rng.standard_normal((3 + 8, 4)).astype(np.float32)
    for row in bad_rows:
        matrix[row, 1] = np.nan if row % 2 else np.inf
    path = tmp_path / "m.bin"
    path.write_bytes(fasttext_bin(words, matrix, bucket=8, minn=2, maxn=3))
    return path


def test_fasttext_word_with_nan_is_refused_then_skipped_and_counted(tmp_path: Path) -> None:
    path = _fasttext_with(tmp_path, [1])
    with pytest.raises(FormatError, match=r"the vector of b'dog' holds nan or inf"):
        load(path)
    with pytest.warns(UserWarning, match=r"skipped 1 malformed row\(s\): 1 non finite"):
        table = load(path, on_error="skip")
    assert table.vocab.tokens == ["cat", "emu"]
    assert table.meta["skipped"]["reasons"]["non_finite"]["count"] == 1
    assert np.isfinite(table.vectors).all()


def test_fasttext_bucket_with_inf_is_refused_or_zeroed(tmp_path: Path) -> None:
    path = _fasttext_with(tmp_path, [3 + 4])  # bucket 4
    with pytest.raises(FormatError, match=r"row 4: n-gram bucket 4 holds nan or inf"):
        load(path)
    with pytest.warns(UserWarning, match=r"1 non finite"):
        table = load(path, on_error="skip")
    assert np.isfinite(table.vectors).all()
    assert np.isfinite(table.subwords.ngrams).all()
    assert not table.subwords.ngrams[4].any()
    assert np.isfinite(table.subwords.compose(["zebra", "catdog"])).all()


# -- a file that changes while it is read ------------------------------------------------


class _TruncatingBar:
    """A progress bar whose first update truncates the file being read (another writer)."""

    def __init__(self, path: Path, size: int | None = None) -> None:
        self.path, self.size, self.done = path, size, False

    def __enter__(self) -> _TruncatingBar:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def update(self, n: int) -> None:
        if not self.done and n:
            self.done = True
            if self.size is None:
                os.truncate(self.path, self.path.stat().st_size // 3)
            else:  # rewrite in place: same size, a new modification time
                data = self.path.read_bytes()
                self.path.write_bytes(data[::-1])
                st = self.path.stat()
                os.utime(self.path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))


def _big_binary(tmp_path: Path, rows: int = 30_000, dim: int = 100) -> Path:
    rng = np.random.default_rng(1)
    vectors = rng.standard_normal((rows, dim)).astype(np.float32)
    tokens = [f"w{i}" for i in range(rows)]
    return write_word2vec_binary(tmp_path / "big.bin", tokens, vectors)


def test_word2vec_binary_truncated_mid_read_raises_file_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import vocabgraft.io.word2vec as w2v

    path = _big_binary(tmp_path)
    monkeypatch.setattr(w2v, "progress_bar", lambda *a, **k: _TruncatingBar(path))
    with pytest.raises(FileChangedError, match=r"big.bin: the file changed while it was read"):
        load(path, progress=False)


def test_text_file_rewritten_mid_read_raises_file_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import vocabgraft.io._lines as lines

    rng = np.random.default_rng(2)
    path = write_glove(
        tmp_path / "big.txt", [f"w{i}" for i in range(40_000)], rng.standard_normal((40_000, 20))
    )
    for size in (None, path.stat().st_size):
        write_glove(path, [f"w{i}" for i in range(40_000)], rng.standard_normal((40_000, 20)))
        monkeypatch.setattr(lines, "progress_bar", lambda *a, s=size, **k: _TruncatingBar(path, s))
        with pytest.raises(FileChangedError, match=r"changed while it was read"):
            load(path, progress=False)


_CHILD = """
import os, sys
import vocabgraft.io.word2vec as w2v
from vocabgraft.io import load

path = sys.argv[1]

class Bar:
    def __enter__(self): return self
    def __exit__(self, *exc): pass
    def update(self, n):
        if n and os.path.getsize(path) > 4096:
            os.truncate(path, 4096)  # another program truncates the file mid-read

w2v.progress_bar = lambda *a, **k: Bar()
load(path, progress=False)
"""


def test_truncation_by_another_writer_never_kills_the_process(tmp_path: Path) -> None:
    # With a memory map, this died with SIGBUS (return code -7).
    path = _big_binary(tmp_path)
    run = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_CHILD), str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 1, (run.returncode, run.stderr[-500:])
    assert "FileChangedError" in run.stderr
    assert "the file changed while it was read" in run.stderr


# -- only regular files, and never a block -----------------------------------------------


def _load_in_thread(path: Path, **kwargs: Any) -> BaseException | None:
    """Call load(); fail if it has not returned within 10 s (it would block for ever)."""
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            load(path, progress=False, **kwargs)
            outcome.append(None)
        except BaseException as exc:  # the test inspects it
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout=10)
    assert outcome, f"load({path.name}, {kwargs}) blocked"
    return outcome[0]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
@pytest.mark.parametrize("format", [None, "glove", "word2vec-binary", "fasttext-bin", "npy"])
def test_a_fifo_is_refused_at_once(tmp_path: Path, format: str | None) -> None:
    fifo = tmp_path / "vectors.txt"
    os.mkfifo(fifo)
    exc = _load_in_thread(fifo, format=format)
    assert isinstance(exc, FormatError)
    assert "a FIFO (named pipe), not a regular file" in str(exc)
    assert "No such file" not in str(exc)


@pytest.mark.skipif(not Path("/dev/null").exists(), reason="needs /dev/null")
def test_a_device_is_refused() -> None:
    exc = _load_in_thread(Path("/dev/null"), format="glove")
    assert isinstance(exc, FormatError)
    assert "a character device, not a regular file" in str(exc)


def test_a_folder_that_is_not_a_cache_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FormatError, match=r"a folder, but not a vocabgraft table cache"):
        load(tmp_path, format="glove")
    with pytest.raises(FormatError, match=r"a folder, but not a vocabgraft table cache"):
        load(tmp_path)


def test_a_missing_file_is_named_and_still_a_file_not_found_error(tmp_path: Path) -> None:
    with pytest.raises(InputNotFoundError, match=r"No such file or folder: .*absent.txt"):
        load(tmp_path / "absent.txt", format="glove")
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "absent.txt")


# -- every raise in vocabgraft.io is a VocabgraftError ------------------------------------


def _raises(tree: ast.AST) -> list[tuple[int, str]]:
    """``(line, name)`` of every ``raise`` with a class, or a function or method that builds one."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise) and node.exc is not None:
            target = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            if isinstance(target, ast.Attribute):
                found.append((node.lineno, target.attr))
            elif isinstance(target, ast.Name) and target.id != "exc":  # re-raised as caught
                found.append((node.lineno, target.id))
    return found


def _builders(trees: list[ast.AST]) -> dict[str, str]:
    """Every function or method name in the readers, with the name its return annotation gives."""
    out = {}
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and isinstance(node.returns, ast.Name):
                out[node.name] = node.returns.id
    return out


def _is_error(name: str) -> bool:
    cls = getattr(errors_module, name, None)
    return isinstance(cls, type) and issubclass(cls, errors_module.VocabgraftError)


def test_every_raise_in_the_readers_is_a_vocabgraft_error() -> None:
    import vocabgraft.io

    paths = sorted(Path(vocabgraft.io.__file__).parent.glob("*.py"))
    trees = [ast.parse(p.read_text(encoding="utf-8")) for p in paths]
    builders = _builders(trees)
    checked = 0
    for path, tree in zip(paths, trees):
        for line, name in _raises(tree):
            error = name if _is_error(name) else builders.get(name, name)
            assert _is_error(error), f"{path.name}:{line} raises {name}, not a VocabgraftError"
            checked += 1
    assert checked > 40
