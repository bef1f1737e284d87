"""The examples in vocabgraft's docstrings run and print what they say."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import vocabgraft

# vocabgraft.keras picks a Keras backend at import; its examples run in tests/keras.
MODULES = sorted(
    m.name
    for m in pkgutil.walk_packages(vocabgraft.__path__, prefix="vocabgraft.")
    if not m.name.startswith("vocabgraft.keras") and not m.name.endswith("__main__")
)


@pytest.mark.parametrize("name", MODULES, ids=MODULES)
def test_docstring_examples(name: str) -> None:
    if name.startswith("vocabgraft.torch"):
        pytest.importorskip("torch")
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


def test_the_main_entry_points_have_examples() -> None:
    finder = doctest.DocTestFinder()
    for name in [
        "vocabgraft.vocab.core",
        "vocabgraft.table.core",
        "vocabgraft.align.core",
        "vocabgraft.io",
    ]:
        tests = finder.find(importlib.import_module(name))
        assert sum(len(t.examples) for t in tests) > 0, name
