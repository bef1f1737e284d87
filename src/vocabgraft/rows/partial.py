"""The behaviour both ``PartialEmbedding`` adapters share, framework-neutral (numpy only).

``vocabgraft.torch.PartialEmbedding`` is ``PartialRows`` plus ``nn.Module``,
and ``vocabgraft.keras.PartialEmbedding`` is ``PartialRows`` plus
``keras.layers.Layer``, in the way einops keeps its layers' logic in one mixin
and adds a thin class per framework. The mixin owns what both would otherwise
write, so the two cannot drift apart:

- resolving ids and tokens (lists, arrays, tensors, tokens of :attr:`vocab`);
- the first trainable set (``trainable=``, ``freeze=``, the padding row);
- the defaults of :meth:`PartialRows.from_table` (the vocabulary and its pad
  token as the padding row, which never trains);
- the orchestration of freeze, unfreeze and extend: checking the request,
  planning the new layout (:mod:`vocabgraft.rows.layout`), computing new rows
  with an initializer, warning when a large table becomes trainable whole,
  and growing the vocabulary once the arrays have changed;
- the one id-range check, with its one message.

An adapter adds the lookup, the parameter or variable swap
(:meth:`PartialRows._apply_change`), the optimizer hand-over and
serialization.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import numpy as np

from vocabgraft._arrays import tensor_to_numpy
from vocabgraft.errors import ArgumentError, ArgumentTypeError, RowIndexError, VocabError
from vocabgraft.init import InitContext, resolve_init
from vocabgraft.rows.ids import check_bounds, check_row_ids
from vocabgraft.rows.ids import normalize_padding as _normalize_padding
from vocabgraft.rows.layout import LayoutChange, RowMap
from vocabgraft.vocab.core import Vocab

if TYPE_CHECKING:
    from vocabgraft.table.core import EmbeddingTable

__all__ = ["PartialRows", "check_weights", "warn_if_whole_table"]

_P = TypeVar("_P", bound="PartialRows")


def check_weights(shape: tuple[int, ...], dtype: Any, *, floating: bool) -> None:
    """Refuse a base table that is not a 2-D float matrix, naming what was given.

    Raises:
        ArgumentError: for a shape that is not ``(rows, dims)`` or a non-float dtype.
    """
    if len(shape) != 2:
        raise ArgumentError(f"weights must be 2-D (rows x dims). Received shape {tuple(shape)}")
    if not floating:
        raise ArgumentError(f"weights must be floating point. Received dtype {dtype}")


def warn_if_whole_table(change: LayoutChange, row_bytes: int, limit: int) -> None:
    """Warn, with the memory cost, when ``change`` makes a large table train whole.

    ``row_bytes`` is one row's size; ``limit`` the size of the trainable rows
    from which to warn.
    """
    after = change.after
    nbytes = after.num_trainable * row_bytes
    whole = after.num_trainable + (after.padding_idx is not None) == after.num_rows
    if whole and nbytes >= limit:
        warnings.warn(
            f"all {after.num_rows:,} rows of the table now train: the trainable rows take "
            f"{nbytes:,} bytes and an Adam-type optimizer adds {2 * nbytes:,} bytes of state "
            f"({3 * nbytes:,} bytes in all). Unfreeze only the rows that need it to keep "
            "optimizer memory proportional to them",
            stacklevel=4,
        )


class PartialRows:
    """The framework-neutral half of a ``PartialEmbedding`` (see the module docstring).

    Attributes:
        vocab: names the rows, when there is a vocabulary; lets ids be given as
            tokens, and :meth:`_extend` grows it.
        large_table_bytes: ``unfreeze`` warns when the whole table becomes
            trainable and its rows take at least this many bytes (an Adam-type
            optimizer adds twice as much state).
    """

    vocab: Vocab | None
    _map: RowMap
    large_table_bytes: int = 64 << 20
    #: What the adapter is called in messages ("module", "layer").
    _kind: ClassVar[str] = "module"

    # -- what an adapter provides -----------------------------------------------------

    @property
    def _width(self) -> int:
        """The width of a row."""
        raise NotImplementedError

    def _row_bytes(self) -> int:
        """The size of one row in memory."""
        raise NotImplementedError

    def _merged_numpy(self) -> np.ndarray:
        """The full current table as numpy, for initializers that read the existing rows."""
        raise NotImplementedError

    def _apply_change(self, change: LayoutChange, new: np.ndarray | None, to: Any) -> None:
        """Build the new arrays of ``change`` (``new``: appended rows), adopt it, hand it to ``to``."""
        raise NotImplementedError

    @classmethod
    def from_pretrained(cls: type[_P], embeddings: Any, trainable: Any = None, **kwargs: Any) -> _P:
        """A module or layer over a ``(V, D)`` table (each adapter defines it)."""
        raise NotImplementedError

    # -- construction -----------------------------------------------------------------

    @classmethod
    def from_table(
        cls: type[_P], table: EmbeddingTable, trainable: Any = None, **kwargs: Any
    ) -> _P:
        """Over an :class:`~vocabgraft.EmbeddingTable`, whose vectors are not copied.

        ``trainable`` may name tokens. The result keeps its own copy of the
        table's vocabulary, which ``extend`` grows. ``padding_idx`` defaults
        to the vocabulary's pad token, when it has one: that row never trains,
        so naming it in ``trainable`` raises and ``unfreeze()`` leaves it out.
        Other keywords are those of ``from_pretrained``.
        """
        kwargs.setdefault("vocab", table.vocab.copy())
        kwargs.setdefault("padding_idx", table.vocab.pad_id)
        return cls.from_pretrained(table.vectors, trainable, **kwargs)

    def _first_trainable(
        self,
        trainable: Any,
        *,
        num_rows: int,
        padding_idx: int | None,
        freeze: bool | None,
        add: Any,
    ) -> np.ndarray:
        """The ids that train at first.

        ``trainable`` None: no row with ``freeze=True``, every row but the
        padding row otherwise (a fresh table, or ``freeze=False``). A given
        set trains; an explicitly empty one is refused unless ``add`` gives new
        rows or ``freeze=True`` says that no row should train yet.
        """
        if trainable is None:
            if freeze:
                return np.empty(0, np.int64)
            ids = np.arange(num_rows, dtype=np.int64)
            pad = _normalize_padding(padding_idx, num_rows)
            return ids if pad is None else np.delete(ids, pad)
        if freeze is False:
            raise ArgumentError(
                "freeze=False trains every row, and trainable= names the rows that train: "
                "pass one of them"
            )
        ids = self._resolve_ids(trainable, what="trainable ids", num_rows=num_rows)
        if ids.size == 0 and not add and freeze is None:
            raise RowIndexError(
                f"the trainable id set is empty (table of {num_rows} rows): nothing would "
                "train. Pass the ids or tokens to train, add= new rows, or freeze=True for a "
                f"{self._kind} that trains no row yet"
            )
        return ids

    @staticmethod
    def _pretrained_choice(trainable: Any, freeze: bool | None) -> tuple[Any, bool | None]:
        """``from_pretrained``'s ``(trainable, freeze)``, as ``nn.Embedding.from_pretrained`` reads them.

        A bool in second place is its ``freeze``; without ``trainable``,
        ``freeze`` defaults to True (no row trains yet).

        Raises:
            ArgumentError: when ``freeze`` is given twice.
        """
        if isinstance(trainable, bool):  # from_pretrained(weights, False)
            if freeze is not None:
                raise ArgumentError("pass freeze= once: the second argument was a bool")
            trainable, freeze = None, trainable
        if trainable is None and freeze is None:
            freeze = True
        return trainable, freeze

    def _set_vocab(self, vocab: Vocab | None, num_rows: int) -> None:
        """Keep ``vocab``, which must name every row.

        Raises:
            ArgumentError: when its size is not ``num_rows``.
        """
        if vocab is not None and len(vocab) != num_rows:
            raise ArgumentError(
                f"the vocabulary has {len(vocab)} tokens but the table has {num_rows} rows"
            )
        self.vocab = vocab

    # -- reading ----------------------------------------------------------------------

    @property
    def row_map(self) -> RowMap:
        """Where every row lives (see :mod:`vocabgraft.rows.layout`)."""
        return self._map

    @property
    def num_base(self) -> int:
        """Rows in the base (the table handed over); ids from here on are appended rows."""
        return self._map.num_base

    @property
    def padding_idx(self) -> int | None:
        """The padding row, which never trains (None when there is none)."""
        return self._map.padding_idx

    def _resolve_ids(self, ids: Any, *, what: str, num_rows: int | None = None) -> np.ndarray:
        """Sorted unique int64 ids from ids, tokens, arrays or framework tensors.

        Raises:
            RowIndexError: for non-integer ids or ids out of range.
            ArgumentTypeError: for tokens when there is no vocabulary.
            TokenNotFoundError: for a token the vocabulary lacks.
        """
        n = self._map.num_rows if num_rows is None else num_rows
        if isinstance(ids, (str, int, np.integer)):
            ids = [ids]
        if not isinstance(ids, np.ndarray) and hasattr(ids, "dtype") and hasattr(ids, "shape"):
            arr = np.asarray(tensor_to_numpy(ids))  # a torch, jax or Keras tensor
            if arr.dtype.kind not in "iu":
                raise RowIndexError(f"{what} must be integers. Received dtype {ids.dtype}")
            return check_row_ids(arr, n, what=what)
        if not isinstance(ids, np.ndarray):
            ids = list(ids)
            if ids and all(isinstance(t, str) for t in ids):
                if self.vocab is None:
                    raise ArgumentTypeError(
                        f"{what} are tokens, but this {self._kind} has no vocabulary. Pass "
                        f"ids, or build the {self._kind} with from_table or vocab="
                    )
                return np.unique(self.vocab.lookup_exact(ids))
        return check_row_ids(ids, n, what=what)

    def _check_bounds(self, lo: int, hi: int) -> None:
        """The range check of a batch, from its smallest and largest id."""
        check_bounds(lo, hi, self._map.num_rows, what="ids")

    # -- changing what trains ---------------------------------------------------------

    def _freeze(self, ids: Any, to: Any) -> None:
        """Stop training ``ids`` (all when None); hand the change to ``to`` when given."""
        chosen = None if ids is None else self._resolve_ids(ids, what="ids to freeze")
        self._apply_change(self._map.freeze(chosen), None, to)

    def _unfreeze(self, ids: Any, to: Any) -> None:
        """Train ``ids`` too (all but the padding row when None); warn for a large whole table."""
        chosen = None if ids is None else self._resolve_ids(ids, what="ids to unfreeze")
        change = self._map.unfreeze(chosen)
        warn_if_whole_table(change, self._row_bytes(), self.large_table_bytes)
        self._apply_change(change, None, to)

    def _extend(
        self,
        rows: int | str | Sequence[str],
        *,
        init: Any,
        trainable: bool,
        seed: int | None,
        generator: np.random.Generator | None,
        to: Any,
    ) -> tuple[int, int]:
        """Append rows (a count, or new tokens); return ``(first new id, num_rows after)``.

        Everything is checked and the new values computed before any array
        changes; the vocabulary grows last, so a failure changes nothing.
        """
        tokens, n = self._new_rows(rows)
        change = self._map.extend(n, trainable=trainable)  # checks n before any work
        ctx = InitContext.build(
            n,
            self._width,
            tokens=tokens,
            vocab=self.vocab,
            seed=seed,
            generator=generator,
            weights_fn=self._merged_numpy,
        )
        values = np.asarray(resolve_init(tensor_to_numpy(init), ctx))
        self._apply_change(change, values, to)
        if tokens is not None and self.vocab is not None:
            self.vocab.extend(tokens)
        return change.before.num_rows, change.after.num_rows

    def _new_rows(self, rows: int | str | Sequence[str]) -> tuple[list[str] | None, int]:
        """The tokens (None for a row count) and the number of rows ``extend`` adds; checked."""
        if isinstance(rows, bool):
            raise ArgumentTypeError(
                f"extend takes a row count or new tokens. Received {rows!r} (a bool)"
            )
        if isinstance(rows, (int, np.integer)):
            if self.vocab is not None:
                raise VocabError(
                    f"this {self._kind} has a vocabulary, so new rows need tokens: pass "
                    f"extend(tokens) instead of extend({int(rows)})"
                )
            return None, int(rows)
        tokens = [rows] if isinstance(rows, str) else list(rows)
        if self.vocab is None:
            raise ArgumentTypeError(
                f"extend got tokens, but this {self._kind} has no vocabulary. Pass a row "
                f"count, or build the {self._kind} with from_table or vocab="
            )
        _refuse_known(self.vocab, tokens)
        return tokens, len(tokens)


def _refuse_known(vocab: Vocab, tokens: list[Any]) -> None:
    """Refuse non-strings, tokens already in ``vocab`` and repeats, before anything changes."""
    bad = next((t for t in tokens if not isinstance(t, str)), None)
    if bad is not None:
        raise VocabError(f"tokens are strings. Received {bad!r} ({type(bad).__name__})")
    new = set(vocab.missing(tokens))
    present = next((t for t in tokens if t not in new), None)
    if present is not None:
        raise VocabError(
            f"token {present!r} is already in the vocabulary at id {vocab[present]}; "
            "extend with new tokens only (vocab.missing(tokens) picks them)"
        )
    counts = Counter(tokens)
    repeated = next((t for t in tokens if counts[t] > 1), None)
    if repeated is not None:
        raise VocabError(f"token {repeated!r} is repeated in the tokens to add")
