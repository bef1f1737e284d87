"""Initializers that pool named existing rows: Subtokens, Neighbors, Copy."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from vocabgraft.errors import ArgumentTypeError, TokenNotFoundError, VocabgraftError

if TYPE_CHECKING:
    pass
from vocabgraft.init.base import InitContext, Initializer, InitializerBase
from vocabgraft.init.subword import _resolve_fallback

__all__ = ["Copy", "Neighbors", "Subtokens"]


def _existing_row(name: str, ctx: InitContext, piece: object, token: str, rows: int) -> int:
    """The row id of ``piece`` (an existing token or an id), checked."""
    if isinstance(piece, (int, np.integer)) and not isinstance(piece, bool):
        i = int(piece)
    elif isinstance(piece, str):
        found = ctx.vocab_for(name).get(piece)
        if found is None:
            raise TokenNotFoundError(
                f"{name}: {piece!r} (for {token!r}) is not an existing token; the "
                f"vocabulary of the existing rows has {len(ctx.vocab_for(name))} tokens"
            )
        i = found
    else:
        raise VocabgraftError(
            f"{name}: pieces must be tokens (str) or ids (int). Received {piece!r} "
            f"(of type {type(piece).__name__}) for {token!r}"
        )
    if not 0 <= i < rows:
        raise VocabgraftError(
            f"{name}: {piece!r} (for {token!r}) is id {i}, which has no existing row "
            f"(there are {rows}). It must name a row that existed before the new tokens; "
            "with a Hugging Face tokenizer, tokenize with the one from before add_tokens"
        )
    return i


def _weighted_mean(w: np.ndarray, ids: list[int], weights: Sequence[float] | None) -> np.ndarray:
    rows = np.asarray(w[np.asarray(ids, dtype=np.int64)], dtype=np.float64)
    if weights is None:
        return np.asarray(rows.mean(axis=0))
    a = np.asarray(weights, dtype=np.float64)
    return np.asarray((a @ rows) / a.sum())


def _check_weights(name: str, token: str, weights: Sequence[float], count: int) -> None:
    a = np.asarray(weights, dtype=np.float64)
    if a.shape != (count,):
        raise VocabgraftError(
            f"{name}: {len(a)} weights given for the {count} pieces of {token!r}; give one each"
        )
    if not np.all(np.isfinite(a)) or (a < 0).any() or a.sum() <= 0:
        raise VocabgraftError(
            f"{name}: the weights for {token!r} must be finite, non-negative and not all zero. "
            f"Received {a.tolist()}"
        )


def _pooled(
    name: str,
    ctx: InitContext,
    parts_of: Callable[[str], tuple[list[Any], Sequence[float] | None] | None],
    fallback: Initializer | None,
    why: str,
) -> np.ndarray:
    """Each new row as the (weighted) mean of the existing rows ``parts_of(token)`` names.

    ``parts_of`` returns ``(tokens or ids, weights or None)``, or None for a
    token it knows nothing about; those rows come from ``fallback``.
    """
    tokens = ctx.tokens_for(name)
    w = ctx.rows_for(name)
    out = np.zeros((ctx.n, ctx.dim), dtype=np.float32)
    unknown: list[int] = []
    for k, token in enumerate(tokens):
        parts = parts_of(token)
        if parts is None:
            unknown.append(k)
            continue
        pieces, weights = parts
        ids = [_existing_row(name, ctx, p, token, len(w)) for p in pieces]
        if weights is not None:
            _check_weights(name, token, weights, len(pieces))
        out[k] = _weighted_mean(w, ids, weights)
    _resolve_fallback(name, fallback, ctx, out, unknown, why)
    return out


@dataclass(frozen=True)
class Subtokens(InitializerBase):
    """The mean (or a weighted mean) of the rows of the pieces a tokenizer splits a token into.

    For adding whole words to a WordPiece or BPE vocabulary: the new row for
    ``"vocabgraft"`` starts as the mean of the rows of ``"vo"``, ``"##ca"``, ...

    Args:
        tokenize: a token -> its pieces, as existing tokens (``str``) or row ids
            (``int``). A Hugging Face tokenizer's ``.tokenize`` works, or
            ``lambda t: tok.encode(t, add_special_tokens=False)``.
        weights: pieces -> one weight per piece (e.g. favouring the first
            piece); None for the plain mean.
        fallback: the initializer for tokens that split into no pieces;
            without one they are an error.

    >>> from vocabgraft import Vocab
    >>> from vocabgraft.init import InitContext
    >>> vocab = Vocab(["un", "##do", "##ing"])
    >>> ctx = InitContext(n=1, dim=2, tokens=["undoing"], vocab=vocab,
    ...                   weights_fn=lambda: np.array([[1., 0], [0, 1], [1, 1]]))
    >>> Subtokens(lambda t: ["un", "##do", "##ing"])(ctx).tolist()
    [[0.6666666865348816, 0.6666666865348816]]
    """

    tokenize: Callable[[str], Sequence[str] | Sequence[int]]
    weights: Callable[[Sequence[Any]], Sequence[float]] | None = None
    fallback: Initializer | None = None

    def __call__(self, ctx: InitContext) -> np.ndarray:
        """One row per new token: the mean of its pieces' rows."""

        def pieces_of(token: str) -> tuple[list[Any], Sequence[float] | None] | None:
            pieces = list(self.tokenize(token))
            if not pieces:
                return None
            return pieces, None if self.weights is None else list(self.weights(pieces))

        return _pooled("Subtokens", ctx, pieces_of, self.fallback, "the tokenizer gave no pieces")


@dataclass(frozen=True)
class Neighbors(InitializerBase):
    """The mean of the rows of related existing items, for categorical items.

    A new product starts where its category's products are; a new user where
    similar users are.

    Args:
        mapping: new token -> the existing tokens it resembles, as a list
            (plain or ``weights``-weighted mean) or as ``{token: weight}``.
        weights: a weight per existing token (e.g. popularity), used for the
            list entries of ``mapping``. Tokens it does not name weigh 1.
        fallback: the initializer for new tokens that ``mapping`` does not
            name (or that ``threshold`` or ``counts`` leave without related
            tokens); without one they are an error.
        counts: how many interactions trained each existing row (tokens it
            does not name count 0). Each related row's weight is multiplied by
            its count, so a rarely seen item, whose row is mostly its random
            start, counts less.
        threshold: with ``{token: similarity}`` entries, related tokens whose
            similarity is below it are dropped.

    A related token that is not an existing row is always an error.

    >>> from vocabgraft import Vocab
    >>> from vocabgraft.init import InitContext
    >>> vocab = Vocab(["shoe", "boot", "hat"])
    >>> ctx = InitContext(n=1, dim=2, tokens=["sandal"], vocab=vocab,
    ...                   weights_fn=lambda: np.array([[1., 0], [0, 1], [5, 5]]))
    >>> Neighbors({"sandal": {"shoe": 3, "boot": 1}})(ctx).tolist()
    [[0.75, 0.25]]
    >>> Neighbors({"sandal": {"shoe": 0.9, "boot": 0.2}}, threshold=0.5)(ctx).tolist()
    [[1.0, 0.0]]
    """

    mapping: Mapping[str, Sequence[str] | Mapping[str, float]]
    weights: Mapping[str, float] | None = None
    fallback: Initializer | None = None
    counts: Mapping[str, float] | None = None
    threshold: float | None = None

    def __post_init__(self) -> None:
        for token, related in self.mapping.items():
            if isinstance(related, str):
                raise ArgumentTypeError(
                    f"Neighbors: mapping[{token!r}] is a string; give a list of related tokens "
                    f"(e.g. [{related!r}]) or a {{token: weight}} dict"
                )

    def _related(self, token: str) -> tuple[list[str], list[float]] | None:
        """The related tokens of ``token`` and their weights, after threshold and counts."""
        related = self.mapping.get(token)
        if related is None:
            return None
        if isinstance(related, Mapping):
            names, weights = list(related), [float(v) for v in related.values()]
            if self.threshold is not None:
                kept = [k for k, v in enumerate(weights) if v >= self.threshold]
                names, weights = [names[k] for k in kept], [weights[k] for k in kept]
        else:
            names, table = list(related), self.weights or {}
            weights = [float(table.get(r, 1.0)) for r in names]
        if not names and self.threshold is None:
            raise VocabgraftError(f"Neighbors: mapping[{token!r}] names no related tokens")
        for r in names:
            if not isinstance(r, str):
                raise VocabgraftError(
                    f"Neighbors: related items are tokens (str). Received {r!r} for {token!r}"
                )
        if self.counts is not None:
            weights = [w * float(self.counts.get(r, 0.0)) for r, w in zip(names, weights)]
        if not names or sum(weights) <= 0:
            return None
        return names, weights

    def __call__(self, ctx: InitContext) -> np.ndarray:
        """One row per new token: the weighted mean of its related tokens' rows."""
        why = "the mapping has no entry for them"
        if self.threshold is not None or self.counts is not None:
            why += ", or none of their related tokens passes threshold or has a count"
        return _pooled("Neighbors", ctx, self._related, self.fallback, why)


@dataclass(frozen=True)
class Copy(InitializerBase):
    """The row of one existing token, for every new row (e.g. start ``<mask>`` as ``<unk>``)."""

    token: str

    def __call__(self, ctx: InitContext) -> np.ndarray:
        """The named token's row, repeated for every new row."""
        w = ctx.rows_for("Copy")
        i = _existing_row("Copy", ctx, self.token, "the new rows", len(w))
        return np.broadcast_to(np.asarray(w[i], dtype=np.float32), (ctx.n, ctx.dim)).copy()
