"""Vocab: tokens to ids and back, with stable, append-only ids.

Ids are forever: adding tokens never renumbers existing ones, so a model
trained against a vocabulary stays valid after the vocabulary grows.
"""

from __future__ import annotations

import hashlib
import os
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import pairwise
from typing import Literal, cast, overload

import numpy as np

from vocabgraft._safetensors import open_arrays, save_arrays
from vocabgraft.errors import FormatError, RowIndexError, TokenNotFoundError, VocabError

__all__ = ["OOVPolicy", "Vocab", "stable_hash"]

OOVPolicy = Literal["unk", "hash", "raise"]
_POLICIES = ("unk", "hash", "raise")
_FORMAT = "vocabgraft.vocab"
_VERSION = "1"


def stable_hash(token: str) -> int:
    """A 64-bit hash of ``token`` that is the same in every process and on every machine.

    Python's ``hash`` is salted per process, so it cannot pick OOV buckets or
    index a saved vocabulary. Lone surrogates are hashed as written.

    >>> stable_hash("television") == stable_hash("television")
    True
    """
    data = token.encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


def _hashes(tokens: Sequence[str]) -> np.ndarray:
    return np.fromiter((stable_hash(t) for t in tokens), dtype=np.uint64, count=len(tokens))


class _Packed:
    """A saved vocabulary, memory-mapped: UTF-8 blob, offsets, and a sorted hash index.

    Opening costs no per-token work. A lookup bisects the sorted 64-bit
    hashes, then compares the stored bytes, which rules out collisions. The
    arrays are read through memoryviews: plain Python ints, no numpy scalar
    overhead per token.
    """

    def __init__(self, arrays: Mapping[str, np.ndarray]) -> None:
        self.arrays = dict(arrays)
        self._blob = np.ascontiguousarray(arrays["blob"]).data.cast("B")
        self._offsets = (
            np.ascontiguousarray(arrays["offsets"], dtype=np.int64).data.cast("B").cast("q")
        )
        self._hashes = (
            np.ascontiguousarray(arrays["sorted_hashes"], dtype=np.uint64).data.cast("B").cast("Q")
        )
        self._order = np.ascontiguousarray(arrays["order"], dtype=np.int64).data.cast("B").cast("q")

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def token(self, i: int) -> str:
        return bytes(self._blob[self._offsets[i] : self._offsets[i + 1]]).decode(
            "utf-8", "surrogatepass"
        )

    def tokens(self) -> list[str]:
        raw = bytes(self._blob)
        offsets = self.arrays["offsets"].tolist()
        text = raw.decode("utf-8", "surrogatepass")
        source: str | bytes = text if len(text) == len(raw) else raw  # ASCII: byte = char offsets
        if isinstance(source, str):
            return [source[a:b] for a, b in pairwise(offsets)]
        return [source[a:b].decode("utf-8", "surrogatepass") for a, b in pairwise(offsets)]

    def find_one(self, token: str) -> int:
        """The id of ``token``, or -1."""
        h = stable_hash(token)
        hashes, order, offsets, blob = self._hashes, self._order, self._offsets, self._blob
        p = bisect_left(hashes, h)
        want = token.encode("utf-8", "surrogatepass")
        # Equal 64-bit hashes sit next to each other; check each.
        while p < len(hashes) and hashes[p] == h:
            i = order[p]
            if blob[offsets[i] : offsets[i + 1]] == want:
                return i
            p += 1
        return -1

    def find(self, tokens: Sequence[str]) -> np.ndarray:
        """Ids of ``tokens``, -1 where absent.

        One ``searchsorted`` for the whole batch, then a byte comparison per
        hit; a mismatch (another token with the same hash next to it) falls
        back to :meth:`find_one`, which walks the run of equal hashes.
        """
        out = np.full(len(tokens), -1, dtype=np.int64)
        n = len(self)
        if n == 0 or not tokens:
            return out
        hashes = self.arrays["sorted_hashes"]
        want = _hashes(tokens)
        pos = np.minimum(np.searchsorted(hashes, want), n - 1)
        hit = np.flatnonzero(hashes[pos] == want)
        ids = self.arrays["order"][pos[hit]]
        offsets = self.arrays["offsets"]
        blob = self._blob
        for j, i, a, b in zip(
            hit.tolist(), ids.tolist(), offsets[ids].tolist(), offsets[ids + 1].tolist()
        ):
            token = tokens[j]
            out[j] = (
                i if blob[a:b] == token.encode("utf-8", "surrogatepass") else self.find_one(token)
            )
        return out


def _pack(tokens: Sequence[str]) -> dict[str, np.ndarray]:
    encoded = [t.encode("utf-8", "surrogatepass") for t in tokens]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(b) for b in encoded], out=offsets[1:])
    blob = np.frombuffer(b"".join(encoded), dtype=np.uint8)
    hashes = _hashes(tokens)
    order = np.argsort(hashes, kind="stable").astype(np.int64)
    return {
        "blob": blob,
        "offsets": offsets,
        "sorted_hashes": hashes[order],
        "order": order,
    }


class Vocab:
    """An ordered vocabulary with stable ids, special tokens and an OOV policy.

    Args:
        tokens: the regular tokens, in id order. Duplicates are an error.
        specials: tokens placed first, at ids ``0 .. len(specials) - 1``, in
            this order. ``pad`` and ``unk`` are added to them (pad first) when
            they are not already among ``specials`` or ``tokens``.
        pad: the padding token. Its id is ``pad_id``.
        unk: the token that unknown tokens map to under ``oov="unk"``.
        oov: what ``lookup`` does with a token that is not in the vocabulary:
            ``"unk"`` maps it to ``unk_id``; ``"hash"`` maps it to one of
            ``num_buckets`` reserved bucket ids by a stable hash; ``"raise"``
            raises :class:`~vocabgraft.errors.TokenNotFoundError`. Defaults to
            ``"unk"`` when ``unk`` is given, else ``"raise"``.
        num_buckets: with ``oov="hash"``, how many bucket rows to reserve. The
            buckets take the ids right after ``tokens`` and are named
            ``<oov:0>``, ``<oov:1>``, ...; tokens added later come after them.

    >>> v = Vocab(["the", "cat"], pad="<pad>", unk="<unk>")
    >>> v.lookup(["the", "dog"]).tolist()
    [2, 1]
    >>> v.add("dog"), len(v)
    (4, 5)
    """

    def __init__(
        self,
        tokens: Iterable[str] = (),
        *,
        specials: Sequence[str] = (),
        pad: str | None = None,
        unk: str | None = None,
        oov: OOVPolicy | None = None,
        num_buckets: int = 0,
    ) -> None:
        tokens = list(tokens)
        specials = list(specials)
        # Two membership scans, not a set of every token: no transient copy of a big vocabulary.
        front = [s for s in (pad, unk) if s is not None and s not in specials and s not in tokens]
        front = list(dict.fromkeys(front))
        all_tokens = front + specials + tokens
        if oov is None:
            oov = "unk" if unk is not None else "raise"
        if oov not in _POLICIES:
            raise VocabError(f"oov must be one of {_POLICIES}. Received: oov={oov!r}")
        if oov == "unk" and unk is None:
            raise VocabError("oov='unk' needs an unk token. Pass unk='<unk>' or choose oov='raise'")
        if not isinstance(num_buckets, (int, np.integer)) or num_buckets < 0:
            raise VocabError(
                f"num_buckets must be a non-negative integer. Received: {num_buckets!r}"
            )
        if oov == "hash" and num_buckets == 0:
            raise VocabError("oov='hash' needs num_buckets > 0, the number of OOV bucket rows")
        if oov != "hash" and num_buckets:
            raise VocabError(
                f"num_buckets={num_buckets} is only used with oov='hash', not oov={oov!r}"
            )
        bucket_start = len(all_tokens)
        all_tokens += [f"<oov:{i}>" for i in range(num_buckets)]
        self._tokens: list[str] | None = all_tokens
        self._index: dict[str, int] | None = None
        self._packed: _Packed | None = None
        self._build_index()
        special_set = dict.fromkeys(front + specials)
        self._specials: list[str] = list(special_set)
        self._pad = pad
        self._unk = unk
        self._oov: OOVPolicy = oov
        self._bucket_start = bucket_start
        self._num_buckets = int(num_buckets)
        self._counts: np.ndarray | None = None

    # -- construction -----------------------------------------------------------------

    @classmethod
    def from_counts(
        cls,
        counts: Mapping[str, int] | Iterable[str],
        *,
        min_freq: int = 1,
        max_size: int | None = None,
        specials: Sequence[str] = (),
        pad: str | None = None,
        unk: str | None = None,
        oov: OOVPolicy | None = None,
        num_buckets: int = 0,
    ) -> Vocab:
        """Build a vocabulary from token counts (or an iterable of tokens to count).

        Tokens are kept when they occur at least ``min_freq`` times, most
        frequent first (ties broken by the token, so the result is
        deterministic), at most ``max_size`` of them, not counting specials.
        The counts are kept in :attr:`counts` for frequency-weighted coverage.

        >>> Vocab.from_counts(["a", "b", "b", "c", "c", "c"], min_freq=2, unk="<unk>").tokens
        ['<unk>', 'c', 'b']
        """
        if not isinstance(counts, Mapping):
            counts = Counter(counts)
        if min_freq < 1:
            raise VocabError(f"min_freq must be at least 1. Received: min_freq={min_freq}")
        if max_size is not None and max_size < 0:
            raise VocabError(f"max_size must be non-negative. Received: max_size={max_size}")
        reserved = set(specials) | {s for s in (pad, unk) if s is not None}
        kept = sorted(
            ((t, c) for t, c in counts.items() if c >= min_freq and t not in reserved),
            key=lambda tc: (-tc[1], tc[0]),
        )
        if max_size is not None:
            kept = kept[:max_size]
        vocab = cls(
            (t for t, _ in kept),
            specials=specials,
            pad=pad,
            unk=unk,
            oov=oov,
            num_buckets=num_buckets,
        )
        vocab._counts = np.array([int(counts.get(t, 0)) for t in vocab.tokens], dtype=np.int64)
        return vocab

    def _build_index(self) -> None:
        assert self._tokens is not None
        index = {t: i for i, t in enumerate(self._tokens)}
        if len(index) != len(self._tokens):
            seen: dict[str, int] = {}
            for i, t in enumerate(self._tokens):
                if t in seen:
                    raise VocabError(
                        f"token {t!r} appears twice, at ids {seen[t]} and {i}. "
                        "Token lists must be unique; deduplicate them first "
                        "(dict.fromkeys(tokens) keeps the first of each)"
                    )
                seen[t] = i
        self._index = index

    def _materialize(self) -> None:
        """Turn a memory-mapped vocabulary into an in-memory one (before a change)."""
        if self._packed is not None:
            self._tokens = self._packed.tokens()
            self._build_index()
            self._packed = None

    # -- reading ----------------------------------------------------------------------

    def __len__(self) -> int:
        if self._packed is not None:
            return len(self._packed)
        assert self._tokens is not None
        return len(self._tokens)

    def __iter__(self) -> Iterator[str]:
        return iter(self.tokens)

    def __contains__(self, token: object) -> bool:
        if not isinstance(token, str):
            return False
        return self._find_one(token) >= 0

    def __getitem__(self, token: str) -> int:
        """The id of ``token``; :class:`TokenNotFoundError` if absent (no OOV policy)."""
        i = self._find_one(token)
        if i < 0:
            raise TokenNotFoundError(
                f"token {token!r} is not in the vocabulary ({len(self)} tokens)"
            )
        return i

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Vocab):
            return NotImplemented
        return (
            self.tokens == other.tokens
            and self._specials == other._specials
            and (self._pad, self._unk, self._oov, self._num_buckets)
            == (other._pad, other._unk, other._oov, other._num_buckets)
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        head = ", ".join(repr(self.token(i)) for i in range(min(5, len(self))))
        more = ", ..." if len(self) > 5 else ""
        return f"Vocab([{head}{more}], size={len(self)}, oov={self._oov!r})"

    def _find_one(self, token: str) -> int:
        if self._packed is not None:
            return self._packed.find_one(token)
        assert self._index is not None
        return self._index.get(token, -1)

    def _find(self, tokens: Sequence[str]) -> np.ndarray:
        if self._packed is not None:
            return self._packed.find(tokens)
        assert self._index is not None
        get = self._index.get
        return np.fromiter((get(t, -1) for t in tokens), dtype=np.int64, count=len(tokens))

    def find(self, tokens: Sequence[str]) -> np.ndarray:
        """Ids of ``tokens`` as an int64 array, -1 where absent (no OOV policy applied)."""
        return self._find(list(tokens))

    def get(self, token: str, default: int | None = None) -> int | None:
        """The id of ``token``, or ``default`` when it is absent."""
        i = self._find_one(token)
        return default if i < 0 else i

    @property
    def tokens(self) -> list[str]:
        """All tokens in id order (a new list)."""
        if self._packed is not None:
            return self._packed.tokens()
        assert self._tokens is not None
        return list(self._tokens)

    def token(self, i: int) -> str:
        """The token with id ``i``."""
        n = len(self)
        if not isinstance(i, (int, np.integer)) or isinstance(i, bool):
            raise RowIndexError(f"ids are integers. Received: {i!r} (of type {type(i).__name__})")
        if not 0 <= i < n:
            raise RowIndexError(f"id {i} is out of range for a vocabulary of {n} tokens")
        if self._packed is not None:
            return self._packed.token(int(i))
        assert self._tokens is not None
        return self._tokens[int(i)]

    @overload
    def lookup(self, tokens: str) -> int: ...
    @overload
    def lookup(self, tokens: Iterable[str]) -> np.ndarray: ...
    @overload
    def lookup(self, tokens: Iterable[Iterable[str]]) -> np.ndarray: ...
    def lookup(self, tokens: str | Iterable[str] | Iterable[Iterable[str]]) -> int | np.ndarray:
        """Ids under the OOV policy: an int for one token, an int64 array for many.

        Nested lists of equal length give a 2-D (or deeper) array, like
        ``np.array`` would; :meth:`encode` pads ragged ones.
        """
        if isinstance(tokens, str):
            return int(self.lookup([tokens])[0])
        tokens = list(tokens)
        if tokens and not isinstance(tokens[0], str):
            rows = [self.lookup(row) for row in tokens]
            lengths = sorted({len(r) for r in rows})
            if len(lengths) > 1:
                raise VocabError(
                    f"the sequences have different lengths ({lengths[0]} to {lengths[-1]}); "
                    "use vocab.encode(sequences) to pad them"
                )
            return np.stack(rows)
        bad = next((t for t in tokens if not isinstance(t, str)), None)
        if bad is not None:
            raise VocabError(
                f"tokens are strings. Received: {bad!r} (of type {type(bad).__name__})"
            )
        flat = cast("list[str]", tokens)
        ids = self._find(flat)
        missing = np.flatnonzero(ids < 0)
        if len(missing):
            if self._oov == "raise":
                j = int(missing[0])
                raise TokenNotFoundError(
                    f"token {flat[j]!r} (position {j}) is not in the vocabulary of "
                    f"{len(self)} tokens, and oov='raise'. {len(missing)} of {len(tokens)} "
                    "tokens are missing; use oov='unk' or oov='hash' to map them instead"
                )
            if self._oov == "unk":
                assert self._unk is not None
                ids[missing] = self[self._unk]
            else:
                ids[missing] = self._bucket_start + (
                    _hashes([flat[j] for j in missing.tolist()]) % np.uint64(self._num_buckets)
                ).astype(np.int64)
        return ids

    def encode(
        self, sequences: Iterable[Iterable[str]], *, length: int | None = None
    ) -> np.ndarray:
        """A ``(len(sequences), length)`` int64 array of ids, padded with the pad id.

        ``length`` defaults to the longest sequence; longer ones are cut.

        >>> Vocab(["a", "b"], pad="<pad>", unk="<unk>").encode([["a"], ["b", "c", "a"]]).tolist()
        [[2, 0, 0], [3, 1, 2]]
        """
        if self._pad is None:
            raise VocabError(
                "encode pads with the pad token, but this vocabulary has none; pass pad="
            )
        rows = [self.lookup(list(seq)) for seq in sequences]
        if length is None:
            length = max((len(r) for r in rows), default=0)
        if length < 0:
            raise VocabError(f"length must be non-negative. Received: length={length}")
        out = np.full((len(rows), length), self[self._pad], dtype=np.int64)
        for i, r in enumerate(rows):
            out[i, : min(len(r), length)] = r[:length]
        return out

    def decode(self, ids: Iterable[int] | np.ndarray) -> list[str]:
        """Tokens for ``ids``."""
        return [self.token(int(i)) for i in np.asarray(ids).ravel()]

    @property
    def specials(self) -> list[str]:
        """The special tokens (pad, unk and user-defined), in id order."""
        return list(self._specials)

    @property
    def special_ids(self) -> np.ndarray:
        """Ids of the special tokens."""
        return self.lookup_exact(self._specials)

    def lookup_exact(self, tokens: Iterable[str]) -> np.ndarray:
        """Ids of ``tokens``, raising if any is absent (whatever the OOV policy)."""
        tokens = list(tokens)
        ids = self._find(tokens)
        if (ids < 0).any():
            j = int(np.flatnonzero(ids < 0)[0])
            raise TokenNotFoundError(
                f"token {tokens[j]!r} is not in the vocabulary ({len(self)} tokens)"
            )
        return ids

    @property
    def pad(self) -> str | None:
        return self._pad

    @property
    def unk(self) -> str | None:
        return self._unk

    @property
    def pad_id(self) -> int | None:
        return None if self._pad is None else self[self._pad]

    @property
    def unk_id(self) -> int | None:
        return None if self._unk is None else self[self._unk]

    @property
    def oov(self) -> OOVPolicy:
        return self._oov

    @property
    def bucket_ids(self) -> np.ndarray:
        """Ids of the OOV hash buckets (empty unless ``oov="hash"``)."""
        return np.arange(self._bucket_start, self._bucket_start + self._num_buckets, dtype=np.int64)

    @property
    def counts(self) -> np.ndarray | None:
        """Token counts by id when built with :meth:`from_counts`, else None."""
        return None if self._counts is None else self._counts.copy()

    def missing(self, tokens: Iterable[str]) -> list[str]:
        """The tokens of ``tokens`` not in the vocabulary, unique, in first-seen order."""
        unique = list(dict.fromkeys(tokens))
        ids = self._find(unique)
        return [t for t, i in zip(unique, ids.tolist()) if i < 0]

    # -- growing ----------------------------------------------------------------------

    def add(self, token: str) -> int:
        """Append ``token`` and return its new id. Adding a present token is an error."""
        return int(self.extend([token])[0])

    def extend(self, tokens: Iterable[str]) -> np.ndarray:
        """Append new tokens; return their ids. Existing ids never change.

        Raises :class:`VocabError` if a token is already present or repeated,
        and then adds nothing. :meth:`missing` picks the new ones first.
        """
        tokens = list(tokens)
        for t in tokens:
            if not isinstance(t, str):
                raise VocabError(
                    f"tokens are strings. Received: {t!r} (of type {type(t).__name__})"
                )
        present = self._find(tokens)
        if (present >= 0).any():
            j = int(np.flatnonzero(present >= 0)[0])
            raise VocabError(
                f"token {tokens[j]!r} is already in the vocabulary at id {int(present[j])}. "
                "Use vocab.missing(tokens) to keep only new tokens"
            )
        if len(set(tokens)) != len(tokens):
            dup = next(t for t, c in Counter(tokens).items() if c > 1)
            raise VocabError(f"token {dup!r} is repeated in the tokens to add")
        self._materialize()
        assert self._tokens is not None and self._index is not None
        start = len(self._tokens)
        for k, t in enumerate(tokens):
            self._index[t] = start + k
        self._tokens.extend(tokens)
        if self._counts is not None:
            self._counts = np.concatenate([self._counts, np.zeros(len(tokens), dtype=np.int64)])
        return np.arange(start, start + len(tokens), dtype=np.int64)

    def copy(self) -> Vocab:
        """An independent copy."""
        new = Vocab.__new__(Vocab)
        new.__dict__.update(self.__dict__)
        if self._tokens is not None:
            new._tokens = list(self._tokens)
            new._index = dict(self._index or {})
        new._specials = list(self._specials)
        return new

    # -- saving -----------------------------------------------------------------------

    def _state(self) -> tuple[dict[str, np.ndarray], dict[str, str]]:
        arrays = _pack(self.tokens)
        if self._counts is not None:
            arrays["counts"] = self._counts
        specials = np.array(self.lookup_exact(self._specials), dtype=np.int64)
        arrays["special_ids"] = specials
        meta = {
            "format": _FORMAT,
            "version": _VERSION,
            "oov": self._oov,
            "pad": "" if self._pad is None else str(self[self._pad]),
            "unk": "" if self._unk is None else str(self[self._unk]),
            "bucket_start": str(self._bucket_start),
            "num_buckets": str(self._num_buckets),
        }
        return arrays, meta

    def save(self, path: str | os.PathLike[str]) -> None:
        """Save to one safetensors file, atomically. Any token string round-trips."""
        arrays, meta = self._state()
        save_arrays(path, arrays, meta)

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, mmap: bool = True) -> Vocab:
        """Load a vocabulary written by :meth:`save`.

        With ``mmap=True`` nothing is decoded up front: lookups go through the
        stored hash index, and the tokens are decoded on demand.
        """
        arrays, meta = open_arrays(path, mmap=mmap)
        if meta.get("format") != _FORMAT:
            raise FormatError(
                f"not a vocabgraft vocabulary (format={meta.get('format')!r})",
                path=path,
                hint="Write it with Vocab.save",
            )
        if meta.get("version") != _VERSION:
            raise FormatError(
                f"vocabulary format version {meta.get('version')!r} is not supported "
                f"(this vocabgraft reads version {_VERSION})",
                path=path,
                hint="Upgrade vocabgraft, or save the vocabulary again",
            )
        new = cls.__new__(cls)
        new._packed = _Packed(arrays)
        new._tokens = None
        new._index = None
        new._specials = [new._packed.token(int(i)) for i in arrays["special_ids"]]
        new._pad = new._packed.token(int(meta["pad"])) if meta["pad"] else None
        new._unk = new._packed.token(int(meta["unk"])) if meta["unk"] else None
        new._oov = meta["oov"]  # type: ignore[assignment]
        new._bucket_start = int(meta["bucket_start"])
        new._num_buckets = int(meta["num_buckets"])
        new._counts = np.array(arrays["counts"]) if "counts" in arrays else None
        if not mmap:
            new._materialize()
        return new
