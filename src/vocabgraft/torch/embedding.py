"""PartialEmbedding: an nn.Embedding in which only chosen rows train.

Why buffers and a compact parameter, and not a gradient mask? A mask hook on
a trainable table still leaves every row in the optimizer: AdamW's weight
decay moves the masked rows anyway, and the optimizer keeps state for all of
them. Here the frozen rows are not parameters at all, so no optimizer can touch
them, and optimizer memory follows the number of rows that train.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Sequence
from typing import Any, TypeVar

import numpy as np
import torch
from torch import Tensor, nn

from vocabgraft.errors import RowIndexError, VocabgraftError
from vocabgraft.init import Initializer
from vocabgraft.rows.layout import (
    BASE,
    BASE_SOURCE,
    NEW,
    PATCH,
    TRAINABLE,
    Gather,
    Plan,
    RowMap,
    check_row_ids,
    plan_extension,
    warn_if_whole_table,
)
from vocabgraft.table.core import EmbeddingTable
from vocabgraft.torch._lookup import lookup, lookup_dense
from vocabgraft.torch._optim import compose, remap_state
from vocabgraft.vocab.core import Vocab

__all__ = ["PartialEmbedding", "as_tensor"]

Ids = Sequence[int] | Sequence[str] | np.ndarray | Tensor | int | str
_M = TypeVar("_M", bound="PartialEmbedding")
_EXTRA_VERSION = 1


def as_tensor(weights: Tensor | np.ndarray) -> Tensor:
    """``weights`` as a tensor without copying, also when it is a read-only array (a memory map).

    ``torch.from_numpy`` warns on read-only arrays because torch cannot mark a
    tensor read-only. PartialEmbedding never writes its base (every operation
    on it is out of place), so the warning is silenced here, for this call only.
    """
    if isinstance(weights, Tensor):
        return weights.detach()
    if not isinstance(weights, np.ndarray):
        raise TypeError(
            f"weights must be a torch.Tensor or numpy array. Received {type(weights).__name__}"
        )
    if weights.flags.writeable:
        return torch.from_numpy(weights)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(weights)


class PartialEmbedding(nn.Module):
    """An embedding table whose chosen rows train while the rest stay exactly as they were.

    The first ``num_base`` rows live in the buffer ``base`` (never written: it
    may be a read-only memory map shared by processes). Rows that train live in
    one compact parameter ``rows`` of shape ``(K, D)``, for any set of ids.
    Rows trained and then frozen again, and rows appended frozen, live in the
    small buffer ``patch``. :mod:`vocabgraft.rows` explains the bookkeeping.

    ``forward`` gives exactly what ``nn.Embedding`` gives on the merged table
    (:meth:`merged_weight`): any shape of int32 or int64 ids, repeats allowed,
    any float dtype. The padding row never trains, as in ``nn.Embedding``.

    Args:
        weights: the ``(V0, D)`` base table: a tensor or numpy array, used
            without a copy.
        trainable: the ids (or, with ``vocab``, tokens) of the rows that train.
            Their first values are their base rows. May be left empty only
            when ``add`` gives new rows to train.
        padding_idx: as in ``nn.Embedding``: that row gets no gradient.
        vocab: names the rows; lets ``trainable`` and ``extend`` take tokens.
        check_ids: check every batch's ids with one min/max reduction before
            the lookup, raising :class:`~vocabgraft.errors.RowIndexError`
            naming the bad id. Turn off to save that reduction.
        save_base: put the base in ``state_dict`` too. Off by default: the
            base is the table you built the module from, and a checkpoint of
            the trained state stays O(K + P) rows. A saved state loads into any module built over the same base
            (its layout is adopted from the state).
        add, init, seed: rows to append right away, as :meth:`extend` does
            (trainable): the special or OOV rows a pretrained table lacks. With
            ``add``, ``trainable`` may be empty.

    Changing what trains: :meth:`freeze`, :meth:`unfreeze` and :meth:`extend`
    keep ``rows`` the same Parameter object with a new shape. Hand the change
    to the optimizer with ``optimizer=`` (or :meth:`rebind` later): rows that
    stay trainable keep their optimizer state, rows that left lose it (so
    momentum cannot move them), new rows start from zero state.

    Saving: ``state_dict`` holds the trainable rows, the patch, their ids and
    the sizes, not the base (unless ``save_base``). Load it into a module built
    over the same table with any trainable set; the saved layout is adopted.
    ``merge()`` gives a plain ``nn.Embedding`` for serving.

    Distributed: call :func:`~vocabgraft.torch.ddp_ignore_frozen` before
    wrapping in DDP. FSDP2 (``fully_shard``) trains a fixed layout; changing
    the layout of sharded rows raises.

    On a GPU, the eager kernel finds the trainable positions with
    ``torch.nonzero``, and the range check reads the ids' min and max; each
    makes the host wait for the device once per call (``check_ids=False``
    drops the second). Under ``torch.compile`` the fixed-shape kernel waits
    for neither.

    Build one with :meth:`from_table`, :meth:`from_pretrained` or
    :meth:`from_embedding`:

    >>> import torch
    >>> emb = PartialEmbedding.from_pretrained(torch.randn(10, 4), trainable=[0, 7])
    >>> emb(torch.tensor([[7, 3]])).shape
    torch.Size([1, 2, 4])
    >>> [name for name, _ in emb.named_parameters()]
    ['rows']
    >>> torch.equal(emb(torch.tensor([3]))[0], emb.base[3])
    True
    """

    base: Tensor
    patch: Tensor
    trainable_index: Tensor
    patch_index: Tensor
    slots: Tensor
    hot: Tensor
    rows: nn.Parameter

    #: ``unfreeze`` warns when the whole table becomes trainable and its rows take at
    #: least this many bytes (an Adam-type optimizer adds twice as much state).
    large_table_bytes: int = 64 << 20

    def __init__(
        self,
        weights: Tensor | np.ndarray,
        trainable: Ids = (),
        *,
        padding_idx: int | None = None,
        vocab: Vocab | None = None,
        check_ids: bool = True,
        save_base: bool = False,
        add: int | Sequence[str] | None = None,
        init: Initializer | np.ndarray | Tensor | str | None = None,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        base = as_tensor(weights)
        if base.dim() != 2:
            raise ValueError(
                f"weights must be 2-D (rows x dims). Received shape {tuple(base.shape)}"
            )
        if not base.is_floating_point():
            raise ValueError(f"weights must be floating point. Received dtype {base.dtype}")
        if vocab is not None and len(vocab) != base.shape[0]:
            raise VocabgraftError(
                f"the vocabulary has {len(vocab)} tokens but the table has {base.shape[0]} rows"
            )
        self.vocab = vocab
        self.check_ids = check_ids
        self._save_base = save_base
        self.register_buffer("base", base, persistent=save_base)
        ids = self._resolve(trainable, base.shape[0], what="trainable ids")
        if ids.size == 0 and not add:
            raise RowIndexError(
                f"the trainable id set is empty (table of {base.shape[0]} rows): nothing would "
                "train. Pass the ids or tokens to train, add= new rows, or use nn.Embedding.from_pretrained("
                "weights, freeze=True) for a table that never trains"
            )
        row_map = RowMap.create(base.shape[0], ids, padding_idx=padding_idx)
        self.rows = nn.Parameter(base[torch.tensor(row_map.trainable_ids)].clone())
        empty = torch.zeros(0, dtype=torch.int64)
        self.register_buffer("patch", base.new_zeros((0, base.shape[1])))
        self.register_buffer("trainable_index", empty)
        self.register_buffer("patch_index", empty.clone())
        self.register_buffer("slots", empty.int(), persistent=False)
        self.register_buffer("hot", empty.bool(), persistent=False)
        self._adopt(row_map)
        # new_from_old maps of changes the optimizer has not been told about yet.
        self._pending: list[tuple[int, np.ndarray]] = []
        if add:
            self.extend(add, init=init, seed=seed)
            self._pending.clear()  # no optimizer has seen the rows yet

    # -- construction -----------------------------------------------------------------

    @classmethod
    def from_table(cls: type[_M], table: EmbeddingTable, trainable: Ids = (), **kwargs: Any) -> _M:
        """A module over an :class:`~vocabgraft.EmbeddingTable` (its vectors are not copied).

        ``trainable`` may name tokens. The module keeps its own copy of the
        table's vocabulary, which :meth:`extend` grows. ``padding_idx``
        defaults to the vocabulary's pad token, when it has one.
        """
        kwargs.setdefault("vocab", table.vocab.copy())
        kwargs.setdefault("padding_idx", table.vocab.pad_id)
        return cls(table.vectors, trainable, **kwargs)

    @classmethod
    def from_pretrained(
        cls: type[_M], weights: Tensor | np.ndarray, trainable: Ids = (), **kwargs: Any
    ) -> _M:
        """A module over a ``(V, D)`` tensor or array, used without a copy."""
        return cls(weights, trainable, **kwargs)

    @classmethod
    def from_embedding(
        cls: type[_M], embedding: nn.Module, trainable: Ids = (), **kwargs: Any
    ) -> _M:
        """A module with the rows and ``padding_idx`` of an ``nn.Embedding``.

        The base shares memory with ``embedding.weight``. Build the optimizer
        afterwards, from the new module's parameters.
        """
        if not isinstance(embedding, nn.Embedding):
            raise TypeError(
                f"from_embedding takes an nn.Embedding. Received {type(embedding).__name__}"
            )
        _refuse_unsupported(embedding)
        kwargs.setdefault("padding_idx", embedding.padding_idx)
        return cls(embedding.weight.detach(), trainable, **kwargs)

    def _resolve(self, ids: Ids, num_rows: int, *, what: str) -> np.ndarray:
        """Ids (as int64 numpy) from ids, tokens, arrays or tensors."""
        if isinstance(ids, Tensor):
            if ids.is_floating_point() or ids.dtype == torch.bool:
                raise RowIndexError(f"{what} must be integers. Received dtype {ids.dtype}")
            return check_row_ids(ids.detach().cpu().numpy(), num_rows, what=what)
        items: Any = ids
        if isinstance(ids, (str, int)):
            items = [ids]
        elif not isinstance(ids, np.ndarray):
            items = list(ids)
        if not isinstance(items, np.ndarray) and items and all(isinstance(t, str) for t in items):
            if self.vocab is None:
                raise VocabgraftError(
                    f"{what} are tokens, but this module has no vocabulary. Pass ids, "
                    "or build the module with from_table or vocab="
                )
            return self.vocab.lookup_exact(items)
        return check_row_ids(items, num_rows, what=what)

    # -- reading ----------------------------------------------------------------------

    @property
    def row_map(self) -> RowMap:
        """Where every row lives (see :mod:`vocabgraft.rows`)."""
        return self._map

    @property
    def num_embeddings(self) -> int:
        return self._map.num_rows

    @property
    def embedding_dim(self) -> int:
        return int(self.base.shape[1])

    @property
    def num_base(self) -> int:
        return self._map.num_base

    @property
    def padding_idx(self) -> int | None:
        return self._map.padding_idx

    @property
    def trainable_ids(self) -> Tensor:
        """The ids that train, ascending; slot ``k`` of ``rows`` holds ``trainable_ids[k]``."""
        return torch.from_numpy(self._map.trainable_ids.copy())

    def merged_weight(self) -> Tensor:
        """The full ``(V, D)`` table as a new tensor (copies the base once)."""
        m = self._map
        with torch.no_grad():
            out = self.base.new_empty((m.num_rows, self.embedding_dim))
            out[: m.num_base] = self.base
            out[self.trainable_index] = self.rows.detach()
            out[self.patch_index] = self.patch
        return out

    def merge(self) -> nn.Module:
        """A plain, trainable ``nn.Embedding`` with the merged rows, for export and serving."""
        return nn.Embedding.from_pretrained(
            self.merged_weight(), freeze=False, padding_idx=self.padding_idx
        )

    def extra_repr(self) -> str:
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
        return self._lookup(self._checked(ids))

    def _checked(self, ids: Tensor) -> Tensor:
        if not isinstance(ids, Tensor):
            raise TypeError(f"ids must be a torch.Tensor. Received {type(ids).__name__}")
        if ids.dtype not in (torch.int64, torch.int32):
            raise RowIndexError(
                f"ids must be int64 or int32, as for nn.Embedding. Received dtype {ids.dtype} "
                f"(table of {self._map.num_rows} rows); convert with ids.long()"
            )
        if self.check_ids and ids.numel() and not _tracing():
            lo, hi = (int(v) for v in torch.aminmax(ids))
            n = self._map.num_rows
            if lo < 0:
                raise RowIndexError(
                    f"id {lo} is negative; the table has {n} rows (valid ids 0..{n - 1})"
                )
            if hi >= n:
                raise RowIndexError(
                    f"id {hi} is out of range for a table of {n} rows (valid ids 0..{n - 1})"
                )
        return ids

    def _lookup(self, ids: Tensor) -> Tensor:
        """``(*ids.shape, D)`` rows for checked ids."""
        fn = lookup_dense if _tracing() else lookup
        return fn(ids, self.base, self.rows, self.patch, self.slots, self.hot)

    # -- changing what trains ---------------------------------------------------------

    def freeze(
        self, ids: Ids | None = None, *, optimizer: torch.optim.Optimizer | None = None
    ) -> None:
        """Stop training ``ids`` (all rows when None). Their trained values are kept.

        Frozen rows leave the parameter, and with it the optimizer's state, so
        momentum and Adam moments cannot move them. Pass ``optimizer`` (or call
        :meth:`rebind` afterwards) so it follows the new layout.
        """
        plan = self._map.freeze(None if ids is None else self._ids(ids, "ids to freeze"))
        self._apply_plan(plan, None, optimizer)

    def unfreeze(
        self, ids: Ids | None = None, *, optimizer: torch.optim.Optimizer | None = None
    ) -> None:
        """Train ``ids`` too (every row but the padding row when None).

        Warns when the whole table becomes trainable and is large (see
        :attr:`large_table_bytes`).
        """
        plan = self._map.unfreeze(None if ids is None else self._ids(ids, "ids to unfreeze"))
        warn_if_whole_table(
            plan, self.embedding_dim * self.base.element_size(), self.large_table_bytes
        )
        self._apply_plan(plan, None, optimizer)

    def extend(
        self,
        rows: int | Sequence[str],
        *,
        init: Initializer | np.ndarray | Tensor | str | None = None,
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
            seed, generator: where random initializers draw from (give one).
            optimizer: hand the new rows to it (see :meth:`rebind`).
        """
        if isinstance(init, Tensor):
            init = init.detach().cpu().float().numpy()
        plan, values, tokens = plan_extension(
            self._map,
            rows,
            vocab=self.vocab,
            dim=self.embedding_dim,
            init=init,
            trainable=trainable,
            seed=seed,
            generator=generator,
            weights_fn=self._merged_numpy,
            owner="module",
        )
        new = torch.as_tensor(values).to(dtype=self.base.dtype, device=self.base.device)
        self._apply_plan(plan, new, optimizer)
        if tokens is not None and self.vocab is not None:
            self.vocab.extend(tokens)
        return torch.arange(plan.before.num_rows, plan.after.num_rows)

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

    def _ids(self, ids: Ids, what: str) -> np.ndarray:
        return self._resolve(ids, self._map.num_rows, what=what)

    def _apply_plan(
        self, plan: Plan, new: Tensor | None, optimizer: torch.optim.Optimizer | None
    ) -> None:
        if _is_sharded(self.rows):
            raise VocabgraftError(
                "the trainable rows are sharded (FSDP fully_shard, a DTensor): freeze, unfreeze "
                "and extend change their shape, which a sharded parameter cannot follow. Change "
                "the layout before sharding, or gather the state, rebuild the module and shard again"
            )
        rows = self._build(plan.trainable, new)
        patch = self._build(plan.patch, new)
        if plan.changes_trainable:
            new_from_old = np.full(len(plan.trainable), -1, dtype=np.int64)
            dst, src = plan.kept
            new_from_old[dst] = src
            self._pending.append((plan.before.num_trainable, new_from_old))
            self._replace_rows(rows)
        self.patch = patch
        self._adopt(plan.after)
        if optimizer is not None:
            self.rebind(optimizer)

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
        places = {
            TRAINABLE: self.rows.detach(),
            PATCH: self.patch,
            BASE_SOURCE: self.base,
            NEW: new,
        }
        with torch.no_grad():
            for source, values in places.items():
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

    def _merged_numpy(self) -> np.ndarray:
        m = self._map
        if m.num_trainable == 0 and m.num_patched == 0 and self.base.dtype == torch.float32:
            return self.base.detach().cpu().numpy()
        return self.merged_weight().detach().cpu().float().numpy()

    # -- saving -----------------------------------------------------------------------

    def get_extra_state(self) -> dict[str, Any]:
        m = self._map
        added = None
        if self.vocab is not None and m.num_rows > m.num_base:
            added = self.vocab.decode(range(m.num_base, m.num_rows))
        return {
            "version": _EXTRA_VERSION,
            "num_base": m.num_base,
            "num_rows": m.num_rows,
            "dim": self.embedding_dim,
            "padding_idx": m.padding_idx,
            "added_tokens": added,
        }

    def set_extra_state(self, state: Any) -> None:
        added = state.get("added_tokens")
        if added and self.vocab is not None and len(self.vocab) == self._map.num_base:
            self.vocab.extend(added)

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
        """Adopt the saved layout (which rows train, which are patched) before the values load.

        So a saved state loads into any module built over the same base, however
        its trainable set or size changed since: ``from_table(table, trainable=[0])``
        then ``load_state_dict(saved)``. The base itself loads only when it was
        saved (``save_base=True``), into a new tensor, never into a memory map.
        """
        extra = state_dict.get(prefix + "_extra_state")
        tr, pa = state_dict.get(prefix + "trainable_index"), state_dict.get(prefix + "patch_index")
        if isinstance(extra, dict) and tr is not None and pa is not None:
            if (
                extra.get("num_base") != self._map.num_base
                or extra.get("dim") != self.embedding_dim
            ):
                error_msgs.append(
                    f"{prefix or 'PartialEmbedding'}: the saved state is over a base of "
                    f"{extra.get('num_base')} x {extra.get('dim')} rows, but this module's base "
                    f"is {self._map.num_base} x {self.embedding_dim}. Build the module from the "
                    "same table it was trained on"
                )
                return
            row_map = RowMap.from_ids(
                self._map.num_base,
                int(extra["num_rows"]),
                tr.cpu().numpy(),
                pa.cpu().numpy(),
                padding_idx=extra.get("padding_idx"),
            )
            dim = self.embedding_dim
            self.rows.data = self.base.new_empty((row_map.num_trainable, dim))
            self.patch = self.base.new_empty((row_map.num_patched, dim))
            self._adopt(row_map)
            self._pending.clear()
        if self._save_base and prefix + "base" in state_dict:
            self.base = torch.empty_like(self.base)  # load into new memory, not the old base
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )


def _is_sharded(param: Tensor) -> bool:
    # A DTensor exists only once its module is imported; importing it here would cost a second.
    module = sys.modules.get("torch.distributed.tensor")
    dtensor = getattr(module, "DTensor", None)
    return dtensor is not None and isinstance(param, dtensor)


def _tracing() -> bool:
    return bool(torch.compiler.is_compiling() or torch.compiler.is_exporting())


def _refuse_unsupported(embedding: nn.Module) -> None:
    for name, off in (("max_norm", None), ("scale_grad_by_freq", False), ("sparse", False)):
        value = getattr(embedding, name, off)
        if value != off:
            raise VocabgraftError(
                f"the embedding has {name}={value!r}, which PartialEmbedding does not support "
                "(frozen rows must stay exactly as they are)"
            )
