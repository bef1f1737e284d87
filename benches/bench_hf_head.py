"""A training step with 20 new tokens on a tied head: vocabgraft against the floor, PEFT and full training.

SmolLM2-135M-Instruct (49,152 x 576 tied table), batch 8 x 64, AdamW, 2 threads.
Each setup runs in fresh processes (one sample each); every setup also trains
the final norm, so the floor (only the final norm trains) is what any setup
costs before its embedding work:

- ``floor``: nothing in the embedding trains, so backward stops at the final norm;
- ``floor_backprop``: the same, but the gradient goes back through every layer to the
  input embeddings (``enable_input_require_grads``), as it must for any setup that trains
  input rows: the activations of every layer are kept, and the backward pass runs through
  all of them. This is the floor for input-row training;
- ``vocabgraft``: ``add_tokens`` (the new rows train, logits via PartialLMHead);
- ``peft_trainable_tokens``: ``resize_token_embeddings`` + PEFT ``TrainableTokens`` on the new ids;
- ``resize_full``: ``resize_token_embeddings`` and the whole (tied) table trains.

Reports the median ms per step, peak RSS, and the optimizer state beyond the
norm's, with the targets (step <= 1.2x floor, peak <= floor + 15%, state
K x D x 2 floats). Prints one JSON line.

    python benches/bench_hf_head.py [--quick] [--processes N]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch

from _timing import in_fresh_processes, log
from bench_hf_start import WORDS, load

SETUPS = ("floor", "floor_backprop", "vocabgraft", "peft_trainable_tokens", "resize_full")


def build(setup: str) -> tuple[Any, list[Any], list[Any], int]:
    """The model, the final norm's parameters, the embedding's to train, and the vocabulary size."""
    from vocabgraft.torch.hf import add_tokens

    model, tokenizer = load()
    norm = list(model.model.norm.parameters())
    params: list[Any] = []
    if setup == "floor_backprop":  # the gradient reaches the input embeddings, none trains
        model.enable_input_require_grads()
    if setup == "vocabgraft":
        params = add_tokens(
            model, tokenizer, WORDS, space_forms=False, on_longer="warn"
        ).parameters()
    elif setup in ("peft_trainable_tokens", "resize_full"):
        first = len(tokenizer)
        tokenizer.add_tokens(WORDS)
        model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
        new_ids = list(range(first, len(tokenizer)))
        if setup == "resize_full":
            params = [model.get_input_embeddings().weight]
        else:
            import peft

            config = peft.TrainableTokensConfig(
                target_modules=["embed_tokens"], token_indices=new_ids
            )
            model = peft.get_peft_model(model, config)
            params = [p for p in model.parameters() if p.requires_grad]
    for p in [*norm, *params]:
        p.requires_grad_(True)
    return model, norm, params, len(tokenizer)


def child(setup: str, steps: int, warmup: int) -> None:
    torch.set_num_threads(2)
    torch.manual_seed(0)
    model, norm, params, vocab = build(setup)
    model.train()
    opt = torch.optim.AdamW([*norm, *params], lr=1e-3)
    batches = []
    for _ in range(4):
        ids = torch.randint(0, 49152, (8, 64))
        if vocab > 49152:  # one token in eight is a new one, where there are new ones
            ids[:, ::8] = torch.randint(49152, vocab, (8, 8))
        batches.append(ids)
    times = []
    for step in range(warmup + steps):
        ids = batches[step % len(batches)]
        start = time.perf_counter()
        loss = model(input_ids=ids, labels=ids).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step >= warmup:
            times.append(time.perf_counter() - start)
    state = sum(
        t.numel()
        for p, s in opt.state.items()
        if not any(p is q for q in norm)
        for t in s.values()
        if t.ndim > 0
    )
    print(
        json.dumps(
            {
                "ms_per_step": statistics.median(times) * 1e3,
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "optimizer_state_floats": state,
            }
        )
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="1 process and 3 steps per setup")
    p.add_argument("--processes", type=int, default=3, help="fresh processes per setup")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("setup", nargs="?", choices=SETUPS, help=argparse.SUPPRESS)
    args = p.parse_args()
    warmup = 2
    if args.quick:
        args.processes, args.steps, warmup = 1, 3, 1
    if args.child:
        child(args.setup, args.steps, warmup)
        return
    load()  # makes the cached checkpoint once, before any timed process
    runs: dict[str, list[dict[str, float]]] = {}
    for _ in range(args.processes):  # setups alternate, so machine noise falls on all alike
        for setup in SETUPS:
            log(f"setup {setup}")
            runs.setdefault(setup, []).extend(
                in_fresh_processes(
                    __file__, [setup, f"--steps={args.steps}"] + ["--quick"] * args.quick, 1
                )
            )
    med = {s: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for s, rs in runs.items()}
    floor, vg = med["floor"], med["vocabgraft"]
    k_rows = len(WORDS)
    line = {
        "bench": "hf_head",
        "model": "SmolLM2-135M-Instruct",
        "new_tokens": k_rows,
        "batch": [8, 64],
        "threads": 2,
        "processes": args.processes,
        "steps": args.steps,
        "ms_per_step": {s: round(m["ms_per_step"], 1) for s, m in med.items()},
        "ms_per_step_each_process": {
            s: [round(r["ms_per_step"], 1) for r in rs] for s, rs in runs.items()
        },
        "peak_rss_mb": {s: round(m["peak_rss_mb"]) for s, m in med.items()},
        "optimizer_state_floats": {s: int(m["optimizer_state_floats"]) for s, m in med.items()},
        "targets": {
            "step_vs_floor_backprop": round(
                vg["ms_per_step"] / med["floor_backprop"]["ms_per_step"], 3
            ),
            "peak_vs_floor_backprop": round(
                vg["peak_rss_mb"] / med["floor_backprop"]["peak_rss_mb"], 3
            ),
            "step_vs_floor": round(vg["ms_per_step"] / floor["ms_per_step"], 3),
            "step_target_1.2_met": vg["ms_per_step"] <= 1.2 * floor["ms_per_step"],
            "peak_vs_floor": round(vg["peak_rss_mb"] / floor["peak_rss_mb"], 3),
            "peak_target_1.15_met": vg["peak_rss_mb"] <= 1.15 * floor["peak_rss_mb"],
            "state_floats_expected": k_rows * 576 * 2,
            "state_target_met": int(vg["optimizer_state_floats"]) == k_rows * 576 * 2,
            "speedup_vs_peft": round(
                med["peft_trainable_tokens"]["ms_per_step"] / vg["ms_per_step"], 2
            ),
        },
    }
    print(json.dumps(line))


if __name__ == "__main__":
    main()
