"""New tokens with PEFT: keep their rows trainable after ``get_peft_model``."""

from __future__ import annotations

from torch import nn

from vocabgraft.torch import PartialEmbedding
from vocabgraft.torch.hf.head import PartialLMHead

__all__ = ["train_new_rows"]


def train_new_rows(model: nn.Module) -> list[nn.Parameter]:
    """Make the trainable rows of every PartialEmbedding in ``model`` train again; return them.

    ``peft.get_peft_model`` sets ``requires_grad=False`` on every parameter
    that is not an adapter's, so after it the rows :func:`add_tokens` added
    would not train. Call this once after ``get_peft_model`` (``model`` may be
    the PeftModel) and give the returned parameters to the optimizer with the
    adapter's. A head's trainable new bias comes along.
    """
    params: dict[int, nn.Parameter] = {}
    for module in model.modules():
        if isinstance(module, PartialEmbedding) and len(module.rows):
            params[id(module.rows)] = module.rows
        if isinstance(module, PartialLMHead) and isinstance(module.new_bias, nn.Parameter):
            params[id(module.new_bias)] = module.new_bias
    for p in params.values():
        p.requires_grad_(True)
    return list(params.values())
