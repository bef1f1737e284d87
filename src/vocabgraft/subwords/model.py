"""FittedSubwords: vectors for any word from character n-gram vectors fitted to a table.

N-grams are taken over characters of ``"<" + word + ">"`` (the markers are
code points outside Unicode, so a literal ``<`` in a token is not a marker)
and named by a 64-bit FNV-1a hash of their code points. The model keeps only
the n-grams it saw, as a sorted array of hashes, so no buckets collide and the
size follows the data. Composing and loading need numpy only; fitting
(:func:`vocabgraft.subwords.fit_subwords`) needs scipy.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from vocabgraft._safetensors import open_arrays, save_arrays
from vocabgraft.errors import ArgumentError, ArgumentTypeError, FormatError
from vocabgraft.subwords.fasttext import MAX_NGRAM
from vocabgraft.table.subword_protocol import register_subword_model, require_arrays

if TYPE_CHECKING:
    from vocabgraft.table.core import EmbeddingTable

__all__ = ["FORMAT", "VERSION", "FittedSubwords", "ngram_hashes"]

FORMAT = "vocabgraft.fitted_subwords"
VERSION = "1"
_BOW = np.uint64(0x110000)  # "<" and ">": just past the last Unicode code point
_EOW = np.uint64(0x110001)
_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)
# Floats gathered at once while composing (bounds the temporary memory).
_GATHER_FLOATS = 1 << 22


def ngram_hashes(words: Sequence[str], minn: int, maxn: int) -> tuple[np.ndarray, np.ndarray]:
    """64-bit hashes of the character n-grams of every word, vectorised.

    Returns ``(indptr, hashes)``: the n-grams of ``words[i]`` are
    ``hashes[indptr[i]:indptr[i + 1]]``. Words of equal length are hashed
    together as one ``(count, length)`` array of code points, so the cost is a
    few numpy operations per distinct length, not per word.

    >>> indptr, h = ngram_hashes(["ab", "abc"], 3, 3)
    >>> np.diff(indptr).tolist()  # <ab, ab>; <ab, abc, bc>
    [2, 3]
    >>> bool(h[0] == h[2])  # "<ab" is shared
    True
    """
    if not 1 <= minn <= maxn:
        raise ArgumentError(f"need 1 <= minn <= maxn. Received: minn={minn}, maxn={maxn}")
    lengths = np.fromiter(map(len, words), dtype=np.int64, count=len(words))
    total = lengths + 2
    per_word = np.zeros(len(words), dtype=np.int64)
    # No n-gram is longer than the longest word: a huge maxn costs nothing.
    maxn = min(maxn, int(total.max(initial=0)))
    for n in range(minn, maxn + 1):
        per_word += np.maximum(total - n + 1, 0)
    indptr = np.zeros(len(words) + 1, dtype=np.int64)
    np.cumsum(per_word, out=indptr[1:])
    hashes = np.empty(int(indptr[-1]), dtype=np.uint64)
    order = np.argsort(lengths, kind="stable")
    sorted_lengths = lengths[order]
    cuts = np.flatnonzero(np.diff(sorted_lengths)) + 1
    for lo, hi in zip(np.r_[0, cuts].tolist(), np.r_[cuts, len(words)].tolist()):
        if hi <= lo:
            continue
        idx = order[lo:hi]
        size = int(sorted_lengths[lo])
        raw = "".join(words[i] for i in idx.tolist()).encode("utf-32-le", "surrogatepass")
        codes = np.frombuffer(raw, dtype=np.uint32).reshape(hi - lo, size).astype(np.uint64)
        ends = np.full((hi - lo, 1), _BOW, dtype=np.uint64)
        codes = np.concatenate([ends, codes, ends + np.uint64(1)], axis=1)
        width = size + 2
        h = np.full((hi - lo, width), _FNV_OFFSET, dtype=np.uint64)
        blocks = []
        # h[:, p] after step n is the hash of the n-gram starting at p (FNV-1a).
        for n in range(1, min(maxn, width) + 1):
            h = (h[:, : width - n + 1] ^ codes[:, n - 1 :]) * _FNV_PRIME
            if n >= minn:
                blocks.append(h)
        if blocks:
            grams = np.concatenate(blocks, axis=1)
            pos = indptr[idx][:, None] + np.arange(grams.shape[1])
            hashes[pos.ravel()] = grams.ravel()
    return indptr, hashes


@register_subword_model
class FittedSubwords:
    """Vectors for any word from character n-gram vectors fitted to a table.

    A word's vector is the mean of the vectors of its known n-grams, scaled to
    ``norm`` (the median row norm of the table it was fitted on). A word with
    no known n-gram gets ``fallback``, the mean of the fitted rows. Build one
    with :func:`fit_subwords`; it implements
    :class:`~vocabgraft.table.SubwordModel`, so a table can carry it and its
    cache saves it.

    Args:
        keys: the sorted 64-bit hashes of the known n-grams.
        vectors: ``(len(keys), D)`` float32, one row per n-gram.
        minn, maxn: the n-gram lengths, in characters, markers included.
        norm: the length of composed vectors.
        fallback: ``(D,)``, the vector of a word with no known n-gram.
    """

    kind: ClassVar[str] = "fitted"

    def __init__(
        self,
        keys: np.ndarray,
        vectors: np.ndarray,
        *,
        minn: int,
        maxn: int,
        norm: float,
        fallback: np.ndarray,
    ) -> None:
        if vectors.ndim != 2 or len(vectors) != len(keys):
            raise ArgumentError(
                f"vectors must be (len(keys), D) = ({len(keys)}, D). Received {vectors.shape}"
            )
        if fallback.shape != (vectors.shape[1],):
            raise ArgumentError(
                f"fallback must be ({vectors.shape[1]},). Received {fallback.shape}"
            )
        if len(keys) > 1 and not bool(np.all(keys[1:] > keys[:-1])):
            raise ArgumentError("keys must be sorted and unique")
        self.keys = keys
        self.vectors = vectors
        self.minn = int(minn)
        self.maxn = int(maxn)
        self.norm = float(norm)
        self.fallback = fallback

    @property
    def dim(self) -> int:
        """The width of the vectors."""
        return int(self.vectors.shape[1])

    def __len__(self) -> int:
        return len(self.keys)

    def __repr__(self) -> str:
        return (
            f"FittedSubwords({len(self):,} n-grams x {self.dim}, "
            f"n-grams {self.minn}..{self.maxn}, norm={self.norm:.3g})"
        )

    def compose(self, words: Sequence[str]) -> np.ndarray:
        """Vectors for ``words`` (``len(words) x dim``, float32).

        >>> model = FittedSubwords(
        ...     np.array([ngram_hashes(["cat"], 4, 4)[1][0]]), np.ones((1, 2), np.float32),
        ...     minn=4, maxn=4, norm=2.0, fallback=np.zeros(2, np.float32))
        >>> model.compose(["cats", "dog"]).astype(np.float64).round(3).tolist()  # "<cat" known
        [[1.414, 1.414], [0.0, 0.0]]
        """
        if isinstance(words, str):
            raise ArgumentTypeError("compose takes a list of words; wrap a single word in a list")
        words = list(words)
        out = np.empty((len(words), self.dim), dtype=np.float32)
        step = max(1, _GATHER_FLOATS // max(1, self.dim * 8 * (self.maxn - self.minn + 1)))
        for lo in range(0, len(words), step):
            out[lo : lo + step] = self._compose(words[lo : lo + step])
        return out

    def _compose(self, words: list[str]) -> np.ndarray:
        indptr, hashes = ngram_hashes(words, self.minn, self.maxn)
        rows = _find(self.keys, hashes)
        word_of = np.repeat(np.arange(len(words)), np.diff(indptr))
        known = rows >= 0
        rows, word_of = rows[known], word_of[known]
        counts = np.bincount(word_of, minlength=len(words))
        sums = np.zeros((len(words), self.dim), dtype=np.float32)
        has = counts > 0
        if has.any():
            starts = np.cumsum(counts) - counts
            gathered = np.asarray(self.vectors[rows], dtype=np.float32)
            sums[has] = np.add.reduceat(gathered, starts[has], axis=0)
        lengths = np.linalg.norm(sums, axis=1)
        ok = lengths > 0
        out = np.empty_like(sums)
        out[ok] = sums[ok] * (self.norm / lengths[ok])[:, None]
        out[~ok] = self.fallback
        return out

    # -- saving -----------------------------------------------------------------------

    def to_state(self) -> tuple[dict[str, np.ndarray], dict[str, str]]:
        """The arrays and string metadata that :meth:`from_state` reads back."""
        arrays = {
            "keys": np.ascontiguousarray(self.keys, dtype=np.uint64),
            "vectors": np.ascontiguousarray(self.vectors),
            "fallback": np.ascontiguousarray(self.fallback, dtype=np.float32),
        }
        meta = {
            "format": FORMAT,
            "version": VERSION,
            "minn": str(self.minn),
            "maxn": str(self.maxn),
            "norm": repr(self.norm),
            "hash": "fnv1a64 of code points, markers U+110000/U+110001",
        }
        return arrays, meta

    @classmethod
    def from_state(
        cls, arrays: Mapping[str, np.ndarray], meta: Mapping[str, str]
    ) -> FittedSubwords:
        """The model :meth:`to_state` saved.

        Raises:
            FormatError: another format or version, a missing array or field,
                or a value out of range.
        """
        if meta.get("format") != FORMAT or meta.get("version") != VERSION:
            raise FormatError(
                f"not a fitted subword model of version {VERSION} "
                f"(format={meta.get('format')!r}, version={meta.get('version')!r})",
                hint="Fit it again with vocabgraft.fit_subwords",
            )
        require_arrays(arrays, ("keys", "vectors", "fallback"), "fitted subword")
        try:
            minn, maxn, norm = int(meta["minn"]), int(meta["maxn"]), float(meta["norm"])
        except (KeyError, ValueError) as exc:
            raise FormatError(f"field minn, maxn or norm is missing or bad ({exc})") from None
        if not 1 <= minn <= maxn <= MAX_NGRAM:
            raise FormatError(f"fields minn={minn}, maxn={maxn}: need 1 <= minn <= maxn <= 64")
        if arrays["keys"].dtype != np.uint64:
            raise FormatError(f"tensor 'keys' has dtype {arrays['keys'].dtype}, not uint64")
        try:
            return cls(
                arrays["keys"],
                arrays["vectors"],
                minn=minn,
                maxn=maxn,
                norm=norm,
                fallback=np.asarray(arrays["fallback"], dtype=np.float32),
            )
        except ArgumentError as exc:
            raise FormatError(str(exc)) from None

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the model to one safetensors file, atomically."""
        arrays, meta = self.to_state()
        save_arrays(path, arrays, meta)

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, mmap: bool = True) -> FittedSubwords:
        """Open a model written by :meth:`save` (memory-mapped by default)."""
        arrays, meta = open_arrays(path, mmap=mmap)
        try:
            return cls.from_state(arrays, meta)
        except FormatError as exc:
            raise FormatError(exc.reason, path=path, hint=exc.hint) from None

    # -- fitting ----------------------------------------------------------------------

    @classmethod
    def fit(cls, table: EmbeddingTable, **options: Any) -> FittedSubwords:
        """Fit n-gram vectors to ``table``'s rows: :func:`fit_subwords` with the same options."""
        from vocabgraft.subwords.fitted import fit_subwords

        return fit_subwords(table, **options)


def _find(keys: np.ndarray, hashes: np.ndarray) -> np.ndarray:
    """Row of each hash in the sorted ``keys``, or -1."""
    if len(keys) == 0:
        return np.full(len(hashes), -1, dtype=np.int64)
    pos = np.minimum(np.searchsorted(keys, hashes), len(keys) - 1)
    return np.where(keys[pos] == hashes, pos, -1).astype(np.int64)
