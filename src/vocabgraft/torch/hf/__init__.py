"""Add tokens to a pretrained Hugging Face model and train only their rows.

:func:`add_tokens` does in one call what otherwise takes ``tokenizer.add_tokens``,
``resize_token_embeddings``, an initializer and a gradient mask: each new row
starts as the mean of the rows of the pieces the tokenizer split the token
into *before* it was added (for byte-level BPE and SentencePiece tokenizers,
each of the token's forms, ``"Kubernetes"`` and ``" Kubernetes"``, from its own
pieces), the tokens go into the tokenizer, and the model's input embedding
becomes a :class:`~vocabgraft.torch.PartialEmbedding` over the old weight (not
copied) in which only the new rows train. No optimizer, weight decay or
momentum can move an old row.

An output layer tied to the input embedding becomes a :class:`PartialLMHead`
over the same rows; an untied one grows its own rows. :func:`distill` gives
the new rows a better start than the pieces' mean, :func:`new_token_mass` and
:func:`keep_mass` measure and bound the probability the new tokens take on
ordinary text, and :func:`train_new_rows` keeps the rows trainable under PEFT.
Call :func:`merge` before ``save_pretrained``: it puts plain ``nn.Embedding``
and ``nn.Linear`` layers back, tied again where they were.

Needs the ``hf`` and ``torch`` extras: ``pip install 'vocabgraft[torch,hf]'``.
``docs/llm.md`` has runnable examples::

    added = add_tokens(model, tokenizer, ["vocabgraft", "doomscrolling"])
    opt = torch.optim.AdamW(added.parameters(), lr=1e-3)
"""

from __future__ import annotations

from vocabgraft.errors import require

require("transformers", "hf", "vocabgraft.torch.hf")

from vocabgraft.torch.hf.checkpoint import load_gguf  # noqa: E402
from vocabgraft.torch.hf.core import AddedTokens, add_tokens, merge  # noqa: E402
from vocabgraft.torch.hf.guard import count_parameters  # noqa: E402
from vocabgraft.torch.hf.head import PartialLMHead  # noqa: E402
from vocabgraft.torch.hf.peft import train_new_rows  # noqa: E402
from vocabgraft.torch.hf.start import distill, keep_mass, new_token_mass  # noqa: E402

__all__ = [
    "AddedTokens",
    "PartialLMHead",
    "add_tokens",
    "count_parameters",
    "distill",
    "keep_mass",
    "load_gguf",
    "merge",
    "new_token_mass",
    "train_new_rows",
]
