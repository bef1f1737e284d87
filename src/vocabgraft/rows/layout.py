"""Which rows of an embedding table train, and where each row's value lives.

This module is the framework-neutral bookkeeping behind ``vocabgraft.torch``'s
``PartialEmbedding`` (and the Keras layer). It holds integers only, never
vectors, and imports no framework.

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
and :meth:`RowMap.extend` return a :class:`Plan`: the new map, and for the new
trainable and patch arrays a :class:`Gather` saying where each of their rows
comes from (an old trainable slot, an old patch row, a base row, or a new
value). A framework adapter builds its new arrays from the plan, then adopts
``plan.after``; if building fails, the old state is untouched. Optimizer state
follows the same plan: rows that stay trainable keep theirs
(:meth:`Gather.pairs` with ``TRAINABLE``), the others have none.

>>> m = RowMap.create(5, trainable=[3, 1])
>>> m.trainable_ids.tolist(), m.slots.tolist()
([1, 3], [-1, 0, -1, 1, -1])
>>> plan = m.freeze([3])
>>> plan.after.slots.tolist(), plan.patch.pairs(TRAINABLE)
([-1, 0, -1, -2, -1], (array([0]), array([1])))
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from vocabgraft.errors import RowIndexError, VocabError, VocabgraftError
from vocabgraft.init import InitContext, resolve_init
from vocabgraft.vocab.core import Vocab

__all__ = [
    "BASE",
    "BASE_SOURCE",
    "NEW",
    "PATCH",
    "TRAINABLE",
    "Gather",
    "Plan",
    "RowMap",
    "check_ids",
    "check_row_ids",
    "plan_extension",
    "warn_if_whole_table",
]

# Where a row of a new array comes from (Gather.source), and the slot code of base rows.
TRAINABLE = 0
PATCH = 1
BASE_SOURCE = 2
NEW = 3
BASE = -1
_SOURCE_NAMES = {TRAINABLE: "trainable", PATCH: "patch", BASE_SOURCE: "base", NEW: "new"}


def check_row_ids(ids: Any, num_rows: int, *, what: str = "ids") -> np.ndarray:
    """``ids`` as a sorted, unique int64 array, or :class:`RowIndexError` naming the bad one.

    Accepts an int, any integer array-like (lists, numpy arrays, CPU tensors
    converted by the caller). Floats and booleans are refused rather than cast.
    """
    arr = np.asarray(ids)
    if arr.dtype == object or arr.dtype.kind not in "iu":
        if arr.size == 0 and arr.dtype.kind == "f":  # np.asarray([]) is float64
            arr = arr.astype(np.int64)
        else:
            raise RowIndexError(
                f"{what} must be integers. Received dtype {arr.dtype}"
                + (f" (first value {arr.ravel()[0]!r})" if arr.size else "")
            )
    arr = arr.astype(np.int64, copy=False).ravel()
    check_ids(arr, num_rows, what=what)
    return np.unique(arr)


def check_ids(ids: np.ndarray, num_rows: int, *, what: str = "ids") -> None:
    """Raise :class:`RowIndexError` if any of the integer ``ids`` is outside ``[0, num_rows)``."""
    if ids.size == 0:
        return
    lo, hi = int(ids.min()), int(ids.max())
    if lo < 0:
        raise RowIndexError(
            f"{what} must be non-negative. Received {lo}; the table has {num_rows} rows "
            f"(valid ids 0..{num_rows - 1})"
        )
    if hi >= num_rows:
        raise RowIndexError(
            f"{what}: id {hi} is out of range for a table of {num_rows} rows "
            f"(valid ids 0..{num_rows - 1})"
        )


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
        counts = {_SOURCE_NAMES[s]: int((self.source == s).sum()) for s in _SOURCE_NAMES}
        return ", ".join(f"{v} from {k}" for k, v in counts.items() if v)


@dataclass(frozen=True)
class Plan:
    """A change of layout: the map after it, and how to build the new arrays."""

    before: RowMap
    after: RowMap
    trainable: Gather
    patch: Gather

    @property
    def kept(self) -> tuple[np.ndarray, np.ndarray]:
        """``(new_slot, old_slot)`` of the rows trainable before and after (their optimizer state stays)."""
        return self.trainable.pairs(TRAINABLE)

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
    :meth:`freeze`, :meth:`unfreeze` and :meth:`extend`, which return a :class:`Plan`.
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
            raise VocabgraftError(f"the base table needs at least one row. Received {num_base}")
        if num_rows < num_base:
            raise VocabgraftError(
                f"num_rows ({num_rows}) is smaller than the base table ({num_base} rows)"
            )
        tr = check_row_ids(_as_array(trainable_ids), num_rows, what="trainable ids")
        pa = check_row_ids(_as_array(patch_ids), num_rows, what="patch ids")
        padding_idx = _normalize_padding(padding_idx, num_rows)
        both = np.intersect1d(tr, pa)
        if both.size:
            raise VocabgraftError(f"id {int(both[0])} is both trainable and patched")
        if padding_idx is not None and padding_idx in set(tr.tolist()):
            raise RowIndexError(_padding_message(padding_idx))
        slots = np.full(num_rows, BASE, dtype=np.int32)
        slots[tr] = np.arange(len(tr), dtype=np.int32)
        slots[pa] = -2 - np.arange(len(pa), dtype=np.int32)
        orphan = np.flatnonzero(slots[num_base:] == BASE)
        if orphan.size:
            raise VocabgraftError(
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
        return len(self.trainable_ids)

    @property
    def num_patched(self) -> int:
        return len(self.patch_ids)

    @property
    def num_frozen(self) -> int:
        return self.num_rows - self.num_trainable

    def check(self, ids: Any, *, what: str = "ids") -> np.ndarray:
        """Sorted unique ids, checked against this table's size."""
        return check_row_ids(ids, self.num_rows, what=what)

    def __repr__(self) -> str:
        return (
            f"RowMap(num_base={self.num_base}, num_rows={self.num_rows}, "
            f"trainable={self.num_trainable}, patched={self.num_patched}, "
            f"padding_idx={self.padding_idx})"
        )

    # -- changes ----------------------------------------------------------------------

    def freeze(self, ids: Any | None = None) -> Plan:
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

    def unfreeze(self, ids: Any | None = None) -> Plan:
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

    def extend(self, n: int, *, trainable: bool = True) -> Plan:
        """Append ``n`` rows (ids ``num_rows .. num_rows + n - 1``), trainable or patched.

        Their values are ``NEW`` rows ``0 .. n - 1`` in the plan. Costs O(n + K + P),
        never O(num_rows) of values.
        """
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise VocabgraftError(f"extend needs a positive number of rows. Received: {n!r}")
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

    def _plan(self, tr: np.ndarray, pa: np.ndarray, *, new_ids: np.ndarray) -> Plan:
        num_rows = self.num_rows + len(new_ids)
        after = RowMap.from_ids(self.num_base, num_rows, tr, pa, padding_idx=self.padding_idx)
        return Plan(self, after, self._gather(tr, new_ids), self._gather(pa, new_ids))

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


def _normalize_padding(padding_idx: int | None, num_rows: int) -> int | None:
    if padding_idx is None:
        return None
    if isinstance(padding_idx, bool) or not isinstance(padding_idx, (int, np.integer)):
        raise RowIndexError(f"padding_idx must be an integer or None. Received {padding_idx!r}")
    p = int(padding_idx)
    if not -num_rows <= p < num_rows:
        raise RowIndexError(
            f"padding_idx {p} is out of range for a table of {num_rows} rows "
            f"(valid: {-num_rows}..{num_rows - 1})"
        )
    return p + num_rows if p < 0 else p


def _padding_message(padding_idx: int) -> str:
    return (
        f"id {padding_idx} is the padding row, which never trains (as in nn.Embedding, it gets "
        "no gradient). Leave it out of the trainable ids"
    )


def plan_extension(
    row_map: RowMap,
    rows: int | str | Iterable[str],
    *,
    vocab: Vocab | None,
    dim: int,
    init: Any,
    trainable: bool,
    seed: int | None,
    generator: np.random.Generator | None,
    weights_fn: Callable[[], np.ndarray],
    owner: str,
) -> tuple[Plan, np.ndarray, list[str] | None]:
    """Everything ``extend`` does before a framework array changes.

    Checks the request (a row count for a module without a vocabulary, new
    and unique tokens for one with), plans the new layout and computes the
    new rows' values with the initializer. Returns the plan, the ``(n, dim)``
    values and the tokens (``None`` for a row count). Nothing changes if it
    raises, so the caller can apply the plan, then grow the vocabulary.
    """
    tokens: list[str] | None = None
    if isinstance(rows, (int, np.integer)) and not isinstance(rows, bool):
        n = int(rows)
        if vocab is not None:
            raise VocabError(
                f"this {owner} has a vocabulary, so new rows need tokens: pass extend(tokens) "
                f"instead of extend({n})"
            )
    else:
        tokens = [rows] if isinstance(rows, str) else list(rows)  # type: ignore[arg-type]
        n = len(tokens)
        if vocab is None:
            raise VocabgraftError(
                f"extend got tokens, but this {owner} has no vocabulary. Pass a row count, or "
                f"build the {owner} with from_table or vocab="
            )
        _refuse_known(vocab, tokens)
    plan = row_map.extend(n, trainable=trainable)  # checks n before any work
    if generator is not None and seed is not None:
        raise ValueError("pass seed or generator, not both")
    ctx = InitContext(
        n=n,
        dim=dim,
        tokens=tokens,
        vocab=vocab,
        rng=generator if generator is not None else np.random.default_rng(seed),
        weights_fn=weights_fn,
    )
    return plan, np.asarray(resolve_init(init, ctx)), tokens


def _refuse_known(vocab: Vocab, tokens: list[str]) -> None:
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


def warn_if_whole_table(plan: Plan, row_bytes: int, limit: int) -> None:
    """Warn, with the memory cost, when ``plan`` makes a large table train whole.

    ``row_bytes`` is one row's size; ``limit`` the size of the trainable rows
    from which to warn. Called by the adapters' ``unfreeze``.
    """
    after = plan.after
    nbytes = after.num_trainable * row_bytes
    whole = after.num_trainable + (after.padding_idx is not None) == after.num_rows
    if whole and nbytes >= limit:
        warnings.warn(
            f"all {after.num_rows:,} rows of the table now train: the trainable rows take "
            f"{nbytes:,} bytes and an Adam-type optimizer adds {2 * nbytes:,} bytes of state "
            f"({3 * nbytes:,} bytes in all). Unfreeze only the rows that need it to keep "
            "optimizer memory proportional to them",
            stacklevel=3,
        )
