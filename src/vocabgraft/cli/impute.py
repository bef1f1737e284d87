"""``vocabgraft impute WORD...``: a first vector for words, and its nearest neighbours.

With ``--method subword`` (the default) a fastText table composes the word
from its n-gram buckets; any other table (GloVe, word2vec, ...) gets a
subword model fitted on it, once: the fit takes up to a minute with a
progress bar, and the model is kept under ``$VOCABGRAFT_CACHE/subwords``
(default ``~/.cache/vocabgraft/subwords``) for the next run.

With ``--features FILE`` (a CSV or parquet file with an ``id`` column naming
the table's tokens, and columns of attributes, tags, numbers or text), each
word's vector is predicted from its features by a ridge regression fitted on
the rows of the items the file describes (:class:`vocabgraft.init.features.
FromFeatures`); the held-out R² of the fit is printed on stderr.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, cast

import numpy as np

from vocabgraft.cli._common import (
    UsageError,
    add_json_arg,
    add_vectors_arg,
    emit,
    load_vectors,
    positive,
)
from vocabgraft.init import (
    InitContext,
    Initializer,
    MatchedNormal,
    Mean,
    Subword,
    resolve_init,
)
from vocabgraft.table.core import EmbeddingTable

METHODS = ("subword", "mean", "normal")


def add_parser(sub: Any) -> None:
    """Add the ``impute`` command to ``sub``."""
    p = sub.add_parser(
        "impute",
        help="build vectors for words the table lacks (subword model, mean, matched normal)",
    )
    p.add_argument("words", nargs="+", metavar="WORD")
    add_vectors_arg(p)
    p.add_argument(
        "--method",
        choices=(*METHODS, "features"),
        help="subword: from character n-grams (fastText's own, or a model fitted on the "
        "table and cached); mean: the mean row; normal: a sample matching the rows' mean "
        "and covariance; features: from --features (default: features with --features, "
        "else subword)",
    )
    p.add_argument(
        "--features",
        metavar="FILE",
        help="item features (.csv or .parquet) whose ids are the table's tokens; each word "
        "is predicted from its own features",
    )
    p.add_argument(
        "--id-column", default="id", metavar="NAME", help="the id column of --features (default id)"
    )
    p.add_argument(
        "--fallback",
        choices=METHODS,
        help="with --features: the method for words the file does not describe "
        "(default: they are an error)",
    )
    p.add_argument(
        "-k", type=positive, default=10, metavar="N", help="neighbours per word (default 10)"
    )
    p.add_argument("--seed", type=int, default=0, help="seed for --method normal (default 0)")
    add_json_arg(p)
    p.set_defaults(func=run)


def subword_initializer(table: EmbeddingTable, *, progress: bool = True) -> Subword:
    """``Subword`` for ``table``: its own subword model, else a fitted one from the cache."""
    if table.subwords is not None:
        return Subword(table)
    from vocabgraft.subwords.fitted import fit_subwords_cached

    if progress:
        print(
            f"fitting a subword model on {len(table):,} rows (once; it is cached)",
            file=sys.stderr,
        )
    return Subword(fit_subwords_cached(table, progress=progress))


def initializer(name: str, table: EmbeddingTable, *, progress: bool = True) -> Initializer:
    """The initializer a command-line ``--method``/``--init`` name stands for."""
    if name == "subword":
        return subword_initializer(table, progress=progress)
    named: dict[str, Initializer] = {"mean": Mean(), "normal": MatchedNormal()}
    return named[name]


def features_initializer(args: argparse.Namespace, table: EmbeddingTable) -> Initializer:
    """``FromFeatures`` on the ``--features`` file (``--id-column``, ``--fallback``)."""
    from vocabgraft.init.features import FromFeatures
    from vocabgraft.init.featurize import read_item_features

    features = read_item_features(args.features, id_column=args.id_column)
    fallback = initializer(args.fallback, table, progress=not args.json) if args.fallback else None
    return FromFeatures(features, fallback=fallback)


def _method(args: argparse.Namespace) -> str:
    method: str = args.method or ("features" if args.features else "subword")
    if (method == "features") != bool(args.features):
        raise UsageError(
            "--method features needs --features FILE"
            if args.features is None
            else f"--features is used by --method features, not --method {method}"
        )
    if args.fallback and method != "features":
        raise UsageError("--fallback is used with --features")
    return method


def run(args: argparse.Namespace) -> int:
    """Print a first vector's nearest rows for each word."""
    args.method = _method(args)
    table = load_vectors(args)
    if args.method == "features":
        init = features_initializer(args, table)
    else:
        init = initializer(args.method, table, progress=not args.json)
    words = list(args.words)
    ctx = InitContext.build(
        len(words),
        table.dim,
        tokens=words,
        vocab=table.vocab,
        seed=args.seed,
        weights_fn=lambda: table.vectors,
    )
    vectors = np.asarray(resolve_init(init, ctx), dtype=np.float32)
    fit = getattr(init, "last_fit", None)
    if fit is not None and not args.json:
        print(
            f"vocabgraft: fitted on the {fit.ridge.items:,} items of {args.features} that the "
            f"table has; held-out R² {fit.r2_mean:.3f} (mean over dimensions)",
            file=sys.stderr,
        )
    # A 2-D query gives one list per row (the overloads cannot tell 1-D from 2-D arrays).
    neighbours = cast("list[list[tuple[str, float]]]", table.most_similar(vectors, k=args.k))
    out: dict[str, Any] = {}
    blocks = []
    for word, vec, near in zip(words, vectors, neighbours):
        own = None
        if word in table:
            row = np.asarray(table[word], dtype=np.float32)
            den = float(np.linalg.norm(row) * np.linalg.norm(vec))
            own = float(row @ vec) / den if den else 0.0
        out[word] = {
            "method": args.method,
            "in_table": own is not None,
            "cosine_to_own_row": own,
            "neighbors": [{"token": t, "cosine": round(c, 6)} for t, c in near],
        }
        note = "not in the table" if own is None else f"in the table; cosine to its row {own:.3f}"
        width = max((len(t) for t, _ in near), default=0)
        rows = [f"  {t:<{width}}  {c:.4f}" for t, c in near]
        blocks.append(f"{word}  ({args.method}; {note})\n" + "\n".join(rows))
    emit(args, "\n\n".join(blocks), out)
    return 0
