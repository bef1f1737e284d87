"""Step 3: words the trained model never saw arrive; add rows for them and train only those."""

from __future__ import annotations

import copy
from collections import Counter
from typing import Any

import numpy as np
import torch

from vocabgraft.demo._console import bar, note, say
from vocabgraft.demo.compare import Run
from vocabgraft.demo.config import DemoConfig
from vocabgraft.demo.data import Corpus
from vocabgraft.demo.model import ReviewClassifier
from vocabgraft.demo.text import ReviewSet, encode
from vocabgraft.demo.train import accuracy, fit
from vocabgraft.demo.transfer import Transfer
from vocabgraft.init import Subword
from vocabgraft.table.core import EmbeddingTable, SubwordModel
from vocabgraft.torch import PartialEmbedding

__all__ = ["grow_vocabulary", "run_new_words"]

HOW = (
    "the (ii) model of each seed; new words = tokens of the held-out reviews (both halves) "
    "that its vocabulary lacks. Words GloVe has start at their GloVe row, the others at the "
    "subword initializer's vector; all new rows train, on the adaptation half only (every "
    "old row and the classifier frozen); scored on the evaluation half"
)


def _old_state(model: ReviewClassifier, embedding: PartialEmbedding) -> dict[str, torch.Tensor]:
    """Copies of everything that must not change: the old rows and the classifier."""
    state = {f"head.{k}": v.detach().clone() for k, v in model.head.state_dict().items()}
    state["rows"] = embedding.merged_weight().detach().clone()
    return state


def _unchanged(before: dict[str, torch.Tensor], model: ReviewClassifier) -> bool:
    embedding = model.embedding
    assert isinstance(embedding, PartialEmbedding)
    now = embedding.merged_weight()[: len(before["rows"])]
    same = torch.equal(now, before["rows"])
    for k, v in model.head.state_dict().items():
        same = same and torch.equal(v, before[f"head.{k}"])
    return bool(same)


def add_words(
    embedding: PartialEmbedding, words: list[str], glove: EmbeddingTable, subwords: SubwordModel
) -> tuple[list[str], list[str]]:
    """Freeze every row, then append trainable rows for ``words``.

    Words GloVe has start at their GloVe row; the rest at their subword
    vector. Returns the two lists, in the order they were appended.
    """
    embedding.freeze()  # the rows (ii) trained stay exactly as they are from now on
    in_glove = [w for w in words if w in glove.vocab]
    not_in_glove = [w for w in words if w not in glove.vocab]
    if in_glove:
        embedding.extend(in_glove, init=glove[in_glove])
    if not_in_glove:
        embedding.extend(not_in_glove, init=Subword(subwords))
    return in_glove, not_in_glove


def grow_vocabulary(
    run: Run, transfer: Transfer, corpus: Corpus, cfg: DemoConfig, progress: Any = None
) -> dict[str, Any]:
    """Extend a copy of ``run``'s model with the new words; train only their rows."""
    model = copy.deepcopy(run.model)
    embedding = model.embedding
    assert isinstance(embedding, PartialEmbedding) and embedding.vocab is not None
    vocab = embedding.vocab
    held_out = Counter(t for doc in corpus.test_tokens for t in doc)
    new_words = sorted(vocab.missing(held_out), key=lambda w: (-held_out[w], w))
    eval_docs = [corpus.test_tokens[i] for i in corpus.eval]
    adapt_docs = [corpus.test_tokens[i] for i in corpus.adapt]
    with_new = np.array([bool(set(new_words).intersection(d)) for d in eval_docs])

    def score() -> tuple[float, float]:
        data = ReviewSet(encode(eval_docs, vocab, cfg.max_len), corpus.test_labels[corpus.eval])
        return accuracy(model, data), accuracy(model, data.subset(np.flatnonzero(with_new)))

    before = score()
    old = _old_state(model, embedding)
    in_glove, not_in_glove = add_words(embedding, new_words, corpus.glove, transfer.subwords)
    start = embedding.merged_weight()[len(old["rows"]) :].clone()
    at_init = score()
    for p in model.head.parameters():
        p.requires_grad_(False)
    adapt = ReviewSet(encode(adapt_docs, vocab, cfg.max_len), corpus.test_labels[corpus.adapt])
    opt = torch.optim.Adam([embedding.rows], lr=cfg.new_lr)
    epochs, batch = cfg.new_epochs, cfg.batch_size
    fit(model, opt, adapt, epochs=epochs, batch_size=batch, seed=run.seed, progress=progress)
    after = score()
    moved = (embedding.merged_weight()[len(old["rows"]) :] - start).norm(dim=1)
    identical = _unchanged(old, model)
    assert identical, "an old row or the classifier changed while only new rows trained"
    return {
        "seed": run.seed,
        "new_words": len(new_words),
        "new_words_from_glove": len(in_glove),
        "new_words_from_subwords": len(not_in_glove),
        "new_words_in_adaptation_half": len({t for d in adapt_docs for t in d} & set(new_words)),
        "new_rows_moved": int((moved > 0).sum()),
        "new_rows_mean_l2_moved": float(moved.mean()) if len(moved) else 0.0,
        "eval_reviews": len(eval_docs),
        "eval_reviews_with_new_words": int(with_new.sum()),
        "accuracy_all_eval": {"before": before[0], "at_init": at_init[0], "after": after[0]},
        "accuracy_with_new_words": {"before": before[1], "at_init": at_init[1], "after": after[1]},
        "old_rows": len(old["rows"]),
        "old_rows_bit_identical": identical,
        "examples": {"from_glove": in_glove[:8], "from_subwords": not_in_glove[:8]},
    }


def _mean_std(values: list[float]) -> dict[str, float]:
    a = np.asarray(values, dtype=np.float64)
    return {"mean": float(a.mean()), "std": float(a.std(ddof=1)) if len(a) > 1 else 0.0}


def run_new_words(
    runs: list[Run], transfer: Transfer, corpus: Corpus, cfg: DemoConfig
) -> dict[str, Any]:
    """Step 3 for every seed's (ii) model; print and return the numbers."""
    say(f"how: {HOW}")
    per_seed = []
    with bar(len(runs) * cfg.new_epochs, "step 3: new word rows") as progress:
        for r in runs:
            per_seed.append(grow_vocabulary(r, transfer, corpus, cfg, progress))
            w = per_seed[-1]["accuracy_with_new_words"]
            note(
                f"step 3: seed {r.seed}: reviews with new words {w['before']:.4f} -> "
                f"{w['at_init']:.4f} -> {w['after']:.4f}"
            )
    first = per_seed[0]
    say(
        f"{first['new_words']:,} new words ({first['new_words_from_glove']:,} with a GloVe row, "
        f"e.g. {', '.join(first['examples']['from_glove'][:5])}; "
        f"{first['new_words_from_subwords']:,} from subwords, "
        f"e.g. {', '.join(first['examples']['from_subwords'][:5])}); "
        f"{first['new_words_in_adaptation_half']:,} occur in the adaptation half and train "
        f"({first['new_rows_moved']:,} rows moved, by {first['new_rows_mean_l2_moved']:.2f} L2 "
        "on average over all new rows)"
    )
    summary: dict[str, Any] = {}
    for scope in ("accuracy_with_new_words", "accuracy_all_eval"):
        summary[scope] = {
            stage: _mean_std([r[scope][stage] for r in per_seed])
            for stage in ("before", "at_init", "after")
        }
    identical = all(r["old_rows_bit_identical"] for r in per_seed)
    w = summary["accuracy_with_new_words"]
    say(
        f"accuracy on the {first['eval_reviews_with_new_words']} evaluation reviews with new words "
        f"(mean over {len(per_seed)} seeds): before {w['before']['mean']:.4f} -> "
        f"new rows initialised {w['at_init']['mean']:.4f} -> trained {w['after']['mean']:.4f}"
    )
    say(
        f"all {first['old_rows']:,} old rows and the classifier bit-identical after training: "
        f"{identical} (asserted, every seed)"
    )
    return {
        "how": HOW,
        "per_seed": per_seed,
        "summary": summary,
        "old_rows_bit_identical": identical,
    }
