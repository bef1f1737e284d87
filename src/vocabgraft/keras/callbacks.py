"""UnfreezeAt: the freeze-then-fine-tune schedule as a Keras callback."""

from __future__ import annotations

import keras

from vocabgraft.errors import ArgumentError, ArgumentTypeError
from vocabgraft.keras.embedding import Ids, PartialEmbedding

__all__ = ["UnfreezeAt"]


class UnfreezeAt(keras.callbacks.Callback):
    """Unfreeze rows of a PartialEmbedding at the start of epoch ``epoch`` (0-based, as Keras counts).

    Keep the pretrained rows fixed for the first epochs, then train them too:
    ``fit(..., epochs=6, callbacks=[UnfreezeAt(epoch=2, layer=emb)])`` trains
    only the layer's trainable rows (and the rest of the model) in epochs 0 and
    1, and the rows ``ids`` too from epoch 2 on (all rows but the padding row
    when ``ids`` is None). With ``initial_epoch`` past ``epoch`` it fires at the
    first epoch.

    The change is handed to the model as :meth:`PartialEmbedding.rebind`
    does, inside ``fit``: the optimizer is rebuilt with its state carried
    over (``iterations`` and every other weight's moments as they were, rows
    that were already trainable keep theirs, the newly unfrozen rows start from
    zero state), and the training step is traced again. The model is not
    compiled again, so loss, metrics and their state stay as they are.

    Args:
        epoch: the epoch at whose start the rows are unfrozen.
        layer: the PartialEmbedding, or its name in the model.
        ids: the ids (or tokens) to unfreeze; None for every row.
    """

    def __init__(self, epoch: int, layer: PartialEmbedding | str, ids: Ids | None = None) -> None:
        """Check the arguments; the rows are unfrozen in ``fit``."""
        super().__init__()
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            raise ArgumentError(
                f"`epoch` must be a non-negative integer. Received: epoch={epoch!r}"
            )
        if not isinstance(layer, (PartialEmbedding, str)):
            raise ArgumentTypeError(
                "`layer` must be a PartialEmbedding or the name of one. "
                f"Received {type(layer).__name__}"
            )
        self.epoch = epoch
        self.layer = layer
        self.ids = ids
        self.fired_at: int | None = None

    def on_epoch_begin(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        """Unfreeze the rows at the first epoch from ``self.epoch`` on (once)."""
        if self.fired_at is not None or epoch < self.epoch:
            return
        layer = self._find()
        layer.unfreeze(self.ids, model=self.model)
        self.fired_at = epoch

    def _find(self) -> PartialEmbedding:
        if isinstance(self.layer, PartialEmbedding):
            return self.layer
        layer = self.model.get_layer(self.layer)
        if not isinstance(layer, PartialEmbedding):
            raise ArgumentTypeError(
                f"layer {self.layer!r} of the model is a {type(layer).__name__}, not a "
                "PartialEmbedding"
            )
        return layer
