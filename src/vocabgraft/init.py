"""Initializers: first vectors for new or unmatched rows.

Every initializer is a callable that takes an :class:`InitContext` and returns
an ``(n, D)`` array. They are deterministic given the context's generator, and
the same objects serve ``align`` (unmatched rows), ``PartialEmbedding.extend``
(torch and Keras) and ``warmstart``.

=================  ============================================================
``Zeros``          all-zero rows
``Mean``           the mean of the existing rows
``MatchedNormal``  samples from a normal with the existing rows' mean and covariance
``Subword``        a word's vector from its character n-grams (fastText's, or fitted)
``Subtokens``      the mean of the rows of the pieces a tokenizer splits a token into
``Neighbors``      the (weighted) mean of the rows of named related items
``Copy``           the row of one existing token
=================  ============================================================

Initializers that read the existing rows raise :class:`VocabgraftError` on an
empty table, naming themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from .errors import TokenNotFoundError, VocabgraftError
from .vocab import Vocab

if TYPE_CHECKING:
    from .table import EmbeddingTable, SubwordModel

__all__ = [
    "Copy",
    "InitContext",
    "Initializer",
    "InitializerBase",
    "MatchedNormal",
    "Mean",
    "Neighbors",
    "Subtokens",
    "Subword",
    "Zeros",
    "resolve_init",
]

# Rows read at once when computing statistics of a (possibly memory-mapped) table.
_CHUNK_ROWS = 1 << 16


@dataclass(frozen=True)
class InitContext:
    """What an initializer may look at.

    Attributes:
        n: how many rows to make.
        dim: their width.
        tokens: the new rows' tokens, when they have names (``None`` for
            anonymous rows, e.g. ``extend(5)``).
        vocab: the vocabulary naming the existing rows, when there is one.
        rng: the generator every random choice comes from.
        weights_fn: returns the existing rows ``(V, D)``. Called at most once,
            and only by initializers that need the rows (``Mean`` does,
            ``Zeros`` does not), so a caller can hand over a memory map or
            build a merged copy lazily.
    """

    n: int
    dim: int
    tokens: Sequence[str] | None = None
    vocab: Vocab | None = None
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))
    weights_fn: Callable[[], np.ndarray] | None = None

    @cached_property
    def weights(self) -> np.ndarray:
        """The existing rows. Do not write to them."""
        if self.weights_fn is None:
            raise VocabgraftError("this initializer needs the existing rows, but none were given")
        return self.weights_fn()

    def rows_for(self, name: str) -> np.ndarray:
        """The existing rows, or a clear error naming initializer ``name`` if there are none."""
        w = self.weights
        if len(w) == 0:
            raise _empty_table_error(name)
        if w.ndim != 2 or w.shape[1] != self.dim:
            raise VocabgraftError(
                f"{name}: the existing rows have shape {w.shape}, but rows of width {self.dim} "
                "are being made"
            )
        return w

    def tokens_for(self, name: str) -> list[str]:
        """The new rows' tokens, or a clear error if the rows are anonymous."""
        if self.tokens is None:
            raise VocabgraftError(
                f"{name} builds a row from its token, but these {self.n} rows have no tokens. "
                "Add rows by token (extend(['word', ...])) or use Mean() or MatchedNormal()"
            )
        tokens = list(self.tokens)
        if len(tokens) != self.n:
            raise VocabgraftError(f"{name}: {len(tokens)} tokens given for {self.n} rows")
        return tokens

    def vocab_for(self, name: str) -> Vocab:
        """The vocabulary of the existing rows, or a clear error if there is none."""
        if self.vocab is None:
            raise VocabgraftError(
                f"{name} looks existing tokens up by name, but the existing rows have no "
                "vocabulary. Build the table or module with one"
            )
        return self.vocab

    def subset(self, index: Sequence[int]) -> InitContext:
        """The context for some of the new rows (shares the generator and the rows)."""
        tokens = None if self.tokens is None else [self.tokens[i] for i in index]
        return InitContext(
            n=len(index),
            dim=self.dim,
            tokens=tokens,
            vocab=self.vocab,
            rng=self.rng,
            weights_fn=lambda: self.weights,
        )


@runtime_checkable
class Initializer(Protocol):
    """Anything that makes ``ctx.n`` rows of width ``ctx.dim`` from an :class:`InitContext`."""

    def __call__(self, ctx: InitContext) -> np.ndarray: ...


class InitializerBase:
    """A base for initializers (optional: the protocol is just ``__call__(ctx)``).

    Every initializer here derives from it, so a mix of them, such as
    ``{"zeros": Zeros(), "mean": Mean()}``, types as one kind of
    :class:`Initializer`.
    """

    def __call__(self, ctx: InitContext) -> np.ndarray:
        raise NotImplementedError


def _empty_table_error(name: str) -> VocabgraftError:
    return VocabgraftError(
        f"{name} needs existing rows to compute from, but the table is empty (0 rows). "
        "Use Zeros() or pass the initial values as an array"
    )


def _moments(w: np.ndarray, *, diagonal: bool) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (or per-dimension variance) of the rows, in float64, in chunks.

    Chunks keep a memory-mapped table from being copied whole; the sums are
    taken about the first chunk's mean to avoid cancellation.
    """
    n = len(w)
    shift = np.asarray(w[:_CHUNK_ROWS], dtype=np.float64).mean(axis=0)
    total = np.zeros(w.shape[1])
    second = np.zeros(w.shape[1]) if diagonal else np.zeros((w.shape[1], w.shape[1]))
    for lo in range(0, n, _CHUNK_ROWS):
        c = np.asarray(w[lo : lo + _CHUNK_ROWS], dtype=np.float64) - shift
        total += c.sum(axis=0)
        c32 = c.astype(np.float32)
        second += (c32 * c32).sum(axis=0) if diagonal else _gram(c32)
    mean_c = total / n
    centered = second - n * (mean_c * mean_c if diagonal else np.outer(mean_c, mean_c))
    cov = centered / (n - 1) if n > 1 else np.zeros_like(second)
    return mean_c + shift, cov


def _gram(c: np.ndarray, block: int = 64) -> np.ndarray:
    """``c.T @ c`` in float64, as a sum of products of ``block`` rows each.

    For narrow tables these products are small enough that OpenBLAS keeps
    them on one thread; one large product is threaded, and on a machine whose
    cores are busy that made the covariance of GloVe 6B 50d take seconds
    instead of 0.07 s. The stacked products are formed a few megabytes at a
    time. Float32 products are ample for an initializer's statistics; the
    sums are float64.
    """
    d = c.shape[1]
    m = len(c) // block * block
    blocks = c[:m].reshape(-1, block, d)
    per_call = max(1, (8 << 20) // (4 * d * d))
    out = c[m:].T.astype(np.float64) @ c[m:]
    for lo in range(0, len(blocks), per_call):
        b = blocks[lo : lo + per_call]
        out += np.matmul(b.transpose(0, 2, 1), b).sum(axis=0, dtype=np.float64)
    return out


def _check_finite(name: str, w: np.ndarray) -> None:
    if not np.all(np.isfinite(w)):
        raise VocabgraftError(f"{name}: the existing rows hold NaN or infinite values")


@dataclass(frozen=True)
class Zeros(InitializerBase):
    """All-zero rows."""

    def __call__(self, ctx: InitContext) -> np.ndarray:
        return np.zeros((ctx.n, ctx.dim), dtype=np.float32)


@dataclass(frozen=True)
class Mean(InitializerBase):
    """The mean of the existing rows, for every new row (optionally with small noise).

    Args:
        noise: standard deviation of Gaussian noise added per row, relative to
            the rows' per-dimension standard deviation, so new rows are not all
            identical. 0 gives exactly the mean.
        weights: one non-negative weight per existing row (word counts, item
            popularity), for a weighted mean. A plain mean counts a word seen
            once as much as one seen a million times, and rarely seen rows
            are often far from where a new, real item will land. None: all
            rows weigh the same.

    >>> ctx = InitContext(n=1, dim=2, weights_fn=lambda: np.array([[0.0, 0.0], [4.0, 8.0]]))
    >>> Mean()(ctx).tolist(), Mean(weights=[3, 1])(ctx).tolist()
    ([[2.0, 4.0]], [[1.0, 2.0]])
    """

    noise: float = 0.0
    weights: Sequence[float] | np.ndarray | None = field(default=None, compare=False)

    def __call__(self, ctx: InitContext) -> np.ndarray:
        w = ctx.rows_for("Mean")
        if self.weights is not None:
            weights = _row_weights("Mean", self.weights, len(w))
            mean, var = _weighted_moments(w, weights, variance=bool(self.noise))
        elif not self.noise:
            total = sum(
                (np.asarray(w[lo : lo + _CHUNK_ROWS], dtype=np.float64).sum(axis=0))
                for lo in range(0, len(w), _CHUNK_ROWS)
            )
            return np.broadcast_to(total / len(w), (ctx.n, ctx.dim)).astype(np.float32)
        else:
            mean, var = _moments(w, diagonal=True)
        if not self.noise:
            return np.broadcast_to(mean, (ctx.n, ctx.dim)).astype(np.float32)
        rows = mean + ctx.rng.normal(0.0, 1.0, (ctx.n, ctx.dim)) * (self.noise * np.sqrt(var))
        return np.asarray(rows, dtype=np.float32)


def _row_weights(name: str, weights: Sequence[float] | np.ndarray, num_rows: int) -> np.ndarray:
    """``weights`` as float64, checked: one per existing row, finite, >= 0, not all 0."""
    a = np.asarray(weights, dtype=np.float64)
    if a.shape != (num_rows,):
        raise VocabgraftError(
            f"{name}: weights has shape {a.shape}, but there are {num_rows} existing rows "
            "(give one weight per row)"
        )
    bad = np.flatnonzero(~np.isfinite(a) | (a < 0))
    if len(bad):
        i = int(bad[0])
        raise VocabgraftError(
            f"{name}: weights must be finite and >= 0. Received {a[i]} at row {i}"
        )
    if not a.any():
        raise VocabgraftError(f"{name}: every weight is 0, so there is no mean to take")
    return a


def _weighted_moments(
    w: np.ndarray, weights: np.ndarray, *, variance: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted mean and per-dimension variance (zeros unless ``variance``), float64, in chunks."""
    total = weights.sum()
    mean = np.zeros(w.shape[1])
    for lo in range(0, len(w), _CHUNK_ROWS):
        mean += weights[lo : lo + _CHUNK_ROWS] @ np.asarray(w[lo : lo + _CHUNK_ROWS], np.float64)
    mean /= total
    var = np.zeros(w.shape[1])
    for lo in range(0, len(w), _CHUNK_ROWS) if variance else ():
        c = np.asarray(w[lo : lo + _CHUNK_ROWS], np.float64) - mean
        var += weights[lo : lo + _CHUNK_ROWS] @ (c * c)
    return mean, var / total


@dataclass(frozen=True)
class MatchedNormal(InitializerBase):
    """Samples from a normal distribution with the existing rows' mean and covariance.

    New rows look like typical existing rows: same centre, same spread, same
    correlations between dimensions, so they have typical norms and differ
    from one another.

    Args:
        diagonal: use per-dimension variances only (no correlations).
        scale: multiplies the standard deviation (the covariance by ``scale**2``).

    The default samples the full spread (``scale=1``). transformers'
    ``resize_token_embeddings(mean_resizing=True)`` samples from
    ``N(mean, 1e-5 * cov)``, which puts every new row within a hair of the
    mean: a deliberate choice there, so that new rows tied to an output layer
    do not shift a language model's predictions. For input rows that will
    train or be compared by cosine, near-identical rows carry no information,
    so we do not copy that factor by default. ``scale=1e-5 ** 0.5`` reproduces
    it; ``Mean()`` is its limit.

    >>> ctx = InitContext(n=2, dim=3, weights_fn=lambda: np.eye(3), rng=np.random.default_rng(0))
    >>> MatchedNormal()(ctx).shape
    (2, 3)
    """

    diagonal: bool = False
    scale: float = 1.0

    def __call__(self, ctx: InitContext) -> np.ndarray:
        w = ctx.rows_for("MatchedNormal")
        mean, cov = _moments(w, diagonal=self.diagonal)
        if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(cov))):
            _check_finite("MatchedNormal", np.asarray(w))
        z = ctx.rng.standard_normal((ctx.n, ctx.dim))
        if self.diagonal:
            rows = mean + z * (self.scale * np.sqrt(np.maximum(cov, 0.0)))
        else:
            # eigh, not Cholesky: a covariance of few rows is singular.
            values, vectors = np.linalg.eigh(cov)
            rows = mean + (z * (self.scale * np.sqrt(np.maximum(values, 0.0)))) @ vectors.T
        return rows.astype(np.float32)


class Subword(InitializerBase):
    """A token's vector from its character n-grams.

    Args:
        source: where the n-gram vectors come from:

            - a table that carries a subword model (``table.subwords``, e.g. a
              fastText ``.bin``): fastText's exact vector for any word;
            - a table without one (GloVe, word2vec, a trained model's rows): a
              :class:`~vocabgraft.subword_model.FittedSubwords` model is fitted
              on it at the first call (12 to 30 s for GloVe 6B) and kept;
            - a subword model (anything with ``compose(words)``), used as is;
            - ``None``: fit on the existing rows and vocabulary of each
              context (what ``extend(init=Subword())`` sees). That refits on
              every call; pass a table or a model to fit once.
        **fit_options: passed to :func:`~vocabgraft.subword_model.fit_subwords`
            when a model is fitted.

    >>> import numpy as np
    >>> from vocabgraft import EmbeddingTable
    >>> rng = np.random.default_rng(0)
    >>> table = EmbeddingTable(rng.normal(size=(3, 4)).astype(np.float32), ["walk", "walks", "talk"])
    >>> init = Subword(table, weighting="uniform")
    >>> init(InitContext(n=1, dim=4, tokens=["walking"])).shape
    (1, 4)
    """

    def __init__(
        self, source: EmbeddingTable | SubwordModel | None = None, **fit_options: Any
    ) -> None:
        from .table import EmbeddingTable

        compose = getattr(source, "compose", None)
        if source is not None and not isinstance(source, EmbeddingTable) and not callable(compose):
            raise TypeError(
                "Subword takes an EmbeddingTable, a subword model (with compose(words)) "
                f"or None. Received: {type(source).__name__}"
            )
        self.source = source
        self.fit_options = fit_options
        self._model: SubwordModel | None = None

    def __repr__(self) -> str:
        return f"Subword({type(self.source).__name__})"

    @property
    def model(self) -> SubwordModel | None:
        """The subword model in use (None until one is needed, when it has to be fitted)."""
        from .table import EmbeddingTable

        if self._model is None and self.source is not None:
            if not isinstance(self.source, EmbeddingTable):
                self._model = self.source
            elif self.source.subwords is not None:
                self._model = self.source.subwords
        return self._model

    def _fit(self, table: EmbeddingTable) -> SubwordModel:
        from .subword_model import fit_subwords

        if len(table) == 0:
            raise _empty_table_error("Subword")
        return fit_subwords(table, **self.fit_options)

    def __call__(self, ctx: InitContext) -> np.ndarray:
        from .table import EmbeddingTable

        tokens = ctx.tokens_for("Subword")
        model = self.model
        if model is None and isinstance(self.source, EmbeddingTable):
            model = self._model = self._fit(self.source)
        elif model is None:
            w = ctx.rows_for("Subword")
            vocab = ctx.vocab_for("Subword")
            if len(vocab) != len(w):
                raise VocabgraftError(
                    f"Subword: the vocabulary has {len(vocab)} tokens but there are {len(w)} "
                    "existing rows; fit on a table instead: Subword(table)"
                )
            model = self._fit(EmbeddingTable(w, vocab))
        assert model is not None
        if model.dim != ctx.dim:
            raise VocabgraftError(
                f"Subword: the subword model gives {model.dim}-d vectors, but rows of width "
                f"{ctx.dim} are being made"
            )
        if not tokens:
            return np.zeros((0, ctx.dim), dtype=np.float32)
        return np.asarray(model.compose(tokens), dtype=np.float32)


def _resolve_fallback(
    name: str,
    fallback: Initializer | None,
    ctx: InitContext,
    rows: np.ndarray,
    missing: list[int],
    why: str,
) -> None:
    """Fill ``rows[missing]`` from ``fallback``, or raise naming the first missing token."""
    if not missing:
        return
    if fallback is None:
        raise VocabgraftError(
            f"{name}: {why} ({len(missing)} of {ctx.n} new tokens). "
            f"Pass fallback=Mean() (or another initializer) to fill such rows"
        )
    rows[missing] = resolve_init(fallback, ctx.subset(missing))


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
        return rows.mean(axis=0)
    a = np.asarray(weights, dtype=np.float64)
    return (a @ rows) / a.sum()


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
            name; without one they are an error.

    A related token that is not an existing row is always an error.

    >>> vocab = Vocab(["shoe", "boot", "hat"])
    >>> ctx = InitContext(n=1, dim=2, tokens=["sandal"], vocab=vocab,
    ...                   weights_fn=lambda: np.array([[1., 0], [0, 1], [5, 5]]))
    >>> Neighbors({"sandal": {"shoe": 3, "boot": 1}})(ctx).tolist()
    [[0.75, 0.25]]
    """

    mapping: Mapping[str, Sequence[str] | Mapping[str, float]]
    weights: Mapping[str, float] | None = None
    fallback: Initializer | None = None

    def __post_init__(self) -> None:
        for token, related in self.mapping.items():
            if isinstance(related, str):
                raise TypeError(
                    f"Neighbors: mapping[{token!r}] is a string; give a list of related tokens "
                    f"(e.g. [{related!r}]) or a {{token: weight}} dict"
                )

    def __call__(self, ctx: InitContext) -> np.ndarray:
        def related_of(token: str) -> tuple[list[Any], Sequence[float]] | None:
            related = self.mapping.get(token)
            if related is None:
                return None
            if isinstance(related, Mapping):
                names, weights = list(related), [float(v) for v in related.values()]
            else:
                names, table = list(related), self.weights or {}
                weights = [float(table.get(r, 1.0)) for r in names]
            if not names:
                raise VocabgraftError(f"Neighbors: mapping[{token!r}] names no related tokens")
            for r in names:
                if not isinstance(r, str):
                    raise VocabgraftError(
                        f"Neighbors: related items are tokens (str). Received {r!r} for {token!r}"
                    )
            return names, weights

        return _pooled(
            "Neighbors", ctx, related_of, self.fallback, "the mapping has no entry for them"
        )


@dataclass(frozen=True)
class Copy(InitializerBase):
    """The row of one existing token, for every new row (e.g. start ``<mask>`` as ``<unk>``)."""

    token: str

    def __call__(self, ctx: InitContext) -> np.ndarray:
        w = ctx.rows_for("Copy")
        i = _existing_row("Copy", ctx, self.token, "the new rows", len(w))
        return np.broadcast_to(np.asarray(w[i], dtype=np.float32), (ctx.n, ctx.dim)).copy()


def _named(name: str) -> Initializer:
    named: dict[str, Callable[[], Initializer]] = {
        "mean": Mean,
        "normal": MatchedNormal,
        "subword": Subword,
    }
    if name not in named:
        raise ValueError(
            f"unknown initializer name {name!r}; use one of {['zeros', *sorted(named)]} "
            "or an initializer object from vocabgraft.init"
        )
    return named[name]()


def resolve_init(init: Initializer | np.ndarray | str | None, ctx: InitContext) -> np.ndarray:
    """Rows for ``ctx`` from an initializer, an array of values, a name, or ``None`` (zeros).

    Names: ``"zeros"``, ``"mean"``, ``"normal"`` (:class:`MatchedNormal`),
    ``"subword"`` (:class:`Subword` fitted on the existing rows). Arrays must
    be ``(n, dim)``.
    """
    if init is None or (isinstance(init, str) and init == "zeros"):
        init = Zeros()
    elif isinstance(init, str):
        init = _named(init)
    if isinstance(init, np.ndarray) or not callable(init):
        rows = np.asarray(init)
        if rows.shape != (ctx.n, ctx.dim):
            raise ValueError(
                f"initial values have shape {rows.shape}, but {ctx.n} rows of width {ctx.dim} "
                f"are being added; pass an array of shape ({ctx.n}, {ctx.dim})"
            )
        return rows
    rows = np.asarray(init(ctx))
    if rows.shape != (ctx.n, ctx.dim):
        raise VocabgraftError(
            f"{type(init).__name__} returned shape {rows.shape}, expected ({ctx.n}, {ctx.dim})"
        )
    return rows
