"""Which rows of an embedding table train, and where each row's value lives.

This module is the integer bookkeeping behind the ``PartialEmbedding`` of
``vocabgraft.torch`` and of ``vocabgraft.keras``. It holds integers only, never
vectors, and imports no framework; :mod:`vocabgraft.rows.partial` holds the
behaviour both adapters share (ids and tokens, freeze, unfreeze, extend).

The model
---------
A table has ``num_rows`` rows (``V``) of one width. Their values live in three
places, and every id lives in exactly one of them:

* the **base**: the first ``num_base`` rows (``V0``) exactly as they were handed
  over, usually a pretrained table and often a read-only memory map. The base
  is never written, so it can be shared between processes and models.
* the **trainable** rows: one compact ``(K, D)`` parameter. Slot ``k`` holds id
  ``trainable_ids[k]``. Any set of ids, contiguous or not.
* the **patch**: a compact ``(P, D)`` frozen array for rows whose value is no
  longer the base's and that do not train: rows trained and then frozen again,
  and appended rows added frozen. Patch row ``p`` holds id ``patch_ids[p]``.

Appended rows (ids ``>= num_base``) have no base row: they are always trainable
or in the patch. The padding row never trains (it gets no gradient in
``nn.Embedding`` either); it stays in the base or the patch.

:attr:`RowMap.slots` (int32, one entry per id) says where each id lives:
``slot >= 0`` is a trainable slot, ``BASE`` (-1) the base row, and
``slot <= -2`` the patch row ``-2 - slot``. A lookup reads the base row for
every id and overwrites the few positions whose slot is not ``BASE``, which
keeps a training step O(batch), not O(table).

``trainable_ids`` and ``patch_ids`` are kept sorted, so the layout depends only
on which ids train and which are patched, not on the history of changes: a
fresh module given the same ids has the same shapes, and a saved state loads
into it.

Changes
-------
A :class:`RowMap` never changes. :meth:`RowMap.freeze`, :meth:`RowMap.unfreeze`
and :meth:`RowMap.extend` return a :class:`LayoutChange`: the new map, and for the new
trainable and patch arrays a :class:`Gather` saying where each of their rows
comes from (an old trainable slot, an old patch row, a base row, or a new
value). A framework adapter builds its new arrays from the change, then adopts
``change.after``; if building fails, the old state is untouched. Optimizer state
follows the same plan: rows that stay trainable keep theirs
(:meth:`Gather.pairs` with ``TRAINABLE``), the others have none.

>>> m = RowMap.create(5, trainable=[3, 1])
>>> m.trainable_ids.tolist(), m.slots.tolist()
([1, 3], [-1, 0, -1, 1, -1])
>>> change = m.freeze([3])
>>> change.after.slots.tolist(), change.patch.pairs(TRAINABLE)
([-1, 0, -1, -2, -1], (array([0]), array([1])))
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from vocabgraft.errors import ArgumentError, RowIndexError, StateError
from vocabgraft.rows.ids import check_row_ids, normalize_padding

__all__ = [
    "BASE",
    "BASE_SOURCE",
    "NEW",
    "PATCH",
    "TRAINABLE",
    "Gather",
    "LayoutChange",
    "RowMap",
]

# Where a row of a new array comes from (Gather.source), and the slot code of base rows.
TRAINABLE = 0
PATCH = 1
BASE_SOURCE = 2
NEW = 3
BASE = -1
_SOURCE_NAMES = {TRAINABLE: "trainable", PATCH: "patch", BASE_SOURCE: "base", NEW: "new"}


@dataclass(frozen=True)
class Gather:
    """Where each row of a new array comes from.

    Row ``i`` of the new array is row ``index[i]`` of the place named by
    ``source[i]``: ``TRAINABLE`` (the old trainable rows), ``PATCH`` (the old
    patch), ``BASE_SOURCE`` (the base, by id) or ``NEW`` (the values being added).
    """

    source: np.ndarray
    index: np.ndarray

    def __len__(self) -> int:
        """The number of rows of the new array."""
        return len(self.source)

    def pairs(self, source: int) -> tuple[np.ndarray, np.ndarray]:
        """``(dst, src)``: the rows of the new array taken from ``source``, and their rows there."""
        dst = np.flatnonzero(self.source == source)
        return dst, self.index[dst]

    @property
    def identity_of(self) -> int | None:
        """The source this array is an unchanged copy of (same rows, same order), or None."""
        same_source = len(self.source) and (self.source == self.source[0]).all()
        if same_source and np.array_equal(self.index, np.arange(len(self.index))):
            return int(self.source[0])
        return None

    def describe(self) -> str:
        """How many rows come from each place, in words."""
        counts = {_SOURCE_NAMES[s]: int((self.source == s).sum()) for s in _SOURCE_NAMES}
        return ", ".join(f"{v} from {k}" for k, v in counts.items() if v)


@dataclass(frozen=True)
class LayoutChange:
    """A change of layout: the map after it, and how to build the new arrays."""

    before: RowMap
    after: RowMap
    trainable: Gather
    patch: Gather

    @property
    def kept(self) -> tuple[np.ndarray, np.ndarray]:
        """``(new_slot, old_slot)`` of the rows trainable before and after (their optimizer state stays)."""
        return self.trainable.pairs(TRAINABLE)

    def new_from_old(self) -> np.ndarray:
        """For each new trainable slot, the old slot it comes from, or -1 (a row new to training)."""
        out = np.full(len(self.trainable), -1, dtype=np.int64)
        dst, src = self.kept
        out[dst] = src
        return out

    @property
    def changes_trainable(self) -> bool:
        """Whether the trainable array changes (shape, order or content)."""
        return not (
            len(self.trainable) == self.before.num_trainable
            and (len(self.trainable) == 0 or self.trainable.identity_of == TRAINABLE)
        )


@dataclass(frozen=True, eq=False)
class RowMap:
    """Where every row of a table lives (see the module docstring).

    Build one with :meth:`create` or :meth:`from_ids`; change it with
    :meth:`freeze`, :meth:`unfreeze` and :meth:`extend`, which return a :class:`LayoutChange`.
    """

    num_base: int
    num_rows: int
    trainable_ids: np.ndarray
    patch_ids: np.ndarray
    padding_idx: int | None
    slots: np.ndarray

    # -- construction -----------------------------------------------------------------

    @classmethod
    def from_ids(
        cls,
        num_base: int,
        num_rows: int,
        trainable_ids: Iterable[int] | np.ndarray,
        patch_ids: Iterable[int] | np.ndarray = (),
        *,
        padding_idx: int | None = None,
    ) -> RowMap:
        """A map from its parts, checked: ids in range, disjoint, appended rows all placed."""
        if num_base < 1:
            raise ArgumentError(f"the base table needs at least one row. Received {num_base}")
        if num_rows < num_base:
            raise ArgumentError(
                f"num_rows ({num_rows}) is smaller than the base table ({num_base} rows)"
            )
        tr = check_row_ids(_as_array(trainable_ids), num_rows, what="trainable ids")
        pa = check_row_ids(_as_array(patch_ids), num_rows, what="patch ids")
        padding_idx = normalize_padding(padding_idx, num_rows)
        both = np.intersect1d(tr, pa)
        if both.size:
            raise ArgumentError(f"id {int(both[0])} is both trainable and patched")
        if padding_idx is not None and padding_idx in set(tr.tolist()):
            raise RowIndexError(_padding_message(padding_idx))
        slots = np.full(num_rows, BASE, dtype=np.int32)
        slots[tr] = np.arange(len(tr), dtype=np.int32)
        slots[pa] = -2 - np.arange(len(pa), dtype=np.int32)
        orphan = np.flatnonzero(slots[num_base:] == BASE)
        if orphan.size:
            raise StateError(
                f"appended row {num_base + int(orphan[0])} is neither trainable nor patched; "
                f"rows >= {num_base} have no base row"
            )
        for a in (tr, pa, slots):
            a.flags.writeable = False
        return cls(num_base, num_rows, tr, pa, padding_idx, slots)

    @classmethod
    def create(
        cls, num_base: int, trainable: Iterable[int] | np.ndarray, *, padding_idx: int | None = None
    ) -> RowMap:
        """A map over a base of ``num_base`` rows in which ``trainable`` train."""
        return cls.from_ids(num_base, num_base, trainable, padding_idx=padding_idx)

    # -- reading ----------------------------------------------------------------------

    @property
    def num_trainable(self) -> int:
        """Rows that train (``K``)."""
        return len(self.trainable_ids)

    @property
    def num_patched(self) -> int:
        """Rows in the patch (``P``)."""
        return len(self.patch_ids)

    @property
    def num_frozen(self) -> int:
        """Rows that do not train."""
        return self.num_rows - self.num_trainable

    def check(self, ids: Any, *, what: str = "ids") -> np.ndarray:
        """Sorted unique ids, checked against this table's size."""
        return check_row_ids(ids, self.num_rows, what=what)

    def __repr__(self) -> str:
        """The sizes and the padding row."""
        return (
            f"RowMap(num_base={self.num_base}, num_rows={self.num_rows}, "
            f"trainable={self.num_trainable}, patched={self.num_patched}, "
            f"padding_idx={self.padding_idx})"
        )

    # -- changes ----------------------------------------------------------------------

    def freeze(self, ids: Any | None = None) -> LayoutChange:
        """Stop training ``ids`` (all trainable rows when None); their values move to the patch.

        Ids that are already frozen are left as they are.
        """
        if ids is None:
            leaving = self.trainable_ids
        else:
            ids = self._nonempty(ids, "freeze")
            leaving = np.intersect1d(ids, self.trainable_ids)
        tr = np.setdiff1d(self.trainable_ids, leaving)
        pa = np.union1d(self.patch_ids, leaving)
        return self._plan(tr, pa, new_ids=np.empty(0, np.int64))

    def unfreeze(self, ids: Any | None = None) -> LayoutChange:
        """Train ``ids`` too (every row but the padding row when None)."""
        if ids is None:
            ids = np.arange(self.num_rows, dtype=np.int64)
            if self.padding_idx is not None:
                ids = ids[ids != self.padding_idx]
        else:
            ids = self._nonempty(ids, "unfreeze")
            if self.padding_idx is not None and self.padding_idx in set(ids.tolist()):
                raise RowIndexError(_padding_message(self.padding_idx))
        tr = np.union1d(self.trainable_ids, ids)
        pa = np.setdiff1d(self.patch_ids, ids)
        return self._plan(tr, pa, new_ids=np.empty(0, np.int64))

    def extend(self, n: int, *, trainable: bool = True) -> LayoutChange:
        """Append ``n`` rows (ids ``num_rows .. num_rows + n - 1``), trainable or patched.

        Their values are ``NEW`` rows ``0 .. n - 1`` in the plan. Costs O(n + K + P),
        never O(num_rows) of values.
        """
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ArgumentError(f"extend needs a positive number of rows. Received: {n!r}")
        new = np.arange(self.num_rows, self.num_rows + int(n), dtype=np.int64)
        if trainable:
            tr, pa = np.concatenate([self.trainable_ids, new]), self.patch_ids
        else:
            tr, pa = self.trainable_ids, np.concatenate([self.patch_ids, new])
        return self._plan(tr, pa, new_ids=new)

    def _nonempty(self, ids: Any, verb: str) -> np.ndarray:
        arr = self.check(ids, what=f"ids to {verb}")
        if arr.size == 0:
            raise RowIndexError(
                f"no ids to {verb}: the id set is empty (table of {self.num_rows} rows). "
                f"Pass at least one id, or None for all rows"
            )
        return arr

    def _plan(self, tr: np.ndarray, pa: np.ndarray, *, new_ids: np.ndarray) -> LayoutChange:
        num_rows = self.num_rows + len(new_ids)
        after = RowMap.from_ids(self.num_base, num_rows, tr, pa, padding_idx=self.padding_idx)
        return LayoutChange(self, after, self._gather(tr, new_ids), self._gather(pa, new_ids))

    def _gather(self, ids: np.ndarray, new_ids: np.ndarray) -> Gather:
        """Where the rows ``ids`` come from in this map (``new_ids`` are the appended ones)."""
        source = np.empty(len(ids), dtype=np.int8)
        index = np.empty(len(ids), dtype=np.int64)
        is_new = ids >= self.num_rows
        old = ~is_new
        if new_ids.size:
            source[is_new] = NEW
            index[is_new] = ids[is_new] - self.num_rows
        slot = self.slots[ids[old]].astype(np.int64)
        source[old] = np.where(slot >= 0, TRAINABLE, np.where(slot == BASE, BASE_SOURCE, PATCH))
        index[old] = np.where(slot >= 0, slot, np.where(slot == BASE, ids[old], -2 - slot))
        return Gather(source, index)


def _as_array(ids: Iterable[int] | np.ndarray) -> np.ndarray:
    return ids if isinstance(ids, np.ndarray) else np.asarray(list(ids))


def _padding_message(padding_idx: int) -> str:
    return (
        f"id {padding_idx} is the padding row, which never trains (as in nn.Embedding, it gets "
        "no gradient). Leave it out of the trainable ids"
    )
