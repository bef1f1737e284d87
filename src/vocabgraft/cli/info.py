"""``vocabgraft info [PATH]``: what a table holds."""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from vocabgraft.cli._common import add_json_arg, add_vectors_arg, count, emit, load_vectors


def add_parser(sub: Any) -> None:
    """Add the ``info`` command to ``sub``."""
    p = sub.add_parser("info", help="rows, dims, dtype, norm statistics and sample tokens")
    p.add_argument("path", nargs="?", help="vectors or a table cache (default: --vectors)")
    add_vectors_arg(p)
    p.add_argument(
        "--sample", type=count, default=10, metavar="N", help="sample tokens to show (default 10)"
    )
    add_json_arg(p)
    p.set_defaults(func=run)


def describe(table: Any, sample: int = 10) -> dict[str, Any]:
    """Rows, dims, dtype, source, norm statistics and sample tokens of ``table``."""
    norms = table.norms()
    n = len(table)
    stats = (
        {
            "min": float(norms.min()),
            "mean": float(norms.mean()),
            "median": float(np.median(norms)),
            "max": float(norms.max()),
            "zero_rows": int((norms == 0).sum()),
        }
        if n
        else {}
    )
    picks: Any = np.unique(np.linspace(0, n - 1, num=min(sample, n)).astype(int)) if n else []
    return {
        "rows": n,
        "dim": table.dim,
        "dtype": str(table.dtype),
        "source": table.source,
        "format": table.meta.get("format"),
        "subwords": None if table.subwords is None else type(table.subwords).kind,
        "norm": stats,
        "first_tokens": table.vocab.decode(range(min(sample, n))),
        "sample_tokens": table.vocab.decode(picks),
    }


def run(args: argparse.Namespace) -> int:
    """Print what the table at ``args.path`` (or ``--vectors``) holds."""
    table = load_vectors(args, args.path)
    info = describe(table, args.sample)
    lines = [
        f"rows       {info['rows']:,}",
        f"dims       {info['dim']}",
        f"dtype      {info['dtype']}",
        f"source     {info['source'] or '-'}",
    ]
    if info["format"]:
        lines.append(f"format     {info['format']}")
    lines.append(f"subwords   {info['subwords'] or 'none'}")
    if info["norm"]:
        s = info["norm"]
        lines.append(
            f"L2 norm    min {s['min']:.3f}  mean {s['mean']:.3f}  median {s['median']:.3f}  "
            f"max {s['max']:.3f}  zero rows {s['zero_rows']}"
        )
    lines.append("first      " + " ".join(repr(t) for t in info["first_tokens"]))
    lines.append("sample     " + " ".join(repr(t) for t in info["sample_tokens"]))
    emit(args, "\n".join(lines), info)
    return 0
