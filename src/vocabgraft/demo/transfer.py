"""Step 1: the task vocabulary from the training reviews, aligned to GloVe."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from vocabgraft._cache import cache_dir
from vocabgraft.align import AlignmentReport, align
from vocabgraft.demo._console import say
from vocabgraft.demo.config import DemoConfig
from vocabgraft.demo.data import Corpus
from vocabgraft.demo.text import TOKENIZER, ReviewSet, build_vocab, encode
from vocabgraft.init import Mean, Subword
from vocabgraft.subwords.fitted import FittedSubwords, fit_subwords
from vocabgraft.table.core import EmbeddingTable
from vocabgraft.vocab.core import Vocab

__all__ = ["Transfer", "glove_subwords", "run_transfer"]

_MATCHED = ("exact", "lower", "nfkc_casefold")


@dataclass
class Transfer:
    """What step 1 hands on: the vocabulary, its aligned rows, and the encoded reviews.

    ``groups`` names the row sets the later steps treat differently:
    ``pretrained`` (copied from GloVe), ``unmatched`` (GloVe lacks them; started
    by the subword initializer), ``special`` (``<unk>``; started at GloVe's mean)
    and ``pad`` (zero, never trains). ``fit`` and ``val`` index the training
    reviews step 2 trains on and picks an epoch by.
    """

    vocab: Vocab
    weights: np.ndarray
    report: AlignmentReport
    subwords: FittedSubwords
    groups: dict[str, np.ndarray]
    train: ReviewSet
    test: ReviewSet
    fit: np.ndarray
    val: np.ndarray

    @property
    def pad_id(self) -> int:
        """The id of ``<pad>``."""
        pad = self.vocab.pad_id
        assert pad is not None  # build_vocab always gives one
        return pad

    @property
    def partial_trainable(self) -> np.ndarray:
        """The rows variant (ii) trains: unmatched and special rows (not the padding row)."""
        return np.sort(np.concatenate([self.groups["unmatched"], self.groups["special"]]))


def glove_subwords(glove: EmbeddingTable, words: int) -> tuple[FittedSubwords, dict[str, Any]]:
    """A subword model fitted on GloVe's ``words`` most frequent rows, cached after the first fit."""
    path = cache_dir() / f"glove-6B-50d-subwords-{words}.safetensors"
    start = time.perf_counter()
    if path.is_file():
        model = FittedSubwords.load(path)
        cached = True
    else:
        model = fit_subwords(glove, max_words=words, progress=sys.stderr.isatty())
        cached = False
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            model.save(path)
        except OSError:
            pass  # no cache folder: fit again next time
    info = {
        "fitted_on_words": words,
        "ngrams": len(model),
        "from_cache": cached,
        "seconds": time.perf_counter() - start,
    }
    return model, info


def _groups(report: AlignmentReport) -> dict[str, np.ndarray]:
    kinds = np.array(report.kinds, dtype=object)
    return {
        "pretrained": np.flatnonzero(np.isin(kinds, _MATCHED)),
        "unmatched": np.flatnonzero(kinds == "init"),
        "special": np.flatnonzero(kinds == "special"),
        "pad": np.flatnonzero(kinds == "pad"),
    }


def run_transfer(corpus: Corpus, cfg: DemoConfig) -> tuple[Transfer, dict[str, Any]]:
    """Build the vocabulary, fit (or load) the subword model, align, and print the report."""
    say(f"tokenizer: {TOKENIZER}")
    vocab = build_vocab(corpus.train_tokens)
    say(f"vocabulary: {len(vocab):,} tokens from {len(corpus.train_tokens):,} training reviews")
    subwords, sub_info = glove_subwords(corpus.glove, cfg.subword_words)
    how = "loaded from the cache" if sub_info["from_cache"] else "fitted"
    say(
        f"subword model for unmatched words: {sub_info['ngrams']:,} character n-grams "
        f"{how} on GloVe's {cfg.subword_words:,} most frequent words "
        f"({sub_info['seconds']:.1f} s)"
    )
    weights, report = align(
        corpus.glove, vocab, init=Subword(subwords), special_init=Mean(), seed=cfg.seed
    )
    say("")
    say(report.to_text())
    transfer = Transfer(
        vocab=vocab,
        weights=weights,
        report=report,
        subwords=subwords,
        groups=_groups(report),
        train=ReviewSet(encode(corpus.train_tokens, vocab, cfg.max_len), corpus.train_labels),
        test=ReviewSet(encode(corpus.test_tokens, vocab, cfg.max_len), corpus.test_labels),
        fit=corpus.fit,
        val=corpus.val,
    )
    result = {
        "tokenizer": TOKENIZER,
        "specials": {"<pad>": vocab.pad_id, "<unk>": vocab.unk_id},
        "vocab_size": len(vocab),
        "subword_model": sub_info,
        "alignment": report.to_dict(rows=False),
        "alignment_markdown": report.to_markdown(),
        "row_groups": {k: len(v) for k, v in transfer.groups.items()},
    }
    return transfer, result
