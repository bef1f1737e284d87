"""Without Keras, ``vocabgraft.keras`` says which extra to install (no backend needed here)."""

from __future__ import annotations

import importlib
import sys

import pytest

from vocabgraft.errors import MissingExtraError

pytestmark = pytest.mark.keras


def test_importing_without_keras_names_the_extra(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "keras", None)  # as if not installed
    for name in [m for m in sys.modules if m.split(".")[:2] == ["vocabgraft", "keras"]]:
        monkeypatch.delitem(sys.modules, name)
    with pytest.raises(MissingExtraError, match=r"pip install 'vocabgraft\[keras\]'") as info:
        importlib.import_module("vocabgraft.keras")
    assert info.value.extra == "keras"
    assert isinstance(info.value, ImportError)
