"""Vocab: tokens to ids and back, with stable, append-only ids.

Ids are forever: adding tokens never renumbers existing ones, so a model
trained against a vocabulary stays valid after the vocabulary grows.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from vocabgraft._safetensors import save_arrays
from vocabgraft.errors import (
    ArgumentTypeError,
    RowIndexError,
    TokenNotFoundError,
    VocabError,
)
from vocabgraft.vocab import storage
from vocabgraft.vocab.lookup import Lookups
from vocabgraft.vocab.storage import Packed, stable_hash
from vocabgraft.vocab.torchtext import TorchtextCalls

__all__ = ["OOVPolicy", "Vocab", "stable_hash"]

OOVPolicy = Literal["unk", "hash", "raise"]
_POLICIES = storage.POLICIES


class Vocab(Lookups, TorchtextCalls):
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
        tokens = _token_list(tokens, "tokens")
        specials = _token_list(specials, "specials")
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
        self._packed: Packed | None = None
        self._build_index()
        special_set = dict.fromkeys(front + specials)
        self._specials: list[str] = list(special_set)
        self._pad = pad
        self._unk = unk
        self._oov: OOVPolicy = oov
        self._bucket_start = bucket_start
        self._num_buckets = int(num_buckets)
        self._counts: np.ndarray | None = None
        self._default_index: int | None = None

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
        """The id of ``token``; the default index or :class:`TokenNotFoundError` if absent.

        The OOV policy does not apply here (:meth:`lookup` applies it); the
        default index does, when :meth:`set_default_index` set one.
        """
        i = self._find_one(token)
        if i < 0:
            if self._default_index is not None:
                return self._default_index
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

    @property
    def specials(self) -> list[str]:
        """The special tokens (pad, unk and user-defined), in id order."""
        return list(self._specials)

    @property
    def special_ids(self) -> np.ndarray:
        """Ids of the special tokens."""
        return self.lookup_exact(self._specials)

    @property
    def pad(self) -> str | None:
        """The pad token, or None."""
        return self._pad

    @property
    def unk(self) -> str | None:
        """The unk token, or None."""
        return self._unk

    @property
    def pad_id(self) -> int | None:
        """The pad token's id, or None."""
        return None if self._pad is None else self[self._pad]

    @property
    def unk_id(self) -> int | None:
        """The unk token's id, or None."""
        return None if self._unk is None else self[self._unk]

    @property
    def oov(self) -> OOVPolicy:
        """What :meth:`lookup` does with unknown tokens: ``unk``, ``hash`` or ``raise``."""
        return self._oov

    @property
    def bucket_ids(self) -> np.ndarray:
        """Ids of the OOV hash buckets (empty unless ``oov="hash"``)."""
        return np.arange(self._bucket_start, self._bucket_start + self._num_buckets, dtype=np.int64)

    @property
    def counts(self) -> np.ndarray | None:
        """Token counts by id when built with :meth:`from_counts`, else None."""
        return None if self._counts is None else self._counts.copy()

    # -- growing ----------------------------------------------------------------------

    def add(self, token: str) -> int:
        """Append ``token`` and return its new id. Adding a present token is an error."""
        return int(self.extend([token])[0])

    def extend(self, tokens: Iterable[str]) -> np.ndarray:
        """Append new tokens; return their ids. Existing ids never change.

        Raises :class:`VocabError` if a token is already present or repeated,
        and then adds nothing. :meth:`missing` picks the new ones first.
        """
        tokens = _token_list(tokens, "tokens")
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

    def save(self, path: str | os.PathLike[str]) -> None:
        """Save to one safetensors file, atomically. Any token string round-trips."""
        arrays, meta = storage.vocab_state(self)
        save_arrays(path, arrays, meta)

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, mmap: bool = True) -> Vocab:
        """Load a vocabulary written by :meth:`save`, checking every field.

        With ``mmap=True`` nothing is decoded up front: lookups go through the
        stored hash index, and the tokens are decoded on demand; a sample of
        the tokens is rehashed against the index. ``mmap=False`` reads and
        checks every token.

        Raises:
            FormatError: not a vocabulary file, or a damaged one; the message
                names the file and the field.
        """
        return storage.load_vocab(cls, Path(path), mmap=mmap)


def _token_list(tokens: Iterable[str], name: str) -> list[str]:
    """``tokens`` as a list; one string (which would be split into characters) is refused."""
    if isinstance(tokens, str):
        raise ArgumentTypeError(
            f"{name} must be a list of tokens, not one string ({tokens[:30]!r}), which would "
            f"be split into characters; pass [{tokens[:30]!r}] or split the text first"
        )
    return list(tokens)
