"""Keras training step time when only some rows of a large embedding table train.

Compares, on the Keras torch backend (CPU), for a 400,000 x 100
float32 table with 1,000 trainable ids spread over it (a seeded random choice),
batches of 64 x 128 ids, a mean-pool and a dense head (10 classes, softmax),
AdamW(learning_rate=1e-3, weight_decay=0.01), the same shapes as bench_step.py:

  (a) frozen    keras.layers.Embedding(trainable=False) alone: the floor
  (b) partial   vocabgraft.keras.PartialEmbedding
  (b') partial_ops  the same layer made to run its keras.ops kernel (the one jax and
                traced calls use: take, take of the slot map, where) instead of the
                sparse torch kernel it uses on eager torch; to show what that kernel buys
  (c) recipe    the accepted forum answer to "Train only some word embeddings (Keras)":
                the ids renumbered so the trainable ones come last, a frozen V x D
                Embedding (zeros in the last K rows) plus a trainable (K + 1) x D
                Embedding (row 0 for every other id) looked up with
                Lambda(x - valid_words) and Activation("relu"), outputs joined by Add()

The answer also sets mask_zero=True on both tables; no variant here uses a mask
(the mean-pool ignores it), so all three do the same work.

A step is one ``model.train_on_batch(x, y)`` (Keras' own step: forward,
backward, optimizer update, metrics). Everything is timed in ``--processes``
fresh processes (5 by default), as each process's allocator and cache state
sway step times; within one, variants run in alternating blocks of steps so
that noise from other work on the machine falls on all of them alike. Each
variant reports its median over processes, and each ratio is given per process
with its median, on which the targets are judged. After timing, each variant
checks (in every process) that the frozen rows are bit-identical to the table
it started from:

- partial: the merged table at every frozen id equals the original row;
- recipe: the frozen table is unchanged, and so is row 0 of the trainable
  table, which the answer adds to every frozen id (it gets a gradient from
  every position, so it moves, and with it every frozen word's vector).

Prints one JSON line on stdout; progress goes to stderr.

    KERAS_BACKEND=torch .venv/bin/python benches/bench_keras_step.py [--steps 30] [--processes 5] [--quick]
        [--threads N]
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
import numpy as np
import torch

from _timing import Timed, across_processes, in_fresh_processes, log, run
from vocabgraft.keras import PartialEmbedding
from vocabgraft.keras._lookup import bounds, lookup_ops

V, D, K, BATCH, LENGTH, CLASSES = 400_000, 100, 1_000, 64, 128, 10


class OpsKernel(PartialEmbedding):
    """PartialEmbedding with its keras.ops kernel on every backend (ids int32, checked)."""

    def call(self, inputs: Any) -> Any:
        lo_hi = bounds(inputs)
        if lo_hi is not None:
            self._check_bounds(*lo_hi)
        return lookup_ops(inputs, self.base, self.rows, self.patch, self.slots, checked=True)


def head(inputs: Any, embedded: Any) -> keras.Model:
    pooled = keras.layers.GlobalAveragePooling1D()(embedded)
    out = keras.layers.Dense(CLASSES, activation="softmax")(pooled)
    model = keras.Model(inputs, out)
    model.compile(
        optimizer=keras.optimizers.AdamW(learning_rate=1e-3, weight_decay=0.01),
        loss="sparse_categorical_crossentropy",
    )
    return model


class Case(Timed):
    def __init__(self, name: str, model: keras.Model, batches: list[np.ndarray], check: Any):
        super().__init__(name, len(batches))
        self.model = model
        self.batches = batches
        self.check = check
        self.labels = np.random.default_rng(9).integers(0, CLASSES, (len(batches), BATCH))

    def work(self, i: int) -> None:
        self.model.train_on_batch(self.batches[i], self.labels[i])

    def result(self) -> dict[str, Any]:
        checks = self.check()
        return {
            "ms_per_step": self.median_ms(),
            "steps_timed": len(self.times),
            "trainable_params": int(sum(np.prod(w.shape) for w in self.model.trainable_weights)),
            **checks,
        }


def build_cases(base: np.ndarray, trainable: np.ndarray, batches: list[np.ndarray]) -> list[Case]:
    frozen_ids = np.setdiff1d(np.arange(V), trainable)
    cases = []

    def checker(layer: PartialEmbedding) -> Any:
        def check_frozen() -> dict[str, Any]:
            merged = layer.merged_weight()
            return {
                "frozen_bit_identical": bool(np.array_equal(merged[frozen_ids], base[frozen_ids])),
                "trained_rows_moved": int((merged[trainable] != base[trainable]).any(axis=1).sum()),
            }

        return check_frozen

    keras.utils.set_random_seed(0)
    inputs = keras.Input((LENGTH,), dtype="int32")
    table = keras.layers.Embedding(V, D, weights=[base], trainable=False)
    cases.append(Case("frozen", head(inputs, table(inputs)), batches, lambda: {}))

    for name, cls in (("partial", PartialEmbedding), ("partial_ops", OpsKernel)):
        keras.utils.set_random_seed(0)
        inputs = keras.Input((LENGTH,), dtype="int32")
        layer = cls.from_pretrained(base, trainable=trainable)
        cases.append(Case(name, head(inputs, layer(inputs)), batches, checker(layer)))

    # The recipe: renumber so the trainable ids are the last K (outside the timed
    # step, as the answer assumes a vocabulary built that way).
    order = np.concatenate([frozen_ids, trainable])
    new_id = np.empty(V, dtype=np.int64)
    new_id[order] = np.arange(V)
    frozen_table = base[order].copy()
    frozen_table[V - K :] = 0.0
    small = np.concatenate([np.zeros((1, D), np.float32), base[trainable]])
    valid_words = V - K - 1  # id V - K (the first trainable one) maps to row 1
    keras.utils.set_random_seed(0)
    inputs = keras.Input((LENGTH,), dtype="int32")
    embedding_layer = keras.layers.Embedding(V, D, weights=[frozen_table], trainable=False)
    special_layer = keras.layers.Embedding(K + 1, D, weights=[small], trainable=True)
    special_ids = keras.layers.Lambda(lambda x: x - valid_words)(inputs)
    special_ids = keras.layers.Activation("relu")(special_ids)
    joined = keras.layers.Add()([embedding_layer(inputs), special_layer(special_ids)])
    recipe = head(inputs, joined)

    def recipe_check() -> dict[str, Any]:
        table_same = np.array_equal(
            keras.ops.convert_to_numpy(embedding_layer.embeddings.value), frozen_table
        )
        row0 = keras.ops.convert_to_numpy(special_layer.embeddings.value)[0]
        return {
            "frozen_bit_identical": bool(table_same and not row0.any()),
            "frozen_table_unchanged": bool(table_same),
            "row_0_added_to_every_frozen_id_abs_max": float(np.abs(row0).max()),
        }

    cases.append(Case("recipe", recipe, [new_id[b] for b in batches], recipe_check))
    return cases


RATIOS = {  # name: (numerator, denominator)
    "partial_over_frozen": ("partial", "frozen"),
    "recipe_over_partial": ("recipe", "partial"),
    "recipe_over_partial_ops": ("recipe", "partial_ops"),
}


def measure(steps: int, warmup: int) -> dict[str, Any]:
    """One process: every variant timed, and its checks."""
    rng = np.random.default_rng(0)
    base = rng.standard_normal((V, D), dtype=np.float32)
    trainable = np.sort(np.random.default_rng(1).choice(V, size=K, replace=False))
    batches = [np.random.default_rng(100 + i).integers(0, V, (BATCH, LENGTH)) for i in range(20)]
    hits = float(np.isin(np.stack(batches), trainable).sum(axis=(1, 2)).mean())
    log(f"backend {keras.backend.backend()}; {hits:.1f} trainable positions per batch")
    cases = build_cases(base, trainable, batches)
    run(cases, steps, warmup, block=5)
    return {"hits": hits, "results": {c.name: c.result() for c in cases}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30, help="timed steps per variant and process")
    parser.add_argument("--processes", type=int, default=5, help="fresh processes timing it all")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="10 timed steps, 2 processes")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)  # on a shared machine 1 avoids stalls on a busy core
    if args.quick:
        args.steps, args.warmup, args.processes = 10, 2, 2
    if args.child:
        print(json.dumps(measure(args.steps, args.warmup)))
        return

    load = [round(x, 2) for x in os.getloadavg()]  # other work on the machine skews timings
    argv = [
        "--steps",
        str(args.steps),
        "--warmup",
        str(args.warmup),
        "--threads",
        str(args.threads),
    ]
    runs = in_fresh_processes(__file__, argv, args.processes)
    summary = across_processes(
        [{n: r["ms_per_step"] for n, r in run_["results"].items()} for run_ in runs], RATIOS
    )
    ms = summary["ms_per_step"]
    results = {}
    for name, first in runs[0]["results"].items():
        checks = [r["results"][name] for r in runs]
        results[name] = {
            **first,
            "ms_per_step": ms[name],
            "ms_per_step_per_process": [c["ms_per_step"] for c in checks],
            "steps_timed": first["steps_timed"] * len(runs),
        }
        if "frozen_bit_identical" in first:  # it held in every process
            results[name]["frozen_bit_identical"] = all(c["frozen_bit_identical"] for c in checks)
    ratios = summary["ratios"]
    out: dict[str, Any] = {
        "bench": "keras_step",
        "backend": keras.backend.backend(),
        "keras": keras.__version__,
        "torch": torch.__version__,
        "threads": args.threads or torch.get_num_threads(),
        "step": "model.train_on_batch",
        "table": [V, D],
        "trainable": K,
        "batch": [BATCH, LENGTH],
        "optimizer": "AdamW(lr=1e-3, weight_decay=0.01)",
        "trainable_positions_per_batch": runs[0]["hits"],
        "processes": len(runs),
        "load_average_at_start": load,
        "results": results,
        "ratios": ratios,
        "ratios_per_process": summary["ratios_per_process"],
        "targets": {  # on the median over processes
            "partial_no_slower_than_recipe": ratios["recipe_over_partial"] >= 1,
            "partial_frozen_bit_identical": results["partial"]["frozen_bit_identical"],
            "partial_ops_no_slower_than_recipe": ratios["recipe_over_partial_ops"] >= 1,
        },
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
