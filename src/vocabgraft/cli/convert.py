"""``vocabgraft convert SRC DST``: vectors in any supported format to a table cache, word2vec or GloVe."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
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
from vocabgraft.errors import OutputExistsError


def add_parser(sub: Any) -> None:
    """Add the ``convert`` command to ``sub``."""
    p = sub.add_parser(
        "convert",
        help="convert vectors (GloVe, word2vec, fastText, npy) to a table cache that opens in ms",
    )
    p.add_argument("src", help="the vectors file (format sniffed) or a table cache")
    p.add_argument("dst", help="the cache folder (or, with --to, the file) to write")
    p.add_argument(
        "--to",
        default="cache",
        choices=list(_WRITERS),
        help="what to write: a table cache folder (default), word2vec text or binary, GloVe text",
    )
    add_read_args(p)
    p.add_argument("--limit", type=count, metavar="N", help="read only the first N vectors")
    p.add_argument("--dtype", default="float32", choices=["float16", "float32", "float64"])
    p.add_argument("--vocab", dest="vocab_path", metavar="FILE", help="word list for a .npy matrix")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace DST if it is an earlier vocabgraft cache (any other folder is refused), "
        "or, with --to word2vec|word2vec-binary|glove, a file",
    )
    add_json_arg(p)
    p.set_defaults(func=run)


_WRITERS = ("cache", "word2vec", "word2vec-binary", "glove")


def _write(table: Any, args: argparse.Namespace) -> Path:
    """Write ``table`` as ``--to`` says; a file is replaced only with ``--overwrite``."""
    if args.to == "cache":
        return save_table(table, args.dst, overwrite=args.overwrite)
    from vocabgraft.io import write_glove, write_word2vec

    if args.to == "glove":
        return write_glove(table, args.dst, overwrite=args.overwrite)
    return write_word2vec(
        table, args.dst, binary=args.to == "word2vec-binary", overwrite=args.overwrite
    )


def run(args: argparse.Namespace) -> int:
    """Convert ``args.src`` to ``args.dst`` (``--to``); print what was written."""
    if args.to == "cache":
        check_destination(args.dst, "DST", overwrite=args.overwrite)
    elif Path(args.dst).exists() and (Path(args.dst).is_dir() or not args.overwrite):
        what = "a folder" if Path(args.dst).is_dir() else "a file; pass --overwrite to replace it"
        raise OutputExistsError(f"DST {args.dst} exists and is {what}")
    start = time.perf_counter()
    table = load_vectors(
        args,
        args.src,
        limit=args.limit,
        dtype=np.dtype(args.dtype),
        vocab_path=args.vocab_path,
    )
    path = _write(table, args)
    elapsed = time.perf_counter() - start
    info = {
        "src": args.src,
        "dst": str(path),
        "to": args.to,
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
