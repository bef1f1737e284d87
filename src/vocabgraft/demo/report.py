"""The report folder (results.json, report.md, plots) and the terminal summary.

The folder is written beside its target under a temporary name and renamed
into place (:func:`vocabgraft._atomic.atomic_dir`), so a crash or Ctrl-C
never leaves a half-written report, and a folder vocabgraft did not write is
never replaced.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from vocabgraft._atomic import atomic_dir, check_output
from vocabgraft.demo._tables import text_table
from vocabgraft.demo.compare import SHORT, SUMMARY_HEADERS, majority_line, summary_rows
from vocabgraft.demo.step_tables import ITEMS_HEADERS, WORDS_HEADERS, items_rows, words_rows

__all__ = ["check_out", "render_markdown", "summary_text", "to_json", "write_report"]

RESULTS = "results.json"


def check_out(out: Path) -> None:
    """Refuse, before any work, a target that :func:`write_report` would refuse at the end.

    The rule is :func:`vocabgraft._atomic.atomic_dir`'s: a missing or empty
    folder, or one vocabgraft wrote (a demo report: ``results.json`` with only
    ``report.md`` and plots beside it), may be replaced; anything else raises
    :class:`~vocabgraft.errors.OutputExistsError` naming what is there.
    """
    check_output(out, overwrite=True)


def _plain(obj: Any) -> Any:
    """JSON-ready: numpy scalars and arrays to Python, NaN and infinities to None."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _plain(obj.tolist())
    if isinstance(obj, np.generic):
        return _plain(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def to_json(results: dict[str, Any]) -> str:
    """``results`` as indented JSON, NaN and infinities as null."""
    return json.dumps(_plain(results), indent=2, ensure_ascii=False, allow_nan=False)


def write_report(
    out: Path, results: dict[str, Any], draw: Callable[[Path], list[str]] | None
) -> Path:
    """Write the folder: results.json, report.md and (with ``draw``) the PNG plots.

    The folder is written through :func:`vocabgraft._atomic.atomic_dir`,
    which replaces only a folder vocabgraft wrote.
    """
    with atomic_dir(out, overwrite=True) as tmp:
        plots = draw(tmp) if draw is not None else []
        results["plots"] = plots
        (tmp / RESULTS).write_text(to_json(results) + "\n", encoding="utf-8")
        (tmp / "report.md").write_text(render_markdown(results), encoding="utf-8")
    return out


def summary_text(results: dict[str, Any]) -> str:
    """The closing summary printed in the terminal."""
    t = results["transfer"]["alignment"]
    lines = [
        f"1. transfer: {t['matched_tokens']:,} of {t['regular_tokens']:,} task words found in "
        f"GloVe ({100 * t['type_coverage']:.2f}% of types, "
        f"{100 * (t['token_coverage'] or 0):.2f}% of occurrences)",
        "2. four ways to treat the embedding (test accuracy over "
        f"{len(results['compare']['seeds'])} seeds):",
        text_table(SUMMARY_HEADERS, summary_rows(results["compare"]["variants"])),
        f"   {majority_line(results['compare']['majority'])}",
        "3. new words (model (ii) grown, only new rows trained; evaluation half):",
        text_table(WORDS_HEADERS, words_rows(results["new_words"])),
        f"   old rows bit-identical: {results['new_words']['old_rows_bit_identical']}",
        "4. new products (evaluation half, rows from the initializer only):",
        text_table(ITEMS_HEADERS, items_rows(results["new_items"])),
        f"   old rows bit-identical: {results['new_items']['old_rows_bit_identical']}",
        f"   {results['new_items']['features']['meaning']}",
    ]
    d = results["drift"]
    pb = d["pairs_before"]["tv_television"]
    tv = ", ".join(
        f"{SHORT[v]} {x['pairs']['tv_television']:.3f}" for v, x in d["variants"].items()
    )
    lines.append(f"5. drift: cosine(tv, television) aligned {pb:.3f}; after training: {tv}")
    if "propagation" in results:
        lines.append(_propagation_line(results["propagation"]))
    return "\n".join(lines)


def _propagation_line(p: dict[str, Any]) -> str:
    """Step 6 in one line: held-out accuracy (overall / heavy in unseen words) per treatment."""
    from vocabgraft.demo.propagation import VARIANTS as TREATMENTS

    s = p["summary"]
    parts = [
        f"{name} {s[name]['overall']['mean']:.4f} / {s[name]['heavy']['mean']:.4f}"
        for name in TREATMENTS
        if name in s
    ]
    return (
        "6. fine-tuning and unseen words (held-out accuracy, all / the "
        f"{p['heavy_reviews']} reviews heaviest in unseen words): " + "; ".join(parts)
    )


def render_markdown(results: dict[str, Any]) -> str:
    """report.md's text (see :mod:`vocabgraft.demo.report_md`)."""
    from vocabgraft.demo.report_md import render

    return render(results)
