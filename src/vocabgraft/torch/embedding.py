"""PartialEmbedding: an nn.Embedding in which only chosen rows train.

Why buffers and a compact parameter, and not a gradient mask? A mask hook on
a trainable table still leaves every row in the optimizer: AdamW's weight
decay moves the masked rows anyway, and the optimizer keeps state for all of
them. Here the frozen rows are not parameters at all, so no optimizer can touch
them, and optimizer memory follows the number of rows that train.

What both frameworks share (ids and tokens, freeze, unfreeze, extend, the
padding row) lives in :class:`vocabgraft.rows.partial.PartialRows`; this
module adds the lookup, the parameter swap, the optimizer hand-over and
``state_dict``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

import numpy as np
import torch
from torch import Tensor, nn

from vocabgraft.errors import ArgumentTypeError, RowIndexError, StateError
from vocabgraft.init import Initializer
from vocabgraft.rows.ids import normalize_padding as _normalize_padding
from vocabgraft.rows.layout import LayoutChange as _Change
from vocabgraft.rows.layout import RowMap
from vocabgraft.rows.partial import PartialRows
from vocabgraft.torch import _state, _swap
from vocabgraft.torch._optim import hand_over
from vocabgraft.torch._weights import as_tensor, first_table, options_of, refuse_options
from vocabgraft.torch.kernel import lookup
from vocabgraft.vocab.core import Vocab

__all__ = ["Ids", "PartialEmbedding", "as_tensor"]

Ids = Sequence[int] | Sequence[str] | np.ndarray | Tensor | int | str
_M = TypeVar("_M", bound="PartialEmbedding")
_Init = Initializer | np.ndarray | Tensor | str | None


class PartialEmbedding(PartialRows, _state.StateDict, nn.Module):
    """An ``nn.Embedding`` whose chosen rows train while the rest stay exactly as they were.

    The first ``num_base`` rows live in the buffer ``base`` (never written: it
    may be a read-only memory map). Rows that train live in one compact
    parameter ``rows`` of shape ``(K, D)``, for any set of ids; rows trained
    and frozen again, and rows appended frozen, in the small buffer ``patch``
    (:mod:`vocabgraft.rows.layout`). ``forward`` gives exactly what
    ``nn.Embedding`` gives on the merged table, :attr:`weight`. The padding
    row never trains.

    ``PartialEmbedding(num_embeddings, embedding_dim, padding_idx=...)`` is a
    fresh table drawn as ``nn.Embedding`` draws it, in which every row but the
    padding row trains until rows are frozen. :meth:`from_pretrained`,
    :meth:`from_table` and :meth:`from_embedding` build one over trained rows.

    Args:
        num_embeddings: rows of a fresh table, or the ``(V0, D)`` base table
            (a tensor or array, used without a copy).
        embedding_dim: the width of a fresh table's rows (None with a table).
        padding_idx: as in ``nn.Embedding``: that row gets no gradient.
        max_norm: refused, with the reason (it would write the frozen base).
        norm_type: as in ``nn.Embedding`` (used with ``max_norm`` only).
        scale_grad_by_freq: as in ``nn.Embedding``.
        sparse: refused, with the reason (the gradient is already compact).
        trainable: the ids (or, with ``vocab``, tokens) that train; None for
            every row but the padding row, or none with ``freeze=True``.
        freeze: with ``trainable`` None, True trains no row yet.
        vocab: names the rows; lets ids be given as tokens.
        check_ids: check each batch's ids (one min/max reduction) and raise
            :class:`~vocabgraft.errors.RowIndexError` naming a bad one.
        save_base: put the base in ``state_dict`` too (off: a checkpoint
            stays O(K + P) rows and loads into a module over the same base).
        add: rows to append right away, trainable, as :meth:`extend` does.
        init: their values (see :meth:`extend`).
        seed: where a random ``init`` draws from.
        device: as in ``nn.Embedding`` (a given table is moved there).
        dtype: as in ``nn.Embedding`` (a given table is converted).

    :meth:`freeze`, :meth:`unfreeze` and :meth:`extend` keep ``rows`` the same
    Parameter with a new shape; pass ``optimizer=`` (or call :meth:`rebind`)
    so that rows that stay keep their optimizer state and the others lose it.
    ``weight`` is read-only: each read builds a new merged tensor without
    gradient (writing into it changes nothing), and assigning it raises
    :class:`~vocabgraft.errors.StateError`. ``state_dict`` holds the
    trainable rows, the patch and the layout; an ``nn.Embedding`` state
    (``{"weight": ...}``) loads too. ``merge()`` gives a plain ``nn.Embedding``.

    >>> import torch
    >>> emb = PartialEmbedding.from_pretrained(torch.randn(10, 4), trainable=[0, 7])
    >>> emb(torch.tensor([[7, 3]])).shape
    torch.Size([1, 2, 4])
    >>> [name for name, _ in emb.named_parameters()]
    ['rows']
    >>> fresh = PartialEmbedding(6, 3, padding_idx=0)
    >>> fresh.trainable_ids.tolist(), fresh.weight.shape
    ([1, 2, 3, 4, 5], torch.Size([6, 3]))
    """

    base: Tensor
    patch: Tensor
    trainable_index: Tensor
    patch_index: Tensor
    slots: Tensor
    hot: Tensor
    rows: nn.Parameter
    _kind = "module"

    def __init__(
        self,
        num_embeddings: int | Tensor | np.ndarray,
        embedding_dim: int | None = None,
        padding_idx: int | None = None,
        max_norm: float | None = None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        sparse: bool = False,
        *,
        trainable: Ids | None = None,
        freeze: bool | None = None,
        vocab: Vocab | None = None,
        check_ids: bool = True,
        save_base: bool = False,
        add: int | Sequence[str] | None = None,
        init: _Init = None,
        seed: int | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        """Build the table, the layout and the first trainable rows (see the class docstring)."""
        super().__init__()
        refuse_options(max_norm=max_norm, sparse=sparse)
        self.max_norm, self.norm_type, self.sparse = None, norm_type, False
        self.scale_grad_by_freq = bool(scale_grad_by_freq)
        base, fresh = first_table(num_embeddings, embedding_dim, padding_idx, device, dtype)
        num_rows = base.shape[0]
        self._set_vocab(vocab, num_rows)
        self.check_ids, self._save_base = check_ids, save_base
        padding_idx = _normalize_padding(padding_idx, num_rows)
        ids = self._first_trainable(
            trainable, num_rows=num_rows, padding_idx=padding_idx, freeze=freeze, add=add
        )
        row_map = RowMap.create(num_rows, ids, padding_idx=padding_idx)
        _swap.install(self, base, row_map, fresh=fresh and trainable is None and not freeze)
        # new_from_old maps of changes the optimizer has not been told about yet.
        self._pending: list[tuple[int, np.ndarray]] = []
        if add:
            self._extend(add, init=init, trainable=True, seed=seed, generator=None, to=None)
            self._pending.clear()  # no optimizer has seen the rows yet

    # -- construction -----------------------------------------------------------------

    @classmethod
    def from_pretrained(
        cls: type[_M],
        embeddings: Tensor | np.ndarray,
        trainable: Ids | bool | None = None,
        *,
        freeze: bool | None = None,
        **kwargs: Any,
    ) -> _M:
        """A module over a ``(V, D)`` tensor or array, used without a copy.

        As ``nn.Embedding.from_pretrained``: ``freeze=True`` (the default
        without ``trainable``) trains no row yet, ``freeze=False`` every row
        but the padding row; ``from_pretrained(w, False)`` reads as there.
        ``trainable`` names the rows that train instead. Other keywords are
        the constructor's (``padding_idx``, ``scale_grad_by_freq``, ``vocab``,
        ``add``, ``device``, ``dtype``...).
        """
        trainable, freeze = cls._pretrained_choice(trainable, freeze)
        return cls(embeddings, trainable=trainable, freeze=freeze, **kwargs)

    @classmethod
    def from_embedding(
        cls: type[_M], embedding: nn.Module, trainable: Ids | None = None, **kwargs: Any
    ) -> _M:
        """A module with the rows, ``padding_idx`` and options of an ``nn.Embedding``.

        The base shares memory with ``embedding.weight``. Build the optimizer
        afterwards, from the new module's parameters. Keywords as for
        :meth:`from_pretrained`.
        """
        if not isinstance(embedding, nn.Embedding):
            raise ArgumentTypeError(
                f"from_embedding takes an nn.Embedding. Received {type(embedding).__name__}"
            )
        options = {**options_of(embedding), **kwargs}
        return cls.from_pretrained(embedding.weight.detach(), trainable, **options)

    # -- reading ----------------------------------------------------------------------

    @property
    def num_embeddings(self) -> int:
        """Rows in the table, appended rows included."""
        return self._map.num_rows

    @property
    def embedding_dim(self) -> int:
        """The width of a row."""
        return int(self.base.shape[1])

    @property
    def trainable_ids(self) -> Tensor:
        """The ids that train, ascending; slot ``k`` of ``rows`` holds ``trainable_ids[k]``."""
        return torch.from_numpy(self._map.trainable_ids.copy())

    @property
    def weight(self) -> Tensor:
        """The merged ``(V, D)`` table: a new tensor without gradient, built at each read."""
        return self.merged_weight()

    def __setattr__(self, name: str, value: Any) -> None:
        """Refuse assigning ``weight`` (the merged table, read-only)."""
        if name == "weight":
            raise StateError(
                f"{type(self).__name__}.weight is the merged table, read-only: assigning it "
                "would change nothing. Load an nn.Embedding state with load_state_dict, "
                "write the trainable rows through .rows, or build a new module"
            )
        super().__setattr__(name, value)

    def merged_weight(self) -> Tensor:
        """The full ``(V, D)`` table as a new tensor (copies the base once)."""
        m = self._map
        with torch.no_grad():
            out = self.base.new_empty((m.num_rows, self.embedding_dim))
            out[: m.num_base] = self.base
            out[self.trainable_index] = self.rows.detach()
            out[self.patch_index] = self.patch
        return out

    def merge(self) -> nn.Embedding:
        """A plain, trainable ``nn.Embedding`` with the merged rows, for export and serving."""
        return nn.Embedding.from_pretrained(
            self.merged_weight(),
            freeze=False,
            padding_idx=self.padding_idx,
            scale_grad_by_freq=self.scale_grad_by_freq,
        )

    def extra_repr(self) -> str:
        """The sizes, the layout and the padding row."""
        m = self._map
        text = (
            f"{m.num_rows}, {self.embedding_dim}, trainable={m.num_trainable}, "
            f"patched={m.num_patched}, base={m.num_base}"
        )
        if m.padding_idx is not None:
            text += f", padding_idx={m.padding_idx}"
        return text

    # -- forward ----------------------------------------------------------------------

    def forward(self, ids: Tensor) -> Tensor:
        """The rows of ``ids`` (any shape, int32 or int64): ``(*ids.shape, D)``."""
        return self._lookup(self._checked(ids))

    def _checked(self, ids: Tensor) -> Tensor:
        if not isinstance(ids, Tensor):
            raise ArgumentTypeError(f"ids must be a torch.Tensor. Received {type(ids).__name__}")
        if ids.dtype not in (torch.int64, torch.int32):
            raise RowIndexError(
                f"ids must be int64 or int32, as for nn.Embedding. Received dtype {ids.dtype} "
                f"(table of {self._map.num_rows} rows); convert with ids.long()"
            )
        if self.check_ids and ids.numel() and not _tracing():
            lo, hi = torch.aminmax(ids)
            self._check_bounds(int(lo), int(hi))
        return ids

    def _lookup(self, ids: Tensor) -> Tensor:
        """``(*ids.shape, D)`` rows for checked ids."""
        args = (ids, self.base, self.rows, self.patch, self.slots, self.hot)
        return lookup(*args, scale_grad_by_freq=self.scale_grad_by_freq, dense=_tracing())

    # -- changing what trains ---------------------------------------------------------

    def freeze(
        self, ids: Ids | None = None, *, optimizer: torch.optim.Optimizer | None = None
    ) -> None:
        """Stop training ``ids`` (all rows when None). Their trained values are kept.

        Frozen rows leave the parameter, and with it the optimizer's state, so
        momentum and Adam moments cannot move them. Pass ``optimizer`` (or call
        :meth:`rebind` afterwards) so it follows the new layout.
        """
        self._freeze(ids, optimizer)

    def unfreeze(
        self, ids: Ids | None = None, *, optimizer: torch.optim.Optimizer | None = None
    ) -> None:
        """Train ``ids`` too (every row but the padding row when None).

        Warns when the whole table becomes trainable and is large (see
        :attr:`large_table_bytes`).
        """
        self._unfreeze(ids, optimizer)

    def extend(
        self,
        rows: int | Sequence[str],
        *,
        init: _Init = None,
        trainable: bool = True,
        seed: int | None = None,
        generator: np.random.Generator | None = None,
        optimizer: torch.optim.Optimizer | None = None,
    ) -> Tensor:
        """Append rows, or one row per new token; return their ids. Old ids never change.

        Costs O(new rows): the base is not copied (only initializers that read
        the existing rows, such as ``Mean``, build the merged table, once).

        Args:
            rows: how many rows, or the new tokens (added to :attr:`vocab`).
            init: the new rows' values: an ``(n, D)`` array or tensor, an
                initializer from :mod:`vocabgraft.init`, a name (``"zeros"``,
                ``"mean"``), or None for zeros.
            trainable: whether the new rows train (they are patched otherwise).
            seed: where a random initializer draws from.
            generator: the same, as a ``np.random.Generator`` (give one of the two).
            optimizer: hand the new rows to it (see :meth:`rebind`).

        Returns:
            The new ids, as an int64 tensor.
        """
        first, stop = self._extend(
            rows, init=init, trainable=trainable, seed=seed, generator=generator, to=optimizer
        )
        return torch.arange(first, stop)

    def rebind(self, optimizer: torch.optim.Optimizer) -> None:
        """Hand the layout changes since the last rebind to ``optimizer``.

        ``rows`` stays the same Parameter object, so ``optimizer.param_groups``
        need no change; its per-row state is remapped (rows that stay keep
        theirs, rows that left lose it, new rows start at zero). Call it once
        per change-set, with the one optimizer that trains this module, or pass
        ``optimizer=`` to :meth:`freeze`, :meth:`unfreeze` and :meth:`extend`.
        """
        hand_over(optimizer, self.rows, self._pending)

    # -- what PartialRows asks of an adapter -------------------------------------------

    @property
    def _width(self) -> int:
        return self.embedding_dim

    def _row_bytes(self) -> int:
        return self.embedding_dim * self.base.element_size()

    def _merged_numpy(self) -> np.ndarray:
        m = self._map
        if m.num_trainable == 0 and m.num_patched == 0 and self.base.dtype == torch.float32:
            return self.base.detach().cpu().numpy()
        return self.merged_weight().detach().cpu().float().numpy()

    def _apply_change(
        self, change: _Change, new: np.ndarray | None, to: torch.optim.Optimizer | None
    ) -> None:
        _swap.apply_change(self, change, new)
        if to is not None:
            self.rebind(to)

    def _adopt(self, row_map: RowMap) -> None:
        """Make ``row_map`` the layout (buffers follow; values are already in place)."""
        _swap.adopt(self, row_map)


def _tracing() -> bool:
    return bool(torch.compiler.is_compiling() or torch.compiler.is_exporting())
