"""The ``vocabgraft`` command.

Exit codes: 0 on success; 2 for a usage error (argparse's ``usage:`` line and
one ``error:`` line); 1 for a data error (one line on stderr, naming flags
rather than Python arguments). No traceback is shown unless ``--debug`` is
given; an unexpected error prints one line that says so.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from vocabgraft.cli._common import UsageError, cli_message
from vocabgraft.errors import VocabgraftError

__all__ = ["build_parser", "main"]

# One module per command; each has add_parser(subparsers) and sets func=run.
_COMMANDS = ("add_tokens", "align", "convert", "demo", "impute", "info", "neighbors")
_DEBUG_HELP = "show the full traceback of an error"


def build_parser() -> argparse.ArgumentParser:
    """The ``vocabgraft`` parser with every subcommand.

    Returns:
        The parser; ``--debug`` is accepted before or after the command.
    """
    return _build()[0]


def _build() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The parser, and each command's own parser by name (for its usage line)."""
    from vocabgraft import __version__

    parser = argparse.ArgumentParser(
        prog="vocabgraft",
        description="Reuse trained embedding tables: align, train only some rows, grow.",
    )
    parser.add_argument("--version", action="version", version=f"vocabgraft {__version__}")
    parser.add_argument("--debug", action="store_true", help=_DEBUG_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in _COMMANDS:
        importlib.import_module(f"{__name__}.{name}").add_parser(sub)
    commands: dict[str, argparse.ArgumentParser] = dict(sub.choices)
    for command in commands.values():
        command.add_argument(
            "--debug", action="store_true", default=argparse.SUPPRESS, help=_DEBUG_HELP
        )
    return parser, commands


def _say(text: str) -> None:
    print(f"vocabgraft: {' '.join(text.split(chr(10)))}", file=sys.stderr)


def _one_line_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    _say(f"warning: {cli_message(str(message))}")


@contextmanager
def _one_line_warnings() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.showwarning = _one_line_warning
        yield


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line.

    Args:
        argv: the arguments (default: ``sys.argv[1:]``).

    Returns:
        The exit code: 0, 1 for a data error, 130 when interrupted.

    Raises:
        SystemExit: with code 2 for a usage error, as argparse does (and 0
            after ``--help`` or ``--version``).
    """
    parser, commands = _build()
    args = parser.parse_args(argv)
    try:
        with _one_line_warnings():
            return int(args.func(args) or 0)
    except UsageError as exc:
        commands.get(args.command, parser).error(cli_message(exc))
    except BrokenPipeError:
        # The reader went away (`vocabgraft info | head`); stop quietly, as the
        # Python docs advise, without a second error when stdout is flushed.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        _say("interrupted")
        return 130
    except Exception as exc:
        if args.debug:
            raise
        _say(f"error: {_describe(exc)}")
        return 1
    return 0  # not reached: parser.error exits


def _describe(exc: Exception) -> str:
    """One line for an error: the file of an OSError, our message, else the type and a note."""
    if isinstance(exc, OSError) and exc.strerror:  # a missing file, a full disk
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror}"
    if isinstance(exc, (VocabgraftError, OSError)):
        return cli_message(exc)
    return (
        f"unexpected {type(exc).__name__}: {exc} "
        "(this is a bug in vocabgraft or a damaged input; rerun with --debug for the traceback)"
    )
