"""``vocabgraft convert SRC DST``: read vectors in any supported format into a table cache."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import numpy as np

from vocabgraft.cli._common import add_json_arg, emit


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "convert",
        help="convert vectors (GloVe, word2vec, fastText, npy) to a table cache that opens in ms",
    )
    p.add_argument("src", help="the vectors file (format sniffed) or a table cache")
    p.add_argument("dst", help="the cache folder to write")
    p.add_argument("--format", help="the source format when it cannot be sniffed")
    p.add_argument("--limit", type=int, metavar="N", help="read only the first N vectors")
    p.add_argument("--dtype", default="float32", choices=["float16", "float32", "float64"])
    p.add_argument(
        "--encoding",
        default="utf-8",
        help="the text encoding of the tokens (default utf-8; e.g. cp1252 for old fastText models)",
    )
    p.add_argument("--vocab", dest="vocab_path", metavar="FILE", help="word list for a .npy matrix")
    p.add_argument(
        "--skip-bad-rows",
        action="store_true",
        help="skip malformed rows (they are counted and reported) instead of stopping",
    )
    p.add_argument("--overwrite", action="store_true", help="replace DST if it exists")
    add_json_arg(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from vocabgraft.io import load

    start = time.perf_counter()
    table = load(
        args.src,
        format=args.format,
        limit=args.limit,
        dtype=np.dtype(args.dtype),
        on_error="skip" if args.skip_bad_rows else "raise",
        vocab_path=args.vocab_path,
        encoding=args.encoding,
    )
    path = table.save(args.dst, overwrite=args.overwrite)
    elapsed = time.perf_counter() - start
    skipped = table.meta.get("skipped")
    info = {
        "src": args.src,
        "dst": str(path),
        "rows": len(table),
        "dim": table.dim,
        "dtype": str(table.dtype),
        "subwords": None if table.subwords is None else type(table.subwords).kind,
        "skipped": skipped,
        "seconds": round(elapsed, 3),
    }
    text = f"wrote {path}: {len(table):,} x {table.dim} {table.dtype} in {elapsed:.1f} s"
    if skipped:
        print(f"skipped malformed rows: {skipped}", file=sys.stderr)
    emit(args, text, info)
    return 0
