"""warmstart: a trained matrix remapped onto a new vocabulary, by token (numpy only)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from vocabgraft.errors import ArgumentError
from vocabgraft.init import InitContext, Initializer, resolve_init
from vocabgraft.vocab.core import Vocab

__all__ = ["warmstart"]


def warmstart(
    old_vocab: Vocab | Sequence[str],
    new_vocab: Vocab | Sequence[str],
    old_weights: Any,
    init: Initializer | np.ndarray | str | None = "mean",
    *,
    seed: int | None = None,
    generator: np.random.Generator | None = None,
) -> np.ndarray:
    """The rows of ``old_weights`` moved onto ``new_vocab``; new tokens start from ``init``.

    What ``tf.keras.utils.warmstart_embedding_matrix`` did in tf.keras 2.x:
    row ``i`` of the result is the old row of token ``new_vocab[i]`` when the
    old vocabulary has it (bit for bit), and otherwise comes from ``init``.
    Pure numpy; no Keras backend is used.

    Args:
        old_vocab: the tokens naming the rows of ``old_weights``, in order.
        new_vocab: the tokens of the new table, in order.
        old_weights: the trained ``(len(old_vocab), D)`` matrix (any array
            ``np.asarray`` reads, e.g. ``layer.get_weights()[0]``).
        init: the new tokens' rows: an initializer from :mod:`vocabgraft.init`
            (it sees the old rows and old vocabulary, and the new tokens), a
            name (``"mean"``, ``"zeros"``, ``"normal"``, ``"subword"``), an
            ``(n_new, D)`` array, or None for zeros.
        seed: where random initializers draw from.
        generator: the same, as a ``np.random.Generator`` (give one of the two).

    Returns:
        The ``(len(new_vocab), D)`` matrix, in the dtype of ``old_weights``.

    Raises:
        ArgumentError: for a matrix that is not 2-D float or does not match
            ``old_vocab``, or both ``seed`` and ``generator``.

    >>> old = np.arange(6, dtype=np.float32).reshape(3, 2)
    >>> warmstart(["a", "b", "c"], ["c", "new", "a"], old, init="zeros").tolist()
    [[4.0, 5.0], [0.0, 0.0], [0.0, 1.0]]
    """
    old = old_vocab if isinstance(old_vocab, Vocab) else Vocab(list(old_vocab))
    new_tokens = list(new_vocab.tokens if isinstance(new_vocab, Vocab) else new_vocab)
    if not isinstance(new_vocab, Vocab):
        Vocab(new_tokens)  # refuses repeated or non-string tokens, naming them
    weights = np.asarray(old_weights)
    if weights.ndim != 2 or weights.dtype.kind != "f":
        raise ArgumentError(
            f"old_weights must be a 2-D float matrix. Received shape {weights.shape}, "
            f"dtype {weights.dtype}"
        )
    if len(weights) != len(old):
        raise ArgumentError(
            f"old_weights has {len(weights)} rows but the old vocabulary has {len(old)} tokens"
        )
    found = np.array([old.get(t, -1) for t in new_tokens], dtype=np.int64)
    fresh = np.flatnonzero(found < 0)
    out = np.empty((len(new_tokens), weights.shape[1]), dtype=weights.dtype)
    kept = np.flatnonzero(found >= 0)
    out[kept] = weights[found[kept]]
    if fresh.size:
        ctx = InitContext.build(
            int(fresh.size),
            weights.shape[1],
            tokens=[new_tokens[i] for i in fresh],
            vocab=old,
            seed=seed,
            generator=generator,
            weights_fn=lambda: weights,
        )
        out[fresh] = resolve_init(init, ctx)
    return out
