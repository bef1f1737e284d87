"""Training step time when only some rows of a large embedding table train.

Compares, on one CPU, for a 400,000 x 100 float32 table with
1,000 trainable ids spread over it (a seeded random choice), batches of 64 x 128
ids, a mean-pool and a linear head (10 classes), AdamW(weight_decay=0.01):

  (a) frozen   nn.Embedding(freeze=True) alone: the floor, nothing in the table trains
  (b) partial  vocabgraft.torch.PartialEmbedding
  (c) two_table  the forum recipe: the ids renumbered so the trainable ones come last,
               a frozen V x D table (zeros in the last K rows) plus a trainable
               (K + 1) x D table (row 0 is padding) looked up with relu(id - (V - K - 1)),
               outputs added
  (d) mask_hook  a trainable nn.Embedding with a gradient hook zeroing the frozen rows'
               gradient (fewer steps: it is slow)
  (e) peft     PEFT's TrainableTokensLayer over the frozen nn.Embedding, when peft is installed
  (f) known_positions  a bound, not a usable module: the same gather-and-overwrite as
               (b) with each batch's trainable positions and slots computed before
               timing, so it shows what a row-level module costs when finding the
               trainable positions is free

Ids are uniform over the table (the main numbers); ``zipf`` repeats the fast variants
with ids drawn from a Zipf law (s = 1.1) over frequency ranks, rank r = id r,
as in a frequency-sorted vocabulary such as GloVe's.

A second pass repeats the fast variants with AdamW(fused=True), to show how much of
a step is the optimizer's own loop over the K x D rows.

The fast variants (a), (b), (c) and (f) are timed in ``--processes`` fresh
processes (5 by default): step times depend on each process's allocator and
cache state as much as on the code, so one process is one sample. Within a
process, variants run in alternating blocks of steps so that noise from other
work on the machine falls on all of them alike, and each reports its median
step time. The JSON gives each variant's median over processes, each ratio per
process, and the median ratio, on which the targets are judged. The slow
variants (d) and (e) run once, in the parent.
Prints one JSON line on stdout; progress goes to stderr.

    .venv/bin/python benches/bench_step.py [--steps 100] [--processes 5] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from _timing import Timed, across_processes, in_fresh_processes, log, run
from vocabgraft.torch import PartialEmbedding

V, D, K, BATCH, LENGTH, CLASSES = 400_000, 100, 1_000, 64, 128, 10


class Model(nn.Module):
    def __init__(self, embed: nn.Module) -> None:
        super().__init__()
        self.embed = embed
        self.head = nn.Linear(D, CLASSES)

    def forward(self, ids: Tensor) -> Tensor:
        return self.head(self.embed(ids).mean(1))


class TwoTable(nn.Module):
    """The forum recipe, in PyTorch: frozen table + small trainable table, outputs added."""

    def __init__(self, frozen: Tensor, small: Tensor) -> None:
        super().__init__()
        self.frozen = nn.Embedding.from_pretrained(frozen, freeze=True)
        self.small = nn.Embedding(small.shape[0], D, padding_idx=0, _weight=small)
        self.shift = frozen.shape[0] - small.shape[0]

    def forward(self, ids: Tensor) -> Tensor:
        return self.frozen(ids) + self.small(torch.relu(ids - self.shift))


class KnownPositions(nn.Module):
    """(f): PartialEmbedding's kernel given each batch's trainable positions and slots for free."""

    def __init__(self, base: Tensor, trainable: Tensor, batches: list[Tensor]) -> None:
        super().__init__()
        self.base = base
        self.rows = nn.Parameter(base[trainable].clone())
        slot = torch.full((base.shape[0],), -1, dtype=torch.int64)
        slot[trainable] = torch.arange(len(trainable))
        self.known = {}
        for b in batches:
            s = slot[b.reshape(-1)]
            pos = (s >= 0).nonzero().squeeze(1)
            self.known[id(b)] = (pos, s[pos])

    def forward(self, ids: Tensor) -> Tensor:
        pos, sel = self.known[id(ids)]
        out: Tensor = _Overwrite.apply(F.embedding(ids, self.base), self.rows, pos, sel)
        return out


class _Overwrite(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, out: Tensor, rows: Tensor, pos: Tensor, sel: Tensor) -> Tensor:
        out.view(-1, out.shape[-1]).index_copy_(0, pos, rows.index_select(0, sel))
        ctx.save_for_backward(pos, sel)
        ctx.rows_shape = rows.shape
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        pos, sel = ctx.saved_tensors
        grad_rows = grad.new_zeros(ctx.rows_shape)
        grad_rows.index_add_(0, sel, grad.reshape(-1, grad.shape[-1]).index_select(0, pos))
        return None, grad_rows, None, None


def state_bytes(opt: torch.optim.Optimizer, params: list[Tensor] | None = None) -> int:
    keep = None if params is None else {id(p) for p in params}
    return sum(
        v.numel() * v.element_size()
        for p, s in opt.state.items()
        if keep is None or id(p) in keep
        for v in s.values()
        if isinstance(v, Tensor) and v.dim() > 0
    )


class Case(Timed):
    """One variant: a model, its optimizer, its batches and a check of the frozen rows."""

    def __init__(
        self,
        name: str,
        model: Model,
        batches: list[Tensor],
        frozen_ok: Callable[[], bool] | None,
        table_params: list[Tensor],
        fused: bool = False,
    ) -> None:
        super().__init__(name, len(batches))
        self.model = model
        self.batches = batches
        self.frozen_ok = frozen_ok
        self.table_params = table_params
        self.opt = torch.optim.AdamW(
            [p for p in model.parameters() if p.requires_grad],
            lr=1e-3,
            weight_decay=0.01,
            fused=fused or None,
        )
        self.labels = torch.randint(0, CLASSES, (len(batches), BATCH), generator=gen(9))

    def work(self, i: int) -> None:
        loss = F.cross_entropy(self.model(self.batches[i]), self.labels[i])
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()

    def result(self) -> dict[str, Any]:
        return {
            "ms_per_step": self.median_ms(),
            "steps_timed": len(self.times),
            "opt_state_bytes": state_bytes(self.opt),
            "table_opt_state_bytes": state_bytes(self.opt, self.table_params),
            # None for the bound (f), which has no frozen rows of its own to check.
            "frozen_bit_identical": None if self.frozen_ok is None else bool(self.frozen_ok()),
        }


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def make_batches(kind: str, n: int) -> list[Tensor]:
    if kind == "uniform":
        return [torch.randint(0, V, (BATCH, LENGTH), generator=gen(100 + i)) for i in range(n)]
    rng = np.random.default_rng(7)
    ranks = np.arange(1, V + 1, dtype=np.float64)
    p = ranks**-1.1
    p /= p.sum()
    return [torch.from_numpy(rng.choice(V, size=(BATCH, LENGTH), p=p)) for _ in range(n)]


def build_cases(
    base: Tensor,
    trainable: np.ndarray,
    batches: list[Tensor],
    *,
    with_slow: bool,
    fused: bool = False,
) -> list[Case]:
    frozen_ids = torch.from_numpy(np.setdiff1d(np.arange(V), trainable))
    tr = torch.from_numpy(trainable)
    cases = []

    torch.manual_seed(0)
    frozen = Model(nn.Embedding.from_pretrained(base, freeze=True))
    cases.append(Case("frozen", frozen, batches, lambda: True, [], fused))

    torch.manual_seed(0)
    partial = PartialEmbedding.from_pretrained(base, trainable=trainable)
    cases.append(
        Case(
            "partial",
            Model(partial),
            batches,
            lambda: torch.equal(partial.merged_weight()[frozen_ids], base[frozen_ids]),
            [partial.rows],
            fused,
        )
    )

    # Two tables: renumber so the trainable ids are the last K (outside the timed step,
    # as the recipe assumes a vocabulary built that way).
    order = torch.cat([frozen_ids, tr])
    new_id = torch.empty(V, dtype=torch.int64)
    new_id[order] = torch.arange(V)
    frozen_table = base[order].clone()
    frozen_table[V - K :] = 0.0
    small = torch.cat([torch.zeros(1, D), base[tr]])
    torch.manual_seed(0)
    two = TwoTable(frozen_table, small.clone())
    two_before = frozen_table.clone()
    cases.append(
        Case(
            "two_table",
            Model(two),
            [new_id[b] for b in batches],
            lambda: torch.equal(two.frozen.weight, two_before) and not two.small.weight[0].any(),
            [two.small.weight],
            fused,
        )
    )

    torch.manual_seed(0)
    known = KnownPositions(base, tr, batches)
    cases.append(Case("known_positions", Model(known), batches, None, [known.rows], fused))

    if with_slow:
        dense = nn.Embedding.from_pretrained(base.clone(), freeze=False)
        mask = torch.zeros(V, 1)
        mask[tr] = 1.0
        dense.weight.register_hook(lambda g: g * mask)
        cases.append(
            Case(
                "mask_hook",
                Model(dense),
                batches,
                lambda: torch.equal(dense.weight.detach()[frozen_ids], base[frozen_ids]),
                [dense.weight],
            )
        )
    return cases


def peft_case(base: Tensor, trainable: np.ndarray, batches: list[Tensor]) -> Case | str:
    try:
        from peft.tuners.trainable_tokens.layer import TrainableTokensLayer
    except ImportError as exc:
        return f"peft is not installed ({exc})"
    base_embedding = nn.Embedding.from_pretrained(base, freeze=True)
    layer = TrainableTokensLayer(base_embedding, "default")
    layer.update_layer("default", token_indices=trainable.tolist())
    frozen_ids = torch.from_numpy(np.setdiff1d(np.arange(V), trainable))
    delta = layer.trainable_tokens_delta["default"]
    weight = base_embedding.weight
    torch.manual_seed(0)
    return Case(
        "peft",
        Model(layer),
        batches,
        lambda: torch.equal(weight[frozen_ids], base[frozen_ids]),
        [delta],
    )


FAST = ("frozen", "partial", "two_table", "known_positions")
RATIOS = {  # name: (numerator, denominator)
    "partial_over_frozen": ("partial", "frozen"),
    "two_table_over_partial": ("two_table", "partial"),
    "two_table_over_known_positions": ("two_table", "known_positions"),
    "partial_over_known_positions": ("partial", "known_positions"),
}


def setup() -> tuple[Tensor, np.ndarray, list[Tensor]]:
    base = torch.randn(V, D, generator=gen(0))
    trainable = np.sort(np.random.default_rng(1).choice(V, size=K, replace=False))
    return base, trainable, make_batches("uniform", 20)


def hits_per_batch(batches: list[Tensor], trainable: np.ndarray) -> float:
    return float(np.isin(torch.stack(batches).numpy(), trainable).sum(axis=(1, 2)).mean())


def measure_fast(steps: int, warmup: int, extra: bool) -> dict[str, Any]:
    """One process's timings of the fast variants (and, with ``extra``, fused AdamW and Zipf ids)."""
    base, trainable, uniform = setup()
    fast = build_cases(base, trainable, uniform, with_slow=False)
    run(fast, steps, warmup, block=10)
    out: dict[str, Any] = {"results": {c.name: c.result() for c in fast}}
    if extra:
        log("AdamW(fused=True), uniform ids")
        fused = build_cases(base, trainable, uniform, with_slow=False, fused=True)
        run(fused, steps, warmup, block=10)
        out["adamw_fused"] = {c.name: c.median_ms() for c in fused}
        log("zipf ids")
        zipf = make_batches("zipf", 20)
        zcases = build_cases(base, trainable, zipf, with_slow=False)
        run(zcases, steps, warmup, block=10)
        out["zipf"] = {c.name: c.median_ms() for c in zcases}
        out["zipf_hits"] = hits_per_batch(zipf, trainable)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--steps", type=int, default=100, help="timed steps per fast variant and process"
    )
    parser.add_argument(
        "--processes", type=int, default=5, help="fresh processes timing the fast variants"
    )
    parser.add_argument(
        "--slow-steps", type=int, default=6, help="timed steps for mask_hook and peft"
    )
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="fewer steps, no Zipf run")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.steps, args.slow_steps, args.warmup, args.processes = 20, 2, 3, 2
    if args.child:
        print(json.dumps(measure_fast(args.steps, args.warmup, extra=not args.quick)))
        return

    load = [round(x, 2) for x in os.getloadavg()]  # other work on the machine skews timings
    argv = ["--steps", str(args.steps), "--warmup", str(args.warmup)]
    runs = in_fresh_processes(__file__, argv + (["--quick"] if args.quick else []), args.processes)
    uniform_ms = [{n: r["results"][n]["ms_per_step"] for n in FAST} for r in runs]
    main_summary = across_processes(uniform_ms, RATIOS)

    log("slow variants")
    base, trainable, uniform = setup()
    slow: list[Case] = build_cases(base, trainable, uniform, with_slow=True)[len(FAST) :]
    peft = peft_case(base, trainable, uniform)
    if isinstance(peft, Case):
        slow.append(peft)
    run(slow, args.slow_steps, warmup=2, block=args.slow_steps)

    results: dict[str, Any] = {}
    for name in FAST:
        first = runs[0]["results"][name]
        results[name] = {
            **first,
            "ms_per_step": main_summary["ms_per_step"][name],
            "ms_per_step_per_process": [m[name] for m in uniform_ms],
            "steps_timed": first["steps_timed"] * len(runs),
            # None for the bound, which has no frozen rows of its own; else every process held.
            "frozen_bit_identical": None
            if first["frozen_bit_identical"] is None
            else all(r["results"][name]["frozen_bit_identical"] for r in runs),
        }
    results.update({c.name: c.result() for c in slow})
    if not isinstance(peft, Case):
        results["peft"] = {"ms_per_step": None, "reason": peft}
    partial_ms = results["partial"]["ms_per_step"]

    def over_partial(name: str) -> float | None:
        ms = results[name]["ms_per_step"]
        return None if ms is None else round(ms / partial_ms, 2)

    ratios = main_summary["ratios"]
    out: dict[str, Any] = {
        "bench": "step",
        "table": [V, D],
        "trainable": K,
        "batch": [BATCH, LENGTH],
        "ids": "uniform",
        "trainable_positions_per_batch": hits_per_batch(uniform, trainable),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "processes": len(runs),
        "load_average_at_start": load,
        "results": results,
        "ratios": {
            **ratios,
            "mask_hook_over_partial": over_partial("mask_hook"),
            "peft_over_partial": over_partial("peft"),
        },
        "ratios_per_process": main_summary["ratios_per_process"],
        "targets": {  # on the median over processes
            "partial_le_2x_frozen": ratios["partial_over_frozen"] <= 2,
            "partial_1_5x_faster_than_two_table": ratios["two_table_over_partial"] >= 1.5,
            "partial_100x_faster_than_mask_hook": results["mask_hook"]["ms_per_step"]
            >= 100 * partial_ms,
            "partial_state_is_2KD_floats": results["partial"]["table_opt_state_bytes"]
            == 2 * K * D * 4,
            "partial_frozen_bit_identical": results["partial"]["frozen_bit_identical"],
        },
    }
    if not args.quick:
        out["adamw_fused"] = across_processes([r["adamw_fused"] for r in runs], RATIOS)
        out["zipf"] = {
            "s": 1.1,
            "trainable_positions_per_batch": runs[0]["zipf_hits"],
            **across_processes([r["zipf"] for r in runs], RATIOS),
        }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
