"""run_demo(): the five steps in order, each printed as it goes, then the report folder."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from vocabgraft.demo._console import heading, say
from vocabgraft.demo.config import DemoConfig, check_extras, versions

__all__ = ["run_demo"]

# The classifier is tiny: a second thread buys nothing, and on a busy two-core
# machine it made each epoch several times slower (measured), so one it is.
TORCH_THREADS = 1


@contextmanager
def _torch_threads(n: int) -> Iterator[None]:
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _timed(timing: dict[str, float], name: str, fn: Callable[[], Any]) -> Any:
    start = time.perf_counter()
    out = fn()
    timing[name] = time.perf_counter() - start
    return out


def _steps(cfg: DemoConfig, timing: dict[str, float]) -> dict[str, Any]:
    from vocabgraft.demo.compare import run_compare
    from vocabgraft.demo.data import load_corpus
    from vocabgraft.demo.drift import run_drift
    from vocabgraft.demo.new_items import run_new_items
    from vocabgraft.demo.new_words import run_new_words
    from vocabgraft.demo.transfer import run_transfer

    corpus = _timed(timing, "load", lambda: load_corpus(cfg.seed))
    heading(1, "Transfer: the task vocabulary aligned to GloVe 6B 50d")
    transfer, r1 = _timed(timing, "transfer", lambda: run_transfer(corpus, cfg))
    heading(2, "Four ways to treat the embedding")
    runs, r2 = _timed(timing, "compare", lambda: run_compare(transfer, cfg))
    heading(3, "New vocabulary arrives")
    r3 = _timed(timing, "new_words", lambda: run_new_words(runs["partial"], transfer, corpus, cfg))
    heading(4, "New items arrive")
    r4 = _timed(timing, "new_items", lambda: run_new_items(runs["partial"], transfer, corpus, cfg))
    heading(5, "Drift")
    r5 = _timed(timing, "drift", lambda: run_drift(runs, transfer, corpus.glove))
    return {
        "data": corpus.describe(),
        "transfer": r1,
        "compare": r2,
        "new_words": r3,
        "new_items": r4,
        "drift": r5,
    }


def run_demo(cfg: DemoConfig) -> dict[str, Any]:
    """Run the demo; write the report folder ``cfg.out``; return every number.

    Raises :class:`~vocabgraft.errors.MissingExtraError` (naming
    ``vocabgraft[demo]``) before any work if a needed package is missing, and
    :class:`~vocabgraft.errors.VocabgraftError` if ``cfg.out`` exists and is not
    a report folder.
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
    with _torch_threads(TORCH_THREADS):
        results = _steps(cfg, timing)
    config = cfg.to_dict()
    config.update(versions=versions(), torch_threads=TORCH_THREADS)
    results = {"config": config, **results, "timing": timing}
    timing["total_seconds"] = time.perf_counter() - start
    draw = None
    if cfg.plots:
        from vocabgraft.demo.plots import draw as draw_plots

        def draw(folder: Path) -> list[str]:
            return draw_plots(folder, results)

    write_report(cfg.out, results, draw)
    timing["total_seconds"] = time.perf_counter() - start
    heading(6, "Summary")
    say(summary_text(results))
    say(
        f"\nreport: {cfg.out}/ ({', '.join(['report.md', 'results.json', *results['plots']])}); "
        f"{timing['total_seconds']:.0f} s in all"
    )
    return results
