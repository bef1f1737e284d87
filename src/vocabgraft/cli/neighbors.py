"""``vocabgraft neighbors WORD...``: nearest rows by cosine."""

from __future__ import annotations

import argparse
from typing import Any

from vocabgraft.cli._common import add_json_arg, add_vectors_arg, emit, load_vectors, positive
from vocabgraft.errors import TokenNotFoundError


def add_parser(sub: Any) -> None:
    """Add the ``neighbors`` command to ``sub``."""
    p = sub.add_parser("neighbors", help="nearest neighbours of words by cosine similarity")
    p.add_argument("words", nargs="+", metavar="WORD")
    add_vectors_arg(p)
    p.add_argument(
        "-k", type=positive, default=10, metavar="N", help="neighbours per word (default 10)"
    )
    add_json_arg(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the ``-k`` nearest rows of each word."""
    table = load_vectors(args)
    missing = [w for w in args.words if w not in table]
    if missing:
        hint = ""
        lowered = [w.lower() for w in missing if w.lower() in table]
        if lowered:
            hint = f"; the table has {', '.join(map(repr, lowered))} (it may be lowercased)"
        raise TokenNotFoundError(
            f"{', '.join(map(repr, missing))} not in the table ({len(table):,} rows){hint}. "
            "`vocabgraft impute WORD` builds a vector for a word the table lacks"
        )
    results = table.most_similar(list(args.words), k=args.k)
    out = {
        w: [{"token": t, "cosine": round(c, 6)} for t, c in r] for w, r in zip(args.words, results)
    }
    blocks = []
    for w, r in zip(args.words, results):
        width = max((len(t) for t, _ in r), default=0)
        rows = [f"  {t:<{width}}  {c:.4f}" for t, c in r]
        blocks.append(f"{w}\n" + "\n".join(rows))
    emit(args, "\n\n".join(blocks), out)
    return 0
