"""The demo's tokenizer, vocabulary and batches of padded ids."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from vocabgraft.vocab.core import Vocab
from vocabgraft.vocab.tokenize import SIMPLE_RULES as TOKENIZER
from vocabgraft.vocab.tokenize import simple as tokenize

__all__ = [
    "PAD",
    "TOKENIZER",
    "UNK",
    "ReviewSet",
    "build_vocab",
    "encode",
    "tokenize",
]

PAD, UNK = "<pad>", "<unk>"


def build_vocab(docs: Iterable[Sequence[str]]) -> Vocab:
    """Every token of ``docs`` (most frequent first), after ``<pad>`` = 0 and ``<unk>`` = 1."""
    counts = Counter(t for doc in docs for t in doc)
    return Vocab.from_counts(counts, pad=PAD, unk=UNK)


def encode(docs: Iterable[Sequence[str]], vocab: Vocab, max_len: int) -> list[np.ndarray]:
    """Ids of each doc's first ``max_len`` tokens; unknown tokens become ``<unk>``."""
    return [np.asarray(vocab.lookup(list(doc[:max_len])), dtype=np.int64) for doc in docs]


@dataclass
class ReviewSet:
    """Encoded reviews, their labels (1 = great), and optionally their item ids."""

    ids: list[np.ndarray]
    labels: np.ndarray
    items: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, index: Sequence[int] | np.ndarray) -> ReviewSet:
        """The reviews at ``index``, in that order."""
        index = np.asarray(index, dtype=np.int64)
        items = None if self.items is None else self.items[index]
        return ReviewSet([self.ids[i] for i in index.tolist()], self.labels[index], items)

    def batches(
        self, batch_size: int, *, generator: torch.Generator | None = None, pad_id: int = 0
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]]:
        """``(ids, items, labels)`` batches; ids padded to the batch's longest review.

        With a ``generator`` the order is shuffled, else it is the set's order.
        """
        n = len(self)
        order = torch.randperm(n, generator=generator) if generator is not None else None
        for lo in range(0, n, batch_size):
            take = (
                order[lo : lo + batch_size]
                if order is not None
                else torch.arange(lo, min(n, lo + batch_size))
            ).tolist()
            width = max(1, max(len(self.ids[i]) for i in take))
            ids = np.full((len(take), width), pad_id, dtype=np.int64)
            for row, i in enumerate(take):
                ids[row, : len(self.ids[i])] = self.ids[i]
            items = None if self.items is None else torch.from_numpy(self.items[take])
            yield torch.from_numpy(ids), items, torch.from_numpy(self.labels[take])
