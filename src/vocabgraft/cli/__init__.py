"""The ``vocabgraft`` command.

Exit codes: 0 on success, 2 for a usage error, 1 for a data error (one line on
stderr, no traceback).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from vocabgraft.errors import VocabgraftError

__all__ = ["build_parser", "main"]

# One module per command; each has add_parser(subparsers) and sets func=run.
_COMMANDS = ("add_tokens", "align", "convert", "demo", "impute", "info", "neighbors")


def build_parser() -> argparse.ArgumentParser:
    from vocabgraft import __version__

    parser = argparse.ArgumentParser(
        prog="vocabgraft",
        description="Reuse trained embedding tables: align, train only some rows, grow.",
    )
    parser.add_argument("--version", action="version", version=f"vocabgraft {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMANDS:
        importlib.import_module(f"{__name__}.{name}").add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:
        # The reader went away (`vocabgraft info | head`); stop quietly, as the
        # Python docs advise, without a second error when stdout is flushed.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except (VocabgraftError, OSError) as exc:
        print(f"vocabgraft {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"vocabgraft {args.command}: interrupted", file=sys.stderr)
        return 130
