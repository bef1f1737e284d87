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

import sys
from collections.abc import Sequence
from typing import Any, TypeVar

import numpy as np
import torch
from torch import Tensor, nn

from vocabgraft.errors import ArgumentError, ArgumentTypeError, RowIndexError, StateError
from vocabgraft.init import Initializer
from vocabgraft.rows.layout import BASE, BASE_SOURCE, NEW, PATCH, TRAINABLE, Gather, RowMap
from vocabgraft.rows.layout import LayoutChange as _Change
from vocabgraft.rows.layout import normalize_padding as _normalize_padding
from vocabgraft.rows.partial import PartialRows, check_weights
from vocabgraft.torch import _state
from vocabgraft.torch._optim import compose, remap_state
from vocabgraft.torch._weights import as_tensor, fresh_table, refuse_options
from vocabgraft.torch.kernel import lookup
from vocabgraft.vocab.core import Vocab

__all__ = ["Ids", "PartialEmbedding", "as_tensor"]

Ids = Sequence[int] | Sequence[str] | np.ndarray | Tensor | int | str
_M = TypeVar("_M", bound="PartialEmbedding")
_Init = Initializer | np.ndarray | Tensor | str | None


class PartialEmbedding(PartialRows, nn.Module):
    """An ``nn.Embedding`` whose chosen rows train while the rest stay exactly as they were.

    The first ``num_base`` rows live in the buffer ``base`` (never written: it
    may be a read-only memory map shared by processes). Rows that train live in
    one compact parameter ``rows`` of shape ``(K, D)``, for any set of ids.
    Rows trained and then frozen again, and rows appended frozen, live in the
    small buffer ``patch``. :mod:`vocabgraft.rows.layout` explains the bookkeeping.

    ``forward`` gives exactly what ``nn.Embedding`` gives on the merged table
    (:attr:`weight`): any shape of int32 or int64 ids, repeats allowed, any
    float dtype. The padding row never trains, as in ``nn.Embedding``.

    Build one as ``nn.Embedding`` is built, ``PartialEmbedding(num_embeddings,
    embedding_dim, padding_idx=...)``: a fresh table (``N(0, 1)``, drawn as
    ``nn.Embedding`` draws it) in which every row but the padding row trains
    until rows are frozen. Or over a trained table with :meth:`from_pretrained`,
    :meth:`from_table` or :meth:`from_embedding`, or pass the ``(V, D)`` tensor
    or array as the first argument (used without a copy).

    Args:
        num_embeddings: rows of a fresh table, or the ``(V0, D)`` base table.
        embedding_dim: the width of a fresh table's rows (None with a table).
        padding_idx: as in ``nn.Embedding``: that row gets no gradient.
        max_norm: refused (it would write the frozen base); must be None.
        norm_type: kept for ``nn.Embedding``'s signature (used with max_norm only).
        scale_grad_by_freq: divide each row's gradient by its id's count in the
            batch, as ``nn.Embedding`` does.
        sparse: refused (the trainable rows' gradient is already compact).
        trainable: the ids (or, with ``vocab``, tokens) of the rows that train;
            None for every row but the padding row (unless ``freeze=True``).
        freeze: with ``trainable`` None, True trains no row yet.
        vocab: names the rows; lets ``trainable`` and ``extend`` take tokens.
        check_ids: check every batch's ids with one min/max reduction before
            the lookup, raising :class:`~vocabgraft.errors.RowIndexError`
            naming the bad id. Turn off to save that reduction.
        save_base: put the base in ``state_dict`` too. Off by default: a
            checkpoint of the trained state stays O(K + P) rows, and loads
            into any module built over the same base (its layout is adopted).
        add: rows to append right away, trainable, as :meth:`extend` does.
        init: the values of the ``add`` rows (see :meth:`extend`).
        seed: where a random ``init`` draws from.
        device: as in ``nn.Embedding`` (a given table is moved there).
        dtype: as in ``nn.Embedding`` (a given table is converted).

    Changing what trains: :meth:`freeze`, :meth:`unfreeze` and :meth:`extend`
    keep ``rows`` the same Parameter object with a new shape. Hand the change
    to the optimizer with ``optimizer=`` (or :meth:`rebind` later): rows that
    stay trainable keep their optimizer state, rows that left lose it (so
    momentum cannot move them), new rows start from zero state.

    Reading ``weight`` builds the merged ``(V, D)`` table as a new tensor
    without gradient (a copy, each time), for code that reads an embedding's
    weight; writing into it changes nothing in the module, and assigning
    ``module.weight = ...`` raises :class:`~vocabgraft.errors.StateError`.

    Saving: ``state_dict`` holds the trainable rows, the patch, their ids and
    the sizes, not the base (unless ``save_base``). An ``nn.Embedding``'s
    ``state_dict`` (``{"weight": ...}``) also loads. ``merge()`` gives a plain
    ``nn.Embedding`` for serving.

    Distributed: call :func:`~vocabgraft.torch.ddp_ignore_frozen` before
    wrapping in DDP. FSDP2 (``fully_shard``) trains a fixed layout; changing
    the layout of sharded rows raises. On a GPU, the eager kernel's
    ``torch.nonzero`` and the range check each make the host wait for the
    device once per call (``check_ids=False`` drops the second); under
    ``torch.compile`` the fixed-shape kernel waits for neither.

    >>> import torch
    >>> emb = PartialEmbedding.from_pretrained(torch.randn(10, 4), trainable=[0, 7])
    >>> emb(torch.tensor([[7, 3]])).shape
    torch.Size([1, 2, 4])
    >>> [name for name, _ in emb.named_parameters()]
    ['rows']
    >>> torch.equal(emb(torch.tensor([3]))[0], emb.base[3])
    True
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
        base, fresh = self._first_table(num_embeddings, embedding_dim, padding_idx, device, dtype)
        num_rows = base.shape[0]
        if vocab is not None and len(vocab) != num_rows:
            raise ArgumentError(
                f"the vocabulary has {len(vocab)} tokens but the table has {num_rows} rows"
            )
        self.vocab, self.check_ids, self._save_base = vocab, check_ids, save_base
        padding_idx = _normalize_padding(padding_idx, num_rows)
        ids = self._first_trainable(
            trainable, num_rows=num_rows, padding_idx=padding_idx, freeze=freeze, add=add
        )
        row_map = RowMap.create(num_rows, ids, padding_idx=padding_idx)
        index = torch.from_numpy(row_map.trainable_ids.copy()).to(base.device)
        if fresh and trainable is None and not freeze:
            # Only the padding row is read from the base: one zero row stands for all.
            rows = base if padding_idx is None else base[index]
            base = base.new_zeros((1, base.shape[1])).expand_as(base)
        else:
            rows = base[index].clone()
        self.register_buffer("base", base, persistent=save_base)
        self.rows = nn.Parameter(rows)
        empty = torch.zeros(0, dtype=torch.int64, device=base.device)
        self.register_buffer("patch", base.new_zeros((0, base.shape[1])))
        self.register_buffer("trainable_index", empty)
        self.register_buffer("patch_index", empty.clone())
        self.register_buffer("slots", empty.int(), persistent=False)
        self.register_buffer("hot", empty.bool(), persistent=False)
        self._adopt(row_map)
        # new_from_old maps of changes the optimizer has not been told about yet.
        self._pending: list[tuple[int, np.ndarray]] = []
        if add:
            self._extend(add, init=init, trainable=True, seed=seed, generator=None, to=None)
            self._pending.clear()  # no optimizer has seen the rows yet

    @staticmethod
    def _first_table(
        num_embeddings: Any, embedding_dim: Any, padding_idx: Any, device: Any, dtype: Any
    ) -> tuple[Tensor, bool]:
        """The base tensor (a given table, or a fresh one) and whether it is fresh."""
        if isinstance(num_embeddings, (Tensor, np.ndarray)):
            if embedding_dim is not None:
                raise ArgumentTypeError(
                    "PartialEmbedding(weights, ...) takes the rows that train as trainable=, "
                    f"not as the second argument (received {type(embedding_dim).__name__}); "
                    "or use PartialEmbedding.from_pretrained(weights, trainable)"
                )
            base = as_tensor(num_embeddings)
            check_weights(tuple(base.shape), base.dtype, floating=base.is_floating_point())
            if device is not None or dtype is not None:
                base = base.to(device=device, dtype=dtype)
            return base, False
        table = fresh_table(num_embeddings, embedding_dim, padding_idx, device=device, dtype=dtype)
        return table, True

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
        if isinstance(trainable, bool):  # nn.Embedding.from_pretrained(weights, freeze)
            if freeze is not None:
                raise ArgumentError("pass freeze= once: the second argument was a bool")
            trainable, freeze = None, trainable
        if trainable is None and freeze is None:
            freeze = True
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
        return cls.from_pretrained(
            embedding.weight.detach(), trainable, **{**_options_of(embedding), **kwargs}
        )

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
        if not self._pending:
            remap_state(optimizer, self.rows, self.rows.shape[0], np.arange(self.rows.shape[0]))
            return
        old_rows, total = self._pending[0]
        for _, step in self._pending[1:]:
            total = compose(total, step)
        remap_state(optimizer, self.rows, old_rows, total)
        self._pending.clear()

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
        if _is_sharded(self.rows):
            raise StateError(
                "the trainable rows are sharded (FSDP fully_shard, a DTensor): freeze, unfreeze "
                "and extend change their shape, which a sharded parameter cannot follow. Change "
                "the layout before sharding, or gather the state, rebuild the module and shard again"
            )
        values = None
        if new is not None:
            values = torch.as_tensor(new).to(dtype=self.base.dtype, device=self.base.device)
        rows = self._build(change.trainable, values)
        patch = self._build(change.patch, values)
        if change.changes_trainable:
            self._pending.append((change.before.num_trainable, change.new_from_old()))
            self._replace_rows(rows)
        self.patch = patch
        self._adopt(change.after)
        if to is not None:
            self.rebind(to)

    def _replace_rows(self, rows: Tensor) -> None:
        """Give ``self.rows`` new values and shape, keeping the Parameter object.

        The optimizer keeps its reference (and ``rebind`` moves its state).
        ``swap_tensors`` also gives the parameter a fresh autograd identity:
        assigning ``.data`` would keep the gradient accumulator of the old
        shape alive in any graph built before the change (a ``loss`` still
        referenced), and the next backward would fail on the shape. Where the
        swap is refused (a weak reference to the parameter, e.g. held by
        ``torch.compile``), ``.data`` is assigned instead; then drop graphs
        built before the change before the next backward.
        """
        fresh = nn.Parameter(rows, requires_grad=self.rows.requires_grad)
        try:
            torch.utils.swap_tensors(self.rows, fresh)
        except RuntimeError:
            self.rows.data = rows
        self.rows.grad = None

    def _build(self, gather: Gather, new: Tensor | None) -> Tensor:
        out = self.base.new_empty((len(gather), self.embedding_dim))
        places = {TRAINABLE: self.rows.detach(), PATCH: self.patch, BASE_SOURCE: self.base}
        with torch.no_grad():
            for source, values in (*places.items(), (NEW, new)):
                dst, src = gather.pairs(source)
                if len(dst):
                    assert values is not None
                    device = values.device
                    out[torch.from_numpy(dst).to(device)] = values[torch.from_numpy(src).to(device)]
        return out

    def _adopt(self, row_map: RowMap) -> None:
        """Make ``row_map`` the layout (buffers follow; values are already in place)."""
        device = self.base.device
        self._map = row_map
        self.trainable_index = torch.from_numpy(row_map.trainable_ids.copy()).to(device)
        self.patch_index = torch.from_numpy(row_map.patch_ids.copy()).to(device)
        self.slots = torch.from_numpy(row_map.slots.copy()).to(device)
        self.hot = torch.from_numpy(row_map.slots != BASE).to(device)

    # -- saving -----------------------------------------------------------------------

    def get_extra_state(self) -> dict[str, Any]:
        """The sizes, the padding row and the appended tokens, saved with ``state_dict``."""
        return _state.extra_state(self)

    def set_extra_state(self, state: Any) -> None:
        """Grow the vocabulary by the saved appended tokens (the layout loads first)."""
        _state.restore_added_tokens(self, state)

    def _load_from_state_dict(
        self,
        state_dict: dict[str, Any],
        prefix: str,
        local_metadata: dict[str, Any],
        strict: bool,
        missing_keys: list[str],
        unexpected_keys: list[str],
        error_msgs: list[str],
    ) -> None:
        """Adopt the saved layout before the values load; or load an nn.Embedding's ``weight``.

        So a saved state loads into any module built over the same base, however
        its trainable set or size changed since. The base itself loads only when
        it was saved (``save_base=True``), into a new tensor, never into a memory map.
        """
        own = {k[len(prefix) :] for k in state_dict if k.startswith(prefix)}
        if own == {"weight"}:  # an nn.Embedding's state
            _state.load_embedding_weight(self, state_dict[prefix + "weight"], prefix, error_msgs)
            return
        if not _state.load_layout(self, state_dict, prefix, error_msgs):
            return
        if self._save_base and prefix + "base" in state_dict:
            self.base = torch.empty_like(self.base)  # load into new memory, not the old base
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )


def _options_of(embedding: nn.Embedding) -> dict[str, Any]:
    """The options of an ``nn.Embedding`` a PartialEmbedding takes over (or refuses)."""
    return {
        "padding_idx": embedding.padding_idx,
        "max_norm": embedding.max_norm,
        "scale_grad_by_freq": embedding.scale_grad_by_freq,
        "sparse": embedding.sparse,
    }


def _is_sharded(param: Tensor) -> bool:
    # A DTensor exists only once its module is imported; importing it here would cost a second.
    module = sys.modules.get("torch.distributed.tensor")
    dtensor = getattr(module, "DTensor", None)
    return dtensor is not None and isinstance(param, dtensor)


def _tracing() -> bool:
    return bool(torch.compiler.is_compiling() or torch.compiler.is_exporting())
