"""Saving and loading a PartialEmbedding's state: its own layout, or an nn.Embedding's ``weight``.

A state of its own holds the trainable rows, the patch, their ids and the
sizes (and the base only with ``save_base``); loading adopts the saved layout
first, so it loads into a module built over the same base with any trainable
set. An ``nn.Embedding`` state (``{"weight": (V, D)}``) loads too: the module
keeps its layout, and every row takes the saved value.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import torch
from torch import Tensor, nn

from vocabgraft.rows.layout import RowMap

if TYPE_CHECKING:
    from vocabgraft.torch.embedding import PartialEmbedding

__all__ = [
    "StateDict",
    "extra_state",
    "load_embedding_weight",
    "load_layout",
    "restore_added_tokens",
]

_EXTRA_VERSION = 1


class StateDict(nn.Module):
    """The ``state_dict`` side of :class:`~vocabgraft.torch.PartialEmbedding` (a mixin)."""

    def get_extra_state(self) -> dict[str, Any]:
        """The sizes, the padding row and the appended tokens, saved with ``state_dict``."""
        return extra_state(cast("PartialEmbedding", self))

    def set_extra_state(self, state: Any) -> None:
        """Grow the vocabulary by the saved appended tokens (the layout loads first)."""
        restore_added_tokens(cast("PartialEmbedding", self), state)

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
        module = cast("PartialEmbedding", self)
        own = {k[len(prefix) :] for k in state_dict if k.startswith(prefix)}
        if own == {"weight"}:  # an nn.Embedding's state
            load_embedding_weight(module, state_dict[prefix + "weight"], prefix, error_msgs)
            return
        if not load_layout(module, state_dict, prefix, error_msgs):
            return
        if module._save_base and prefix + "base" in state_dict:
            module.base = torch.empty_like(module.base)  # new memory, not the old base
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )


def extra_state(module: PartialEmbedding) -> dict[str, Any]:
    """The sizes, the padding row and the appended tokens (``_extra_state`` of ``state_dict``)."""
    m = module.row_map
    added = None
    if module.vocab is not None and m.num_rows > m.num_base:
        added = module.vocab.decode(range(m.num_base, m.num_rows))
    return {
        "version": _EXTRA_VERSION,
        "num_base": m.num_base,
        "num_rows": m.num_rows,
        "dim": module.embedding_dim,
        "padding_idx": m.padding_idx,
        "added_tokens": added,
    }


def restore_added_tokens(module: PartialEmbedding, state: Any) -> None:
    """Grow the module's vocabulary by the saved appended tokens, when it lacks them."""
    added = state.get("added_tokens")
    if added and module.vocab is not None and len(module.vocab) == module.row_map.num_base:
        module.vocab.extend(added)


def load_layout(
    module: PartialEmbedding, state_dict: dict[str, Any], prefix: str, error_msgs: list[str]
) -> bool:
    """Adopt the saved layout before the values load; False (with a message) for another base."""
    extra = state_dict.get(prefix + "_extra_state")
    tr, pa = state_dict.get(prefix + "trainable_index"), state_dict.get(prefix + "patch_index")
    if not (isinstance(extra, dict) and tr is not None and pa is not None):
        return True
    num_base, dim = module.row_map.num_base, module.embedding_dim
    if extra.get("num_base") != num_base or extra.get("dim") != dim:
        error_msgs.append(
            f"{prefix or 'PartialEmbedding'}: the saved state is over a base of "
            f"{extra.get('num_base')} x {extra.get('dim')} rows, but this module's base "
            f"is {num_base} x {dim}. Build the module from the same table it was trained on"
        )
        return False
    row_map = RowMap.from_ids(
        num_base,
        int(extra["num_rows"]),
        tr.cpu().numpy(),
        pa.cpu().numpy(),
        padding_idx=extra.get("padding_idx"),
    )
    module.rows.data = module.base.new_empty((row_map.num_trainable, dim))
    module.patch = module.base.new_empty((row_map.num_patched, dim))
    module._adopt(row_map)
    module._pending.clear()
    return True


def load_embedding_weight(
    module: PartialEmbedding, weight: Any, prefix: str, error_msgs: list[str]
) -> None:
    """Load an ``nn.Embedding`` state's ``(V, D)`` weight: every row takes its saved value.

    The layout stays as it is. The base becomes the loaded tensor's first rows
    (never written into: the old base may be a memory map), the trainable rows
    and the patch take theirs.
    """
    m = module.row_map
    expected = (m.num_rows, module.embedding_dim)
    if not isinstance(weight, Tensor) or tuple(weight.shape) != expected:
        shape = tuple(weight.shape) if isinstance(weight, Tensor) else type(weight).__name__
        error_msgs.append(
            f"size mismatch for {prefix}weight: copying a param with shape {shape} from "
            f"checkpoint, the shape in current model is {expected}"
        )
        return
    base = module.base
    weight = weight.detach().to(dtype=base.dtype, device=base.device)
    with torch.no_grad():
        module.base = weight[: m.num_base]
        module.rows.copy_(weight[torch.from_numpy(m.trainable_ids.copy()).to(base.device)])
        module.patch = weight[torch.from_numpy(m.patch_ids.copy()).to(base.device)]
