"""Step 4: new products arrive; a product embedding grows with neighbour-initialised rows."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch

from vocabgraft.demo._console import bar, say
from vocabgraft.demo.compare import Run
from vocabgraft.demo.config import DemoConfig
from vocabgraft.demo.data import Corpus
from vocabgraft.demo.model import ReviewClassifier
from vocabgraft.demo.text import ReviewSet
from vocabgraft.demo.train import accuracy, fit
from vocabgraft.demo.transfer import Transfer
from vocabgraft.init import Mean, Neighbors, Zeros
from vocabgraft.torch import PartialEmbedding
from vocabgraft.vocab.core import Vocab

__all__ = ["add_items", "run_new_items"]

HOW = (
    "a product embedding (one 100-d row per product, starting at zero) is added to the "
    "pooled text features of the (ii) model, whose own weights are all frozen. The training "
    "products' rows train on the training reviews. The held-out products are all new: the "
    "adaptation-half products get rows (neighbours initializer) that train on their own "
    "reviews; the evaluation-half products get rows from an initializer only (training them "
    "would need their reviews' labels) and are scored"
)
INITS = {
    "zeros": "no product signal (zero row; = the text-only model)",
    "mean": "Mean() of the existing product rows",
    "neighbours": "Neighbors: mean row of the k products with the most similar review text",
}


@torch.no_grad()
def _text_vectors(model: ReviewClassifier, data: ReviewSet, dim: int) -> np.ndarray:
    """Unit-length mean word vector of each review, from the frozen model's embedding."""
    parts = [model.features(ids)[:, :dim] for ids, _, _ in data.batches(256)]
    v = torch.cat(parts).numpy()
    return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)


def _neighbours(
    queries: np.ndarray, pool: np.ndarray, names: list[str], k: int
) -> dict[int, list[str]]:
    """For each query row, the names of its ``k`` most cosine-similar pool rows."""
    top = np.argsort(-(queries @ pool.T), axis=1, kind="stable")[:, :k]
    return {q: [names[j] for j in row] for q, row in enumerate(top.tolist())}


def _text_state(model: ReviewClassifier) -> dict[str, torch.Tensor]:
    """The tensors of everything but the product embedding (the text model)."""
    return {
        k: v
        for k, v in model.state_dict().items()
        if isinstance(v, torch.Tensor) and not k.startswith("items.")
    }


def _snapshot(model: ReviewClassifier) -> dict[str, torch.Tensor]:
    items = model.items
    assert isinstance(items, PartialEmbedding)
    state = {k: v.detach().clone() for k, v in _text_state(model).items()}
    state["items.rows"] = items.merged_weight().detach().clone()
    return state


def _same(before: dict[str, torch.Tensor], model: ReviewClassifier) -> bool:
    items = model.items
    assert isinstance(items, PartialEmbedding)
    now = _text_state(model)
    same = all(torch.equal(now[k], v) for k, v in before.items() if k != "items.rows")
    old = before["items.rows"]
    return bool(same and torch.equal(items.merged_weight()[: len(old)], old))


def _item_set(transfer: Transfer, corpus: Corpus, index: np.ndarray, vocab: Vocab) -> ReviewSet:
    data = transfer.test.subset(index)
    items = np.asarray(vocab.lookup([corpus.test_items[i] for i in index.tolist()]))
    return ReviewSet(data.ids, data.labels, items)


def _train_rows(
    model: ReviewClassifier, data: ReviewSet, epochs: int, cfg: DemoConfig, seed: int, progress: Any
) -> None:
    """Train only the product embedding's trainable rows (everything else is frozen)."""
    items = model.items
    assert isinstance(items, PartialEmbedding)
    opt = torch.optim.Adam([items.rows], lr=cfg.new_lr)
    fit(model, opt, data, epochs=epochs, batch_size=cfg.batch_size, seed=seed, progress=progress)


def _with_products(
    run: Run, transfer: Transfer, corpus: Corpus, cfg: DemoConfig, progress: Any
) -> ReviewClassifier:
    """A frozen copy of ``run``'s model plus a product embedding trained on the training reviews."""
    model = copy.deepcopy(run.model)
    for p in model.parameters():
        p.requires_grad_(False)
    products = list(dict.fromkeys(corpus.train_items))
    vocab = Vocab(products, unk="<unk>")
    rows = np.zeros((len(vocab), 2 * transfer.weights.shape[1]), dtype=np.float32)
    model.items = PartialEmbedding.from_pretrained(rows, products, vocab=vocab)
    train = ReviewSet(transfer.train.ids, transfer.train.labels, vocab.lookup(corpus.train_items))
    _train_rows(model, train, cfg.item_epochs, cfg, run.seed, progress)
    return model


def _vocab(model: ReviewClassifier) -> Vocab:
    items = model.items
    assert isinstance(items, PartialEmbedding) and items.vocab is not None
    return items.vocab


def add_items(
    run: Run, transfer: Transfer, corpus: Corpus, cfg: DemoConfig, progress: Any = None
) -> dict[str, Any]:
    """Add a product embedding to a copy of ``run``'s model, grow it, and score the initializers."""
    model = _with_products(run, transfer, corpus, cfg, progress)
    items = model.items
    assert isinstance(items, PartialEmbedding)
    old = _snapshot(model)
    items.freeze()
    dim = transfer.weights.shape[1]
    # Stage A: the adaptation-half products, started from their text neighbours, then trained.
    text_train = _text_vectors(model, transfer.train, dim)
    text_adapt = _text_vectors(model, transfer.test.subset(corpus.adapt), dim)
    adapt_names = [corpus.test_items[i] for i in corpus.adapt.tolist()]
    near = _neighbours(text_adapt, text_train, corpus.train_items, cfg.neighbours)
    items.extend(adapt_names, init=Neighbors({adapt_names[q]: v for q, v in near.items()}))
    adapt = _item_set(transfer, corpus, corpus.adapt, _vocab(model))
    _train_rows(model, adapt, cfg.new_epochs, cfg, run.seed, progress)
    items.freeze()
    # Stage B: the evaluation-half products, from each initializer; scored, never trained.
    pool = np.concatenate([text_train, text_adapt])
    eval_names = [corpus.test_items[i] for i in corpus.eval.tolist()]
    text_eval = _text_vectors(model, transfer.test.subset(corpus.eval), dim)
    near = _neighbours(text_eval, pool, [*corpus.train_items, *adapt_names], cfg.neighbours)
    inits = {
        "zeros": Zeros(),
        "mean": Mean(),
        "neighbours": Neighbors({eval_names[q]: v for q, v in near.items()}),
    }
    scores = {}
    identical = _same(old, model)
    for name, init in inits.items():
        trial = copy.deepcopy(model)
        assert isinstance(trial.items, PartialEmbedding)
        trial.items.extend(eval_names, init=init, trainable=False)
        scores[name] = accuracy(trial, _item_set(transfer, corpus, corpus.eval, _vocab(trial)))
        identical = identical and _same(old, trial)
    assert identical, "an old product row or the text model changed while only new rows trained"
    return {
        "seed": run.seed,
        "train_products": len(set(corpus.train_items)),
        "adaptation_products": len(adapt_names),
        "evaluation_products": len(eval_names),
        "accuracy_eval": scores,
        "old_rows_bit_identical": identical,
    }


def run_new_items(
    runs: list[Run], transfer: Transfer, corpus: Corpus, cfg: DemoConfig
) -> dict[str, Any]:
    """Step 4 for every seed's (ii) model; print and return the numbers."""
    say(f"how: {HOW}")
    d = corpus.describe()
    say(
        f"products: {d['train_products']:,} in {d['train_reviews']:,} training reviews, "
        f"{d['test_products']:,} held-out products, {d['test_products_also_in_train']} of them "
        "seen in training: every product has exactly one review"
    )
    total = len(runs) * (cfg.item_epochs + cfg.new_epochs)
    with bar(total, "step 4: new item rows") as progress:
        per_seed = [add_items(r, transfer, corpus, cfg, progress) for r in runs]
    summary = {}
    for name in INITS:
        acc = np.array([r["accuracy_eval"][name] for r in per_seed])
        summary[name] = {
            "mean": float(acc.mean()),
            "std": float(acc.std(ddof=1)) if len(acc) > 1 else 0.0,
        }
    identical = all(r["old_rows_bit_identical"] for r in per_seed)
    for name, label in INITS.items():
        s = summary[name]
        say(f"  {label:<76} {s['mean']:.4f} ± {s['std']:.4f}")
    gain = summary["neighbours"]["mean"] - summary["zeros"]["mean"]
    say(
        f"neighbours vs no product signal: {gain:+.4f} accuracy on the evaluation half "
        f"(mean over {len(per_seed)} seeds); old product rows and the text model bit-identical: "
        f"{identical} (asserted)"
    )
    return {
        "how": HOW,
        "initializers": INITS,
        "per_seed": per_seed,
        "summary": summary,
        "neighbours_minus_zeros": gain,
        "old_rows_bit_identical": identical,
    }
