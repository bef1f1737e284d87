"""FromFeatures' cost: fit on 100,000 existing items and predict 10,000 new ones, 50 features, 64-d.

The table is 100,000 x 64 (float32); the features are 50 numeric columns
(standard normal, seed 0); the rows are a linear map of the features plus
noise, and each existing item has a random interaction count (1 to 100) that
weighs it. Timed (each the median of ``--repeats`` runs):

- ``fit``: ``FromFeatures.fit`` on the 100,000 existing rows: standardising the
  columns, the weighted Gram matrix, its eigendecomposition, and the exact
  leave-one-out error for each of the 13 penalties;
- ``predict``: ``FeatureFit.predict`` for the 10,000 new items (their features
  encoded and multiplied out);
- ``extend``: the whole initializer call for the 10,000 new rows
  (``FromFeatures(...)(ctx)``: fit, then predict);
- ``kfold_solve_cv``: what a user writes without it: 5-fold cross-validation
  over the same 13 penalties, refitting weighted ridge for every fold and
  penalty by the normal equations (``numpy.linalg.solve``, as a Cholesky
  solver does), then one refit on all items at the chosen penalty;
- ``lstsq``: one refit by ``numpy.linalg.lstsq`` on the augmented system
  ``[sqrt(w) X; sqrt(a) I]`` (an SVD solver), and that time multiplied by the
  66 refits the same cross-validation needs (an estimate, not run: it would
  take minutes).

Targets on this machine: fit <= 5 s, predict <= 0.5 s. Prints one JSON line on
stdout; progress goes to stderr.

    .venv/bin/python benches/bench_features.py            # 1 to 3 minutes, mostly the k-fold loop
    .venv/bin/python benches/bench_features.py --quick    # 20,000 items, 1 repeat
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from vocabgraft import Vocab
from vocabgraft.init import InitContext
from vocabgraft.init.features import FromFeatures
from vocabgraft.init.featurize import ItemFeatures, Numeric
from vocabgraft.init.ridge import DEFAULT_ALPHAS

FIT_TARGET_S = 5.0
PREDICT_TARGET_S = 0.5


def log(*args: object) -> None:
    print(*args, file=sys.stderr, flush=True)


CPU: dict[str, float] = {}


def median_time(fn: Callable[[], Any], repeats: int, name: str) -> tuple[float, Any]:
    """The median wall time of ``repeats`` calls; the median CPU time goes to ``CPU[name]``.

    On a shared machine the wall time includes waiting for a core; the
    process's CPU time (all its threads) does not.
    """
    times, cpu, out = [], [], None
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        out = fn()
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    CPU[name] = statistics.median(cpu)
    return statistics.median(times), out


def problem(n_old: int, n_new: int, p: int, dim: int) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n_old + n_new, p))
    rows = x @ rng.normal(size=(p, dim)) / np.sqrt(p) + rng.normal(size=(n_old + n_new, dim))
    ids = [f"item{i}" for i in range(n_old + n_new)]
    features = ItemFeatures(ids, {f"f{j}": x[:, j] for j in range(p)}, source="synthetic")
    return {
        "x": x,
        "rows": rows.astype(np.float32),
        "ids": ids,
        "features": features,
        "counts": rng.integers(1, 101, n_old).astype(np.float64),
        "n_old": n_old,
    }


def _refit(xa: np.ndarray, ya: np.ndarray, wa: np.ndarray, alpha: float, lstsq: bool) -> np.ndarray:
    """Weighted ridge with an intercept: ``(p + 1, D)``, the intercept last."""
    mx, my = wa @ xa / wa.sum(), wa @ ya / wa.sum()
    r = np.sqrt(wa)[:, None]
    xc, yc = (xa - mx) * r, (ya - my) * r
    p = xa.shape[1]
    if lstsq:  # the augmented least-squares system, as an SVD-based solver does it
        a = np.vstack([xc, np.sqrt(alpha) * np.eye(p)])
        coef = np.linalg.lstsq(a, np.vstack([yc, np.zeros((p, ya.shape[1]))]), rcond=None)[0]
    else:  # the normal equations, as a Cholesky solver does it
        coef = np.linalg.solve(xc.T @ xc + alpha * np.eye(p), xc.T @ yc)
    return np.vstack([coef, (my - mx @ coef)[None]])


def kfold_cv(x: np.ndarray, y: np.ndarray, w: np.ndarray, folds: int = 5) -> np.ndarray:
    """Weighted ridge with k-fold CV over the same grid, one refit per fold and penalty."""
    fold = np.arange(len(x)) % folds
    xs = (x - x.mean(0)) / x.std(0)
    scale = float(np.linalg.eigvalsh((xs * w[:, None]).T @ xs).mean())
    errors = []
    for rel in DEFAULT_ALPHAS:
        err = 0.0
        for k in range(folds):
            tr, te = fold != k, fold == k
            coef = _refit(xs[tr], y[tr], w[tr], rel * scale, lstsq=False)
            pred = xs[te] @ coef[:-1] + coef[-1]
            err += float(w[te] @ ((pred - y[te]) ** 2).sum(1))
        errors.append(err)
    return _refit(xs, y, w, DEFAULT_ALPHAS[int(np.argmin(errors))] * scale, lstsq=False)


def time_from_features(prob: dict[str, Any], repeats: int) -> dict[str, Any]:
    """Fit, predict and the whole initializer call, timed; the fit and predictions kept."""
    n_old, p = prob["n_old"], prob["x"].shape[1]
    old_ids, new_ids = prob["ids"][:n_old], prob["ids"][n_old:]
    old_rows = prob["rows"][:n_old]
    init = FromFeatures(
        prob["features"], [Numeric(f"f{j}") for j in range(p)], weights=prob["counts"]
    )
    log(f"fit: {n_old:,} existing items x {p} features -> {old_rows.shape[1]}-d rows")
    fit_s, fit = median_time(lambda: init.fit(old_rows, old_ids), repeats, "fit")
    log(f"  {fit_s:.3f} s; {fit.summary()}")
    predict_s, pred = median_time(
        lambda: fit.predict(prob["features"], new_ids), repeats, "predict"
    )
    log(f"predict {len(new_ids):,} new items: {predict_s:.3f} s")
    ctx = InitContext.build(
        len(new_ids), old_rows.shape[1], tokens=new_ids, vocab=Vocab(old_ids),
        weights_fn=lambda: old_rows,
    )  # fmt: skip
    call_s, _ = median_time(lambda: init(ctx), repeats, "call")
    log(f"the initializer call (fit + predict): {call_s:.3f} s")
    return {"fit_s": fit_s, "predict_s": predict_s, "call_s": call_s, "fit": fit, "pred": pred}


def time_alternatives(prob: dict[str, Any], pred: np.ndarray) -> dict[str, float]:
    """The k-fold refit loop (run), and lstsq refits (one run, the rest estimated)."""
    n_old = prob["n_old"]
    w, x_old, old_rows = prob["counts"], prob["x"][:n_old], prob["rows"][:n_old]
    log("5-fold CV over the same penalties, refitting by the normal equations ...")
    cv_s, coef = median_time(lambda: kfold_cv(x_old, old_rows, w), 1, "kfold_solve")
    xs_new = (prob["x"][n_old:] - x_old.mean(0)) / x_old.std(0)
    gap = float(np.abs(xs_new @ coef[:-1] + coef[-1] - pred).max())
    log(f"  {cv_s:.3f} s (max difference of its predictions from FromFeatures': {gap:.2e})")
    refits = len(DEFAULT_ALPHAS) * 5 + 1
    one_s, _ = median_time(lambda: _refit(x_old, old_rows, w, 1.0, lstsq=True), 1, "lstsq_one")
    log(f"one numpy.linalg.lstsq refit: {one_s:.3f} s; x {refits} refits = {one_s * refits:.1f} s")
    return {"cv_s": cv_s, "gap": gap, "one_s": one_s, "refits": refits}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="20,000 existing items, 1 repeat")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    n_old, repeats = (20_000, 1) if args.quick else (100_000, args.repeats)
    prob = problem(n_old, 10_000, 50, 64)
    ours = time_from_features(prob, repeats)
    alt = time_alternatives(prob, ours["pred"])
    truth = prob["rows"][n_old:]
    r2 = 1 - ((ours["pred"] - truth) ** 2).sum() / ((truth - truth.mean(0)) ** 2).sum()
    fit = ours["fit"]
    out = {
        "bench": "features",
        "existing_items": n_old,
        "new_items": len(truth),
        "features": prob["x"].shape[1],
        "dim": truth.shape[1],
        "repeats": repeats,
        "fit_s": round(ours["fit_s"], 4),
        "predict_s": round(ours["predict_s"], 4),
        "initializer_call_s": round(ours["call_s"], 4),
        "kfold_solve_cv_s": round(alt["cv_s"], 4),
        "kfold_solve_cv_over_fit": round(alt["cv_s"] / ours["fit_s"], 2),
        "lstsq_one_refit_s": round(alt["one_s"], 4),
        "lstsq_cv_estimated_s": round(alt["one_s"] * alt["refits"], 2),
        "max_prediction_difference": alt["gap"],
        "alpha": fit.ridge.alpha,
        "loo_r2_mean": fit.r2_mean,
        "new_items_r2": float(r2),
        "cpu_s": {k: round(v, 4) for k, v in CPU.items()},
        "load_average_1min": round(os.getloadavg()[0], 2),
        "fit_target_met": ours["fit_s"] <= FIT_TARGET_S,
        "predict_target_met": ours["predict_s"] <= PREDICT_TARGET_S,
        "machine": f"{platform.machine()}, {platform.python_version()}",
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
