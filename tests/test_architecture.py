"""The package tree keeps its shape: each module imports on its own, and no import cycle."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

import vocabgraft

SRC = Path(vocabgraft.__file__).parent


def _all_modules() -> list[str]:
    """Every module of the package, found on disk (importing packages could hide some)."""
    names = []
    for path in SRC.rglob("*.py"):
        parts = ["vocabgraft", *path.relative_to(SRC).with_suffix("").parts]
        if parts[-1] == "__main__":
            continue
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names.append(".".join(parts))
    return sorted(names)


MODULES = _all_modules()
# Modules that need an optional framework, and the extra that provides it.
NEEDS = {"vocabgraft.torch": "torch", "vocabgraft.keras": "keras", "vocabgraft.demo": "torch"}


def _module_path(name: str) -> Path:
    rel = Path(*name.split(".")[1:])
    package = SRC / rel / "__init__.py"
    return package if package.exists() else SRC / rel.with_suffix(".py")


def _imports(name: str) -> set[str]:
    """vocabgraft modules that ``name`` imports when it is imported.

    Imports inside functions are deliberate deferrals, and those under
    ``if TYPE_CHECKING:`` never run; neither counts. A ``from package import
    name`` counts as an import of ``package.name`` when that is a module, and
    of ``package`` (its ``__init__``) otherwise.
    """
    path = _module_path(name)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.If):
                if not (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"):
                    visit(node.body)  # imports for type checkers alone never run
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body)
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")
                    parts = parts[: len(parts) - node.level + 1]
                    base = ".".join([*parts, base] if base else parts)
                subs = {f"{base}.{a.name}" for a in node.names}
                # ``from package import submodule`` needs only the submodule: the
                # package itself is always imported (started) first, as for any import.
                found.update(subs if subs <= MODULES_SET else {base, *subs})

    visit(ast.parse(path.read_text(encoding="utf-8")).body)
    return {m for m in found if m in MODULES_SET and m != name}


MODULES_SET = set(MODULES)


def _cycle() -> list[str] | None:
    graph = {m: _imports(m) for m in MODULES}
    state: dict[str, int] = {}
    stack: list[str] = []

    def dfs(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                return [*stack[stack.index(n) :], n]
            if n not in state and (found := dfs(n)):
                return found
        stack.pop()
        state[m] = 2
        return None

    for m in MODULES:
        if m not in state and (found := dfs(m)):
            return found
    return None


def test_no_import_cycle() -> None:
    cycle = _cycle()
    assert cycle is None, " -> ".join(cycle or [])


def test_the_cycle_check_finds_a_cycle(monkeypatch: pytest.MonkeyPatch) -> None:
    real = _imports

    def with_cycle(name: str) -> set[str]:
        extra = {"vocabgraft.errors"} if name == "vocabgraft.vocab.core" else set()
        if name == "vocabgraft.errors":
            extra = {"vocabgraft.vocab.core"}
        return real(name) | extra

    monkeypatch.setitem(globals(), "_imports", with_cycle)
    assert _cycle() is not None


@pytest.mark.slow
def test_each_module_imports_on_its_own() -> None:
    # One fresh interpreter imports every module in turn, each after a clean slate
    # of vocabgraft modules, so a module that only works after another was imported fails.
    env = {**os.environ, "KERAS_BACKEND": "torch"}
    script = (
        "import importlib, sys\n"
        "failed = []\n"
        f"for name in {MODULES!r}:\n"
        "    for m in [m for m in sys.modules if m == 'vocabgraft' or m.startswith('vocabgraft.')]:\n"
        "        del sys.modules[m]\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except Exception as e:\n"
        "        failed.append(f'{name}: {type(e).__name__}: {e}')\n"
        "print('\\n'.join(failed))\n"
        "sys.exit(1 if failed else 0)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_core_imports_no_framework() -> None:
    core = [
        m
        for m in MODULES
        if not any(m == p or m.startswith(p + ".") for p in NEEDS)
        and m not in {"vocabgraft.cli.demo", "vocabgraft.cli.add_tokens"}
    ]
    script = (
        "import importlib, sys\n"
        f"for name in {core!r}:\n"
        "    importlib.import_module(name)\n"
        "bad = sorted(m for m in ('torch', 'keras', 'jax', 'tensorflow', 'transformers') "
        "if m in sys.modules)\n"
        "print(' '.join(bad))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=True
    )
    assert out.stdout.strip() == "", f"core modules import {out.stdout.strip()}"


def _function_lengths(path: Path) -> list[tuple[str, int]]:
    """Every function's body length in lines, its docstring left out."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            first = body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                body = body[1:]
            if body:
                end = body[-1].end_lineno or body[-1].lineno
                out.append((node.name, end - body[0].lineno + 1))
    return out


def test_modules_and_functions_stay_small() -> None:
    # A module you can read in one sitting, and functions that fit on a screen.
    too_long = [
        f"{m} ({n} lines)"
        for m in MODULES
        if (n := len(_module_path(m).read_text(encoding="utf-8").splitlines())) > 400
    ]
    assert not too_long, too_long
    long_functions = [
        f"{m}.{name} ({n} lines)"
        for m in MODULES
        for name, n in _function_lengths(_module_path(m))
        if n > 50
    ]
    assert not long_functions, long_functions
