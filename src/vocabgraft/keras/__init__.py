"""A Keras 3 layer that trains only chosen rows of an embedding table, on any backend.

``PartialEmbedding`` keeps the pretrained rows in a non-trainable weight (no
gradient, no optimizer state, never written) and the rows that train in one
compact ``(K, D)`` trainable weight. It can grow (:meth:`~PartialEmbedding.extend`),
move rows in and out of training (:meth:`~PartialEmbedding.freeze`,
:meth:`~PartialEmbedding.unfreeze`, handing the change to a compiled model),
and turn back into a plain ``keras.layers.Embedding`` (:meth:`~PartialEmbedding.merge`).
:class:`UnfreezeAt` is the freeze-then-fine-tune schedule as a callback;
:func:`warmstart` moves a trained matrix onto a new vocabulary.

Written with ``keras.ops`` only; tested on the jax and torch backends.
Needs the ``keras`` extra: ``pip install 'vocabgraft[keras]'``.
"""

from __future__ import annotations

from vocabgraft.errors import require

require("keras", "keras", "vocabgraft.keras")

from vocabgraft.keras._warmstart import warmstart  # noqa: E402
from vocabgraft.keras.callbacks import UnfreezeAt  # noqa: E402
from vocabgraft.keras.embedding import PartialEmbedding  # noqa: E402
from vocabgraft.keras.l2sp import L2SP  # noqa: E402

__all__ = ["L2SP", "PartialEmbedding", "UnfreezeAt", "warmstart"]
