"""Update propagation on a 400,000 x 300 table with 20,000 trained rows: time and peak memory.

The table: GloVe 6B 50d (all 400,000 rows, real geometry) lifted to 300
dimensions by a fixed random 50 x 300 map, plus a little noise so that it is
full rank. The 20,000 most frequent words "train": their change is a smooth
function of the pretrained vector (a random rank-8 linear map, a shift, and
row noise), so both methods have something to learn. Measured, each in the
same run and with tracemalloc (numpy reports its buffers to it); the CPU
seconds go to stderr, for a loaded machine:

- ``global``: :func:`vocabgraft.drift.propagate` with ``method="global"`` (ridge
  chosen on held-out rows, report included) against what a user writes:
  ``np.linalg.lstsq`` on ``[X, 1]`` and one ``table @ W`` over the whole table.
- ``local``: ``method="local"`` (k = 10; the clustered search, as "auto" picks
  at this size), against a per-row loop (cosine to every trained row,
  ``argsort``, weighted mean) timed on a sample and scaled to 380,000 rows, and
  the exact blockwise search (``search=Search("exact")``) timed on a sample and
  scaled. On 2,000 rows the clustered search is compared with the exact one:
  recall@10, and how far the move it gives is from the exact search's move.

Targets: each method <= 10 s, peak extra memory <= 1.5 x the table's bytes.
Prints one JSON line on stdout; progress on stderr.

    .venv/bin/python benches/bench_propagate.py            # 400,000 x 300, 20,000 trained
    .venv/bin/python benches/bench_propagate.py --quick    # 100,000 x 300, 5,000 trained
"""

from __future__ import annotations

import json
import platform
import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np

from vocabgraft.datasets.packaged import glove_6b_50d
from vocabgraft.drift import Search, cosine, propagate
from vocabgraft.drift.neighbours import nearest_trained
from vocabgraft.table.topk import unit_rows

K_NEIGHBOURS = 10


def log(*args: object) -> None:
    print(*args, file=sys.stderr, flush=True)


def measured(fn: Callable[[], Any]) -> tuple[Any, float, int]:
    """``fn()``, its seconds, and the peak bytes it allocated beyond what was live before.

    The CPU seconds go to stderr: on a loaded machine they show the work itself
    (BLAS threads that spin while waiting inflate them; run with
    ``OPENBLAS_NUM_THREADS=1`` for the single-core figure).
    """
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    start, cpu = time.perf_counter(), time.process_time()
    out = fn()
    seconds = time.perf_counter() - start
    log(f"  {seconds:.2f} s wall, {time.process_time() - cpu:.2f} s CPU (both cores count)")
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return out, seconds, peak


def tables(rows: int, trained: int, dim: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    glove = np.asarray(glove_6b_50d().vectors[:rows], dtype=np.float32)
    lift = (rng.normal(size=(glove.shape[1], dim)) / np.sqrt(glove.shape[1])).astype(np.float32)
    before = glove @ lift
    before += rng.normal(scale=0.05, size=before.shape).astype(np.float32)
    ids = np.arange(trained)
    u, v = rng.normal(size=(dim, 8)), rng.normal(size=(8, dim))
    change = before[ids] @ (u @ v / dim).astype(np.float32) + 0.1
    change += rng.normal(scale=0.05, size=change.shape).astype(np.float32)
    after = before.copy()
    after[ids] += change
    return before, after, ids


def naive_global(before: np.ndarray, after: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """What a user writes: a dense lstsq, then the whole table through the map."""
    x = np.hstack([before[ids], np.ones((len(ids), 1), np.float32)])
    w, *_ = np.linalg.lstsq(x, after[ids], rcond=None)
    out = np.hstack([before, np.ones((len(before), 1), np.float32)]) @ w
    out[ids] = after[ids]
    return out


def naive_local_rows(
    before: np.ndarray, after: np.ndarray, ids: np.ndarray, rows: np.ndarray
) -> np.ndarray:
    """A per-row loop: cosine to every trained row, argsort, weighted mean of their changes."""
    trained = before[ids]
    norms = np.linalg.norm(trained, axis=1)
    change = after[ids] - trained
    out = []
    for r in rows:
        x = before[r]
        cos = trained @ x / (norms * np.linalg.norm(x))
        near = np.argsort(-cos)[:K_NEIGHBOURS]
        w = np.clip(cos[near], 0, None)
        out.append(x + (w[:, None] * change[near]).sum(0) / max(w.sum(), 1e-12))
    return np.array(out)


def search_quality(
    before: np.ndarray, after: np.ndarray, ids: np.ndarray, sample: np.ndarray
) -> dict[str, float]:
    """Recall@10 of the clustered search against the exact one, and how alike the moves are."""
    unit = unit_rows(before[ids])
    change = after[ids] - before[ids]
    found = {}
    for mode in ("exact", "clustered"):
        near, cos, _ = nearest_trained(before, sample, unit, K_NEIGHBOURS, Search(mode))
        w = np.clip(cos, 0, None)
        found[mode] = (near, np.einsum("bk,bkd->bd", w / w.sum(1, keepdims=True), change[near]))
    (exact, move_e), (fast, move_f) = found["exact"], found["clustered"]
    hits = [len(set(a) & set(b)) for a, b in zip(exact.tolist(), fast.tolist())]
    err = np.linalg.norm(move_f - move_e, axis=1) / np.linalg.norm(move_e, axis=1)
    return {
        "recall_at_10": round(float(np.mean(hits) / K_NEIGHBOURS), 4),
        "move_relative_error_median": round(float(np.median(err)), 4),
        "move_cosine_mean": round(float(np.mean(cosine(move_e, move_f))), 4),
    }


def main() -> None:
    quick = "--quick" in sys.argv
    rows, trained, dim = (100_000, 5_000, 300) if quick else (400_000, 20_000, 300)
    log(f"building a {rows:,} x {dim} table, {trained:,} trained rows")
    before, after, ids = tables(rows, trained, dim)
    untrained = rows - trained
    table_bytes = before.nbytes
    result: dict[str, Any] = {
        "bench": "propagate",
        "rows": rows,
        "dims": dim,
        "trained_rows": trained,
        "table_bytes": table_bytes,
        "python": platform.python_version(),
        "numpy": np.__version__,
    }
    for method in ("global", "local"):
        log(f"propagate(method={method!r})")
        done, seconds, peak = measured(
            lambda m=method: propagate(before, after, ids, method=m, k=K_NEIGHBOURS)
        )
        result[method] = {
            "seconds": round(seconds, 3),
            "peak_extra_bytes": peak,
            "peak_extra_vs_table": round(peak / table_bytes, 3),
            "details": done.details,
            "propagated_mean_l2": done.report.groups["propagated"].mean_l2,
        }
        del done
    log("naive global: lstsq + whole-table product")
    naive, seconds, peak = measured(lambda: naive_global(before, after, ids))
    result["global"]["naive_dense"] = {
        "seconds": round(seconds, 3),
        "peak_extra_bytes": peak,
        "peak_extra_vs_table": round(peak / table_bytes, 3),
    }
    del naive
    sample = np.random.default_rng(1).choice(np.arange(trained, rows), 200, replace=False)
    log("naive local: a per-row loop on 200 rows")
    _, seconds, peak = measured(lambda: naive_local_rows(before, after, ids, sample))
    result["local"]["naive_loop"] = {
        "sample_rows": len(sample),
        "seconds_sample": round(seconds, 3),
        "seconds_scaled_to_all": round(seconds * untrained / len(sample), 1),
        "peak_extra_bytes": peak,
    }
    big = np.random.default_rng(2).choice(np.arange(trained, rows), 16_384, replace=False)
    log("exact search on 16,384 rows")
    unit = unit_rows(before[ids])
    _, seconds, _ = measured(
        lambda: nearest_trained(before, big, unit, K_NEIGHBOURS, Search("exact"))
    )
    result["local"]["exact_search"] = {
        "sample_rows": len(big),
        "seconds_sample": round(seconds, 3),
        "seconds_scaled_to_all": round(seconds * untrained / len(big), 1),
    }
    log("the clustered search against the exact one on 2,000 rows")
    result["local"]["clustered_vs_exact"] = search_quality(before, after, ids, big[:2000])
    for method in ("global", "local"):
        r = result[method]
        r["meets_10s"] = r["seconds"] <= 10
        r["meets_memory"] = r["peak_extra_vs_table"] <= 1.5
    print(json.dumps(result))


if __name__ == "__main__":
    main()
