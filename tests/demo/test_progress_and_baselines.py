"""The demo's progress lines, thread choice, majority baseline, feature verdict and zero labels."""

from __future__ import annotations

import io
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("torch")

from vocabgraft.demo import _console
from vocabgraft.demo.compare import majority_baseline, majority_line
from vocabgraft.demo.new_items import _features_verdict, product_features
from vocabgraft.demo.report_md import _summary
from vocabgraft.demo.threads import candidate_threads, measure_threads, torch_threads


class _Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


@pytest.mark.parametrize("tty", [False, True], ids=["log", "terminal"])
def test_note_prints_only_when_stderr_is_not_a_terminal(
    tty: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = _Stream(tty)
    monkeypatch.setattr(_console.sys, "stderr", stream)
    _console.note("step 2: (i) seed 0 (1/2): test accuracy 0.7390")
    assert stream.getvalue() == ("" if tty else "step 2: (i) seed 0 (1/2): test accuracy 0.7390\n")
    with _console.bar(3, "x") as progress:
        assert progress.disable is not tty  # the bar shows exactly where the notes do not


def test_measure_threads_keeps_the_faster_count_and_restores_the_setting() -> None:
    import torch

    before = torch.get_num_threads()
    seen: list[int] = []

    def step() -> None:  # slower with more threads, as on a busy machine
        seen.append(torch.get_num_threads())
        time.sleep(0.001 * torch.get_num_threads())

    result = measure_threads(step, [1, 2], rounds=2, steps=3)
    assert result["chosen"] == 1
    assert set(result["seconds_per_step"]) == {"1", "2"}
    assert result["seconds_per_step"]["1"] < result["seconds_per_step"]["2"]
    assert seen.count(1) == seen.count(2) == 2 * 4  # 3 timed + 1 warm-up, per round
    assert torch.get_num_threads() == before
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert candidate_threads()[0] == 1


def test_majority_baseline_counts_runs_stuck_on_it() -> None:
    transfer = SimpleNamespace(
        train=SimpleNamespace(labels=np.array([1, 1, 0, 1, 0])),
        fit=np.array([0, 1, 2]),
        test=SimpleNamespace(labels=np.array([1, 0, 1, 1])),
    )
    runs = {"a": {"runs": [{"accuracy_per_epoch": [0.75, 0.8]}, {"accuracy_per_epoch": [0.5]}]}}
    m = majority_baseline(transfer, runs)  # type: ignore[arg-type]
    assert m == {"label": "great", "accuracy": 0.75, "first_epoch_runs_at_majority": 1, "runs": 2}
    assert majority_line(m).startswith(
        "majority class (always 'great'): test accuracy 0.7500; 1 of 2"
    )


@pytest.mark.parametrize(
    ("diffs", "beats"), [([0.05, 0.06, 0.04], True), ([0.01, -0.02, 0.0], False)], ids=str
)
def test_features_verdict_says_by_how_much(diffs: list[float], beats: bool) -> None:
    per_seed = [
        {
            "accuracy_eval": {"zeros": 0.7, "features": 0.7 + d},
            "features": {"fit": {"r2_mean": 0.1}},
        }
        for d in diffs
    ]
    v = _features_verdict(per_seed, {})
    assert v["beats_zeros"] is beats
    assert v["minus_zeros"] == pytest.approx(np.mean(diffs))
    assert f"{np.mean(diffs):+.4f}" in v["meaning"]
    assert ("do not beat" in v["meaning"]) is not beats
    one = _features_verdict(per_seed[:1], {})
    assert not one["beats_zeros"] and "on one seed (no spread" in one["meaning"]


def test_product_features_join_each_products_reviews() -> None:
    corpus = SimpleNamespace(
        train_items=["p1", "p2", "p1"],
        train_tokens=[["good", "tea"], ["bad"], ["more", "tea"]],
        test_items=["p3"],
        test_tokens=[["fine"]],
    )
    f = product_features(corpus)  # type: ignore[arg-type]
    assert f.ids == ["p1", "p2", "p3"]
    assert f.take(["p1", "p3"], "review").tolist() == ["good tea more tea", "fine"]


def test_report_md_holds_the_printed_summary() -> None:
    assert _summary({"summary_text": "1. transfer: x\n2. y"}) == (
        "## Summary\n\n```\n1. transfer: x\n2. y\n```"
    )
    assert _summary({}) == ""


def test_drift_plot_labels_zero_bars(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    from vocabgraft.demo.plots import _label_zeros

    ax = Figure().subplots()
    bars = ax.bar([0, 1, 2], [0.0, 0.4, 0.0])
    _label_zeros(ax, bars, [0.0, 0.4, 0.0], "black")
    assert [t.get_text() for t in ax.texts] == ["0", "", "0"]
