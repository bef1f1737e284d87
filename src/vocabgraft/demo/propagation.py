"""A demo step: fine-tune the words the task saw without stranding the words it did not.

The table here covers the training reviews and the held-out reviews' text
(unlabelled), so a word that only the held-out reviews use keeps its GloVe
row instead of becoming ``<unk>``. Such a row never trains. Full fine-tuning
moves the rows of the training words, so the untrained words drift away from
their trained neighbours ("tv" moves, "television" stays). Five treatments,
each over the demo's seeds:

- ``frozen``: no row trains;
- ``full``: every row trains (only the training words' rows get a gradient);
- ``global`` / ``local``: ``full``, then :func:`vocabgraft.drift.propagate`
  moves the untrained rows (a ridge linear map / their 10 nearest trained rows);
- ``l2sp``: every row trains with decoupled L2-SP toward the pretrained rows
  (:func:`vocabgraft.torch.l2sp.l2sp_decay`), its strength picked on the
  validation reviews with the first seed.

Held-out accuracy is reported overall and on the quarter of held-out reviews
with the largest share of tokens that never occur in the training reviews
(chosen by that share alone, before any model is scored), plus the cosine of
word pairs in which one word trained and the other is unseen.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import torch

from vocabgraft.align import align
from vocabgraft.demo._console import bar, note, say
from vocabgraft.demo._tables import markdown_table, text_table
from vocabgraft.demo.compare import train_variant
from vocabgraft.demo.config import DemoConfig
from vocabgraft.demo.data import Corpus
from vocabgraft.demo.drift import PAIR
from vocabgraft.demo.model import ReviewClassifier
from vocabgraft.demo.text import ReviewSet, build_vocab, encode
from vocabgraft.demo.train import accuracy, fit
from vocabgraft.demo.transfer import Transfer
from vocabgraft.drift import cosine, moved_rows, propagate
from vocabgraft.init import Mean, Subword
from vocabgraft.table.topk import topk
from vocabgraft.torch import PartialEmbedding
from vocabgraft.torch.l2sp import l2sp_decay

__all__ = ["VARIANTS", "propagation_markdown", "run_propagation"]

VARIANTS = {
    "frozen": "frozen (no row trains)",
    "full": "full fine-tuning",
    "global": "full + propagation, global ridge map",
    "local": "full + propagation, 10 nearest trained rows",
    "l2sp": "full with L2-SP toward the pretrained rows",
}
STRENGTHS = (0.3, 3.0, 30.0)  # L2-SP strengths tried on the validation reviews
HEAVY_SHARE = 0.25  # the share of held-out reviews called "heavy in unseen words"
PAIRS = 200  # word pairs (trained word, its nearest unseen word) in the word-level check


def _wide(transfer: Transfer, corpus: Corpus, cfg: DemoConfig) -> Transfer:
    """The demo's transfer over a vocabulary of the training and the held-out text."""
    vocab = build_vocab([*corpus.train_tokens, *corpus.test_tokens])
    weights, report = align(
        corpus.glove, vocab, init=Subword(transfer.subwords), special_init=Mean(), seed=cfg.seed
    )
    return replace(
        transfer,
        vocab=vocab,
        weights=weights,
        report=report,
        groups={
            **transfer.groups,
            "special": np.array([vocab.unk_id]),
            "unmatched": np.empty(0, np.int64),
        },
        train=ReviewSet(encode(corpus.train_tokens, vocab, cfg.max_len), corpus.train_labels),
        test=ReviewSet(encode(corpus.test_tokens, vocab, cfg.max_len), corpus.test_labels),
    )


def _seen(wide: Transfer) -> np.ndarray:
    """Whether each row's token occurs in the reviews the models train on."""
    seen = np.zeros(len(wide.vocab), dtype=bool)
    for i in wide.fit.tolist():
        seen[wide.train.ids[i]] = True
    return seen


def _heavy(wide: Transfer, seen: np.ndarray) -> tuple[np.ndarray, float]:
    """The held-out reviews with the largest share of unseen tokens, and the share at the cut."""
    share = np.array([float((~seen[ids]).mean()) if len(ids) else 0.0 for ids in wide.test.ids])
    order = np.argsort(-share, kind="stable")
    heavy = np.sort(order[: round(HEAVY_SHARE * len(share))])
    return heavy, float(share[order[len(heavy) - 1]])


def _l2sp_run(wide: Transfer, cfg: DemoConfig, seed: int, strength: float) -> ReviewClassifier:
    torch.manual_seed(seed)
    rows = np.setdiff1d(np.arange(len(wide.vocab)), [wide.pad_id])
    emb = PartialEmbedding.from_pretrained(wide.weights, rows, padding_idx=wide.pad_id)
    model = ReviewClassifier(emb, dim=wide.weights.shape[1], hidden=cfg.hidden, pad_id=wide.pad_id)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    l2sp_decay(emb, optimizer, strength)
    train = wide.train.subset(wide.fit)
    fit(model, optimizer, train, epochs=cfg.epochs, batch_size=cfg.batch_size, seed=seed)
    return model


def _pick_strength(wide: Transfer, cfg: DemoConfig) -> dict[str, Any]:
    val = wide.train.subset(wide.val)
    scores = {s: accuracy(_l2sp_run(wide, cfg, cfg.seed, s), val) for s in STRENGTHS}
    best = max(scores, key=lambda s: scores[s])
    return {"strength": best, "validation_accuracy": {f"{s:g}": a for s, a in scores.items()}}


def _scores(model: torch.nn.Module, test: ReviewSet, heavy: np.ndarray) -> dict[str, float]:
    return {"overall": accuracy(model, test), "heavy": accuracy(model, test.subset(heavy))}


def _propagated(model: torch.nn.Module, table: np.ndarray) -> torch.nn.Module:
    emb = model.embedding
    assert isinstance(emb, torch.nn.Embedding)
    with torch.no_grad():
        emb.weight.copy_(torch.from_numpy(table))
    return model


def _pair_ids(wide: Transfer, seen: np.ndarray) -> np.ndarray:
    """``(n, 2)`` (trained id, unseen id): unseen words and their nearest trained word in GloVe.

    Words only (2 or more letters), both with GloVe rows; (tv, television) first
    when one of the two trained and the other is unseen.
    """
    kinds = np.array(wide.report.kinds, dtype=object)
    word = np.array([t.isalpha() and len(t) >= 2 for t in wide.vocab.decode(range(len(kinds)))])
    usable = np.isin(kinds, ("exact", "lower", "nfkc_casefold")) & word
    trained, unseen = np.flatnonzero(seen & usable), np.flatnonzero(~seen & usable)
    near, cos = topk(wide.weights[unseen], wide.weights[trained], 1)
    best = np.argsort(-cos[:, 0], kind="stable")[:PAIRS]
    pairs = np.column_stack([trained[near[best, 0]], unseen[best]])
    a, b = (wide.vocab.get(t) for t in PAIR)
    if a is not None and b is not None and seen[a] != seen[b]:
        first = np.array([[a, b] if seen[a] else [b, a]])
        pairs = np.concatenate([first, pairs[(pairs != first[0]).any(axis=1)]])
    return pairs


def _pair_cosines(table: np.ndarray, pairs: np.ndarray) -> float:
    return float(cosine(table[pairs[:, 0]], table[pairs[:, 1]]).mean())


def _one_seed(
    wide: Transfer, cfg: DemoConfig, seed: int, strength: float, heavy: np.ndarray, pairs: Any
) -> dict[str, Any]:
    out: dict[str, Any] = {"seed": seed}
    frozen = train_variant("frozen", seed, wide, cfg)
    out["frozen"] = _scores(frozen.model, wide.test, heavy)
    full = train_variant("full", seed, wide, cfg)
    out["full"] = _scores(full.model, wide.test, heavy)
    trained = moved_rows(wide.weights, full.weights)
    keep = [wide.pad_id, *([] if wide.vocab.unk_id is None else [wide.vocab.unk_id])]
    cos = {
        "pretrained": _pair_cosines(wide.weights, pairs),
        "full": _pair_cosines(full.weights, pairs),
    }
    details = {}
    for method in ("global", "local"):
        done = propagate(wide.weights, full.weights, trained, method=method, keep=keep)
        out[method] = _scores(_propagated(full.model, done.table), wide.test, heavy)
        cos[method] = _pair_cosines(done.table, pairs)
        details[method] = {k: v for k, v in done.details.items() if k != "held_out_mse"}
        if "held_out_mse" in done.details:  # the chosen ridge's error, beside no change's
            details[method]["held_out_mse_chosen"] = min(done.details["held_out_mse"].values())
    out["l2sp"] = _scores(_l2sp_run(wide, cfg, seed, strength), wide.test, heavy)
    out["pair_cosine"] = cos
    out["propagation"] = details
    out["trained_rows"] = len(trained)
    return out


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for v in VARIANTS:
        for part in ("overall", "heavy"):
            a = np.array([r[v][part] for r in runs])
            out.setdefault(v, {})[part] = {"mean": float(a.mean()), "std": _std(a)}
    for v in ("global", "local", "l2sp"):
        for part in ("overall", "heavy"):
            d = np.array([r[v][part] - r["full"][part] for r in runs])
            out[v][f"{part}_minus_full"] = {"mean": float(d.mean()), "std": _std(d)}
    out["pair_cosine"] = {
        k: float(np.mean([r["pair_cosine"][k] for r in runs])) for k in runs[0]["pair_cosine"]
    }
    return out


def _std(a: np.ndarray) -> float:
    return float(a.std(ddof=1)) if len(a) > 1 else 0.0


def _verdict(summary: dict[str, Any], seeds: int) -> dict[str, Any]:
    """The two checks, per propagation method: overall >= full; heavy > full by more than the spread."""
    out = {}
    for v in ("global", "local"):
        s, full = summary[v], summary["full"]
        spread = max(s["heavy"]["std"], full["heavy"]["std"])
        out[v] = {
            "seeds": seeds,
            "overall_at_least_full": s["overall"]["mean"] >= full["overall"]["mean"],
            "heavy_gain": s["heavy_minus_full"]["mean"],
            "heavy_spread": spread,
            "heavy_gain_beats_spread": s["heavy_minus_full"]["mean"] > spread,
        }
    return out


def run_propagation(transfer: Transfer, corpus: Corpus, cfg: DemoConfig) -> dict[str, Any]:
    """Train the five treatments over ``cfg``'s seeds; return every number (JSON-safe)."""
    wide = _wide(transfer, corpus, cfg)
    seen = _seen(wide)
    heavy, cut = _heavy(wide, seen)
    pairs = _pair_ids(wide, seen)
    say(
        f"vocabulary of training + held-out text: {len(wide.vocab):,} tokens, "
        f"{int((~seen).sum()):,} never in the training reviews; {len(heavy)} held-out reviews "
        f"with >= {cut:.1%} unseen tokens are 'heavy'"
    )
    picked = _pick_strength(wide, cfg)
    say(
        f"L2-SP strength {picked['strength']:g} (validation accuracy {picked['validation_accuracy']})"
    )
    runs = []
    with bar(cfg.seeds, "propagation: seeds") as progress:
        for i, seed in enumerate(cfg.seed_list, 1):
            runs.append(_one_seed(wide, cfg, seed, picked["strength"], heavy, pairs))
            progress.update(1)
            note(f"  propagation: seed {seed} done ({i} of {cfg.seeds})")
    summary = _summary(runs)
    result = {
        "vocab_size": len(wide.vocab),
        "unseen_rows": int((~seen).sum()),
        "heavy_reviews": len(heavy),
        "heavy_min_unseen_share": cut,
        "test_reviews": len(wide.test),
        "l2sp": picked,
        "pairs": [[wide.vocab.token(a), wide.vocab.token(b)] for a, b in pairs[:10].tolist()],
        "pair_count": len(pairs),
        "seeds": cfg.seed_list,
        "runs": runs,
        "summary": summary,
        "verdict": _verdict(summary, cfg.seeds),
    }
    say(text_table(*_table(result)))
    return result


def _table(result: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    s = result["summary"]
    headers = ["treatment", "held-out acc", f"heavy in unseen ({result['heavy_reviews']})"]
    rows = [
        [
            label,
            f"{s[v]['overall']['mean']:.4f} ± {s[v]['overall']['std']:.4f}",
            f"{s[v]['heavy']['mean']:.4f} ± {s[v]['heavy']['std']:.4f}",
        ]
        for v, label in VARIANTS.items()
    ]
    return headers, rows


def propagation_markdown(result: dict[str, Any]) -> str:
    """The step's section of the report: the accuracy table, the pair cosines, the verdict."""
    headers, rows = _table(result)
    cos = result["summary"]["pair_cosine"]
    lines = [
        f"Vocabulary of the training and held-out text: {result['vocab_size']:,} tokens, "
        f"{result['unseen_rows']:,} of them never in the training reviews. 'Heavy': the "
        f"{result['heavy_reviews']} held-out reviews (of {result['test_reviews']}) with at least "
        f"{result['heavy_min_unseen_share']:.1%} unseen tokens. Mean ± std over "
        f"{len(result['seeds'])} seeds; L2-SP strength {result['l2sp']['strength']:g}, picked on "
        "the validation reviews.",
        "",
        markdown_table(headers, rows),
        "",
        f"Cosine of {result['pair_count']} (trained word, nearest unseen word) pairs, e.g. "
        + ", ".join(f"({a}, {b})" for a, b in result["pairs"][:5])
        + ": "
        + ", ".join(f"{k} {v:.3f}" for k, v in cos.items()),
        "",
    ]
    for v, check in result["verdict"].items():
        lines.append(
            f"- {v}: overall at least full fine-tuning: {check['overall_at_least_full']}; on the "
            f"heavy reviews {check['heavy_gain']:+.4f} against a spread of "
            f"{check['heavy_spread']:.4f}: {'more' if check['heavy_gain_beats_spread'] else 'not more'}"
        )
    return "\n".join(lines)
