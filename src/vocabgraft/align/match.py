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


def _lower_index(table: EmbeddingTable) -> dict[str, int]:
    """``token.lower() -> lowest id`` over the table's tokens."""
    keys = list(map(str.lower, _tokens(table)))
    # Later entries overwrite earlier ones, so walk the ids downwards.
    return dict(zip(reversed(keys), range(len(keys) - 1, -1, -1)))


def _nfkc_index(table: EmbeddingTable) -> dict[str, int]:
    """``nfkc_casefold(token) -> lowest id``, from the lowercase index.

    For an ASCII token the two keys agree, so only the keys that non-ASCII
    tokens touch (a few percent of a real table) are worked out again: a
    C-level copy of a dict, instead of a second pass over every token.
    """
    tokens = _tokens(table)
    lower = table_index(table, "lower")
    others = [i for i, ok in enumerate(map(str.isascii, tokens)) if not ok]
    folded = {i: nfkc_casefold(tokens[i]) for i in others}
    index = lower.copy()
    for k in {tokens[i].lower() for i in others} | set(folded.values()):
        index.pop(k, None)
        j = lower.get(k)
        if j is None or not k.isascii():
            continue  # no ASCII token lowers to a non-ASCII key
        if not tokens[j].isascii():  # e.g. the Kelvin sign lowers to "k": look past it
            j = next((i for i, t in enumerate(tokens) if t.isascii() and t.lower() == k), None)
        if j is not None:
            index[k] = j
    for i, k in folded.items():
        if index.get(k, i + 1) > i:
            index[k] = i
    return index


def _tokens(table: EmbeddingTable) -> list[str]:
    return table.derived("tokens", lambda: table.vocab.tokens)


def table_index(table: EmbeddingTable, kind: str) -> dict[str, int]:
    """``key(token) -> lowest id`` over the table's tokens for ``"lower"`` or ``"nfkc_casefold"``.

    Built once per table and kind. When several tokens share a key ("Apple",
    "apple", "APPLE"), the lowest id wins: in a frequency-sorted table (GloVe,
    word2vec, fastText) that is the most frequent spelling.
    """
    build = _lower_index if kind == "lower" else _nfkc_index
    return table.derived(f"align:index:{kind}", lambda: build(table))


def _exact(table: EmbeddingTable, words: list[str]) -> list[int]:
    """The id of each word in the table, or -1, through the lowercase index.

    A token's lowercase key leads to the lowest id that shares it; when that
    is another spelling ("Apple" for "apple"), the vocabulary's own hashed
    index settles it.
    """
    tokens, lower = _tokens(table), table_index(table, "lower")
    found = []
    unsure = []
    for n, w in enumerate(words):
        j = lower.get(w.lower(), -1)
        if j >= 0 and tokens[j] != w:
            unsure.append(n)
        found.append(j)
    if unsure:
        for n, j in zip(unsure, table.vocab.find([words[n] for n in unsure]).tolist()):
            found[n] = j
    return found


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
        if step == "exact":
            found = _exact(table, [tokens[i] for i in todo])
        else:
            index, key = table_index(table, step), KEYS[step]
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
