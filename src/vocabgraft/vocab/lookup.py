"""Vocab lookups under the OOV policy, and padded batches of ids (encode/decode)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, cast, overload

import numpy as np

from vocabgraft.errors import ArgumentTypeError, TokenNotFoundError, VocabError
from vocabgraft.vocab.storage import hashes

if TYPE_CHECKING:
    from vocabgraft.vocab.core import OOVPolicy

__all__ = ["Lookups"]


class Lookups:
    """The OOV-policy lookups of :class:`~vocabgraft.Vocab`."""

    _oov: OOVPolicy
    _unk: str | None
    _pad: str | None
    _bucket_start: int
    _num_buckets: int
    _default_index: int | None

    if TYPE_CHECKING:  # provided by the class this mixes into

        def __len__(self) -> int: ...
        def __getitem__(self, token: str) -> int: ...
        def _find(self, tokens: Sequence[str]) -> np.ndarray: ...
        def token(self, i: int) -> str: ...  # noqa: D102

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
            if self._oov == "raise" and self._default_index is not None:
                ids[missing] = self._default_index
            elif self._oov == "raise":
                j = int(missing[0])
                raise TokenNotFoundError(
                    f"token {flat[j]!r} (position {j}) is not in the vocabulary of "
                    f"{len(self)} tokens, and oov='raise'. {len(missing)} of {len(tokens)} "
                    "tokens are missing; use oov='unk' or oov='hash' to map them instead"
                )
            elif self._oov == "unk":
                assert self._unk is not None
                ids[missing] = self[self._unk]
            else:
                ids[missing] = self._bucket_start + (
                    hashes([flat[j] for j in missing.tolist()]) % np.uint64(self._num_buckets)
                ).astype(np.int64)
        return ids

    def encode(
        self, sequences: Iterable[Iterable[str]], *, length: int | None = None
    ) -> np.ndarray:
        """A ``(len(sequences), length)`` int64 array of ids, padded with the pad id.

        ``length`` defaults to the longest sequence; longer ones are cut.

        >>> from vocabgraft import Vocab
        >>> Vocab(["a", "b"], pad="<pad>", unk="<unk>").encode([["a"], ["b", "c", "a"]]).tolist()
        [[2, 0, 0], [3, 1, 2]]
        """
        if self._pad is None:
            raise VocabError(
                "encode pads with the pad token, but this vocabulary has none; pass pad="
            )
        if isinstance(sequences, str):
            raise ArgumentTypeError(
                "encode takes a list of token sequences, not one string; "
                "use vocab.encode([text.split()]) or a tokenizer from vocabgraft.vocab.tokenize"
            )
        rows = []
        for i, seq in enumerate(sequences):
            if isinstance(seq, str):
                raise ArgumentTypeError(
                    f"encode takes sequences of tokens, but item {i} is a string ({seq[:30]!r}), "
                    "which would be split into characters. Tokenize it first: "
                    "vocab.encode([text.split() for text in texts]) or "
                    "vocabgraft.vocab.tokenize.simple"
                )
            rows.append(self.lookup(list(seq)))
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

    def missing(self, tokens: Iterable[str]) -> list[str]:
        """The tokens of ``tokens`` not in the vocabulary, unique, in first-seen order."""
        unique = list(dict.fromkeys(tokens))
        ids = self._find(unique)
        return [t for t, i in zip(unique, ids.tolist()) if i < 0]
