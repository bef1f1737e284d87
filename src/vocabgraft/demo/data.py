"""The demo's data: GloVe, the reviews tokenized, and the split of the held-out reviews."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from vocabgraft.demo.text import tokenize
from vocabgraft.table.core import EmbeddingTable

__all__ = ["Corpus", "load_corpus"]


@dataclass
class Corpus:
    """GloVe and the reviews, tokenized.

    The 1,000 held-out (test) reviews are split in two halves that never mix:
    ``adapt`` (reviews a deployed model may learn from: steps 3 and 4 train new
    rows on them) and ``eval`` (only ever scored). Step 2 scores on all 1,000.
    The training reviews are split too: step 2's classifiers train on ``fit``
    (nine tenths) and pick an epoch on ``val`` (one tenth).
    """

    glove: EmbeddingTable
    train_tokens: list[list[str]]
    train_labels: np.ndarray
    train_items: list[str]
    test_tokens: list[list[str]]
    test_labels: np.ndarray
    test_items: list[str]
    adapt: np.ndarray
    eval: np.ndarray
    fit: np.ndarray
    val: np.ndarray

    def describe(self) -> dict[str, Any]:
        """How many reviews and products each part holds, and the share of "great"."""
        return {
            "train_reviews": len(self.train_tokens),
            "test_reviews": len(self.test_tokens),
            "adapt_reviews": len(self.adapt),
            "eval_reviews": len(self.eval),
            "fit_reviews": len(self.fit),
            "validation_reviews": len(self.val),
            "train_great_share": float(self.train_labels.mean()),
            "test_great_share": float(self.test_labels.mean()),
            "train_products": len(set(self.train_items)),
            "test_products": len(set(self.test_items)),
            "test_products_also_in_train": len(set(self.test_items) & set(self.train_items)),
        }


def load_corpus(seed: int) -> Corpus:
    """Load GloVe 6B 50d and the reviews; split the held-out and training reviews by ``seed``."""
    from vocabgraft.datasets.packaged import glove_6b_50d, reviews

    train, test = reviews()
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(test))
    half = len(test) // 2
    train_order = rng.permutation(len(train))
    tenth = len(train) // 10
    return Corpus(
        glove=glove_6b_50d(),
        train_tokens=[tokenize(t) for t in train["review"]],
        train_labels=(train["score"] == "great").to_numpy().astype(np.int64),
        train_items=[str(p) for p in train["product"]],
        test_tokens=[tokenize(t) for t in test["review"]],
        test_labels=(test["score"] == "great").to_numpy().astype(np.int64),
        test_items=[str(p) for p in test["product"]],
        adapt=np.sort(order[:half]),
        eval=np.sort(order[half:]),
        fit=np.sort(train_order[tenth:]),
        val=np.sort(train_order[:tenth]),
    )
