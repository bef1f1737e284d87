"""The shape of the row core and its adapters: who may import whom, and where Keras internals live."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

import vocabgraft

PACKAGE = Path(vocabgraft.__file__).parent
KERAS_INTERNALS = ("_tracker", "_untrack_variable", "_flatten_layers", "_trainable_variables")


def imports_of(path: Path) -> set[str]:
    """Every module ``path`` imports (``from a.b import c`` counts as ``a.b`` and ``a.b.c``)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def test_rows_core_imports_no_framework_and_layout_computes_no_vectors():
    for name in ("ids.py", "layout.py", "partial.py"):
        imported = imports_of(PACKAGE / "rows" / name)
        assert not {m for m in imported if m.split(".")[0] in ("torch", "keras", "jax")}, name
    layout = imports_of(PACKAGE / "rows" / "layout.py")
    assert not {m for m in layout if m.startswith(("vocabgraft.init", "vocabgraft.vocab"))}


def test_keras_optimizer_hand_over_and_layer_do_not_import_each_other():
    assert not {m for m in imports_of(PACKAGE / "keras" / "_optim.py") if "embedding" in m}
    lookup = imports_of(PACKAGE / "keras" / "_lookup.py")
    assert not {m for m in lookup if m.startswith("vocabgraft.torch._")}


def test_keras_internals_are_used_in_the_compat_module_only():
    for path in sorted((PACKAGE / "keras").glob("*.py")):
        text = path.read_text(encoding="utf-8")
        used = [name for name in KERAS_INTERNALS if f".{name}" in text]
        assert path.name == "_compat.py" or not used, (path.name, used)


MODULES = [
    "vocabgraft.rows.partial",
    "vocabgraft.keras._optim",
    "vocabgraft.keras._lookup",
    "vocabgraft.keras._swap",
    "vocabgraft.keras.embedding",
    "vocabgraft.torch._swap",
    "vocabgraft.torch.embedding",
    "vocabgraft.torch.kernel",
]
_IMPORT_EACH = """
import importlib, sys
for name in sys.argv[1:]:
    for loaded in [m for m in sys.modules if m.startswith("vocabgraft")]:
        del sys.modules[loaded]
    importlib.import_module(name)
"""


@pytest.mark.slow
def test_each_module_imports_on_its_own():
    """Each module first in a fresh set of vocabgraft modules: no import cycle breaks it."""
    env = {**os.environ, "KERAS_BACKEND": "torch"}
    result = subprocess.run(
        [sys.executable, "-c", _IMPORT_EACH, *MODULES], env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-2000:]
