"""The rows of the tables of steps 3 to 5, shared by the terminal and report.md."""

from __future__ import annotations

from typing import Any

from vocabgraft.demo.compare import SHORT
from vocabgraft.demo.new_items import INITS

__all__ = [
    "ITEMS_HEADERS",
    "ROW_HEADERS",
    "WORDS_HEADERS",
    "items_rows",
    "neighbour_rows",
    "pair_headers",
    "pair_rows",
    "row_rows",
    "words_rows",
]

WORDS_HEADERS = ["scored on", "before (new words -> <unk>)", "new rows initialised", "trained"]
ITEMS_HEADERS = ["new products start from", "accuracy"]
ROW_HEADERS = ["variant", "rows", "n", "mean L2", "max L2", "mean cos dist", "max cos dist"]
_PAIR_KINDS = ("tv_television", "both_in_vocab", "one_absent")


def row_rows(result: dict[str, Any]) -> list[list[str]]:
    """Per variant and row group: how far the rows moved (groups with rows only)."""
    return [
        [
            SHORT[v],
            group,
            f"{s['rows']:,.0f}",
            f"{s['mean_l2']:.3f}",
            f"{s['max_l2']:.3f}",
            f"{s['mean_cosine_distance']:.4f}",
            f"{s['max_cosine_distance']:.4f}",
        ]
        for v, d in result["variants"].items()
        for group, s in d["rows"].items()
        if s["rows"]
    ]


def pair_headers(result: dict[str, Any]) -> list[str]:
    """The headers of the word-pair table, with each kind's number of pairs."""
    n = {k: len(p) for k, p in result["pairs"].items()}
    return [
        "",
        "tv ~ television",
        f"both in train vocab ({n['both_in_vocab']} pairs)",
        f"one absent, GloVe row ({n['one_absent']} pairs)",
    ]


def pair_rows(result: dict[str, Any]) -> list[list[str]]:
    """Mean pair cosines: the aligned rows, then each variant after training."""
    before = result["pairs_before"]
    rows = [["aligned (before)", *(f"{before[k]:.3f}" for k in _PAIR_KINDS)]]
    rows += [
        [SHORT[v], *(f"{d['pairs'][k]:.3f}" for k in _PAIR_KINDS)]
        for v, d in result["variants"].items()
    ]
    return rows


def neighbour_rows(result: dict[str, Any], variant: str = "full") -> list[list[str]]:
    """Word, its 5 nearest task words before and after training, and the overlap of the top 10."""
    return [
        [w, ", ".join(n["before"][:5]), ", ".join(n["after"][:5]), f"{n['overlap_at_10']:.1f}"]
        for w, n in result["variants"][variant]["neighbours"].items()
    ]


def _spread(s: dict[str, float]) -> str:
    return f"{s['mean']:.4f} ± {s['std']:.4f}"


def words_rows(result: dict[str, Any]) -> list[list[str]]:
    """Step 3: accuracy before, with the new rows initialised, and trained (mean ± std)."""
    s, first = result["summary"], result["per_seed"][0]
    scopes = (
        (
            "accuracy_with_new_words",
            f"{first['eval_reviews_with_new_words']} eval reviews with new words",
        ),
        ("accuracy_all_eval", f"all {first['eval_reviews']} eval reviews"),
    )
    return [
        [label, *(_spread(s[scope][k]) for k in ("before", "at_init", "after"))]
        for scope, label in scopes
    ]


def items_rows(result: dict[str, Any]) -> list[list[str]]:
    """Step 4: accuracy on the evaluation half for each initializer of the new products."""
    return [[INITS[k], _spread(result["summary"][k])] for k in INITS]
