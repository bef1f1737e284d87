"""PartialEmbedding for Keras 3: a ``keras.layers.Embedding`` in which only chosen rows train.

Why a non-trainable base and a compact trainable weight, and not a gradient
mask or two Embedding layers added together? A mask leaves every row in the
optimizer, where weight decay and momentum move the masked rows anyway; two
tables need the trainable ids renumbered to the end of the vocabulary and a
shifted id input. Here the frozen rows are not trainable weights at all, so no
optimizer can touch them, and optimizer memory follows the rows that train.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import keras
import numpy as np
from keras import ops

from vocabgraft.errors import RowIndexError, VocabgraftError
from vocabgraft.init import Initializer
from vocabgraft.keras._backend import has_values, to_numpy
from vocabgraft.keras._lookup import check, lookup
from vocabgraft.keras._optim import hand_over, partial_layers
from vocabgraft.rows.layout import (
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
from vocabgraft.vocab.core import Vocab

__all__ = ["Ids", "PartialEmbedding"]

Ids = Sequence[int] | Sequence[str] | np.ndarray | int | str
_L = TypeVar("_L", bound="PartialEmbedding")
_VOCAB_FILE = "vocab.safetensors"


@dataclass
class _Start:
    """First values of the weights, held until ``build()`` makes them variables."""

    base: np.ndarray | None
    rows: np.ndarray | None
    patch: np.ndarray | None


@keras.saving.register_keras_serializable(package="vocabgraft")
class PartialEmbedding(keras.layers.Layer):
    """An Embedding whose chosen rows train while the rest stay exactly as they were.

    Three weights hold the table (:mod:`vocabgraft.rows` explains the bookkeeping):

    - ``base``: the first ``num_base`` rows, non-trainable, never written;
    - ``rows``: the rows that train, one compact ``(K, D)`` trainable weight,
      for any set of ids; slot ``k`` holds id ``trainable_ids[k]``;
    - ``patch``: rows trained and then frozen again, and rows appended frozen,
      non-trainable.

    A call gives exactly what ``keras.layers.Embedding`` gives on the merged
    table (:meth:`merged_weight`), at O(batch) cost: any shape of ids, cast
    to int32 unless they are int32 or int64, as ``Embedding`` does.

    Build one with :meth:`from_table`, :meth:`from_pretrained` or
    :meth:`from_embedding` (where ``trainable=`` names the ids or tokens that
    train, as in :class:`vocabgraft.torch.PartialEmbedding`). The constructor
    takes Keras-style arguments and is what ``from_config`` calls; there
    ``trainable_ids`` names the rows, because ``trainable`` is the Keras flag
    of the whole layer (``trainable=False`` freezes every row, as usual).

    Args:
        input_dim: rows in the table, appended rows included.
        output_dim: the width of a row.
        trainable_ids: ids (or, with ``vocab``, tokens) of the rows that train.
            Their first values are their base rows.
        num_base: rows in the base (default ``input_dim``); ids from
            ``num_base`` on are appended rows, each trainable or patched.
        patch_ids: rows whose values are no longer the base's and that do not
            train (what ``get_config`` records after :meth:`freeze`).
        weights: the ``(num_base, output_dim)`` base table, copied into the
            layer's weight when it is built. Without it the base starts from
            ``embeddings_initializer``, as ``keras.layers.Embedding`` does.
        mask_zero: as in ``Embedding``: id 0 is padding and is masked. Here it
            also never trains (it stays out of ``unfreeze()``).
        check_ids: check each eager call's ids with a min/max reduction and
            raise :class:`~vocabgraft.errors.RowIndexError` naming a bad one.
            Traced calls (jax ``jit``) cannot check; there an out-of-range id
            gives a row of NaN on jax (see :mod:`vocabgraft.keras._lookup`).
        vocab: names the rows; lets ``trainable_ids`` and :meth:`extend` take
            tokens. Saved with the model (``.keras`` assets).
        add, init, seed: rows to append right away, trainable, as
            :meth:`extend` does: the special or OOV rows a pretrained table lacks.

    Changing what trains: :meth:`freeze`, :meth:`unfreeze` and :meth:`extend`
    give the layer a new ``rows`` weight (a Keras variable cannot change
    shape). On a model that has trained, the one way is to pass ``model=``
    (or call :meth:`rebind` before the next ``fit``): the optimizer is rebuilt
    with its state carried over (iterations and every other weight's state
    as they were, rows that stay keep theirs, new rows start at zero) and the
    compiled step is reset; ``fit`` and ``predict`` go on. Recompiling with a
    new optimizer also works but starts all its state from zero, for every
    weight of the model. Forgetting the hand-over: ``fit`` raises Keras'
    ValueError on torch and jax (on jax that failed step also leaves the
    model's variables empty, as any failing first step does there); on
    tensorflow the traced step silently keeps training the old weight.

    >>> import numpy as np
    >>> emb = PartialEmbedding.from_pretrained(np.eye(10, 4, dtype="float32"), trainable=[0, 7])
    >>> tuple(emb(np.array([[7, 3]])).shape)
    (1, 2, 4)
    >>> [w.name for w in emb.trainable_weights]
    ['rows']
    >>> emb.trainable_ids.tolist()
    [0, 7]
    """

    #: ``unfreeze`` warns when the whole table becomes trainable and its rows take at
    #: least this many bytes (an Adam-type optimizer adds twice as much state).
    large_table_bytes: int = 64 << 20

    def __init__(
        self,
        input_dim: int,
        output_dim: int,
        *,
        trainable_ids: Ids = (),
        num_base: int | None = None,
        patch_ids: Ids = (),
        weights: Any = None,
        embeddings_initializer: Any = "uniform",
        mask_zero: bool = False,
        check_ids: bool = True,
        vocab: Vocab | None = None,
        add: int | Sequence[str] | None = None,
        init: Initializer | np.ndarray | str | None = None,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        _check_positive("input_dim", input_dim)
        _check_positive("output_dim", output_dim)
        num_base = input_dim if num_base is None else num_base
        _check_positive("num_base", num_base)
        if num_base > input_dim:
            raise ValueError(
                f"`num_base` ({num_base}) cannot exceed `input_dim` ({input_dim}): the base "
                "rows are the first rows of the table"
            )
        super().__init__(**kwargs)
        self.output_dim = output_dim
        self.embeddings_initializer = keras.initializers.get(embeddings_initializer)
        self.mask_zero = bool(mask_zero)
        self.supports_masking = self.mask_zero
        self.autocast = False  # the output is cast once, as keras.layers.Embedding does
        self.check_ids = bool(check_ids)
        if vocab is not None and len(vocab) != input_dim:
            raise VocabgraftError(
                f"the vocabulary has {len(vocab)} tokens but the table has {input_dim} rows"
            )
        self.vocab = vocab
        base = None if weights is None else _matrix(weights, (num_base, output_dim))
        tr = self._resolve(trainable_ids, input_dim, what="trainable ids")
        pa = check_row_ids(patch_ids, input_dim, what="patch ids")
        if self.mask_zero and tr.size and tr[0] == 0:
            raise RowIndexError(
                "id 0 is the padding id (mask_zero=True): it is masked, so it never trains. "
                "Leave it out of the trainable ids, or use mask_zero=False"
            )
        if tr.size == 0 and pa.size == 0 and not add:
            raise RowIndexError(
                f"the trainable id set is empty (table of {input_dim} rows): nothing would "
                "train. Pass the ids or tokens to train, add= new rows, or use "
                "keras.layers.Embedding(..., trainable=False) for a table that never trains"
            )
        self._map = RowMap.from_ids(
            num_base, input_dim, tr, pa, padding_idx=0 if self.mask_zero else None
        )
        # Which ids each ``rows`` weight this layer made holds, by id(): a model's
        # optimizer may still be built for an earlier one (see rebind).
        self._held: dict[int, tuple[weakref.ref[Any], np.ndarray]] = {}
        self._start = _Start(base, None, None)
        if base is not None:
            self._start.rows = self._first_values(self._map.trainable_ids)
            self._start.patch = self._first_values(self._map.patch_ids)
        if add:
            self.extend(add, init=init, seed=seed)

    def _first_values(self, ids: np.ndarray) -> np.ndarray:
        """First values of rows ``ids``: their base rows (zeros for appended rows)."""
        out = np.zeros((len(ids), self.output_dim), dtype=self.variable_dtype)
        in_base = ids < self._map.num_base
        if in_base.any():
            out[in_base] = self._base_rows(ids[in_base])
        return out

    # -- construction -----------------------------------------------------------------

    @classmethod
    def from_table(cls: type[_L], table: EmbeddingTable, trainable: Ids = (), **kwargs: Any) -> _L:
        """A layer over an :class:`~vocabgraft.EmbeddingTable`; ``trainable`` may name tokens.

        The layer keeps its own copy of the table's vocabulary, which
        :meth:`extend` grows and which is saved with the model.
        """
        kwargs.setdefault("vocab", table.vocab.copy())
        return cls.from_pretrained(table.vectors, trainable, **kwargs)

    @classmethod
    def from_pretrained(cls: type[_L], weights: Any, trainable: Ids = (), **kwargs: Any) -> _L:
        """A layer over a ``(V, D)`` array (numpy, or any array ``np.asarray`` reads)."""
        base = _matrix(weights, None)
        return cls(base.shape[0], base.shape[1], trainable_ids=trainable, weights=base, **kwargs)

    @classmethod
    def from_embedding(
        cls: type[_L], embedding: keras.layers.Layer, trainable: Ids = (), **kwargs: Any
    ) -> _L:
        """A layer with the rows, ``mask_zero`` and dtype policy of a built ``keras.layers.Embedding``.

        The rows are copied. Put the new layer where the old one was and
        compile the model again.
        """
        if not isinstance(embedding, keras.layers.Embedding):
            raise TypeError(
                "from_embedding takes a keras.layers.Embedding. "
                f"Received {type(embedding).__name__}"
            )
        if not embedding.built:
            raise VocabgraftError(
                f"the Embedding {embedding.name!r} is not built, so it has no rows yet. Call "
                "it once or call embedding.build() first"
            )
        for name in ("embeddings_regularizer", "embeddings_constraint"):
            if getattr(embedding, name, None) is not None:
                raise VocabgraftError(
                    f"the Embedding has {name} set, which PartialEmbedding does not support "
                    "(frozen rows must stay exactly as they are)"
                )
        if getattr(embedding, "lora_enabled", False) or getattr(
            embedding, "quantization_mode", None
        ):
            raise VocabgraftError(
                "the Embedding uses LoRA or quantization; PartialEmbedding takes a plain "
                "float table. Merge or dequantize it first"
            )
        kwargs.setdefault("mask_zero", embedding.mask_zero)
        kwargs.setdefault("dtype", embedding.dtype_policy)
        return cls.from_pretrained(to_numpy(embedding.embeddings), trainable, **kwargs)

    def _resolve(self, ids: Ids, num_rows: int, *, what: str) -> np.ndarray:
        """Sorted unique int64 ids from ids, tokens or arrays."""
        items: Any = [ids] if isinstance(ids, (str, int, np.integer)) else ids
        if not hasattr(items, "shape"):  # not an array or tensor
            items = list(items)
            if items and all(isinstance(t, str) for t in items):
                if self.vocab is None:
                    raise VocabgraftError(
                        f"{what} are tokens, but this layer has no vocabulary. Pass ids, or "
                        "build the layer with from_table or vocab="
                    )
                return np.unique(self.vocab.lookup_exact(items))
        return check_row_ids(np.asarray(items), num_rows, what=what)

    # -- building ---------------------------------------------------------------------

    def build(self, input_shape: Any = None) -> None:
        if self.built:
            return
        m, start = self._map, self._start
        self.base = self.add_weight(
            name="base",
            shape=(m.num_base, self.output_dim),
            initializer=self.embeddings_initializer if start.base is None else _const(start.base),
            trainable=False,
        )
        if start.base is None:  # the rows start from the initialised base
            start.rows = self._first_values(m.trainable_ids)
            start.patch = self._first_values(m.patch_ids)
        assert start.rows is not None and start.patch is not None
        self.rows = self.add_weight(
            name="rows", shape=start.rows.shape, initializer=_const(start.rows), trainable=True
        )
        self._hold(self.rows, m.trainable_ids)
        self.patch = self.add_weight(
            name="patch", shape=start.patch.shape, initializer=_const(start.patch), trainable=False
        )
        self.slots = self.add_weight(
            name="slots",
            shape=m.slots.shape,
            dtype="int32",
            initializer=_const(m.slots),
            trainable=False,
        )
        self._start = _Start(None, None, None)

    # -- reading ----------------------------------------------------------------------

    @property
    def row_map(self) -> RowMap:
        """Where every row lives (see :mod:`vocabgraft.rows`)."""
        return self._map

    @property
    def input_dim(self) -> int:
        """Rows in the table, appended rows included (``Embedding.input_dim``)."""
        return self._map.num_rows

    @property
    def num_base(self) -> int:
        return self._map.num_base

    @property
    def trainable_ids(self) -> np.ndarray:
        """The ids that train, ascending; slot ``k`` of ``rows`` holds ``trainable_ids[k]``."""
        return self._map.trainable_ids.copy()

    def merged_weight(self) -> np.ndarray:
        """The full ``(input_dim, output_dim)`` table as a new numpy array (copies the base once)."""
        m = self._map
        out = np.empty((m.num_rows, self.output_dim), dtype=self.variable_dtype)
        out[: m.num_base] = self._base_all()
        out[m.trainable_ids] = self._values("rows")
        out[m.patch_ids] = self._values("patch")
        return out

    def merge(self) -> keras.layers.Embedding:
        """A plain, trainable ``keras.layers.Embedding`` with the merged rows, for export and serving."""
        return keras.layers.Embedding(
            self.input_dim,
            self.output_dim,
            mask_zero=self.mask_zero,
            weights=[self.merged_weight()],
            dtype=self.dtype_policy,
        )

    # -- calling ----------------------------------------------------------------------

    def call(self, inputs: Any) -> Any:
        ids = inputs
        if keras.backend.standardize_dtype(ids.dtype) not in ("int32", "int64"):
            ids = ops.cast(ids, "int32")
        eager = has_values(ids)
        if self.check_ids and eager:
            check(ids, self._map.num_rows)
        checked = self.check_ids and eager
        out = lookup(
            ids, self.base, self.rows, self.patch, self.slots, eager=eager, checked=checked
        )
        return ops.cast(out, self.compute_dtype)

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        if not self.mask_zero:
            return None
        return ops.not_equal(inputs, 0)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return (*input_shape, self.output_dim)

    def compute_output_spec(self, inputs: Any) -> keras.KerasTensor:
        shape = self.compute_output_shape(inputs.shape)
        return keras.KerasTensor(shape, dtype=self.compute_dtype)

    # -- changing what trains ---------------------------------------------------------

    def freeze(self, ids: Ids | None = None, *, model: keras.Model | None = None) -> None:
        """Stop training ``ids`` (all rows when None). Their trained values are kept.

        Frozen rows leave the trainable weight, and with it the optimizer's
        state, so momentum and Adam moments cannot move them.
        """
        plan = self._map.freeze(None if ids is None else self._ids(ids, "ids to freeze"))
        self._apply_plan(plan, None, model)

    def unfreeze(self, ids: Ids | None = None, *, model: keras.Model | None = None) -> None:
        """Train ``ids`` too (every row but the padding row when None).

        Warns when the whole table becomes trainable and is large (see
        :attr:`large_table_bytes`).
        """
        plan = self._map.unfreeze(None if ids is None else self._ids(ids, "ids to unfreeze"))
        warn_if_whole_table(
            plan, self.output_dim * np.dtype(self.variable_dtype).itemsize, self.large_table_bytes
        )
        self._apply_plan(plan, None, model)

    def extend(
        self,
        rows: int | Sequence[str],
        *,
        init: Initializer | np.ndarray | str | None = None,
        trainable: bool = True,
        seed: int | None = None,
        generator: np.random.Generator | None = None,
        model: keras.Model | None = None,
    ) -> np.ndarray:
        """Append rows, or one row per new token; return their ids. Old ids never change.

        Costs O(new rows + K + P): the base is not copied (only initializers
        that read the existing rows, such as ``Mean``, build the merged table, once).

        Args:
            rows: how many rows, or the new tokens (added to :attr:`vocab`).
            init: the new rows' values: an ``(n, D)`` array, an initializer from
                :mod:`vocabgraft.init`, a name (``"zeros"``, ``"mean"``,
                ``"normal"``, ``"subword"``), or None for zeros.
            trainable: whether the new rows train (they are patched otherwise).
            seed, generator: where random initializers draw from (give one).
            model: the compiled model holding this layer, to hand the change to
                (see :meth:`rebind`).
        """
        plan, values, tokens = plan_extension(
            self._map,
            rows,
            vocab=self.vocab,
            dim=self.output_dim,
            init=init,
            trainable=trainable,
            seed=seed,
            generator=generator,
            weights_fn=self._merged_for_init,
            owner="layer",
        )
        self._apply_plan(plan, values.astype(self.variable_dtype), model)
        if tokens is not None and self.vocab is not None:
            self.vocab.extend(tokens)
        return np.arange(plan.before.num_rows, plan.after.num_rows, dtype=np.int64)

    def rebind(self, model: keras.Model) -> None:
        """Hand the layout changes since ``model``'s optimizer was built over to it.

        The model's optimizer is replaced by a new one of the same class and
        config, built over the model's current variables, with the state
        carried over: ``iterations`` and every other weight's state as they
        were, rows that stay trainable keep their per-row state, new rows start
        from the optimizer's initial values. Changes of every PartialEmbedding
        in the model are handed over at once. The model's compiled functions are
        reset, so the next ``fit``, ``evaluate`` or ``predict`` traces again.
        Nothing to hand over (an optimizer not built yet, or no change) costs nothing.
        """
        if not any(layer is self for layer in partial_layers(model)):
            raise VocabgraftError(
                f"the model {model.name!r} does not contain this layer ({self.name!r}); pass "
                "the model the layer is part of"
            )
        hand_over(model)

    def _hold(self, rows: keras.Variable, ids: np.ndarray) -> None:
        self._held = {k: v for k, v in self._held.items() if v[0]() is not None}
        self._held[id(rows)] = (weakref.ref(rows), ids)

    def _ids_held_by(self, rows: keras.Variable) -> np.ndarray | None:
        """The ids a ``rows`` weight this layer made holds, or None for another variable."""
        entry = self._held.get(id(rows))
        return entry[1] if entry is not None and entry[0]() is rows else None

    def _ids(self, ids: Ids, what: str) -> np.ndarray:
        return self._resolve(ids, self._map.num_rows, what=what)

    def _apply_plan(self, plan: Plan, new: np.ndarray | None, model: keras.Model | None) -> None:
        if not self.built and self._start.base is None:
            self.build()  # the values come from the initializer
        rows = self._gather(plan.trainable, new)
        patch = self._gather(plan.patch, new)
        if self.built:
            self._replace("rows", rows, trainable=True, ids=plan.after.trainable_ids)
            self._replace("patch", patch, trainable=False)
            self._replace("slots", plan.after.slots, trainable=False)
        else:
            self._start.rows, self._start.patch = rows, patch
        self._map = plan.after
        if model is not None:
            self.rebind(model)

    def _gather(self, gather: Gather, new: np.ndarray | None) -> np.ndarray:
        """The rows ``gather`` names, as a new numpy array."""
        out = np.empty((len(gather), self.output_dim), dtype=self.variable_dtype)
        sources: dict[int, Callable[[np.ndarray], np.ndarray]] = {
            TRAINABLE: lambda i: self._values("rows")[i],
            PATCH: lambda i: self._values("patch")[i],
            BASE_SOURCE: self._base_rows,
            NEW: lambda i: np.asarray(new)[i],
        }
        for source, read in sources.items():
            dst, src = gather.pairs(source)
            if len(dst):
                out[dst] = read(src)
        return out

    def _values(self, name: str) -> np.ndarray:
        """The current values of ``rows`` or ``patch`` as numpy (small: K or P rows)."""
        if self.built:
            return to_numpy(getattr(self, name))
        value = getattr(self._start, name)
        assert value is not None
        return value

    def _base_all(self) -> np.ndarray:
        """The base rows as numpy: the array given, or the variable's values (no copy on CPU)."""
        if self._start.base is not None:
            return self._start.base
        if not self.built:
            self.build()  # the base comes from the initializer
        return to_numpy(self.base)

    def _base_rows(self, ids: np.ndarray) -> np.ndarray:
        if self._start.base is not None:
            return np.asarray(self._start.base[ids])
        return to_numpy(ops.take(self.base.value, ids, axis=0))

    def _replace(
        self, name: str, value: np.ndarray, *, trainable: bool, ids: np.ndarray | None = None
    ) -> None:
        """Give weight ``name`` new values: in place when the shape is the same, else a new variable."""
        old = getattr(self, name)
        held = self._ids_held_by(old)
        same_ids = ids is None or (held is not None and np.array_equal(ids, held))
        if tuple(old.shape) == value.shape and same_ids:
            old.assign(value)
            return
        # A built layer's tracker is locked; keras.layers.Embedding.enable_lora
        # unlocks it the same way to add weights after build().
        self._tracker.unlock()
        try:
            self._untrack_variable(old)
            new = self.add_weight(
                name=name,
                shape=value.shape,
                dtype=old.dtype,
                initializer=_const(value),
                trainable=trainable,
            )
            setattr(self, name, new)
            if ids is not None:
                self._hold(new, ids)
        finally:
            self._tracker.lock()

    def _merged_for_init(self) -> np.ndarray:
        m = self._map
        if m.num_trainable == 0 and m.num_patched == 0:
            return self._base_all()
        return self.merged_weight()

    # -- saving -----------------------------------------------------------------------

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        m = self._map
        config.update(
            {
                "input_dim": m.num_rows,
                "output_dim": self.output_dim,
                "num_base": m.num_base,
                "trainable_ids": _to_runs(m.trainable_ids),
                "patch_ids": _to_runs(m.patch_ids),
                "embeddings_initializer": keras.initializers.serialize(self.embeddings_initializer),
                "mask_zero": self.mask_zero,
                "check_ids": self.check_ids,
            }
        )
        return config

    @classmethod
    def from_config(cls: type[_L], config: dict[str, Any]) -> _L:
        config = dict(config)
        for key in ("trainable_ids", "patch_ids"):
            config[key] = _from_runs(config.get(key, []))
        return cls(**config)

    def save_own_variables(self, store: Any) -> None:
        if not self.built:
            return
        store["base"] = self.base
        store["rows"] = self.rows
        store["patch"] = self.patch
        store["trainable_ids"] = self._map.trainable_ids
        store["patch_ids"] = self._map.patch_ids

    def load_own_variables(self, store: Any) -> None:
        if not self.built:
            self.build()
        m = self._map
        for key, ids in (("trainable_ids", m.trainable_ids), ("patch_ids", m.patch_ids)):
            saved = np.asarray(store[key])
            if not np.array_equal(saved, ids):
                raise VocabgraftError(
                    f"{self.name}: the saved weights have {len(saved)} {key.replace('_', ' ')} "
                    f"but this layer has {len(ids)} (or other ids). Load the model with "
                    "keras.models.load_model, which rebuilds the layer from its saved config, "
                    "or build the layer with the same layout"
                )
        for name in ("base", "rows", "patch"):
            value = store[name]
            variable = getattr(self, name)
            if tuple(value.shape) != tuple(variable.shape):
                raise VocabgraftError(
                    f"{self.name}: saved {name} has shape {tuple(value.shape)}, but this layer's "
                    f"is {tuple(variable.shape)}. Build the layer over the same table"
                )
            variable.assign(value)

    def save_assets(self, dir_path: str) -> None:
        if self.vocab is not None:
            self.vocab.save(Path(dir_path) / _VOCAB_FILE)

    def load_assets(self, dir_path: str | None) -> None:
        path = None if dir_path is None else Path(dir_path) / _VOCAB_FILE
        if path is None or not path.exists():
            return
        vocab = Vocab.load(path, mmap=False)  # the folder is temporary
        if len(vocab) != self._map.num_rows:
            raise VocabgraftError(
                f"{self.name}: the saved vocabulary has {len(vocab)} tokens but the layer has "
                f"{self._map.num_rows} rows"
            )
        self.vocab = vocab


def _check_positive(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(
            f"`{name}` must be a positive integer. Received: {name}={value!r} "
            f"(of type {type(value).__name__})"
        )


def _matrix(weights: Any, shape: tuple[int, int] | None) -> np.ndarray:
    """``weights`` as a 2-D float numpy array (no copy when it already is one), checked."""
    if isinstance(weights, list) and len(weights) == 1:
        weights = weights[0]  # keras.layers.Embedding takes weights=[matrix]
    if hasattr(weights, "detach"):
        weights = weights.detach().cpu()  # a torch tensor
    arr = weights if isinstance(weights, np.ndarray) else np.asarray(weights)
    if arr.ndim != 2:
        raise ValueError(f"weights must be 2-D (rows x dims). Received shape {arr.shape}")
    if arr.dtype.kind != "f":
        raise ValueError(f"weights must be floating point. Received dtype {arr.dtype}")
    if shape is not None and arr.shape != shape:
        raise ValueError(
            f"weights have shape {arr.shape}, but the base table is {shape[0]} x {shape[1]} "
            "(num_base x output_dim)"
        )
    return arr


def _const(value: np.ndarray) -> Callable[..., Any]:
    """A Keras initializer giving ``value`` (a copy in the variable's dtype)."""

    def initializer(shape: Any, dtype: Any = None) -> Any:
        return ops.convert_to_tensor(np.array(value, dtype=dtype, copy=True), dtype=dtype)

    return initializer


def _to_runs(ids: np.ndarray) -> list[list[int]]:
    """Sorted unique ids as ``[start, stop)`` runs, so a config stays small for any id set."""
    if ids.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(ids) != 1) + 1
    starts = np.concatenate([[0], breaks])
    stops = np.concatenate([breaks, [ids.size]])
    return [[int(ids[a]), int(ids[b - 1]) + 1] for a, b in zip(starts, stops)]


def _from_runs(runs: Any) -> np.ndarray:
    """Ids from ``[start, stop)`` runs (what get_config writes)."""
    parts = [np.arange(int(a), int(b), dtype=np.int64) for a, b in runs]
    return np.concatenate(parts) if parts else np.empty(0, np.int64)
