"""The propagation step: the split by unseen words, the word pairs, the summary and its report."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("torch")

from vocabgraft import Vocab
from vocabgraft.demo.propagation import (
    VARIANTS,
    _heavy,
    _pair_ids,
    _seen,
    _summary,
    _verdict,
    propagation_markdown,
)
from vocabgraft.demo.text import ReviewSet


def _wide() -> SimpleNamespace:
    tokens = ["<pad>", "<unk>", "tv", "television", "radio", "banana", "7"]
    weights = np.array(
        [[0, 0], [0.1, 0.1], [1, 0.1], [1, 0.12], [0.8, 0.6], [-1, 0], [1, 0.11]], np.float32
    )
    train = ReviewSet([np.array([2, 4]), np.array([4, 4]), np.array([3])], np.array([1, 0, 1]))
    test = ReviewSet(
        [np.array([2, 3]), np.array([4, 4, 4, 5]), np.array([3, 5]), np.array([2])],
        np.array([1, 0, 1, 0]),
    )
    kinds = ["pad", "special", "exact", "exact", "exact", "exact", "exact"]
    return SimpleNamespace(
        vocab=Vocab(tokens),
        weights=weights,
        train=train,
        test=test,
        fit=np.array([0, 1]),  # review 2 (the only "television") is validation
        report=SimpleNamespace(kinds=kinds),
    )


def test_seen_rows_are_those_of_the_reviews_the_models_train_on() -> None:
    assert np.flatnonzero(_seen(_wide())).tolist() == [2, 4]


def test_the_heavy_reviews_are_the_quarter_with_most_unseen_tokens() -> None:
    wide = _wide()
    heavy, cut = _heavy(wide, _seen(wide))
    assert heavy.tolist() == [2]  # all its tokens are unseen; one review of four
    assert cut == 1.0


def test_pairs_join_an_unseen_word_to_its_nearest_trained_word_tv_first() -> None:
    wide = _wide()
    pairs = _pair_ids(wide, _seen(wide)).tolist()
    # television (unseen) -> tv (trained) first; banana's nearest trained word is radio;
    # "7" is no word, so it is in no pair.
    assert pairs[0] == [2, 3]
    assert [4, 5] in pairs and len(pairs) == 2


def _runs(gain: float) -> list[dict]:
    rng = np.random.default_rng(0)
    runs = []
    for _ in range(4):
        base = 0.8 + rng.normal(scale=0.002)
        r = {v: {"overall": base, "heavy": base - 0.05} for v in VARIANTS}
        for v in ("global", "local"):
            r[v] = {"overall": base + 0.001, "heavy": base - 0.05 + gain}
        r["pair_cosine"] = {"pretrained": 0.9, "full": 0.8, "global": 0.85, "local": 0.86}
        runs.append(r)
    return runs


@pytest.mark.parametrize(("gain", "beats"), [(0.02, True), (0.0, False)], ids=["gain", "none"])
def test_the_verdict_compares_the_heavy_gain_with_the_spread(gain: float, beats: bool) -> None:
    summary = _summary(_runs(gain))
    verdict = _verdict(summary, 4)
    assert summary["global"]["heavy_minus_full"]["mean"] == pytest.approx(gain)
    assert verdict["global"]["overall_at_least_full"] is True
    assert verdict["local"]["heavy_gain_beats_spread"] is beats
    assert summary["pair_cosine"]["full"] == pytest.approx(0.8)


def test_the_markdown_has_every_treatment_and_the_verdict() -> None:
    summary = _summary(_runs(0.02))
    result = {
        "vocab_size": 7,
        "unseen_rows": 3,
        "heavy_reviews": 1,
        "heavy_min_unseen_share": 1.0,
        "test_reviews": 4,
        "l2sp": {"strength": 3.0},
        "pairs": [["tv", "television"]],
        "pair_count": 1,
        "seeds": [0, 1, 2, 3],
        "summary": summary,
        "verdict": _verdict(summary, 4),
    }
    text = propagation_markdown(result)
    assert all(label in text for label in VARIANTS.values())
    assert "(tv, television)" in text and "full 0.800" in text
    assert "- global: overall at least full fine-tuning: True" in text
