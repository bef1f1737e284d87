"""Printing steps as they go, and progress bars that stay silent when not on a terminal."""

from __future__ import annotations

import sys
from typing import Any

from tqdm.auto import tqdm

__all__ = ["bar", "heading", "say"]


def say(text: str = "") -> None:
    """Print one line (or block) to stdout now, not when the buffer fills."""
    print(text, flush=True)


def heading(number: int, title: str) -> None:
    say("")
    say(f"== {number}. {title} ==")


def bar(total: int, desc: str) -> Any:
    """A tqdm bar on stderr; ``disable=None`` turns it off when stderr is not a TTY."""
    return tqdm(total=total, desc=desc, file=sys.stderr, disable=None, leave=False, unit="epoch")
