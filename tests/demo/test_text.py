"""The demo's tokenizer, vocabulary and batching."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from vocabgraft.demo.text import PAD, UNK, ReviewSet, build_vocab, encode, tokenize  # noqa: E402


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("Great COFFEE!", ["great", "coffee"]),
        ("I don't like it", ["i", "do", "n't", "like", "it"]),
        ("can't won't", ["ca", "n't", "wo", "n't"]),
        ("the dog's bowl, we'll see", ["the", "dog", "'s", "bowl", "we", "'ll", "see"]),
        ("'quoted' words", ["quoted", "words"]),
        ("line<br /><br />break", ["line", "break"]),
        ("3.5 oz_bag", ["3", "5", "oz", "bag"]),
        ("café naïve", ["café", "naïve"]),
        ("", []),
    ],
    ids=["case", "nt", "nt-stem", "clitics", "quotes", "html", "digits", "accents", "empty"],
)
def test_tokenize(text: str, tokens: list[str]) -> None:
    assert tokenize(text) == tokens


def test_vocab_puts_pad_at_zero_and_unk_at_one_most_frequent_first() -> None:
    vocab = build_vocab([["b", "a", "b"], ["c", "b", "a"]])
    assert vocab.tokens == [PAD, UNK, "b", "a", "c"]
    assert (vocab.pad_id, vocab.unk_id) == (0, 1)
    assert vocab.counts is not None and vocab.counts.tolist() == [0, 0, 3, 2, 1]


def test_encode_maps_unknown_words_to_unk_and_cuts_long_reviews() -> None:
    vocab = build_vocab([["a", "b"]])
    ids = encode([["a", "zzz", "b", "a"]], vocab, max_len=3)
    assert ids[0].tolist() == [vocab["a"], vocab.unk_id, vocab["b"]]


def test_batches_pad_to_the_longest_review_and_shuffle_by_generator() -> None:
    data = ReviewSet(
        [np.array([2, 3]), np.array([4]), np.array([5, 6, 7])],
        np.array([1, 0, 1]),
        items=np.array([10, 11, 12]),
    )
    ((ids, items, labels),) = list(data.batches(8))
    assert ids.tolist() == [[2, 3, 0], [4, 0, 0], [5, 6, 7]]
    assert items is not None and items.tolist() == [10, 11, 12]
    assert labels.tolist() == [1, 0, 1]

    def order(seed: int) -> list[int]:
        g = torch.Generator().manual_seed(seed)
        return [int(i[0, 0]) for i, _, _ in data.batches(1, generator=g)]

    assert order(3) == order(3)
    assert sorted(order(3)) == [2, 4, 5]


def test_subset_keeps_reviews_labels_and_items_together() -> None:
    data = ReviewSet([np.array([2]), np.array([3])], np.array([0, 1]), items=np.array([7, 8]))
    sub = data.subset([1])
    assert [a.tolist() for a in sub.ids] == [[3]]
    assert sub.labels.tolist() == [1]
    assert sub.items is not None and sub.items.tolist() == [8]
