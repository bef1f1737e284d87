"""Step 4: new products arrive; a product embedding grows with neighbour-initialised rows."""

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
from vocabgraft.demo.text import ReviewSet
from vocabgraft.demo.train import accuracy, fit
from vocabgraft.demo.transfer import Transfer
from vocabgraft.init import Initializer, Mean, Neighbors, Zeros
from vocabgraft.init.features import FeatureFit, FromFeatures
from vocabgraft.init.featurize import ItemFeatures, Text
from vocabgraft.table.core import EmbeddingTable
from vocabgraft.torch import PartialEmbedding
from vocabgraft.vocab.core import Vocab

__all__ = ["INITS", "add_items", "product_features", "run_new_items"]

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
    "features": "FromFeatures: ridge from the review's text to the existing product rows",
}
# The two ways FromFeatures reads a review; the one with the better held-out R² on the
# existing products is used (chosen on them alone, never on the evaluation half).
TEXT_FEATURES = {
    "mean_vectors": "the mean of its words' rows in the (ii) model's embedding",
    "tfidf": "TF-IDF over the existing products' reviews",
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


def product_features(corpus: Corpus) -> ItemFeatures:
    """Each product's review text (its reviews joined, training and held-out), by product id."""
    texts: dict[str, list[str]] = {}
    for items, docs in (
        (corpus.train_items, corpus.train_tokens),
        (corpus.test_items, corpus.test_tokens),
    ):
        for product, tokens in zip(items, docs):
            texts.setdefault(product, []).append(" ".join(tokens))
    return ItemFeatures(list(texts), {"review": [" ".join(t) for t in texts.values()]}, "reviews")


def _feature_start(
    model: ReviewClassifier, transfer: Transfer, corpus: Corpus, names: list[str]
) -> tuple[np.ndarray, dict[str, Any]]:
    """Rows for products ``names`` from FromFeatures on the review text, and the fit's facts.

    The text is read the way that predicts held-out existing rows best. The
    rows are what ``extend(names, init=FromFeatures(...))`` would make, from
    the fit already made to choose (fitting again would give the same rows).
    """
    items = model.items
    assert isinstance(items, PartialEmbedding) and items.vocab is not None
    embedding = model.embedding
    assert isinstance(embedding, PartialEmbedding)
    words = EmbeddingTable(embedding.merged_weight().detach().numpy(), transfer.vocab.copy())
    features = product_features(corpus)
    counts = Counter(corpus.train_items)  # reviews that trained each product's row
    specs = {"mean_vectors": Text("review", table=words), "tfidf": Text("review")}
    rows = items.merged_weight().detach().numpy()
    tokens = items.vocab.tokens
    fits: dict[str, FeatureFit] = {}
    inits: dict[str, FromFeatures] = {}
    for name, spec in specs.items():
        # Adaptation-half products count once: their one review trained their row.
        inits[name] = FromFeatures(features, [spec], weights={t: counts.get(t, 1) for t in tokens})
        fits[name] = inits[name].fit(rows, tokens)
    best = max(fits, key=lambda k: fits[k].r2_mean)
    return fits[best].predict(features, names), {
        "text_features": best,
        "text_features_how": TEXT_FEATURES[best],
        "r2_mean": {k: f.r2_mean for k, f in fits.items()},
        "fit": fits[best].to_dict(),
        "summary": fits[best].summary(),
    }


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
    features, feature_fit = _feature_start(model, transfer, corpus, eval_names)
    inits: dict[str, Initializer | np.ndarray] = {
        "zeros": Zeros(),
        "mean": Mean(),
        "neighbours": Neighbors({eval_names[q]: v for q, v in near.items()}),
        "features": features,
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
        "features": feature_fit,
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
    per_seed = []
    with bar(total, "step 4: new item rows") as progress:
        for r in runs:
            per_seed.append(add_items(r, transfer, corpus, cfg, progress))
            acc = per_seed[-1]["accuracy_eval"]
            note(
                f"step 4: seed {r.seed}: " + ", ".join(f"{name} {acc[name]:.4f}" for name in INITS)
            )
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
    features = _features_verdict(per_seed, summary)
    say(f"features: {per_seed[0]['features']['summary']} (seed {per_seed[0]['seed']})")
    say(
        f"neighbours vs no product signal: {gain:+.4f}; features vs no product signal: "
        f"{features['minus_zeros']:+.4f} accuracy on the evaluation half (mean over "
        f"{len(per_seed)} seeds); old product rows and the text model bit-identical: "
        f"{identical} (asserted)"
    )
    say(features["meaning"])
    return {
        "how": HOW,
        "initializers": INITS,
        "per_seed": per_seed,
        "summary": summary,
        "neighbours_minus_zeros": gain,
        "features": features,
        "old_rows_bit_identical": identical,
    }


def _features_verdict(per_seed: list[dict[str, Any]], summary: dict[str, Any]) -> dict[str, Any]:
    """Features against no product signal: by how much, over how many seeds, and what it means."""
    diff = np.array(
        [r["accuracy_eval"]["features"] - r["accuracy_eval"]["zeros"] for r in per_seed]
    )
    spread = float(diff.std(ddof=1)) if len(diff) > 1 else 0.0
    minus = float(diff.mean())
    r2 = float(np.mean([r["features"]["fit"]["r2_mean"] for r in per_seed]))
    if len(diff) < 2:
        meaning = (
            f"New products started from their review text against no product signal: "
            f"{minus:+.4f} on one seed (no spread to compare with; run more seeds)."
        )
    elif minus > spread:
        meaning = (
            f"New products started from their review text beat no product signal by {minus:+.4f} "
            f"(more than the spread across seeds, {spread:.4f})."
        )
    else:
        meaning = (
            f"New products started from their review text do not beat no product signal: "
            f"{minus:+.4f} (spread across seeds {spread:.4f}). The text predicts little of a "
            f"product row (held-out R² {r2:.3f} on the existing products): with one review per "
            "product, a row only holds what that review's label added beyond its text, which "
            "another review's text cannot foretell. The text model already uses the text."
        )
    return {
        "minus_zeros": minus,
        "seeds_better": int((diff > 0).sum()),
        "spread": spread,
        "r2_mean": r2,
        "beats_zeros": bool(len(diff) > 1 and minus > spread),
        "meaning": meaning,
    }
