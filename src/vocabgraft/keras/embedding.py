"""PartialEmbedding for Keras 3: a ``keras.layers.Embedding`` in which only chosen rows train.

Why a non-trainable base and a compact trainable weight, and not a gradient
mask or two Embedding layers added together? A mask leaves every row in the
optimizer, where weight decay and momentum move the masked rows anyway; two
tables need the trainable ids renumbered to the end of the vocabulary and a
shifted id input. Here the frozen rows are not trainable weights at all, so no
optimizer can touch them, and optimizer memory follows the rows that train.

What both frameworks share (ids and tokens, freeze, unfreeze, extend, the
padding row) lives in :class:`vocabgraft.rows.partial.PartialRows`; this
module adds the lookup, the variable swap, the hand-over to a compiled model
and Keras serialization.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import Any, TypeVar

import keras
import numpy as np
from keras import ops

from vocabgraft.errors import ArgumentError, StateError
from vocabgraft.init import Initializer
from vocabgraft.keras import _saving, _swap, _values
from vocabgraft.keras._backend import has_values, to_numpy
from vocabgraft.keras._compat import check_version
from vocabgraft.keras._lookup import bounds, lookup, numpy_bounds
from vocabgraft.keras._optim import hand_over, partial_layers
from vocabgraft.rows.ids import check_row_ids as _check_row_ids
from vocabgraft.rows.layout import LayoutChange, RowMap
from vocabgraft.rows.partial import PartialRows
from vocabgraft.vocab.core import Vocab

__all__ = ["Ids", "PartialEmbedding"]

check_version()

Ids = Sequence[int] | Sequence[str] | np.ndarray | int | str
_L = TypeVar("_L", bound="PartialEmbedding")
_Init = Initializer | np.ndarray | str | None


@keras.saving.register_keras_serializable(package="vocabgraft")
class PartialEmbedding(PartialRows, _saving.Saving, keras.layers.Layer):
    """An Embedding whose chosen rows train while the rest stay exactly as they were.

    Weights: ``base`` (the first ``num_base`` rows, non-trainable, never
    written), ``rows`` (the rows that train, one compact ``(K, D)`` weight)
    and ``patch`` (rows trained and frozen again, rows appended frozen); see
    :mod:`vocabgraft.rows.layout`. A call gives exactly what
    ``keras.layers.Embedding`` gives on the merged table, at O(batch) cost.
    ``PartialEmbedding(input_dim, output_dim)`` is a fresh table in which every
    row but the padding row trains until rows are frozen (its first values
    stay as the frozen base: ``(V + K) x D``); :meth:`from_table`,
    :meth:`from_pretrained` and :meth:`from_embedding` build one over trained
    rows. ``trainable`` stays the Keras flag of the whole layer.

    Args:
        input_dim: rows in the table, appended rows included.
        output_dim: the width of a row.
        trainable_ids: ids (or, with ``vocab``, tokens) of the rows that train;
            None for every row but the padding row (unless ``freeze=True``).
        freeze: with ``trainable_ids`` None, True trains no row yet.
        num_base: rows in the base (default ``input_dim``); ids from
            ``num_base`` on are appended rows, each trainable or patched.
        patch_ids: rows whose values are no longer the base's and that do not
            train (what ``get_config`` records after :meth:`freeze`).
        padding_idx: a row that never trains (``from_table`` passes the
            vocabulary's pad token); ``mask_zero=True`` makes it 0.
        weights: the ``(num_base, output_dim)`` base table, copied into the
            layer's weight when it is built. Without it the base starts from
            ``embeddings_initializer``, as ``keras.layers.Embedding`` does.
        embeddings_initializer: as in ``Embedding``.
        embeddings_regularizer: as in ``Embedding``, applied to the trainable
            rows only (frozen rows add a constant and no gradient). When it has
            a ``bind(layer)`` method, that is called after ``build()`` and
            after every layout change (freeze, unfreeze, extend), so a
            regularizer that keeps reference rows (L2-SP) can refresh them.
        embeddings_constraint: as in ``Embedding``, applied by the optimizer
            to the trainable rows only: a per-row constraint (``NonNeg``,
            ``UnitNorm(axis=1)``) acts as on those rows of an Embedding.
        mask_zero: as in ``Embedding``: id 0 is masked; it also never trains.
        check_ids: check each eager call's ids and raise
            :class:`~vocabgraft.errors.RowIndexError` naming a bad one (numpy
            ids given to the layer in their own dtype, before Keras converts
            them). Traced calls (jax ``jit``) cannot check, and a model converts
            its inputs first; see :mod:`vocabgraft.keras._lookup`.
        vocab: names the rows; saved with the model (``.keras`` assets).
        add: rows to append right away, trainable, as :meth:`extend` does.
        init: the values of the ``add`` rows (see :meth:`extend`).
        seed: where a random ``init`` draws from.
        **kwargs: the arguments of ``keras.layers.Layer`` (``name``, ``dtype``...).

    :meth:`freeze`, :meth:`unfreeze` and :meth:`extend` give the layer a new
    ``rows`` weight; on a compiled model pass ``model=`` (or call
    :meth:`rebind` before the next ``fit``), or ``fit`` raises Keras'
    ValueError. ``embeddings`` is the merged table, a read-only numpy array
    (assigning it raises :class:`~vocabgraft.errors.StateError`);
    ``get_weights()``/``set_weights([matrix])`` use ``Embedding``'s layout.

    >>> import numpy as np
    >>> emb = PartialEmbedding.from_pretrained(np.eye(10, 4, dtype="float32"), trainable=[0, 7])
    >>> tuple(emb(np.array([[7, 3]])).shape)
    (1, 2, 4)
    >>> [w.name for w in emb.trainable_weights]
    ['rows']
    >>> emb.trainable_ids.tolist(), emb.get_weights()[0].shape
    ([0, 7], (10, 4))
    """

    _kind = "layer"
    _start: _values.Start

    def __init__(
        self,
        input_dim: int,
        output_dim: int,
        *,
        trainable_ids: Ids | None = None,
        freeze: bool | None = None,
        num_base: int | None = None,
        patch_ids: Ids = (),
        padding_idx: int | None = None,
        weights: Any = None,
        embeddings_initializer: Any = "uniform",
        embeddings_regularizer: Any = None,
        embeddings_constraint: Any = None,
        mask_zero: bool = False,
        check_ids: bool = True,
        vocab: Vocab | None = None,
        add: int | Sequence[str] | None = None,
        init: _Init = None,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        """Check the arguments and plan the layout; the weights come in ``build()``."""
        num_base = _values.check_sizes(input_dim, output_dim, num_base)
        super().__init__(**kwargs)
        self.output_dim = output_dim
        self.embeddings_initializer = keras.initializers.get(embeddings_initializer)
        self.embeddings_regularizer = keras.regularizers.get(embeddings_regularizer)
        self.embeddings_constraint = keras.constraints.get(embeddings_constraint)
        self.mask_zero = self.supports_masking = bool(mask_zero)
        self.autocast = False  # the output is cast once, as keras.layers.Embedding does
        self.check_ids = bool(check_ids)
        self._set_vocab(vocab, input_dim)
        pad = _values.padding_row(padding_idx, self.mask_zero, input_dim)
        pa = _check_row_ids(patch_ids, input_dim, what="patch ids")
        tr = self._first_trainable(
            trainable_ids, num_rows=input_dim, padding_idx=pad, freeze=freeze, add=add or pa.size
        )
        self._map = RowMap.from_ids(num_base, input_dim, tr, pa, padding_idx=pad)
        # Which ids each ``rows`` weight this layer made holds, by id(): a model's
        # optimizer may still be built for an earlier one (see rebind).
        self._held: dict[int, tuple[weakref.ref[Any], np.ndarray]] = {}
        base = None if weights is None else _values.matrix(weights, (num_base, output_dim))
        _swap.start(self, base)
        if add:
            self._extend(add, init=init, trainable=True, seed=seed, generator=None, to=None)

    # -- construction -----------------------------------------------------------------

    @classmethod
    def from_pretrained(
        cls: type[_L], embeddings: Any, trainable: Ids | None = None, **kwargs: Any
    ) -> _L:
        """A layer over a ``(V, D)`` array (numpy, or any array ``np.asarray`` reads).

        ``freeze=True`` (the default without ``trainable``) trains no row yet,
        ``freeze=False`` every row but the padding row; ``trainable`` names the
        rows that train instead. Other keywords are the constructor's.
        """
        base = _values.matrix(embeddings, None)
        trainable, freeze = cls._pretrained_choice(trainable, kwargs.pop("freeze", None))
        return cls(*base.shape, trainable_ids=trainable, freeze=freeze, weights=base, **kwargs)

    @classmethod
    def from_embedding(
        cls: type[_L], embedding: keras.layers.Layer, trainable: Ids | None = None, **kwargs: Any
    ) -> _L:
        """A layer with the rows, mask, regularizer, constraint and dtype policy of a built ``Embedding``.

        The rows are copied. Put the new layer where the old one was and
        compile the model again.
        """
        options = {**_values.embedding_options(embedding), **kwargs}
        return cls.from_pretrained(to_numpy(embedding.embeddings), trainable, **options)

    # -- building ---------------------------------------------------------------------

    def build(self, input_shape: Any = None) -> None:
        """Create the weights: the base, the trainable rows, the patch and the slot map."""
        if not self.built:
            _swap.build_weights(self)
            self._bind_regularizer()

    def _bind_regularizer(self) -> None:
        bind = getattr(self.embeddings_regularizer, "bind", None)
        if callable(bind):
            bind(self)

    # -- reading ----------------------------------------------------------------------

    @property
    def input_dim(self) -> int:
        """Rows in the table, appended rows included (``Embedding.input_dim``)."""
        return self._map.num_rows

    @property
    def trainable_ids(self) -> np.ndarray:
        """The ids that train, ascending; slot ``k`` of ``rows`` holds ``trainable_ids[k]``."""
        return self._map.trainable_ids.copy()

    @property
    def embeddings(self) -> np.ndarray:
        """The merged ``(input_dim, output_dim)`` table, read-only (a new array at each read)."""
        out = self.merged_weight()
        out.flags.writeable = False
        return out

    def __setattr__(self, name: str, value: Any) -> None:
        """Refuse assigning ``embeddings`` (the merged table, read-only)."""
        if name == "embeddings":
            raise StateError(
                f"{type(self).__name__}.embeddings is the merged table, read-only: assigning it "
                "would change nothing. Use set_weights([matrix]) to load a (V, D) table"
            )
        super().__setattr__(name, value)

    def merged_weight(self) -> np.ndarray:
        """The full ``(input_dim, output_dim)`` table as a new numpy array (copies the base once)."""
        return _swap.merged(self)

    def merge(self) -> keras.layers.Embedding:
        """A plain, trainable ``keras.layers.Embedding`` with the merged rows, for export and serving."""
        return keras.layers.Embedding(
            self.input_dim,
            self.output_dim,
            mask_zero=self.mask_zero,
            weights=[self.merged_weight()],
            embeddings_regularizer=self.embeddings_regularizer,
            embeddings_constraint=self.embeddings_constraint,
            dtype=self.dtype_policy,
        )

    def get_weights(self) -> list[np.ndarray]:
        """``[table]``: the merged ``(input_dim, output_dim)`` table, as ``Embedding`` gives it."""
        return [self.merged_weight()]

    def set_weights(self, weights: Any) -> None:
        """Load ``[table]``, a ``(input_dim, output_dim)`` matrix, as ``Embedding.set_weights`` does.

        Every row takes its value; the layout (which rows train) stays.
        """
        self.build()
        _swap.assign_table(self, _values.matrix(weights, (self.input_dim, self.output_dim)))

    # -- calling ----------------------------------------------------------------------

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Check numpy ids in their own dtype, then call the layer as Keras does."""
        if self.check_ids and args and (lo_hi := numpy_bounds(args[0])) is not None:
            self._check_bounds(*lo_hi)  # int64 on jax is cast (and wraps) after this
        return super().__call__(*args, **kwargs)

    def call(self, inputs: Any) -> Any:
        """The rows of ``inputs`` (any shape of ids): ``(*inputs.shape, output_dim)``."""
        ids = inputs
        if keras.backend.standardize_dtype(ids.dtype) not in ("int32", "int64"):
            ids = ops.cast(ids, "int32")
        eager = has_values(ids)
        checked = self.check_ids and eager
        if checked and (lo_hi := bounds(ids)) is not None:
            self._check_bounds(*lo_hi)
        out = lookup(
            ids, self.base, self.rows, self.patch, self.slots, eager=eager, checked=checked
        )
        return ops.cast(out, self.compute_dtype)

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        """``inputs != 0`` with ``mask_zero``, else None."""
        if not self.mask_zero:
            return None
        return ops.not_equal(inputs, 0)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        """``(*input_shape, output_dim)``."""
        return (*input_shape, self.output_dim)

    def compute_output_spec(self, inputs: Any) -> keras.KerasTensor:
        """The output's shape and dtype, for symbolic calls."""
        shape = self.compute_output_shape(inputs.shape)
        return keras.KerasTensor(shape, dtype=self.compute_dtype)

    # -- changing what trains ---------------------------------------------------------

    def freeze(self, ids: Ids | None = None, *, model: keras.Model | None = None) -> None:
        """Stop training ``ids`` (all rows when None). Their trained values are kept.

        Frozen rows leave the trainable weight, and with it the optimizer's
        state, so momentum and Adam moments cannot move them.
        """
        self._freeze(ids, model)

    def unfreeze(self, ids: Ids | None = None, *, model: keras.Model | None = None) -> None:
        """Train ``ids`` too (every row but the padding row when None).

        Warns when the whole table becomes trainable and is large (see
        :attr:`large_table_bytes`).
        """
        self._unfreeze(ids, model)

    def extend(
        self,
        rows: int | Sequence[str],
        *,
        init: _Init = None,
        trainable: bool = True,
        seed: int | None = None,
        generator: np.random.Generator | None = None,
        model: keras.Model | None = None,
    ) -> np.ndarray:
        """Append rows, or one row per new token; return their ids. Old ids never change.

        Costs O(new rows + K + P): the base is not copied.

        Args:
            rows: how many rows, or the new tokens (added to :attr:`vocab`).
            init: an ``(n, D)`` array, an initializer from :mod:`vocabgraft.init`,
                a name (``"zeros"``, ``"mean"``, ``"normal"``, ``"subword"``), or None.
            trainable: whether the new rows train (they are patched otherwise).
            seed: where a random initializer draws from.
            generator: the same, as a ``np.random.Generator`` (give one of the two).
            model: the compiled model holding this layer (see :meth:`rebind`).

        Returns:
            The new ids, as int64.
        """
        first, stop = self._extend(
            rows, init=init, trainable=trainable, seed=seed, generator=generator, to=model
        )
        return np.arange(first, stop, dtype=np.int64)

    def rebind(self, model: keras.Model) -> None:
        """Hand the layout changes since ``model``'s optimizer was built over to it.

        The optimizer is replaced by a new one of the same class and config,
        built over the model's current variables, with the state carried over
        (``iterations`` and every other weight's state as they were; rows that
        stay trainable keep theirs; new rows start from the initial values).
        Every PartialEmbedding of the model is handed over at once, and the
        compiled functions are reset. Nothing to hand over costs nothing.

        Raises:
            ArgumentError: when ``model`` does not contain this layer.
        """
        if not any(layer is self for layer in partial_layers(model)):
            raise ArgumentError(
                f"the model {model.name!r} does not contain this layer ({self.name!r}); pass "
                "the model the layer is part of"
            )
        hand_over(model)

    # -- what PartialRows asks of an adapter -------------------------------------------

    @property
    def _width(self) -> int:
        return int(self.output_dim)

    def _row_bytes(self) -> int:
        return self.output_dim * np.dtype(self.variable_dtype).itemsize

    def _merged_numpy(self) -> np.ndarray:
        m = self._map
        if m.num_trainable == 0 and m.num_patched == 0:
            return _swap.base_all(self)
        return self.merged_weight()

    def _apply_change(
        self, change: LayoutChange, new: np.ndarray | None, to: keras.Model | None
    ) -> None:
        if not self.built and self._start.base is None:
            self.build()  # the values come from the initializer
        rows = _swap.gather(self, change.trainable, new)
        patch = _swap.gather(self, change.patch, new)
        if self.built:
            _swap.replace(self, "rows", rows, ids=change.after.trainable_ids)
            _swap.replace(self, "patch", patch)
            _swap.replace(self, "slots", change.after.slots)
        else:
            self._start.rows, self._start.patch = rows, patch
        self._map = change.after
        if self.built:
            self._bind_regularizer()
        if to is not None:
            self.rebind(to)
