"""Where vocabgraft keeps what it converts or fits once: table caches, fitted subword models."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_dir"]


def cache_dir() -> Path:
    """Where vocabgraft keeps converted tables and fitted models.

    ``$VOCABGRAFT_CACHE`` if set, else ``$XDG_CACHE_HOME/vocabgraft``, else
    ``~/.cache/vocabgraft``.
    """
    env = os.environ.get("VOCABGRAFT_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "vocabgraft"
