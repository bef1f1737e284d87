"""run_demo(): the steps in order, each printed as it goes, then the report folder."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vocabgraft.demo._console import heading, note, say
from vocabgraft.demo.config import DemoConfig, check_extras, versions

__all__ = ["run_demo"]


def _timed(timing: dict[str, float], name: str, fn: Callable[[], Any]) -> Any:
    start = time.perf_counter()
    out = fn()
    timing[name] = time.perf_counter() - start
    return out


def _propagation_step() -> Callable[..., dict[str, Any]] | None:
    """The propagation step's runner, where ``vocabgraft.demo.propagation`` provides one.

    This is the one place the step plugs in: ``run_propagation(transfer,
    corpus, cfg) -> dict``; its report section comes from
    ``propagation_markdown(result)`` (see :mod:`vocabgraft.demo.report_md`).
    """
    try:
        from vocabgraft.demo import propagation
    except ModuleNotFoundError as e:
        if e.name == "vocabgraft.demo.propagation":
            return None
        raise
    run: Callable[..., dict[str, Any]] = propagation.run_propagation
    return run


def _pick_threads(transfer: Any, cfg: DemoConfig) -> dict[str, Any]:
    """Measure 1 thread against all cores on step 2's training steps; keep the faster."""
    from vocabgraft.demo.threads import candidate_threads, measure_threads, training_step

    counts = candidate_threads()
    if len(counts) == 1:
        return {"seconds_per_step": {}, "chosen": counts[0]}
    threads = measure_threads(training_step(transfer, cfg), counts)
    per_step = ", ".join(
        f"{n} thread(s) {1000 * s:.1f} ms" for n, s in threads["seconds_per_step"].items()
    )
    say(f"torch threads: {threads['chosen']} (measured per training step: {per_step})")
    return threads


def _steps(cfg: DemoConfig, timing: dict[str, float]) -> dict[str, Any]:
    from vocabgraft.demo.compare import run_compare
    from vocabgraft.demo.data import load_corpus
    from vocabgraft.demo.drift import run_drift
    from vocabgraft.demo.new_items import run_new_items
    from vocabgraft.demo.new_words import run_new_words
    from vocabgraft.demo.threads import torch_threads
    from vocabgraft.demo.transfer import run_transfer

    note("loading GloVe 6B 50d and the reviews")
    corpus = _timed(timing, "load", lambda: load_corpus(cfg.seed))
    heading(1, "Transfer: the task vocabulary aligned to GloVe 6B 50d")
    transfer, r1 = _timed(timing, "transfer", lambda: run_transfer(corpus, cfg))
    threads = _timed(timing, "threads", lambda: _pick_threads(transfer, cfg))
    out: dict[str, Any] = {"data": corpus.describe(), "threads": threads, "transfer": r1}
    with torch_threads(threads["chosen"]):
        heading(2, "Four ways to treat the embedding")
        runs, out["compare"] = _timed(timing, "compare", lambda: run_compare(transfer, cfg))
        heading(3, "New vocabulary arrives")
        out["new_words"] = _timed(
            timing, "new_words", lambda: run_new_words(runs["partial"], transfer, corpus, cfg)
        )
        heading(4, "New items arrive")
        out["new_items"] = _timed(
            timing, "new_items", lambda: run_new_items(runs["partial"], transfer, corpus, cfg)
        )
        heading(5, "Drift")
        out["drift"] = _timed(timing, "drift", lambda: run_drift(runs, transfer, corpus.glove))
        propagation = _propagation_step()
        if propagation is not None:
            heading(6, "Fine-tuning and words the task never saw")
            out["propagation"] = _timed(
                timing, "propagation", lambda: propagation(transfer, corpus, cfg)
            )
    return out


def run_demo(cfg: DemoConfig) -> dict[str, Any]:
    """Run the demo; write the report folder ``cfg.out``; return every number.

    Raises :class:`~vocabgraft.errors.MissingExtraError` (naming
    ``vocabgraft[demo]``) before any work if a needed package is missing, and
    :class:`~vocabgraft.errors.OutputExistsError` if ``cfg.out`` exists and is
    not a folder vocabgraft wrote.
    """
    check_extras(plots=cfg.plots)
    from vocabgraft.demo.report import check_out, summary_text, write_report

    check_out(cfg.out)
    start = time.perf_counter()
    timing: dict[str, float] = {}
    say(
        f"vocabgraft demo ({'quick' if cfg.quick else 'full'} run, seed {cfg.seed}): "
        "GloVe 6B 50d and 4,000 + 1,000 Amazon fine-food reviews, offline"
    )
    results = _steps(cfg, timing)
    config = cfg.to_dict()
    config.update(versions=versions(), torch_threads=results["threads"]["chosen"])
    results = {"config": config, **results, "timing": timing}
    timing["total_seconds"] = time.perf_counter() - start
    results["summary_text"] = summary_text(results)
    draw = None
    if cfg.plots:
        from vocabgraft.demo.plots import draw as draw_plots

        def draw(folder: Path) -> list[str]:
            return draw_plots(folder, results)

    write_report(cfg.out, results, draw)
    heading(7 if "propagation" in results else 6, "Summary")
    say(results["summary_text"])
    say(
        f"\nreport: {cfg.out}/ ({', '.join(['report.md', 'results.json', *results['plots']])}); "
        f"{time.perf_counter() - start:.0f} s in all"
    )
    return results
