"""Tokenizers for building a vocabulary from text, by name.

``"simple"`` lowercases, drops HTML ``<br />`` and keeps runs of letters and
digits, with English clitics split off as GloVe's own tokenizer does, so
"Afghanistan." and "I'm" become tokens that GloVe has. ``"whitespace"``
splits on whitespace only, keeping case and punctuation. The CLI's
``align --corpus --tokenizer NAME`` takes the names of :data:`TOKENIZERS`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from types import MappingProxyType

from vocabgraft.errors import ArgumentError

__all__ = ["SIMPLE_RULES", "TOKENIZERS", "get_tokenizer", "simple", "whitespace"]

SIMPLE_RULES = (
    "lowercase; HTML <br /> removed; tokens are runs of letters and digits, with English "
    "clitics split off as GloVe's tokenizer does (don't -> do n't, dog's -> dog 's)"
)
"""What :func:`simple` does, in one line (for reports)."""

# A word stops just before "n't", which is a token of its own; so are "'s", "'ll", "'re",
# "'ve", "'m" and "'d". Other apostrophes and quotes are dropped.
_TOKEN = re.compile(r"[^\W_]+?(?=n't\b)|n't\b|'(?:s|ll|re|ve|m|d)\b|[^\W_]+")


def simple(text: str) -> list[str]:
    """Lowercase word tokens, GloVe-style (see :data:`SIMPLE_RULES`).

    >>> simple("I don't like it.<br />Dog's 'FOOD': 3.5 stars")
    ['i', 'do', "n't", 'like', 'it', 'dog', "'s", 'food', '3', '5', 'stars']
    """
    return _TOKEN.findall(text.lower().replace("<br />", " "))


def whitespace(text: str) -> list[str]:
    """Tokens split on whitespace, as written.

    >>> whitespace("I'm  in Afghanistan.")
    ["I'm", 'in', 'Afghanistan.']
    """
    return text.split()


TOKENIZERS: Mapping[str, Callable[[str], list[str]]] = MappingProxyType(
    {"simple": simple, "whitespace": whitespace}
)
"""The tokenizers by name."""


def get_tokenizer(name: str) -> Callable[[str], list[str]]:
    """The tokenizer called ``name`` (one of :data:`TOKENIZERS`).

    Raises:
        ArgumentError: an unknown name.
    """
    if name not in TOKENIZERS:
        raise ArgumentError(f"unknown tokenizer {name!r}; choose from {sorted(TOKENIZERS)}")
    return TOKENIZERS[name]
