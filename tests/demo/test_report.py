"""The report folder: refused targets, atomic writes, JSON without NaN."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from vocabgraft.demo.report import check_out, to_json, write_report
from vocabgraft.errors import OutputExistsError


def test_to_json_turns_numpy_into_python_and_nan_into_null() -> None:
    text = to_json({"a": np.float32(0.5), "b": [np.int64(3), float("nan")], "c": np.arange(2)})
    assert json.loads(text) == {"a": 0.5, "b": [3, None], "c": [0, 1]}
    assert "NaN" not in text


@pytest.mark.parametrize("kind", ["missing", "empty", "report"])
def test_check_out_accepts_a_new_empty_or_report_folder(tmp_path: Path, kind: str) -> None:
    out = tmp_path / "r"
    if kind != "missing":
        out.mkdir()
    if kind == "report":
        (out / "results.json").write_text("{}")
    check_out(out)


def test_check_out_refuses_a_folder_that_is_not_a_report(tmp_path: Path) -> None:
    (tmp_path / "thesis.tex").write_text("precious")
    with pytest.raises(
        OutputExistsError, match=r"holds thesis\.tex, which vocabgraft did not write"
    ):
        check_out(tmp_path)
    assert (tmp_path / "thesis.tex").read_text() == "precious"


def test_check_out_refuses_a_file(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(OutputExistsError, match="is a file, not a folder vocabgraft wrote"):
        check_out(tmp_path / "f")


def test_write_report_refuses_a_folder_that_became_foreign(tmp_path: Path) -> None:
    """The refusal is atomic_dir's, so it also holds for a folder filled after the check."""
    out = tmp_path / "report"
    check_out(out)
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(OutputExistsError, match=r"notes\.txt, which vocabgraft did not write"):
        write_report(out, {"x": 1}, None)
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


def test_a_failed_write_leaves_the_old_report_and_no_temporary_folder(tmp_path: Path) -> None:
    out = tmp_path / "report"
    out.mkdir()
    (out / "results.json").write_text('{"old": true}')

    def broken(folder: Path) -> list[str]:
        (folder / "half.png").write_bytes(b"\x89PNG")
        raise RuntimeError("plotting failed")

    with pytest.raises(RuntimeError, match="plotting failed"):
        write_report(out, {"x": 1}, broken)
    assert json.loads((out / "results.json").read_text()) == {"old": True}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]


def test_write_report_replaces_a_previous_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import vocabgraft.demo.report as report

    monkeypatch.setattr(report, "render_markdown", lambda results: "# fake\n")
    out = tmp_path / "report"
    out.mkdir()
    (out / "results.json").write_text("{}")
    (out / "stale.png").write_bytes(b"")
    write_report(out, {"value": math.pi}, None)
    assert sorted(p.name for p in out.iterdir()) == ["report.md", "results.json"]
    assert json.loads((out / "results.json").read_text()) == {"value": math.pi, "plots": []}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]


def test_the_report_folder_gets_the_permissions_of_a_plain_mkdir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import vocabgraft.demo.report as report

    monkeypatch.setattr(report, "render_markdown", lambda results: "# fake\n")
    (tmp_path / "plain").mkdir()
    write_report(tmp_path / "report", {}, None)
    mode = (tmp_path / "report").stat().st_mode & 0o777
    assert mode == (tmp_path / "plain").stat().st_mode & 0o777
