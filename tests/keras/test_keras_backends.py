"""The Keras layer's cases, on the jax and on the torch backend, each backend in its own process.

Keras picks its backend once per process (``KERAS_BACKEND``), so the real checks
live in ``_cases_*.py`` and run under ``python -m pytest`` in one child process
per backend, started together on first use and shared by every case of this
module. Each test here is one case function (all its parametrisations) on one
backend; a failure shows the child's own report: assertion, values, traceback.
Plain ``pytest`` runs them all; ``-k torch`` or ``-k test_mask`` picks some, and
only those run in the children. The first case of a backend waits for its whole
child run (keras import and jit compiles), so every case is marked slow.

TensorFlow is not in the ``dev`` extra (a 270 MB wheel whose pins would move
h5py in the shared environment); where it is installed its cases run too.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import pytest

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
# TensorFlow joins when installed; the dev extra leaves it out (see the module docstring).
BACKENDS = ["jax", "torch"] + (["tensorflow"] if importlib.util.find_spec("tensorflow") else [])
CASE_FILES = ["_cases_layer.py", "_cases_training.py", "_cases_native.py"]
TIMEOUT_S = 600

pytestmark = [pytest.mark.keras, pytest.mark.slow]


def case_names(file: str) -> list[str]:
    """The test functions of a case file, in order (read without importing keras)."""
    tree = ast.parse((HERE / file).read_text(encoding="utf-8"))
    return [
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
    ]


CASES = [(file, name) for file in CASE_FILES for name in case_names(file)]


@dataclass
class Run:
    """One backend's child run: the outcome of each test node, by case function."""

    output: str
    returncode: int
    #: ``"_cases_layer::test_name"`` -> ``[(node id, outcome, report text)]``
    results: dict[str, list[tuple[str, str, str]]] = field(default_factory=dict)


def _child(backend: str, cases: list[tuple[str, str]], tmp: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "KERAS_BACKEND": backend}
    env.pop("PYTEST_ADDOPTS", None)
    nodes = [f"{(HERE / f).relative_to(ROOT)}::{name}" for f, name in cases]
    with (tmp / f"{backend}.log").open("w") as out:  # the child keeps its own handle
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pytest",
                *nodes,
                "-p",
                "no:cacheprovider",
                "-q",
                f"--junitxml={tmp / (backend + '.xml')}",
                f"--basetemp={tmp / backend}",
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )


def _parse(xml: Path) -> dict[str, list[tuple[str, str, str]]]:
    results: dict[str, list[tuple[str, str, str]]] = {}
    if not xml.exists():
        return results
    for case in ET.parse(xml).getroot().iter("testcase"):
        node = case.get("name", "")
        outcome, text = "passed", ""
        for tag in ("failure", "error", "skipped"):
            found = case.find(tag)
            if found is not None:
                outcome = tag
                text = (found.text or found.get("message") or "").strip()
                break
        module = case.get("classname", "").rsplit(".", 1)[-1]
        results.setdefault(f"{module}::{node.split('[')[0]}", []).append((node, outcome, text))
    return results


@pytest.fixture(scope="session")
def backend_runs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """Start one child per backend for the cases selected in this session; wait for all."""
    wanted: dict[str, list[tuple[str, str]]] = {}
    for item in request.session.items:
        spec = getattr(item, "callspec", None)
        if item.path == Path(__file__) and spec is not None:
            wanted.setdefault(spec.params["backend"], []).append(spec.params["case"])
    tmp = tmp_path_factory.mktemp("keras-backends")
    children = {b: _child(b, cases, tmp) for b, cases in wanted.items()}
    runs: dict[str, Run] = {}
    for backend, child in children.items():
        try:
            code = child.wait(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            child.kill()
            code = child.wait()
        output = (tmp / f"{backend}.log").read_text(encoding="utf-8", errors="replace")
        runs[backend] = Run(output, code, _parse(tmp / f"{backend}.xml"))
    return runs


@pytest.mark.parametrize("case", CASES, ids=[f"{f[:-3]}::{n}" for f, n in CASES])
@pytest.mark.parametrize("backend", BACKENDS, ids=BACKENDS)
def test_case_passes_on_backend(backend: str, case: tuple[str, str], backend_runs):
    run: Run = backend_runs[backend]
    nodes = run.results.get(f"{case[0][:-3]}::{case[1]}")
    if not nodes:
        tail = "\n".join(run.output.splitlines()[-60:])
        pytest.fail(
            f"{case[1]} did not run on {backend} (child exit code {run.returncode}):\n{tail}",
            pytrace=False,
        )
    failed = [(node, text) for node, outcome, text in nodes if outcome in ("failure", "error")]
    if failed:
        report = "\n\n".join(f"--- {node} on {backend} ---\n{text}" for node, text in failed)
        pytest.fail(report, pytrace=False)
    if all(outcome == "skipped" for _, outcome, _ in nodes):
        pytest.skip(nodes[0][2] or f"skipped on {backend}")
