"""fastText's character n-grams, hashed as fastText hashes them, and the model that uses them.

fastText gives a word the mean of its input rows: its own row (in-vocabulary
words only) and one row per character n-gram of ``"<" + word + ">"``, for
n-gram lengths ``minn`` to ``maxn``. An n-gram's row is its FNV-1a hash modulo
the number of buckets. This module reproduces that exactly, vectorised with
numpy, so that vectors for out-of-vocabulary words match fastText and gensim.

Two details matter for exact agreement:

- n-grams count characters, not bytes: a byte of the form ``0b10xxxxxx`` (a
  UTF-8 continuation byte) stays with the byte before it. fastText applies
  this rule to whatever bytes the word has, in any encoding.
- fastText hashes ``char`` values, which are signed on the platforms it is
  built for: bytes from 0x80 are sign-extended before the XOR.

>>> ft_hash(b"<wh")
1048167652
>>> char_ngrams("where", 3, 3)
[b'<wh', b'whe', b'her', b'ere', b're>']
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import ClassVar

import numpy as np

from vocabgraft.errors import ArgumentError, ArgumentTypeError, FormatError, TokenNotFoundError
from vocabgraft.table.subword_protocol import register_subword_model, require_arrays

__all__ = ["MAX_NGRAM", "FastTextSubwords", "char_ngrams", "ft_hash", "ngram_buckets"]

_FNV_OFFSET = 2166136261
_FNV_PRIME = 16777619
# Rows gathered at once while summing n-gram vectors (times the vector size).
_GATHER_FLOATS = 1 << 22


def ft_hash(data: bytes) -> int:
    """The 32-bit FNV-1a hash fastText gives ``data``, with its signed-char quirk (a reference)."""
    h = _FNV_OFFSET
    for b in data:
        h ^= b | 0xFFFFFF00 if b >= 0x80 else b
        h = (h * _FNV_PRIME) & 0xFFFFFFFF
    return h


def char_ngrams(word: str | bytes, minn: int, maxn: int) -> list[bytes]:
    """The character n-grams of ``"<" + word + ">"`` in fastText's order (a reference).

    ``word`` is encoded as UTF-8 if it is a string. The lone ``"<"`` and ``">"``
    are not n-grams.
    """
    raw = word.encode("utf-8", "surrogatepass") if isinstance(word, str) else word
    ext = b"<" + raw + b">"
    out = []
    for i in range(len(ext)):
        if ext[i] & 0xC0 == 0x80:
            continue
        j, n = i, 1
        while j < len(ext) and n <= maxn:
            j += 1
            while j < len(ext) and ext[j] & 0xC0 == 0x80:
                j += 1
            if n >= minn and not (n == 1 and (i == 0 or j == len(ext))):
                out.append(ext[i:j])
            n += 1
    return out


def _spans(words: Sequence[bytes], minn: int, maxn: int) -> tuple[np.ndarray, ...]:
    """Every n-gram of every word as ``(buffer, starts, ends, word_index)``, vectorised.

    ``buffer`` holds the words as ``<word>`` end to end; n-gram ``k`` is
    ``buffer[starts[k]:ends[k]]`` and belongs to word ``word_index[k]``.
    """
    ext = [b"<" + w + b">" for w in words]
    lengths = np.fromiter(map(len, ext), dtype=np.int64, count=len(ext))
    word_start = np.zeros(len(ext) + 1, dtype=np.int64)
    np.cumsum(lengths, out=word_start[1:])
    buf = np.frombuffer(b"".join(ext), dtype=np.uint8)
    char_start = np.flatnonzero((buf & 0xC0) != 0x80)
    owner = np.searchsorted(word_start, char_start, side="right") - 1
    nchars = np.bincount(owner, minlength=len(ext))
    # ``bounds`` lists, per word, the byte offset of each character and then of
    # the word's end: character p of a word and the one n later bound an n-gram.
    k = np.arange(len(char_start))
    bounds = np.empty(len(char_start) + len(ext), dtype=np.int64)
    bounds[k + owner] = char_start
    bounds[np.cumsum(nchars) + np.arange(len(ext))] = word_start[1:]
    pos = k - (np.cumsum(nchars) - nchars)[owner]  # character index within its word
    left = nchars[owner] - pos  # characters from here to the word's end
    starts, ends, index = [], [], []
    # No n-gram is longer than the longest word: a huge maxn costs nothing.
    for n in range(max(minn, 1), min(maxn, int(nchars.max(initial=0))) + 1):
        ok = left >= n
        if n == 1:
            ok &= (pos != 0) & (left != 1)  # not the lone "<" or ">"
        at = (k + owner)[ok]
        starts.append(bounds[at])
        ends.append(bounds[at + n])
        index.append(owner[ok])
    if not starts:
        empty = np.empty(0, dtype=np.int64)
        return buf, empty, empty, empty
    return buf, np.concatenate(starts), np.concatenate(ends), np.concatenate(index)


def _hash_spans(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """:func:`ft_hash` of every ``buf[start:end]``, one byte position at a time."""
    lengths = ends - starts
    order = np.argsort(-lengths, kind="stable")
    s, n = starts[order], lengths[order]
    signed = buf.view(np.int8).astype(np.int32).view(np.uint32)  # sign-extend like a char
    h = np.full(len(s), _FNV_OFFSET, dtype=np.uint32)
    prime = np.uint32(_FNV_PRIME)
    longest = int(n[0]) if len(n) else 0
    for t in range(longest):
        m = int(np.searchsorted(-n, -t, side="left"))  # spans longer than t come first
        h[:m] = (h[:m] ^ signed[s[:m] + t]) * prime
    out = np.empty_like(h)
    out[order] = h
    return out


def ngram_buckets(
    words: Sequence[bytes], minn: int, maxn: int, bucket: int
) -> tuple[np.ndarray, np.ndarray]:
    """The bucket of every n-gram of ``words``: ``(buckets, word_index)``, grouped by word.

    >>> buckets, owner = ngram_buckets([b"hi", b"yo"], 3, 4, 1000)
    >>> owner.tolist()
    [0, 0, 0, 1, 1, 1]
    >>> sorted(buckets[:3].tolist()) == sorted(ft_hash(g) % 1000 for g in char_ngrams("hi", 3, 4))
    True
    """
    if bucket <= 0:
        raise ArgumentError(f"bucket must be positive. Received: bucket={bucket}")
    buf, starts, ends, owner = _spans(words, minn, maxn)
    hashes = _hash_spans(buf, starts, ends)
    order = np.argsort(owner, kind="stable")
    return (hashes[order] % np.uint32(bucket)).astype(np.int64), owner[order]


def ngram_sums(
    words: Sequence[bytes], ngrams: np.ndarray, minn: int, maxn: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per word, the float32 sum of its n-gram rows and how many there are."""
    dim = ngrams.shape[1]
    sums = np.zeros((len(words), dim), dtype=np.float32)
    counts = np.zeros(len(words), dtype=np.int64)
    if not len(words) or not len(ngrams):
        return sums, counts
    # About 40 n-grams a word: batch so a gather stays within _GATHER_FLOATS.
    step = max(1, _GATHER_FLOATS // (40 * dim))
    for lo in range(0, len(words), step):
        batch = words[lo : lo + step]
        rows, owner = ngram_buckets(batch, minn, maxn, len(ngrams))
        if not len(rows):
            continue
        n = np.bincount(owner, minlength=len(batch))
        has = np.flatnonzero(n)
        first = np.cumsum(n) - n
        sums[lo + has] = np.add.reduceat(ngrams[rows], first[has], axis=0, dtype=np.float32)
        counts[lo : lo + len(batch)] = n
    return sums, counts


@register_subword_model
class FastTextSubwords:
    """fastText's vectors for any word: its own row if known, else the mean of its n-gram rows.

    Args:
        ngrams: the ``(bucket, D)`` n-gram rows (the input matrix after the word rows).
        minn, maxn: the n-gram lengths, in characters.
        words: the in-vocabulary words, whose vectors are ``word_vectors``.
        word_vectors: the ``(len(words), D)`` vectors fastText gives those words
            (the mean of their own row and their n-gram rows).
        encoding: the bytes fastText saw. Words are encoded with it before
            hashing, as fastText hashes the bytes of its input; ``"utf-8"``
            for every model trained on UTF-8 text.

    A model without n-grams (``bucket=0`` or ``maxn=0``, as in supervised
    models) knows its words only; other words raise
    :class:`~vocabgraft.errors.TokenNotFoundError`.
    """

    kind: ClassVar[str] = "fasttext"

    def __init__(
        self,
        ngrams: np.ndarray,
        *,
        minn: int,
        maxn: int,
        words: Sequence[str] = (),
        word_vectors: np.ndarray | None = None,
        encoding: str = "utf-8",
    ) -> None:
        if ngrams.ndim != 2:
            raise ArgumentError(
                f"ngrams must be 2-D (bucket x dims). Received shape {ngrams.shape}"
            )
        if word_vectors is None:
            word_vectors = np.zeros((0, ngrams.shape[1]), dtype=np.float32)
        if word_vectors.shape != (len(words), ngrams.shape[1]):
            raise ArgumentError(
                f"word_vectors must be ({len(words)}, {ngrams.shape[1]}), one row per word. "
                f"Received shape {word_vectors.shape}"
            )
        if minn < 0 or maxn < 0:
            raise ArgumentError(f"minn and maxn must be non-negative. Received: {minn}, {maxn}")
        self.ngrams = ngrams
        self.minn = int(minn)
        self.maxn = int(maxn)
        self.words = list(words)
        self.word_vectors = word_vectors
        self.encoding = encoding
        self._index: dict[str, int] | None = None

    @property
    def dim(self) -> int:
        """The width of the vectors."""
        return int(self.ngrams.shape[1])

    @property
    def bucket(self) -> int:
        """The number of n-gram buckets (rows of ``ngrams``)."""
        return int(self.ngrams.shape[0])

    @property
    def has_ngrams(self) -> bool:
        """Whether the model can compose words it does not know."""
        return self.bucket > 0 and self.maxn >= max(self.minn, 1)

    def __repr__(self) -> str:
        return (
            f"FastTextSubwords({len(self.words)} words, {self.bucket} buckets x {self.dim}, "
            f"n-grams {self.minn}..{self.maxn})"
        )

    def encode(self, word: str) -> bytes:
        """The bytes fastText hashes for ``word``."""
        if self.encoding.lower().replace("-", "") in ("utf8", "utf_8"):
            return word.encode("utf-8", "surrogatepass")
        return word.encode(self.encoding, "replace")

    def compose(self, words: Sequence[str]) -> np.ndarray:
        """The vectors fastText gives ``words`` (``len(words) x dim``, float32).

        >>> import numpy as np
        >>> model = FastTextSubwords(np.eye(4, dtype=np.float32), minn=3, maxn=3)
        >>> model.compose(["hi"]).shape
        (1, 4)
        """
        if isinstance(words, str):
            raise ArgumentTypeError("compose takes a list of words; wrap a single word in a list")
        if self._index is None:
            self._index = {w: i for i, w in enumerate(self.words)}
        ids = np.fromiter((self._index.get(w, -1) for w in words), dtype=np.int64, count=len(words))
        out = np.empty((len(words), self.dim), dtype=np.float32)
        known = ids >= 0
        out[known] = self.word_vectors[ids[known]]
        unknown = np.flatnonzero(~known)
        if len(unknown):
            if not self.has_ngrams:
                word = words[int(unknown[0])]
                raise TokenNotFoundError(
                    f"{word!r} is not one of this fastText model's {len(self.words)} words, and "
                    f"the model has no character n-grams (bucket={self.bucket}, "
                    f"maxn={self.maxn}; supervised models usually have none), so it has no "
                    "vector for out-of-vocabulary words"
                )
            raw = [self.encode(words[i]) for i in unknown.tolist()]
            sums, counts = ngram_sums(raw, self.ngrams, self.minn, self.maxn)
            # A word too short for any n-gram gets the zero vector, as in fastText.
            out[unknown] = sums / np.maximum(counts, 1)[:, None]
        return out

    # -- saving -----------------------------------------------------------------------

    def to_state(self) -> tuple[dict[str, np.ndarray], dict[str, str]]:
        """The arrays and string metadata that :meth:`from_state` reads back."""
        encoded = [w.encode("utf-8", "surrogatepass") for w in self.words]
        offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum([len(b) for b in encoded], out=offsets[1:])
        arrays = {
            "ngrams": np.ascontiguousarray(self.ngrams),
            "word_vectors": np.ascontiguousarray(self.word_vectors),
            "words_blob": np.frombuffer(b"".join(encoded), dtype=np.uint8),
            "words_offsets": offsets,
        }
        meta = {"minn": str(self.minn), "maxn": str(self.maxn), "encoding": self.encoding}
        return arrays, meta

    @classmethod
    def from_state(
        cls, arrays: Mapping[str, np.ndarray], meta: Mapping[str, str]
    ) -> FastTextSubwords:
        """The model :meth:`to_state` saved.

        Raises:
            FormatError: a missing array or field, or a value out of range
                (n-gram lengths outside 0..:data:`MAX_NGRAM`, offsets that do
                not fit the words).
        """
        require_arrays(
            arrays, ("ngrams", "word_vectors", "words_blob", "words_offsets"), "fastText subword"
        )
        minn, maxn = _ngram_bounds(meta)
        blob = bytes(np.asarray(arrays["words_blob"], dtype=np.uint8))
        offsets = np.asarray(arrays["words_offsets"])
        if (
            offsets.ndim != 1
            or len(offsets) < 1
            or offsets[0] != 0
            or offsets[-1] != len(blob)
            or (np.diff(offsets) < 0).any()
        ):
            raise FormatError("field 'words_offsets' does not fit 'words_blob'")
        try:
            text = blob.decode("utf-8", "surrogatepass")
            bounds = offsets.tolist()
            if len(text) == len(blob):  # ASCII: byte offsets are character offsets
                words = [text[a:b] for a, b in itertools.pairwise(bounds)]
            else:
                words = [
                    blob[a:b].decode("utf-8", "surrogatepass")
                    for a, b in itertools.pairwise(bounds)
                ]
        except UnicodeDecodeError as exc:
            raise FormatError(f"field 'words_blob' is not UTF-8 at byte {exc.start}") from None
        try:
            return cls(
                arrays["ngrams"],
                minn=minn,
                maxn=maxn,
                words=words,
                word_vectors=arrays["word_vectors"],
                encoding=meta.get("encoding", "utf-8"),
            )
        except ArgumentError as exc:
            raise FormatError(str(exc)) from None


MAX_NGRAM = 64
"""The longest n-gram a saved subword model may name (fastText's default is 6)."""


def _ngram_bounds(meta: Mapping[str, str]) -> tuple[int, int]:
    """``minn`` and ``maxn`` from saved metadata, checked: 0 <= each <= MAX_NGRAM."""
    out = []
    for field in ("minn", "maxn"):
        try:
            value = int(meta[field])
        except (KeyError, ValueError):
            raise FormatError(f"field {field!r} is {meta.get(field)!r}, not an integer") from None
        if not 0 <= value <= MAX_NGRAM:
            raise FormatError(f"field {field!r} is {value}; n-gram lengths are 0 to {MAX_NGRAM}")
        out.append(value)
    if out[1] and out[0] > out[1]:
        raise FormatError(f"fields 'minn' and 'maxn' are {out[0]} > {out[1]}")
    return out[0], out[1]
