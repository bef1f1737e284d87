"""Printing steps as they go: progress bars on a terminal, a line per unit of work elsewhere."""

from __future__ import annotations

import sys
from typing import Any

from tqdm.auto import tqdm

__all__ = ["bar", "heading", "note", "say"]


def say(text: str = "") -> None:
    """Print one line (or block) to stdout now, not when the buffer fills."""
    print(text, flush=True)


def heading(number: int, title: str) -> None:
    """Print a step's heading, after a blank line."""
    say("")
    say(f"== {number}. {title} ==")


def _on_terminal() -> bool:
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty and isatty())


def note(text: str) -> None:
    """A progress line on stderr, when stderr is not a terminal (a log, CI, a pipe).

    On a terminal the progress bars (:func:`bar`) show the same progress, so
    nothing is printed.
    """
    if not _on_terminal():
        print(text, file=sys.stderr, flush=True)


def bar(total: int, desc: str) -> Any:
    """A tqdm bar on stderr; ``disable=None`` turns it off when stderr is not a TTY."""
    return tqdm(total=total, desc=desc, file=sys.stderr, disable=None, leave=False, unit="epoch")
