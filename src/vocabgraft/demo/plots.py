"""PNG plots of the demo's numbers (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.ticker import MaxNLocator

from vocabgraft.demo.compare import SHORT, VARIANTS

__all__ = ["draw"]

_COLORS = {"frozen": "#7f7f7f", "partial": "#1f77b4", "full": "#d62728", "schedule": "#2ca02c"}


def _figure() -> Any:
    # A Figure without pyplot: no global backend switch, nothing left open.
    from matplotlib.figure import Figure

    return Figure(figsize=(11, 4.2), dpi=120)


def _curve(ax: Any, name: str, curves: np.ndarray) -> None:
    """A variant's test accuracy per epoch: the mean over seeds, and a min-to-max band."""
    epochs = np.arange(1, curves.shape[1] + 1)
    ax.plot(epochs, curves.mean(axis=0), color=_COLORS[name], label=VARIANTS[name])
    ax.fill_between(epochs, curves.min(axis=0), curves.max(axis=0), color=_COLORS[name], alpha=0.15)


def _majority(left: Any, right: Any, majority: dict[str, Any] | None) -> None:
    """A dashed line at the majority-class accuracy on both panels."""
    if majority is None:
        return
    for ax in (left, right):
        ax.axhline(majority["accuracy"], color="black", ls="--", lw=0.8)
    right.annotate(
        f"always {majority['label']!r}: {majority['accuracy']:.3f}",
        (1, majority["accuracy"]),
        xytext=(0, 3),
        textcoords="offset points",
        fontsize=7,
    )


def _epochs_axis(ax: Any, unfreeze_epoch: int) -> None:
    """The right panel's epoch axis, labels, legend, and where (iv) unfreezes."""
    ax.axvline(unfreeze_epoch + 0.5, color=_COLORS["schedule"], ls=":", lw=1)
    ax.annotate(
        "(iv) unfreezes",
        (unfreeze_epoch + 0.55, 0.95),
        xycoords=("data", "axes fraction"),
        fontsize=7,
        color=_COLORS["schedule"],
    )
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("test accuracy (mean; band: min to max)")
    ax.legend(fontsize=7, loc="lower right")


def _accuracy(results: dict[str, Any], path: Path) -> None:
    c = results["compare"]
    fig = _figure()
    left, right = fig.subplots(1, 2)
    for x, (name, v) in enumerate(c["variants"].items()):
        acc = np.array([r["accuracy"] for r in v["runs"]])
        jitter = np.linspace(-0.12, 0.12, len(acc)) if len(acc) > 1 else np.zeros(1)
        left.scatter(x + jitter, acc, color=_COLORS[name], alpha=0.6, s=22, zorder=3)
        s = v["summary"]
        marks = (
            ("accuracy", "o", "black", "last epoch"),
            ("accuracy_at_best_val", "D", "white", "epoch of best validation accuracy"),
        )
        for k, (key, fmt, face, label) in enumerate(marks):
            left.errorbar(
                x + 0.25 + 0.13 * k,
                s[f"{key}_mean"],
                yerr=s[f"{key}_std"],
                fmt=fmt,
                mfc=face,
                color="black",
                capsize=4,
                zorder=4,
                label=label if x == 0 else None,
            )
        _curve(right, name, np.array([r["accuracy_per_epoch"] for r in v["runs"]]))
    left.set_xticks(range(len(c["variants"])))
    left.set_xticklabels([textwrap.fill(VARIANTS[n], 24) for n in c["variants"]], fontsize=7)
    left.set_ylabel("test accuracy")
    left.set_title(
        f"dots: seeds, last epoch; black: mean ± std ({len(c['seeds'])} seeds)", fontsize=9
    )
    left.legend(fontsize=7, loc="lower right")
    _majority(left, right, c.get("majority"))
    _epochs_axis(right, c["unfreeze_epoch"])
    fig.suptitle("vocabgraft demo: GloVe 6B 50d on 4,000 food reviews, four embedding treatments")
    fig.tight_layout()
    fig.savefig(path)


def _label_zeros(ax: Any, bars: Any, values: list[float], color: str) -> None:
    """Write "0" on the bars of height zero, which would otherwise not show at all."""
    labels = ["0" if v == 0 else "" for v in values]
    if any(labels):
        ax.bar_label(bars, labels=labels, fontsize=7, color=color, padding=2, fontweight="bold")


def _drift(results: dict[str, Any], path: Path) -> None:
    d = results["drift"]
    variants = list(d["variants"])
    groups = list(d["row_groups"])
    fig = _figure()
    left, right = fig.subplots(1, 2)
    width = 0.8 / len(variants)
    for k, v in enumerate(variants):
        vals = [d["variants"][v]["rows"][g].get("mean_l2", 0.0) for g in groups]
        bars = left.bar(
            np.arange(len(groups)) + k * width, vals, width, color=_COLORS[v], label=VARIANTS[v]
        )
        _label_zeros(left, bars, vals, _COLORS[v])
    left.set_xticks(np.arange(len(groups)) + width * (len(variants) - 1) / 2)
    left.set_xticklabels([g.replace(", ", "\n").replace(" (", "\n(") for g in groups], fontsize=8)
    left.set_ylabel("mean L2 distance from the aligned row")
    left.legend(fontsize=7, loc="upper right")
    left.set_ylim(0, 1.3 * max(left.get_ylim()[1], 1e-3))
    kinds = ["tv_television", "both_in_vocab", "one_absent"]
    labels = ["tv ~ television", "pairs, both in\ntrain vocab", "pairs, one absent\n(GloVe row)"]
    before = d["pairs_before"]
    for k, v in enumerate(variants):
        change = [d["variants"][v]["pairs"][x] - before[x] for x in kinds]
        bars = right.bar(np.arange(3) + k * width, change, width, color=_COLORS[v], label=SHORT[v])
        _label_zeros(right, bars, change, _COLORS[v])
    right.axhline(0, color="black", lw=0.8)
    right.set_xticks(np.arange(3) + width * (len(variants) - 1) / 2)
    right.set_xticklabels(
        [f"{lab}\n(aligned: {before[x]:.3f})" for lab, x in zip(labels, kinds)], fontsize=8
    )
    right.set_ylabel("change in cosine similarity (mean over seeds)")
    right.legend(fontsize=7)
    fig.suptitle("how far fine-tuned rows moved, and what it did to word pairs")
    fig.tight_layout()
    fig.savefig(path)


def draw(folder: Path, results: dict[str, Any]) -> list[str]:
    """Write accuracy.png and drift.png into ``folder``; return their names."""
    _accuracy(results, folder / "accuracy.png")
    _drift(results, folder / "drift.png")
    return ["accuracy.png", "drift.png"]
