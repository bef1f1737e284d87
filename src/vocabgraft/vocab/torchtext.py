"""torchtext's Vocab calls on vocabgraft's Vocab, and ``build_vocab_from_iterator``.

torchtext is archived; code written against ``torchtext.vocab`` runs on
vocabgraft after changing its import::

    from vocabgraft.vocab import build_vocab_from_iterator

One difference is on purpose. torchtext's ``insert_token(token, index)``
shifts every token from ``index`` on by one, which silently renumbers them
and breaks every model trained with the old ids. vocabgraft's ids are
forever: ``insert_token`` takes ``index == len(vocab)`` (an append) and
refuses any other index with a :class:`~vocabgraft.errors.VocabError` that
says why.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from vocabgraft.errors import ArgumentError, ArgumentTypeError, RowIndexError, VocabError

if TYPE_CHECKING:
    from vocabgraft.vocab.core import Vocab

__all__ = ["TorchtextCalls", "build_vocab_from_iterator"]


class TorchtextCalls:
    """The torchtext-compatible calls of :class:`~vocabgraft.Vocab`."""

    _default_index: int | None

    if TYPE_CHECKING:  # provided by the class this mixes into

        def __len__(self) -> int: ...
        def __getitem__(self, token: str) -> int: ...
        def token(self, i: int) -> str: ...  # noqa: D102
        def extend(self, tokens: Iterable[str]) -> np.ndarray: ...  # noqa: D102
        @property
        def tokens(self) -> list[str]: ...  # noqa: D102

    def set_default_index(self, index: int | None) -> None:
        """The id that ``vocab[token]``, ``vocab(tokens)`` and ``lookup_indices`` give unknown tokens.

        ``None`` unsets it (unknown tokens raise again). Under ``oov="raise"``
        :meth:`lookup` uses it too; the ``"unk"`` and ``"hash"`` policies keep
        their own rule.

        Raises:
            RowIndexError: ``index`` is not an id of this vocabulary.
        """
        if index is not None:
            if not isinstance(index, (int, np.integer)) or isinstance(index, bool):
                raise RowIndexError(f"the default index is an id. Received {index!r}")
            if not 0 <= index < len(self):
                raise RowIndexError(
                    f"default index {index} is out of range for a vocabulary of {len(self)} tokens"
                )
            index = int(index)
        self._default_index = index

    def get_default_index(self) -> int | None:
        """The id unknown tokens get from ``vocab[token]`` (None: they raise)."""
        return self._default_index

    def __call__(self, tokens: Sequence[str]) -> list[int]:
        """The ids of ``tokens``, as torchtext's ``vocab(tokens)``: :meth:`lookup_indices`."""
        return self.lookup_indices(tokens)

    def lookup_indices(self, tokens: Sequence[str]) -> list[int]:
        """The id of each token, as ``vocab[token]`` gives it (the default index when unknown)."""
        if isinstance(tokens, str):
            raise ArgumentTypeError(
                "lookup_indices takes a list of tokens, not one string; "
                "use vocab[token], or split the text first"
            )
        return [self[t] for t in tokens]

    def lookup_token(self, index: int) -> str:
        """The token with id ``index``; :class:`RowIndexError` when out of range."""
        return self.token(index)

    def lookup_tokens(self, indices: Sequence[int]) -> list[str]:
        """The token of each id."""
        return [self.token(i) for i in indices]

    def get_itos(self) -> list[str]:
        """Every token in id order (a new list)."""
        return self.tokens

    def get_stoi(self) -> dict[str, int]:
        """A new ``{token: id}`` dict."""
        return {t: i for i, t in enumerate(self.tokens)}

    def append_token(self, token: str) -> None:
        """Add ``token`` at the end. Raises :class:`VocabError` if it is present."""
        self.extend([token])

    def insert_token(self, token: str, index: int) -> None:
        """Add ``token`` with id ``index``, which must be ``len(vocab)``: ids are forever.

        Raises:
            VocabError: ``index`` is not the end. torchtext would shift every
                token from ``index`` on, renumbering ids that models were
                trained with; vocabgraft never renumbers.
        """
        if index != len(self):
            raise VocabError(
                f"insert_token({token!r}, {index}) would renumber the tokens from id {index} on; "
                f"vocabgraft never renumbers ids, so a token can only be inserted at the end, "
                f"index {len(self)} (use append_token)"
            )
        self.extend([token])


def build_vocab_from_iterator(
    iterator: Iterable[Iterable[str]],
    min_freq: int = 1,
    specials: Sequence[str] | None = None,
    special_first: bool = True,
    max_tokens: int | None = None,
) -> Vocab:
    """A Vocab from tokenized texts, as torchtext's ``build_vocab_from_iterator`` builds it.

    Tokens are ordered by frequency, then alphabetically; ``max_tokens``
    keeps the most frequent (specials included in the count), then tokens
    seen fewer than ``min_freq`` times are dropped. ``specials`` come first
    (``special_first``) or last, and are the vocabulary's special tokens.

    Args:
        iterator: yields lists of tokens (one per text).
        min_freq: the least count a token needs.
        specials: special tokens such as ``"<unk>"`` and ``"<pad>"``.
        special_first: put the specials at ids ``0..``; else after the tokens.
        max_tokens: the most tokens to keep, specials included.

    Returns:
        The vocabulary, with no default index set (``set_default_index``).

    Raises:
        ArgumentTypeError: the iterator yields strings rather than lists of tokens.
        ArgumentError: ``min_freq`` < 1, or ``max_tokens`` not above the specials.

    >>> v = build_vocab_from_iterator([["a", "b", "b"], ["c", "b", "a"]], specials=["<unk>"])
    >>> v.get_itos()
    ['<unk>', 'b', 'a', 'c']
    """
    from vocabgraft.vocab.core import Vocab

    specials = list(specials or [])
    if min_freq < 1:
        raise ArgumentError(f"min_freq must be at least 1. Received: min_freq={min_freq}")
    if max_tokens is not None and len(specials) >= max_tokens:
        raise ArgumentError(
            f"max_tokens={max_tokens} leaves no room after the {len(specials)} specials"
        )
    counter: Counter[str] = Counter()
    for i, tokens in enumerate(iterator):
        if isinstance(tokens, str):
            raise ArgumentTypeError(
                f"the iterator must yield lists of tokens; item {i} is a string ({tokens[:30]!r}). "
                "Tokenize first: (tokenizer(text) for text in texts)"
            )
        counter.update(tokens)
    ordered = sorted(counter.items(), key=lambda tc: (-tc[1], tc[0]))
    if max_tokens is not None:
        ordered = ordered[: max_tokens - len(specials)]
    reserved = set(specials)
    kept = [t for t, c in ordered if c >= min_freq and t not in reserved]
    if special_first:
        vocab = Vocab(kept, specials=specials)
    else:
        vocab = Vocab(kept)
        vocab.extend(specials)
        vocab._specials = list(specials)
    vocab._counts = np.array([counter.get(t, 0) for t in vocab.tokens], dtype=np.int64)
    return vocab
