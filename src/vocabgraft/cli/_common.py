"""Helpers shared by the command modules."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from vocabgraft.table.core import EmbeddingTable

__all__ = ["add_json_arg", "add_vectors_arg", "emit", "load_vectors"]

DEFAULT_VECTORS_HELP = "the embedded GloVe 6B 50d table"


def add_vectors_arg(parser: argparse.ArgumentParser) -> None:
    """Add ``--vectors PATH`` (default: the embedded table) and ``--format``."""
    parser.add_argument(
        "--vectors",
        metavar="PATH",
        help=f"vectors to read: a file or a table cache (default: {DEFAULT_VECTORS_HELP})",
    )
    parser.add_argument(
        "--format",
        dest="vectors_format",
        metavar="FMT",
        help="the file's format when it cannot be sniffed (see `vocabgraft convert --help`)",
    )


def add_json_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")


def load_vectors(args: argparse.Namespace, path: str | None = None) -> EmbeddingTable:
    """The table named by ``path`` or ``--vectors``, else the embedded default."""
    path = path or getattr(args, "vectors", None)
    if path is None:
        from vocabgraft.datasets.packaged import glove_6b_50d

        return glove_6b_50d()
    from vocabgraft.io import load

    return load(path, format=getattr(args, "vectors_format", None))


def emit(args: argparse.Namespace, text: str, obj: Any) -> None:
    """Print ``obj`` as JSON when ``--json`` was given, else ``text``."""
    if getattr(args, "json", False):
        json.dump(obj, sys.stdout, ensure_ascii=False, default=_default)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")


def _default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)
