"""PyTorch modules that train only chosen rows of an embedding table.

``PartialEmbedding`` keeps the pretrained rows in a buffer (no gradient, no
optimizer state, never written, may be a memory map) and the rows that train
in one compact ``(K, D)`` parameter. It can grow (:meth:`~PartialEmbedding.extend`),
move rows in and out of training (:meth:`~PartialEmbedding.freeze`,
:meth:`~PartialEmbedding.unfreeze`, handing the change to the optimizer), and
turn back into a plain ``nn.Embedding`` (:meth:`~PartialEmbedding.merge`).

Needs the ``torch`` extra: ``pip install 'vocabgraft[torch]'``.
"""

from __future__ import annotations

from vocabgraft.errors import require

require("torch", "torch", "vocabgraft.torch")

from vocabgraft.torch.bag import PartialEmbeddingBag  # noqa: E402
from vocabgraft.torch.embedding import PartialEmbedding  # noqa: E402
from vocabgraft.torch.graft import ddp_ignore_frozen, graft  # noqa: E402
from vocabgraft.torch.l2sp import L2SP, l2sp_decay, l2sp_penalty  # noqa: E402
from vocabgraft.torch.schedule import FreezeSchedule, unfreeze_at  # noqa: E402

__all__ = [
    "L2SP",
    "FreezeSchedule",
    "PartialEmbedding",
    "PartialEmbeddingBag",
    "ddp_ignore_frozen",
    "graft",
    "l2sp_decay",
    "l2sp_penalty",
    "unfreeze_at",
]
