"""Paths of real data files for tests (a plain module: conftest names collide across folders)."""

from __future__ import annotations

from pathlib import Path

import pytest


def gensim_data(name: str) -> Path:
    """A file from gensim's own test data (real files vocabgraft did not write)."""
    gensim = pytest.importorskip("gensim")
    path = Path(gensim.__file__).parent / "test" / "test_data" / name
    assert path.exists(), f"{path} is missing from the installed gensim"
    return path
