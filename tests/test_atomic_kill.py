"""`vocabgraft convert` killed with SIGKILL at each moment of its write.

Afterwards the destination holds the old complete cache or the new one (once
the next load has run its recovery), and no scratch entry outlives the next
run. The moments are reached with the VOCABGRAFT_TEST_PAUSE hook of
vocabgraft._atomic; one case kills at an arbitrary moment without it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from vg_testdata import gensim_data
from vocabgraft import EmbeddingTable
from vocabgraft.cli import main

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")


def _kill_at(argv: list[str], pause: str, rename: str) -> None:
    """Run the CLI until it reports the pause point, then SIGKILL it."""
    env = {
        **os.environ,
        "VOCABGRAFT_TEST_PAUSE": pause,
        "VOCABGRAFT_TEST_PAUSE_SECONDS": "60",
        "VOCABGRAFT_TEST_RENAME": rename,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "vocabgraft", *argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    guard = threading.Timer(60, proc.kill)  # never hang the suite
    guard.start()
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert line.strip() == f"vocabgraft: test pause at {pause}", line + proc.stderr.read()
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait() == -signal.SIGKILL
    finally:
        guard.cancel()
        proc.kill()
        proc.wait()


def _scratch(folder: Path) -> list[str]:
    return sorted(n for n in os.listdir(folder) if ".vg-" in n)


@pytest.fixture
def sources(tmp_path: Path) -> tuple[Path, list[str]]:
    """The real gensim GloVe file (new content) and the tokens of the old cache."""
    return gensim_data("test_glove.txt"), ["old", "cache", "rows"]


def _old_cache(dst: Path, tokens: list[str]) -> None:
    EmbeddingTable(np.ones((len(tokens), 50), np.float32), tokens).save(dst)


def _holds_old_or_new(dst: Path, old: list[str] | None, new_first: str) -> str:
    table = EmbeddingTable.load(dst, verify=True)  # runs the recovery first
    tokens = table.vocab.tokens
    if old is not None and tokens == old:
        return "old"
    assert tokens[0] == new_first and len(tokens) == 76, tokens[:5]
    return "new"


MOMENTS = [
    ("file", "exchange"),
    ("dir", "exchange"),
    ("after-swap", "exchange"),
    ("before-swap", "two-step"),
    ("after-swap", "two-step"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("pause", "rename"), MOMENTS, ids=[f"{p}-{r}" for p, r in MOMENTS])
def test_overwrite_killed_leaves_the_old_cache_or_the_new_one(
    tmp_path: Path, sources: tuple[Path, list[str]], pause: str, rename: str
) -> None:
    src, old = sources
    dst = tmp_path / "cache"
    _old_cache(dst, old)
    _kill_at(["convert", str(src), str(dst), "--overwrite"], pause, rename)
    got = _holds_old_or_new(dst, old, "the")
    assert got == ("new" if pause == "after-swap" else "old")
    # The next run finds nothing of the killed one left.
    assert main(["convert", str(src), str(dst), "--overwrite"]) == 0
    assert _scratch(tmp_path) == []
    assert _holds_old_or_new(dst, old, "the") == "new"


@pytest.mark.slow
@pytest.mark.parametrize("pause", ["file", "dir"])
def test_a_new_convert_killed_leaves_nothing_that_loads(
    tmp_path: Path, sources: tuple[Path, list[str]], pause: str
) -> None:
    src, _ = sources
    dst = tmp_path / "cache"
    _kill_at(["convert", str(src), str(dst)], pause, "exchange")
    assert not dst.exists()
    assert _scratch(tmp_path) != []  # the killed run's scratch, until the next run
    assert main(["convert", str(src), str(dst)]) == 0
    assert _scratch(tmp_path) == []
    assert _holds_old_or_new(dst, None, "the") == "new"


@pytest.mark.slow
def test_killed_at_arbitrary_moments(tmp_path: Path, sources: tuple[Path, list[str]]) -> None:
    src, old = sources
    dst = tmp_path / "cache"
    _old_cache(dst, old)
    seen: set[str] = set()
    for delay in (0.0, 0.3, 0.6, 0.9, 1.2):
        proc = subprocess.Popen(
            [sys.executable, "-m", "vocabgraft", "convert", str(src), str(dst), "--overwrite"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        seen.add(_holds_old_or_new(dst, old, "the"))  # loads, and is one of the two
    assert main(["info", str(dst)]) == 0
    assert _scratch(tmp_path) == []


def test_two_converts_to_one_new_folder_the_second_fails(
    tmp_path: Path, sources: tuple[Path, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    # The first run is held just before its final step while the second completes.
    src, _ = sources
    dst = tmp_path / "cache"
    env = {**os.environ, "VOCABGRAFT_TEST_PAUSE": "dir", "VOCABGRAFT_TEST_PAUSE_SECONDS": "3"}
    first = subprocess.Popen(
        [sys.executable, "-m", "vocabgraft", "convert", str(src), str(dst)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert first.stderr is not None
    assert first.stderr.readline().strip() == "vocabgraft: test pause at dir"
    other = tmp_path / "other.txt"
    other.write_text("x 1 2\ny 3 4\n", encoding="utf-8")
    assert main(["convert", str(other), str(dst)]) == 0
    capsys.readouterr()
    rest = first.stderr.read()
    assert first.wait() == 1
    assert rest.strip().splitlines() == [
        f"vocabgraft: error: {dst} exists; pass --overwrite to replace it"
    ]
    assert EmbeddingTable.load(dst).vocab.tokens == ["x", "y"]  # the winner's, whole
    assert _scratch(tmp_path) == []
