"""Matching task tokens to table rows: exact, lowercase, NFKC case-folded.

The lowercase and NFKC indexes of a table are built once per table and kept
on it (:meth:`~vocabgraft.table.EmbeddingTable.derived`): the table is
read-only, so they never go stale, and a second :func:`~vocabgraft.align`
against the same table skips the 400,000-token pass.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from vocabgraft.errors import ArgumentError

if TYPE_CHECKING:
    from vocabgraft.table.core import EmbeddingTable

__all__ = ["DEFAULT_MATCH", "KEYS", "check_match", "match_rows", "nfkc_casefold", "table_index"]


def nfkc_casefold(token: str) -> str:
    """Unicode NFKC normalisation, then case folding: ``"Ｆｕß"`` -> ``"fuss"``.

    >>> nfkc_casefold("Ｓtraße")
    'strasse'
    """
    if token.isascii():
        return token.lower()  # the same result, ten times faster
    return unicodedata.normalize("NFKC", token).casefold()


KEYS: dict[str, Callable[[str], str]] = {
    "exact": lambda t: t,
    "lower": str.lower,
    "nfkc_casefold": nfkc_casefold,
}
DEFAULT_MATCH = ("exact", "lower", "nfkc_casefold")


def table_index(table: EmbeddingTable, kind: str) -> dict[str, int]:
    """``key(token) -> lowest id`` over the table's tokens, built once per table and kind.

    When several tokens share a key ("Apple", "apple", "APPLE"), the lowest id
    wins: in a frequency-sorted table (GloVe, word2vec, fastText) that is the
    most frequent spelling.
    """

    def build() -> dict[str, int]:
        tokens = table.derived("tokens", lambda: table.vocab.tokens)
        if kind == "exact":  # tokens are unique: a plain index, faster than the hashed one
            return dict(zip(tokens, range(len(tokens))))
        if kind == "lower":
            keys = list(map(str.lower, tokens))
        else:  # nfkc_casefold, inlined: its ASCII case is a plain lower()
            keys = [t.lower() if t.isascii() else nfkc_casefold(t) for t in tokens]
        # Later entries overwrite earlier ones, so walk the ids downwards.
        return dict(zip(reversed(keys), range(len(keys) - 1, -1, -1)))

    return table.derived(f"align:index:{kind}", build)


def check_match(match: Sequence[str] | str) -> tuple[str, ...]:
    """``match`` as a tuple of known, distinct steps.

    Raises:
        ArgumentError: an unknown or repeated step.
    """
    steps = (match,) if isinstance(match, str) else tuple(match)
    for s in steps:
        if s not in KEYS:
            raise ArgumentError(f"unknown match step {s!r}; choose from {list(KEYS)}")
    if len(set(steps)) != len(steps):
        raise ArgumentError(f"match lists a step twice: {list(steps)}")
    return steps


def match_rows(
    table: EmbeddingTable,
    tokens: list[str],
    todo: list[int],
    steps: tuple[str, ...],
    kinds: list[str],
    table_ids: np.ndarray,
) -> list[int]:
    """Try each step on the ids still unmatched; record hits in ``kinds``/``table_ids``; return the rest."""
    for step in steps:
        if not todo:
            break
        index = table_index(table, step)
        if step == "exact":
            found = [index.get(tokens[i], -1) for i in todo]
        else:
            key = KEYS[step]
            found = [index.get(key(tokens[i]), -1) for i in todo]
        left = []
        for i, j in zip(todo, found):
            if j < 0:
                left.append(i)
            else:
                table_ids[i] = j
                kinds[i] = step
        todo = left
    return todo
