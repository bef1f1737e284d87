"""Arguments, loading, saving and messages shared by the command modules."""

from __future__ import annotations

import argparse
import codecs
import json
import re
import sys
import warnings
from pathlib import Path
from typing import Any

from vocabgraft.errors import ArgumentError, FormatError
from vocabgraft.table.core import EmbeddingTable

__all__ = [
    "FlagValueError",
    "UsageError",
    "add_json_arg",
    "add_read_args",
    "add_vectors_arg",
    "check_destination",
    "cli_message",
    "count",
    "emit",
    "load_vectors",
    "positive",
    "read_options",
    "save_table",
]

DEFAULT_VECTORS_HELP = "the embedded GloVe 6B 50d table"


class UsageError(ArgumentError):
    """A command-line usage error found after parsing: exit 2 with the command's usage line."""


class FlagValueError(ArgumentError, argparse.ArgumentTypeError):
    """A flag's value is refused by its ``type=`` check; argparse prints the message as is."""


# -- flag values (argparse type= functions) ----------------------------------------------


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise FlagValueError(f"expected an integer, got {text!r}") from None


def count(text: str) -> int:
    """A non-negative integer flag value (``--limit``, ``--sample``, ``--max-size``).

    Args:
        text: the value as typed.

    Returns:
        The integer.

    Raises:
        FlagValueError: not an integer, or negative.
    """
    value = _integer(text)
    if value < 0:
        raise FlagValueError(f"must be 0 or more, got {value}")
    return value


def positive(text: str) -> int:
    """A positive integer flag value (``-k``, ``--min-freq``).

    Args:
        text: the value as typed.

    Returns:
        The integer.

    Raises:
        FlagValueError: not an integer, or below 1.
    """
    value = _integer(text)
    if value < 1:
        raise FlagValueError(f"must be 1 or more, got {value}")
    return value


def format_name(text: str) -> str:
    """A ``--format`` value: one of :data:`vocabgraft.io.formats` or an alias of one."""
    from vocabgraft import io

    aliases: dict[str, str] = getattr(io, "_ALIASES", {})
    if text not in io.formats and text not in aliases:
        raise FlagValueError(
            f"unknown format {text!r}; choose from {', '.join(sorted(io.formats))}"
        )
    return text


def encoding_name(text: str) -> str:
    """An ``--encoding`` value: a codec Python knows that writes space and newline as ASCII."""
    try:
        codecs.lookup(text)
    except LookupError:
        raise FlagValueError(f"unknown encoding {text!r}; try utf-8, latin-1 or cp1252") from None
    if " \n".encode(text, "replace") != b" \n":
        raise FlagValueError(
            f"{text!r} does not write space and newline as single ASCII bytes, as the vector "
            "formats need; use an ASCII-compatible encoding (utf-8, latin-1, cp852, ...)"
        )
    return text


# -- shared arguments --------------------------------------------------------------------


def add_read_args(parser: argparse.ArgumentParser) -> None:
    """Add ``--format``, ``--encoding``, ``--skip-bad-rows`` and ``--member``: how to read."""
    from vocabgraft.io import formats

    parser.add_argument(
        "--format",
        type=format_name,
        metavar="FMT",
        help=f"the file's format when it cannot be sniffed: {', '.join(sorted(formats))}",
    )
    parser.add_argument(
        "--encoding",
        type=encoding_name,
        default="utf-8",
        help="the text encoding of the tokens (default utf-8; e.g. cp1252 for old fastText models)",
    )
    parser.add_argument(
        "--skip-bad-rows",
        action="store_true",
        help="skip malformed rows (they are counted and reported) instead of stopping",
    )
    parser.add_argument(
        "--member", metavar="NAME", help="the file to read inside a .zip that holds several"
    )


def add_vectors_arg(parser: argparse.ArgumentParser) -> None:
    """Add ``--vectors PATH`` (default: the embedded table) and the reading options."""
    parser.add_argument(
        "--vectors",
        metavar="PATH",
        help=f"vectors to read: a file or a table cache (default: {DEFAULT_VECTORS_HELP})",
    )
    add_read_args(parser)


def add_json_arg(parser: Any) -> None:
    """Add ``--json`` (machine-readable output)."""
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")


def read_options(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of :func:`vocabgraft.io.load` that the reading flags stand for."""
    options = {
        "format": getattr(args, "format", None),
        "encoding": getattr(args, "encoding", "utf-8"),
        "on_error": "skip" if getattr(args, "skip_bad_rows", False) else "raise",
    }
    if getattr(args, "member", None) is not None:
        options["member"] = args.member
    return options


# -- loading and saving ------------------------------------------------------------------


def load_vectors(
    args: argparse.Namespace, path: str | None = None, **options: Any
) -> EmbeddingTable:
    """The table named by ``path`` or ``--vectors``, else the embedded default.

    Rows skipped under ``--skip-bad-rows`` are summed up in one line on stderr.
    """
    path = path or getattr(args, "vectors", None)
    if path is None:
        from vocabgraft.datasets.packaged import glove_6b_50d

        return glove_6b_50d()
    from vocabgraft._safetensors import recover
    from vocabgraft.io import load

    recover(path)
    read = {**read_options(args), **options}
    if not options and read["format"] in (None, "cache") and EmbeddingTable.is_cache(path):
        return EmbeddingTable.load(path)  # as stored: its own dtype, memory-mapped
    with warnings.catch_warnings():
        # The library's warning points at table.meta; the summary below is the CLI's.
        warnings.filterwarnings("ignore", message=".*skipped .* malformed row")
        table = load(path, **read)
    _print_skipped(path, table.meta.get("skipped"))
    return table


def _print_skipped(path: str, skipped: Any) -> None:
    if not isinstance(skipped, dict) or not skipped.get("total"):
        return
    parts = []
    for reason, info in sorted(skipped.get("reasons", {}).items()):
        first = ", ".join(map(str, info.get("first", [])[:3]))
        parts.append(f"{info.get('count')} {reason.replace('_', ' ')} (first at {first})")
    print(
        f"vocabgraft: skipped {skipped['total']} malformed row(s) of {path}: {'; '.join(parts)}",
        file=sys.stderr,
    )


def check_destination(path: str, flag: str, *, overwrite: bool | None) -> None:
    """Refuse a destination folder before any work.

    The current folder (or one that holds it) is a usage error. With
    ``overwrite`` given, a folder that may not be replaced is an
    :class:`~vocabgraft.errors.OutputExistsError`.
    """
    from vocabgraft._safetensors import check_output

    here = Path.cwd().resolve()
    there = Path(path).resolve()
    if there == here or there in here.parents:
        raise UsageError(f"{flag} {path!r} is the current folder or holds it; name a new folder")
    if overwrite is not None:
        check_output(path, overwrite=overwrite)


def save_table(table: EmbeddingTable, dst: str, *, overwrite: bool) -> Path:
    """Save ``table`` to the cache folder ``dst``.

    The final rename is exclusive: without ``overwrite``, a ``dst`` that
    another run created meanwhile makes this one fail rather than replace it;
    with it, only an earlier vocabgraft output is replaced.
    """
    return table.save(dst, overwrite=overwrite)


# -- output and messages -----------------------------------------------------------------


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


# Python argument spellings in library messages, and the flags that set them.
_FLAGS = [
    (r"\boverwrite=True\b", "--overwrite"),
    (r"\bon_error=(['\"])skip\1", "--skip-bad-rows"),
    (r"\bformat=(['\"])([\w-]+)\1", r"--format \2"),
    (r"\bformat=(?![\w'\"])", "--format"),
    (r"\bencoding=(['\"])([^'\"]*)\1", r"--encoding \2"),
    (r"\bencoding=(?![\w'\"])", "--encoding"),
    (r"\bvocab_path=", "--vocab"),
    (r"\bmember=(['\"])([^'\"]*)\1", r"--member \2"),
    (r"\bmember=(?![\w'\"])", "--member"),
    (r"\bspecial=True\b", "--special"),
    (r"\bid_column=", "--id-column"),
    (r"\bfallback=Mean\(\)", "--fallback mean"),
    (r"\bvocabgraft\.io\.formats\b", "`vocabgraft convert --help`"),
    (r"\btable\.meta\[(['\"])skipped\1\]", "the 'skipped' field of --json"),
]


def cli_message(text: str | BaseException) -> str:
    """A library message as the command line says it: flags for arguments, on one line.

    Of a :class:`~vocabgraft.errors.FormatError`, the hint (the advice) is
    translated, and the description only where it says "pass ...": it may
    quote fields of the file such as ``format='x'`` that are no arguments.

    >>> cli_message("pass format='gensim' or on_error='skip'")
    'pass --format gensim or --skip-bad-rows'
    >>> cli_message("Pass member= with one of them, e.g. member='a.txt'")
    'Pass --member with one of them, e.g. --member a.txt'
    >>> cli_message(FormatError("found format='x'", path="f", hint="pass format='glove'"))
    "f: found format='x'. pass --format glove"
    >>> cli_message(FormatError("no column 'x'; pass id_column=", path="f.csv"))
    "f.csv: no column 'x'; pass --id-column"
    """
    message = str(text)
    hint = (text.hint or "") if isinstance(text, FormatError) else ""
    if not isinstance(text, FormatError):
        message = _flags(message)
    elif message.endswith(hint):
        message = _flags(message[: len(message) - len(hint)], advice=True) + _flags(hint)
    return " ".join(line.strip() for line in message.splitlines() if line.strip())


def _flags(text: str, *, advice: bool = False) -> str:
    """``text`` with arguments as flags; with ``advice``, only right after "pass"."""
    for pattern, flag in _FLAGS:
        text = re.sub("(?<=[Pp]ass )" + pattern if advice else pattern, flag, text)
    return text
