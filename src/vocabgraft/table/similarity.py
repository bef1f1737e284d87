"""gensim's KeyedVectors calls on EmbeddingTable: neighbours, analogies, similarities.

The calls keep gensim's names, arguments and semantics, so code written for
``KeyedVectors`` runs on a table: :meth:`~Similarities.most_similar` with
``positive=``/``negative=`` (each word unit-normalised, a weighted mean, the
input words excluded), ``similarity``, ``n_similarity``, ``distance``,
``distances``, ``doesnt_match``, ``rank``, ``get_vector(norm=)``,
``key_to_index``, ``index_to_key``, ``vector_size`` and the two evaluations.
Every neighbour search goes through :func:`vocabgraft.table.topk.topk`, a
block of rows at a time, so no normalised copy of the table is ever kept.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np

from vocabgraft.errors import ArgumentError, ArgumentTypeError, RowIndexError
from vocabgraft.table import evaluate
from vocabgraft.table.topk import topk, unit_rows

if TYPE_CHECKING:
    from vocabgraft.table.subword_protocol import SubwordModel
    from vocabgraft.vocab.core import Vocab

__all__ = ["KeyToIndex", "Similarities"]

Key: TypeAlias = str | int | np.integer | np.ndarray
"""A word, a row id, or a vector."""
WeightedKey: TypeAlias = Key | tuple[Key, float]


class KeyToIndex(Mapping[str, int]):
    """gensim's ``key_to_index``: token -> row id, a read-only view of the vocabulary."""

    def __init__(self, vocab: Vocab) -> None:
        self._vocab = vocab

    def __getitem__(self, key: str) -> int:
        return self._vocab[key]

    def __contains__(self, key: object) -> bool:
        return key in self._vocab

    def __iter__(self) -> Iterator[str]:
        return iter(self._vocab.tokens)

    def __len__(self) -> int:
        return len(self._vocab)


def _as_list(value: Any) -> list[Any]:
    """Like gensim's ``_ensure_list``: one key or vector becomes a list; a 2-D array its rows."""
    if value is None:
        return []
    if isinstance(value, (str, int, np.integer)) or (
        isinstance(value, np.ndarray) and value.ndim == 1
    ):
        return [value]
    if isinstance(value, np.ndarray) and value.ndim == 2:
        return list(value)
    return list(value)


class Similarities:
    """The gensim-compatible calls of :class:`~vocabgraft.table.EmbeddingTable`."""

    vectors: np.ndarray
    vocab: Vocab
    subwords: SubwordModel | None

    if TYPE_CHECKING:  # provided by the class this mixes into

        def __getitem__(self, key: Any) -> np.ndarray: ...
        def __len__(self) -> int: ...

    # -- gensim's names for the table's facts -------------------------------------------

    @property
    def vector_size(self) -> int:
        """The width of the vectors (gensim's name)."""
        return int(self.vectors.shape[1])

    @property
    def key_to_index(self) -> KeyToIndex:
        """Token -> row id (a read-only mapping over the vocabulary)."""
        return KeyToIndex(self.vocab)

    @property
    def index_to_key(self) -> list[str]:
        """The tokens in row order (a new list)."""
        return self.vocab.tokens

    def get_index(self, key: str | int | np.integer, default: int | None = None) -> int:
        """The row of ``key`` (a token, or a row id checked to be in range).

        Raises:
            TokenNotFoundError: an unknown token and no ``default``.
            RowIndexError: a row id out of range and no ``default``.
        """
        if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
            if 0 <= key < len(self):
                return int(key)
            if default is not None:
                return default
            raise RowIndexError(f"row {int(key)} is out of range for a table of {len(self)} rows")
        token = str(key)
        i = self.vocab.get(token)
        if i is not None:
            return i
        if default is not None:
            return default
        return self.vocab[token]  # raises TokenNotFoundError naming the token

    def has_index_for(self, key: str) -> bool:
        """Whether ``key`` has a row of its own (a composed word has not)."""
        return key in self.vocab

    def get_vector(self, key: str | int | np.integer, norm: bool = False) -> np.ndarray:
        """The vector of ``key``, read-only; ``norm=True`` scales it to unit length.

        A word the vocabulary lacks is composed by the subword model when the
        table has one (fastText), as gensim's ``FastTextKeyedVectors`` does.
        """
        if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
            vec = self.vectors[self.get_index(key)]
        else:
            vec = self[key]
        if norm:
            vec = unit_rows(vec[None])[0]
            vec.flags.writeable = False
        return np.asarray(vec)

    def norms(self) -> np.ndarray:
        """The L2 norm of every row (float32), computed a block at a time."""
        out = np.empty(len(self), dtype=np.float32)
        for lo in range(0, len(self), 1 << 16):
            block = np.asarray(self.vectors[lo : lo + (1 << 16)], dtype=np.float32)
            out[lo : lo + len(block)] = np.linalg.norm(block, axis=1)
        return out

    # -- neighbours ------------------------------------------------------------------

    def get_mean_vector(
        self,
        keys: Sequence[Key],
        weights: Sequence[float] | np.ndarray | None = None,
        pre_normalize: bool = True,
        post_normalize: bool = False,
    ) -> np.ndarray:
        """The weighted mean of keys, as gensim takes it (unit-normalised words) and raw vectors.

        Raises:
            ArgumentError: no keys, or weights of another length.
        """
        if len(keys) == 0:
            raise ArgumentError("cannot compute a mean with no keys; pass at least one")
        w = np.ones(len(keys)) if weights is None else np.asarray(weights, dtype=np.float64)
        if w.shape != (len(keys),):
            raise ArgumentError(f"weights must have {len(keys)} values, one per key")
        mean = np.zeros(self.vector_size, dtype=np.float32)
        for key, weight in zip(keys, w.tolist()):
            vec = key if isinstance(key, np.ndarray) else self.get_vector(key, norm=pre_normalize)
            mean += np.float32(weight) * np.asarray(vec, dtype=np.float32)
        total = float(np.abs(w).sum())
        if total > 0:
            mean = mean / np.float32(total)
        return unit_rows(mean[None])[0] if post_normalize else mean

    def _search(
        self, query: np.ndarray, topn: int, exclude: list[int], lo: int = 0, hi: int | None = None
    ) -> list[tuple[str, float]]:
        rows = self.vectors[lo:hi]
        ex = np.asarray([i - lo for i in exclude], dtype=np.int64)
        ids, cos = topk(query[None], rows, min(topn, max(len(rows), 1)), exclude=ex)
        return [
            (self.vocab.token(int(i) + lo), float(c))
            for i, c in zip(ids[0].tolist(), cos[0].tolist())
            if i >= 0
        ]

    def most_similar(
        self,
        positive: WeightedKey | Sequence[WeightedKey] | None = None,
        negative: WeightedKey | Sequence[WeightedKey] | None = None,
        topn: int | None = 10,
        clip_start: int = 0,
        clip_end: int | None = None,
        restrict_vocab: int | None = None,
        *,
        k: int | None = None,
        exclude: Sequence[str] = (),
    ) -> Any:
        """The ``topn`` rows nearest by cosine to the weighted mean of ``positive`` minus ``negative``.

        gensim's semantics: each word is scaled to unit length (vectors are
        taken as given), positive ones weigh +1 and negative ones -1 (or the
        weight of a ``(key, weight)`` pair), the mean is normalised, and the
        input words are not returned. ``restrict_vocab`` searches the first
        rows only; ``topn=None`` returns every row's cosine as an array.

        ``k=`` is vocabgraft's batch form, the same as :meth:`nearest`: a list
        of tokens or a 2-D array gives one list of neighbours per query, and
        ``exclude`` drops more tokens.

        Returns:
            ``[(token, cosine), ...]``, nearest first.

        Raises:
            TokenNotFoundError: a word the table neither has nor can compose.

        >>> import numpy as np
        >>> from vocabgraft import EmbeddingTable
        >>> t = EmbeddingTable(np.array([[1, 0], [0, 1], [1, 1], [1, -1]], np.float32),
        ...                    ["king", "woman", "queen", "man"])
        >>> t.most_similar(positive=["king", "woman"], negative=["man"], topn=1)[0][0]
        'queen'
        """
        if k is not None:
            return self.nearest(positive, k, exclude=exclude)  # type: ignore[arg-type]
        if isinstance(topn, (int, np.integer)) and topn < 1:
            return []
        keys: list[Key] = []
        weights: list[float] = []
        for sign, items in ((1.0, _as_list(positive)), (-1.0, _as_list(negative))):
            for item in items:
                key, weight = (item, sign) if not isinstance(item, tuple) else item
                keys.append(key)
                weights.append(float(weight))
        mean = self.get_mean_vector(keys, weights, pre_normalize=True, post_normalize=True)
        lo, hi = (0, restrict_vocab) if restrict_vocab else (clip_start, clip_end or len(self))
        inputs = [
            self.get_index(key)
            for key in keys
            if not isinstance(key, np.ndarray) and (not isinstance(key, str) or key in self.vocab)
        ]
        if not topn:
            return self.cosines(mean)[lo:hi]
        return self._search(mean, int(topn), inputs, lo, hi)

    def nearest(
        self, queries: str | Sequence[str] | np.ndarray, k: int = 10, *, exclude: Sequence[str] = ()
    ) -> Any:
        """The ``k`` nearest rows by cosine, for one query or a batch.

        Args:
            queries: a token, a vector, a list of tokens or an ``(n, D)`` array.
            k: neighbours per query.
            exclude: tokens that are nobody's neighbour. A token query never
                returns itself; a vector query may return any row.

        Returns:
            One query: ``[(token, cosine), ...]``; several: a list of such lists.

        Raises:
            ArgumentError: ``k`` not a positive integer, or vectors of another width.
        """
        if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
            raise ArgumentError(f"k must be a positive integer. Received: k={k!r}")
        single = isinstance(queries, str) or (isinstance(queries, np.ndarray) and queries.ndim == 1)
        if isinstance(queries, np.ndarray):
            q = np.atleast_2d(np.asarray(queries, dtype=np.float32))
            if q.shape[1] != self.vector_size:
                raise ArgumentError(
                    f"query vectors are {q.shape[1]}-d but the table is {self.vector_size}-d"
                )
            self_ids = np.full((len(q), 1), -1, dtype=np.int64)
        else:
            words = [queries] if isinstance(queries, str) else list(queries)
            q = np.asarray(self[words], dtype=np.float32)
            self_ids = self.vocab.find(words)[:, None]
        skip = self.vocab.lookup_exact(list(exclude))
        ex = np.concatenate([self_ids, np.broadcast_to(skip, (len(q), len(skip)))], axis=1)
        ids, cos = topk(q, self.vectors, min(int(k), max(len(self), 1)), exclude=ex)
        out = [
            [(self.vocab.token(i), c) for i, c in zip(r_i, r_c) if i >= 0]
            for r_i, r_c in zip(ids.tolist(), cos.tolist())
        ]
        return out[0] if single else out

    def cosines(self, vector: np.ndarray) -> np.ndarray:
        """The cosine of ``vector`` with every row (float32, 0 for a zero row), a block at a time."""
        q = unit_rows(np.asarray(vector, dtype=np.float32)[None])[0]
        out = np.empty(len(self), dtype=np.float32)
        for lo in range(0, len(self), 1 << 16):
            block = np.asarray(self.vectors[lo : lo + (1 << 16)], dtype=np.float32)
            norms = np.linalg.norm(block, axis=1)
            out[lo : lo + len(block)] = (block @ q) / np.where(norms == 0, 1, norms)
        return out

    # -- pairs and sets --------------------------------------------------------------

    def similarity(self, w1: Key, w2: Key) -> float:
        """The cosine of two words (or vectors)."""
        a, b = unit_rows(np.stack([self._vec(w1), self._vec(w2)]))
        return float(a @ b)

    def distance(self, w1: Key, w2: Key) -> float:
        """``1 - similarity(w1, w2)``."""
        return 1.0 - self.similarity(w1, w2)

    def n_similarity(self, ws1: Sequence[Key], ws2: Sequence[Key]) -> float:
        """The cosine of the (plain) means of two sets of words.

        Raises:
            ArgumentError: an empty set.
        """
        if not (len(ws1) and len(ws2)):
            raise ArgumentError("n_similarity needs two non-empty lists of words")
        m1 = self.get_mean_vector(list(ws1), pre_normalize=False)
        m2 = self.get_mean_vector(list(ws2), pre_normalize=False)
        a, b = unit_rows(np.stack([m1, m2]))
        return float(a @ b)

    def distances(self, word_or_vector: Key, other_words: Sequence[Key] = ()) -> np.ndarray:
        """``1 - cosine`` from a word or vector to ``other_words`` (default: every row)."""
        q = self._vec(word_or_vector)
        if not other_words:
            return 1.0 - self.cosines(q)
        others = unit_rows(np.stack([self._vec(w) for w in other_words]))
        return np.asarray(1.0 - others @ unit_rows(q[None])[0])

    def closer_than(self, key1: str, key2: str) -> list[str]:
        """The tokens nearer to ``key1`` than ``key2`` is."""
        d = self.distances(key1)
        e1, e2 = self.get_index(key1), self.get_index(key2)
        return [self.vocab.token(i) for i in np.flatnonzero(d < d[e2]).tolist() if i != e1]

    def rank(self, key1: str, key2: str) -> int:
        """``key2``'s rank among ``key1``'s neighbours (1 is the nearest)."""
        return len(self.closer_than(key1, key2)) + 1

    def rank_by_centrality(self, words: Sequence[str]) -> list[tuple[float, str]]:
        """The words by cosine to the mean of their unit vectors, most central first.

        Words the table lacks (and cannot compose) are left out, with a warning.

        Raises:
            ArgumentError: none of the words is known.
        """
        used = [w for w in words if w in self.vocab or self.subwords is not None]
        if len(used) != len(words):
            left = sorted(set(words) - set(used))
            warnings.warn(f"words not in the table, left out: {left}", stacklevel=2)
        if not used:
            raise ArgumentError("none of the words is in the table; give words it knows")
        vectors = unit_rows(np.asarray(self[used], dtype=np.float32))
        mean = unit_rows(vectors.mean(axis=0)[None])[0]
        return sorted(zip((vectors @ mean).tolist(), used), reverse=True)

    def doesnt_match(self, words: Sequence[str]) -> str:
        """The word furthest from the mean of the others' unit vectors."""
        return self.rank_by_centrality(words)[-1][1]

    def _vec(self, key: Key) -> np.ndarray:
        if isinstance(key, np.ndarray):
            return np.asarray(key, dtype=np.float32)
        if not isinstance(key, (str, int, np.integer)):
            raise ArgumentTypeError(
                f"a key is a token, a row id or a vector. Received {type(key).__name__}"
            )
        return np.asarray(self.get_vector(key), dtype=np.float32)

    # -- evaluations (gensim's; the functions in vocabgraft.table.evaluate) ------------

    evaluate_word_pairs = evaluate.evaluate_word_pairs
    evaluate_word_analogies = evaluate.evaluate_word_analogies
