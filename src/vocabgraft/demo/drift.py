"""Step 5: how far fine-tuned rows moved, and what that did to neighbours and word pairs.

:func:`vocabgraft.drift.drift` measures the rows and neighbours; this step picks
the row groups, the word pairs and the watched words, and applies it to the
step 2 runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from vocabgraft.demo._console import say
from vocabgraft.demo._tables import text_table
from vocabgraft.demo.compare import Run
from vocabgraft.demo.step_tables import (
    ROW_HEADERS,
    neighbour_rows,
    pair_headers,
    pair_rows,
    row_rows,
)
from vocabgraft.demo.transfer import Transfer
from vocabgraft.drift.core import DriftReport, cosine, drift
from vocabgraft.table.core import EmbeddingTable

__all__ = ["FREQUENT", "find_pairs", "run_drift"]

FREQUENT = 20  # training occurrences that make a pretrained row "frequent"
WATCH = ("great", "good", "bad", "coffee", "dog", "price", "taste", "disappointed")
PAIR = ("tv", "television")
_DRIFTING = ("partial", "full", "schedule")


def find_pairs(
    glove: EmbeddingTable, words: Sequence[str], vocab_tokens: set[str], *, skip_top: int = 150
) -> dict[str, list[tuple[str, str]]]:
    """For each word, its nearest GloVe neighbour in the task vocabulary and its nearest outside.

    ``skip_top`` leaves out GloVe's most frequent rows (function words and
    punctuation) as neighbours. Returns ``{"both_in_vocab": [...], "one_absent": [...]}``.
    """
    both: list[tuple[str, str]] = []
    absent: list[tuple[str, str]] = []
    for w, near in zip(words, glove.most_similar(list(words), k=60)):
        candidates = [t for t, _ in near if glove.vocab[t] >= skip_top and t.isalpha()]
        inside = next((t for t in candidates if t in vocab_tokens), None)
        outside = next((t for t in candidates if t not in vocab_tokens), None)
        if inside is not None:
            both.append((w, inside))
        if outside is not None:
            absent.append((w, outside))
    return {"both_in_vocab": both, "one_absent": absent}


def _row_groups(transfer: Transfer) -> dict[str, np.ndarray]:
    g, counts = transfer.groups, transfer.vocab.counts
    assert counts is not None
    pre = g["pretrained"]
    return {
        f"pretrained, >= {FREQUENT} uses": pre[counts[pre] >= FREQUENT],
        f"pretrained, < {FREQUENT} uses": pre[counts[pre] < FREQUENT],
        "unmatched (subword init)": g["unmatched"],
        "special (<unk>)": g["special"],
    }


def _probe_words(transfer: Transfer, glove: EmbeddingTable, n: int = 200) -> list[str]:
    """The ``n`` most frequent pretrained task words that are not among GloVe's top 150 rows."""
    counts = transfer.vocab.counts
    assert counts is not None
    tokens = transfer.vocab.tokens
    pre = transfer.groups["pretrained"]
    ordered = pre[np.argsort(-counts[pre], kind="stable")]
    words = [tokens[i] for i in ordered.tolist() if tokens[i].isalpha() and tokens[i] in glove]
    return [w for w in words if glove.vocab[w] >= 150][:n]


def _pair_scores(
    weights: np.ndarray,
    transfer: Transfer,
    glove: EmbeddingTable,
    pairs: dict[str, list[tuple[str, str]]],
) -> dict[str, float]:
    """Mean cosine of the pairs under ``weights`` (absent words keep their GloVe row)."""
    v = transfer.vocab

    def row(t: str) -> np.ndarray:
        return weights[v[t]] if t in v else np.asarray(glove[t])

    out = {}
    for kind, items in pairs.items():
        a = np.array([row(x) for x, _ in items])
        b = np.array([row(y) for _, y in items])
        out[kind] = float(cosine(a, b).mean()) if items else float("nan")
    out["tv_television"] = float(cosine(row(PAIR[0])[None], row(PAIR[1])[None])[0])
    return out


def _mean_over(dicts: list[Any]) -> Any:
    """Element-wise mean of nested dicts of numbers.

    >>> _mean_over([{"a": 1, "b": {"c": 0}}, {"a": 3, "b": {"c": 1}}])
    {'a': 2.0, 'b': {'c': 0.5}}
    """
    first = dicts[0]
    if isinstance(first, dict):
        return {k: _mean_over([d[k] for d in dicts]) for k in first}
    return float(np.mean(dicts))


def _group_rows(report: DriftReport) -> dict[str, dict[str, float | int]]:
    """Each group's summary without the statistics an empty group lacks."""
    return {
        name: {k: v for k, v in s.to_dict().items() if v is not None}
        for name, s in report.groups.items()
    }


def _variant_drift(
    runs: list[Run],
    transfer: Transfer,
    glove: EmbeddingTable,
    pairs: dict[str, list[tuple[str, str]]],
) -> dict[str, Any]:
    groups = _row_groups(transfer)
    before, vocab = transfer.weights, transfer.vocab
    per_seed: list[dict[str, Any]] = [
        {
            "seed": r.seed,
            "rows": _group_rows(drift(before, r.weights, groups=groups)),
            "pairs": _pair_scores(r.weights, transfer, glove, pairs),
        }
        for r in runs
    ]
    near = drift(
        before,
        runs[0].weights,
        vocab=vocab,
        watch=[w for w in WATCH if w in vocab],
        k=10,
        exclude=[vocab.pad_id or 0, vocab.unk_id or 1],
    )
    return {
        "rows": _mean_over([s["rows"] for s in per_seed]),
        "pairs": _mean_over([s["pairs"] for s in per_seed]),
        "per_seed": per_seed,
        "neighbours_seed": runs[0].seed,
        "neighbours": {
            str(n.word): {
                "before": list(n.before),
                "after": list(n.after),
                "overlap_at_10": n.overlap,
            }
            for n in near.neighbours
        },
    }


def _print(result: dict[str, Any]) -> None:
    say("row movement from the aligned rows (mean over seeds):")
    say(text_table(ROW_HEADERS, row_rows(result)))
    unk = [d["rows"]["special (<unk>)"].get("moved", 0) for d in result["variants"].values()]
    if not any(unk):
        say(
            "<unk> never moved: every training token has its own row (min count 1), so <unk> "
            "never occurs in the training text and gets no gradient"
        )
    counts = result["tv_counts"]
    say("")
    say(
        f"cosine of word pairs (mean over seeds); tv: {counts['tv']} training uses, "
        f"television: {counts['television']}:"
    )
    say(text_table(pair_headers(result), pair_rows(result)))
    full = result["variants"]["full"]
    say("")
    say(f"nearest task words under (iii), seed {full['neighbours_seed']}, before -> after:")
    for word, before, after, overlap in neighbour_rows(result)[:4]:
        say(f"  {word}: {before} -> {after} (overlap@10 {overlap})")


def run_drift(
    runs: dict[str, list[Run]], transfer: Transfer, glove: EmbeddingTable
) -> dict[str, Any]:
    """Step 5 for variants (ii), (iii) and (iv); print and return the numbers."""
    probe = _probe_words(transfer, glove)
    pairs = find_pairs(glove, probe, set(transfer.vocab.tokens))
    counts = transfer.vocab.counts
    assert counts is not None
    tv_counts = {w: int(counts[transfer.vocab[w]]) if w in transfer.vocab else 0 for w in PAIR}
    result: dict[str, Any] = {
        "row_groups": {k: len(v) for k, v in _row_groups(transfer).items()},
        "frequent_threshold": FREQUENT,
        "tv_counts": tv_counts,
        "pairs": {k: [list(p) for p in v] for k, v in pairs.items()},
        "pairs_before": _pair_scores(transfer.weights, transfer, glove, pairs),
        "variants": {v: _variant_drift(runs[v], transfer, glove, pairs) for v in _DRIFTING},
    }
    _print(result)
    return result
