"""``vocabgraft convert SRC DST``: read vectors in any supported format into a table cache."""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

from vocabgraft.cli._common import (
    add_json_arg,
    add_read_args,
    check_destination,
    count,
    emit,
    load_vectors,
    save_table,
)


def add_parser(sub: Any) -> None:
    """Add the ``convert`` command to ``sub``."""
    p = sub.add_parser(
        "convert",
        help="convert vectors (GloVe, word2vec, fastText, npy) to a table cache that opens in ms",
    )
    p.add_argument("src", help="the vectors file (format sniffed) or a table cache")
    p.add_argument("dst", help="the cache folder to write")
    add_read_args(p)
    p.add_argument("--limit", type=count, metavar="N", help="read only the first N vectors")
    p.add_argument("--dtype", default="float32", choices=["float16", "float32", "float64"])
    p.add_argument("--vocab", dest="vocab_path", metavar="FILE", help="word list for a .npy matrix")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace DST if it is an earlier vocabgraft cache (any other folder is refused)",
    )
    add_json_arg(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Convert ``args.src`` to a cache at ``args.dst``; print what was written."""
    check_destination(args.dst, "DST", overwrite=args.overwrite)
    start = time.perf_counter()
    table = load_vectors(
        args,
        args.src,
        limit=args.limit,
        dtype=np.dtype(args.dtype),
        vocab_path=args.vocab_path,
    )
    path = save_table(table, args.dst, overwrite=args.overwrite)
    elapsed = time.perf_counter() - start
    info = {
        "src": args.src,
        "dst": str(path),
        "rows": len(table),
        "dim": table.dim,
        "dtype": str(table.dtype),
        "subwords": None if table.subwords is None else type(table.subwords).kind,
        "skipped": table.meta.get("skipped"),
        "seconds": round(elapsed, 3),
    }
    text = f"wrote {path}: {len(table):,} x {table.dim} {table.dtype} in {elapsed:.1f} s"
    emit(args, text, info)
    return 0
