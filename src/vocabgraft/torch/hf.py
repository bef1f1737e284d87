"""Add tokens to a pretrained Hugging Face model and train only their rows.

:func:`add_tokens` does in one call what otherwise takes ``tokenizer.add_tokens``,
``resize_token_embeddings``, an initializer and a gradient mask: each new row
starts as the mean of the rows of the pieces the tokenizer split the token
into *before* it was added, the tokens go into the tokenizer, and the model's
input embedding becomes a :class:`~vocabgraft.torch.PartialEmbedding` over the
old weight (not copied) in which only the new rows train. No optimizer,
weight decay or momentum can move an old row.

An output layer tied to the input embedding (GPT-2, and many small decoder
models) keeps sharing the rows: it becomes a layer that multiplies by the
grown table, so the new tokens get logits from the same rows that train. An
untied output layer grows the same way, with its own new rows. Call
:func:`merge` before ``save_pretrained``: it puts plain ``nn.Embedding`` and
``nn.Linear`` layers back, tied again where they were.

Needs the ``hf`` and ``torch`` extras: ``pip install 'vocabgraft[torch,hf]'``.
``docs/llm.md`` has a runnable example::

    added = add_tokens(model, tokenizer, ["vocabgraft", "doomscrolling"])
    opt = torch.optim.AdamW(added.parameters(), lr=1e-3)
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from vocabgraft.errors import VocabError, VocabgraftError, require
from vocabgraft.init import InitContext, Initializer, Mean, Subtokens, resolve_init

if TYPE_CHECKING:
    from torch import Tensor, nn

    from vocabgraft.torch import PartialEmbedding

__all__ = ["AddedTokens", "add_tokens", "merge"]


@dataclass(frozen=True)
class AddedTokens:
    """What :func:`add_tokens` did.

    Attributes:
        tokens: the tokens added, in the order given.
        ids: their ids, in the tokenizer and in the model.
        skipped: tokens not added, and why (already in the vocabulary, or repeated).
        pieces: for each added token, the pieces the tokenizer split it into
            before it was added; the default initializer averages their rows.
            Empty when there were none (the row then starts as the mean row).
        spare: the ids among ``ids`` that took a row the model already had but
            the tokenizer did not use (vocabularies padded to a multiple of 64).
        num_rows: rows of the input embedding now (``config.vocab_size``).
        output: the output layer: ``"tied"`` (it shares the input rows, so the
            new tokens have logits from the rows that train), ``"untied"`` (it
            grew its own trainable rows) or ``"none"`` (the model has none).
        init: what the new rows started from.
        embedding: the model's input embedding, or None when nothing changed.
        head: the rows of an untied output layer, or None.
    """

    tokens: tuple[str, ...]
    ids: tuple[int, ...]
    skipped: Mapping[str, str]
    pieces: Mapping[str, tuple[str, ...]]
    spare: tuple[int, ...]
    num_rows: int
    output: Literal["tied", "untied", "none"]
    init: str
    embedding: PartialEmbedding | None = field(default=None, repr=False)
    head: PartialEmbedding | None = field(default=None, repr=False)

    def parameters(self) -> list[nn.Parameter]:
        """The parameters that hold the trainable rows; give them to the optimizer."""
        return [emb.rows for emb in (self.embedding, self.head) if emb is not None]

    def __str__(self) -> str:
        lines = [
            f"added {len(self.tokens)} tokens; the input embedding has {self.num_rows:,} rows "
            f"(output layer: {self.output})",
            f"new rows start from {self.init}:",
        ]
        for token, i in zip(self.tokens, self.ids):
            pieces = " ".join(self.pieces[token]) or "(no known pieces)"
            lines.append(f"  {i:>7}  {token!r}: {pieces}{' [spare row]' * (i in self.spare)}")
        lines += [f"  skipped {token!r}: {why}" for token, why in self.skipped.items()]
        if self.embedding is not None:
            lines.append(f"trainable rows: {self.embedding.row_map.num_trainable}")
        return "\n".join(lines)


def add_tokens(
    model: Any,
    tokenizer: Any,
    tokens: Sequence[str],
    *,
    init: Initializer | str | None = None,
    also_train: Sequence[int | str] = (),
    special: bool = False,
) -> AddedTokens:
    """Add ``tokens`` to ``tokenizer`` and rows for them to ``model``; only those rows train.

    Args:
        model: a transformers ``PreTrainedModel`` (anything with
            ``get_input_embeddings`` / ``set_input_embeddings``).
        tokenizer: its tokenizer, before the tokens are added.
        tokens: the new tokens. Those already in the vocabulary, and repeats,
            are skipped and listed in the report.
        init: the new rows' first values. None: :class:`~vocabgraft.init.Subtokens`
            over the tokenizer as it was, the mean of the rows of the token's
            pieces (unknown-token pieces left out), or the mean row
            (:class:`~vocabgraft.init.Mean`) when no piece is left. Any other
            initializer or name from :mod:`vocabgraft.init` also works. Mean
            statistics cover the rows the tokenizer uses.
        also_train: existing ids or tokens that train too (their rows start
            from their pretrained values).
        special: add them as special tokens (matched verbatim, never split,
            dropped by ``decode(skip_special_tokens=True)``).

    The model keeps its other parameters as they were: call
    ``model.requires_grad_(False)`` first to train nothing but the new rows.
    Build the optimizer afterwards, from :meth:`AddedTokens.parameters`.

    The input embedding becomes a PartialEmbedding over the old weight, and
    ``config.vocab_size`` follows. When the model has more rows than the
    tokenizer has tokens, new tokens take those spare rows first (the table
    grows only past them); their old values are replaced by the initial
    values, no other row changes. Calling it again grows the same module.
    Call :func:`merge` before ``save_pretrained`` or ``resize_token_embeddings``.

    Raises:
        VocabError: a token is empty, or the tokenizer's normalizer would change
            it (``'Hello'`` for an uncased tokenizer) so it could never be produced.
        VocabgraftError: the output layer has a bias, or the model and tokenizer
            disagree on the size of the vocabulary. Nothing is changed then.
    """
    require("torch", "torch", "vocabgraft.torch.hf")
    transformers: Any = require("transformers", "hf", "vocabgraft.torch.hf")
    if not isinstance(tokenizer, transformers.PreTrainedTokenizerBase):
        raise TypeError(
            "tokenizer must be a transformers tokenizer (PreTrainedTokenizerBase). "
            f"Received {type(tokenizer).__name__}"
        )
    inp, out, tied = _layers(model)
    used = len(tokenizer)
    if used > inp.num_embeddings:
        raise VocabgraftError(
            f"the tokenizer has {used:,} tokens but the input embedding has only "
            f"{inp.num_embeddings:,} rows; load the model that belongs to this tokenizer"
        )
    vocab = tokenizer.get_vocab()
    new, skipped = _sort_tokens(tokens, vocab, tokenizer, special)
    train_ids = _existing_ids(also_train, vocab, used)
    pieces = {t: _pieces(tokenizer, t) for t in new}
    ids = tuple(range(used, used + len(new)))  # where the tokenizer puts new tokens
    report = AddedTokens(
        tokens=tuple(new),
        ids=ids,
        skipped=skipped,
        pieces={t: tuple(tokenizer.convert_ids_to_tokens(pieces[t])) for t in new},
        spare=tuple(i for i in ids if i < inp.num_embeddings),
        num_rows=inp.num_embeddings,
        output="none" if out is None else "tied" if tied else "untied",
        init=_describe(init),
    )
    if not new and not train_ids:
        return report
    # Rows first (with the tokenizer as it was), so that a refusal leaves the tokenizer alone.
    start = _initial_rows(init, new, pieces, used, inp.embedding_dim)
    emb = _grow(inp, start(inp), used, train_ids)
    head = None
    if out is not None and not tied:
        base = out.embedding if isinstance(out, _head_type()) else out.weight
        head = _grow(base, start(out), used, train_ids)
    if new:
        tokenizer.add_tokens(new, special_tokens=special)
        got = tuple(int(i) for i in tokenizer.convert_tokens_to_ids(new))
        if got != ids:
            raise VocabgraftError(
                f"the tokenizer gave the new tokens ids {list(got)}, not {list(ids)}; "
                "it holds them now, but the model was left as it was"
            )
    if out is not None:
        model.set_output_embeddings(_head_type()(head or emb, tied=tied))
    model.set_input_embeddings(emb)
    _set_vocab_size(model, emb.num_embeddings)
    return replace(report, num_rows=emb.num_embeddings, embedding=emb, head=head)


def merge(model: Any) -> Any:
    """Put plain ``nn.Embedding`` / ``nn.Linear`` layers back, with the trained rows; returns ``model``.

    An output layer that was tied to the input embedding is tied again, so
    ``save_pretrained`` writes an ordinary checkpoint that ``from_pretrained``
    loads with the grown vocabulary.
    """
    require("torch", "torch", "vocabgraft.torch.hf")
    from torch import nn

    from vocabgraft.torch import PartialEmbedding

    inp = model.get_input_embeddings()
    out = _output(model)
    plain: Any = inp.merge() if isinstance(inp, PartialEmbedding) else inp
    if isinstance(out, _head_type()):
        rows: PartialEmbedding = out.embedding  # type: ignore[assignment]
        linear = nn.Linear(rows.embedding_dim, rows.num_embeddings, bias=False, device="meta")
        linear.weight = plain.weight if rows is inp else nn.Parameter(rows.merged_weight())
        model.set_output_embeddings(linear)
    model.set_input_embeddings(plain)
    return model


# -- helpers ------------------------------------------------------------------------------


def _output(model: Any) -> Any:
    get = getattr(model, "get_output_embeddings", None)
    return get() if callable(get) else None


def _layers(model: Any) -> tuple[Any, Any, bool]:
    """The input embedding, the output layer (or None) and whether they share rows; or raise."""
    from torch import nn

    from vocabgraft.torch import PartialEmbedding

    inp = model.get_input_embeddings()
    if not isinstance(inp, nn.Embedding | PartialEmbedding):
        raise VocabgraftError(
            f"the model's input embedding is a {type(inp).__name__}; add_tokens grows an "
            "nn.Embedding (or a PartialEmbedding from an earlier add_tokens)"
        )
    out = _output(model)
    if out is None:
        return inp, None, False
    if isinstance(out, _head_type()):
        return inp, out, out.embedding is inp
    if not isinstance(out, nn.Linear):
        raise VocabgraftError(
            f"the model's output layer is a {type(out).__name__}; add_tokens grows an nn.Linear"
        )
    if out.bias is not None:
        raise VocabgraftError(
            f"the model's output layer ({type(model).__name__}.get_output_embeddings()) has a "
            "bias, which add_tokens does not grow. Add tokens to the model without its head "
            "(AutoModel), or grow the whole table with resize_token_embeddings"
        )
    tied = isinstance(inp, nn.Embedding) and out.weight is inp.weight
    if not tied and tuple(out.weight.shape) != (inp.num_embeddings, inp.embedding_dim):
        raise VocabgraftError(
            f"the output layer has {tuple(out.weight.shape)} weights but the input embedding is "
            f"{inp.num_embeddings} x {inp.embedding_dim}; add_tokens needs one row per token in both"
        )
    return inp, out, tied


def _sort_tokens(
    tokens: Sequence[str], vocab: Mapping[str, int], tokenizer: Any, special: bool
) -> tuple[list[str], dict[str, str]]:
    """The tokens to add, in order, and the skipped ones with the reason; or raise."""
    if isinstance(tokens, str):
        tokens = [tokens]
    normalizer = getattr(getattr(tokenizer, "backend_tokenizer", None), "normalizer", None)
    new: list[str] = []
    skipped: dict[str, str] = {}
    for token in tokens:
        if not isinstance(token, str):
            raise TypeError(f"tokens must be strings. Received {token!r} ({type(token).__name__})")
        if not token.strip():
            raise VocabError(f"cannot add the blank token {token!r}")
        if token in vocab:
            skipped[token] = f"already in the vocabulary (id {vocab[token]})"
        elif token in new:
            skipped[token] = "repeated"
        elif not special and normalizer is not None and normalizer.normalize_str(token) != token:
            raise VocabError(
                f"{token!r} could never be produced by this tokenizer: its normalizer turns it "
                f"into {normalizer.normalize_str(token)!r} before added tokens are matched. Add "
                f"{normalizer.normalize_str(token)!r} instead, or pass special=True to match it "
                "verbatim. No token was added"
            )
        else:
            new.append(token)
    return new, skipped


def _existing_ids(items: Sequence[int | str], vocab: Mapping[str, int], used: int) -> list[int]:
    ids = []
    for item in items:
        if isinstance(item, str):
            if item not in vocab:
                raise VocabError(
                    f"also_train names {item!r}, which is not in the tokenizer's vocabulary"
                )
            ids.append(vocab[item])
        elif isinstance(item, (int, np.integer)) and 0 <= item < used:
            ids.append(int(item))
        else:
            raise VocabError(
                f"also_train ids must name existing tokens (0..{used - 1}). Received {item!r}"
            )
    return ids


def _initial_rows(
    init: Initializer | str | None,
    new: list[str],
    pieces: Mapping[str, list[int]],
    used: int,
    dim: int,
) -> Callable[[Any], np.ndarray]:
    """A function from a layer to the new tokens' first rows, computed from its first ``used`` rows."""
    chosen = Subtokens(lambda t: pieces[t], fallback=Mean()) if init is None else init

    def rows(layer: Any) -> np.ndarray:
        if not new:
            return np.zeros((0, dim), dtype=np.float32)

        def table() -> np.ndarray:  # read only by initializers that need it, and only once
            return _table(layer)[:used].detach().cpu().float().numpy()

        ctx = InitContext(n=len(new), dim=dim, tokens=new, weights_fn=table)
        return resolve_init(chosen, ctx).astype(np.float32, copy=False)

    return rows


def _pieces(tokenizer: Any, token: str) -> list[int]:
    """The ids the tokenizer splits ``token`` into, without the unknown token (its row says nothing)."""
    ids = tokenizer.encode(token, add_special_tokens=False)
    return [int(i) for i in ids if i != tokenizer.unk_token_id]


def _table(layer: Any) -> Tensor:
    """The full current table of an embedding, a linear layer or a PartialEmbedding."""
    merged = getattr(layer, "merged_weight", None)
    if merged is not None:
        return merged()
    embedding = getattr(layer, "embedding", None)
    return _table(embedding) if embedding is not None else layer.weight.detach()


def _grow(layer: Any, values: np.ndarray, first: int, train_ids: list[int]) -> PartialEmbedding:
    """A PartialEmbedding with ``values`` at ids ``first...``: spare rows first, then new ones.

    ``layer`` is an ``nn.Embedding``, a weight tensor, or a PartialEmbedding to grow in place.
    """
    import torch
    from torch import nn

    from vocabgraft.torch import PartialEmbedding

    num_rows = int(layer.num_embeddings if hasattr(layer, "num_embeddings") else layer.shape[0])
    spare = list(range(first, min(first + len(values), num_rows)))
    k, appended = len(spare), values[len(spare) :]
    trainable = sorted(set(spare) | set(train_ids))
    if isinstance(layer, PartialEmbedding):
        emb = layer
        if trainable:
            emb.unfreeze(trainable)
        if len(appended):
            emb.extend(len(appended), init=appended)
    else:
        add = {"add": len(appended), "init": appended} if len(appended) else {}
        if isinstance(layer, nn.Embedding):
            emb = PartialEmbedding.from_embedding(layer, trainable, **add)
        else:
            emb = PartialEmbedding.from_pretrained(layer.detach(), trainable, **add)
    if k:
        # Spare rows are base rows: their new values go into the trainable copy, never the base.
        slots = np.searchsorted(emb.trainable_ids.numpy(), spare)
        with torch.no_grad():
            emb.rows[torch.from_numpy(slots).to(emb.rows.device)] = torch.from_numpy(values[:k]).to(
                emb.rows
            )
    return emb


def _describe(init: Initializer | str | None) -> str:
    if init is None:
        return "the mean of their pieces' rows"
    return repr(init) if isinstance(init, str) else type(init).__name__


def _set_vocab_size(model: Any, n: int) -> None:
    config = model.config
    get_text = getattr(config, "get_text_config", None)
    (get_text() if callable(get_text) else config).vocab_size = n
    if isinstance(vars(model).get("vocab_size"), int):
        model.vocab_size = n


@functools.cache
def _head_type() -> type[nn.Module]:
    """The output layer class, made on first use so that importing this module needs no torch."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    class PartialLMHead(nn.Module):
        """An output layer (logits) whose rows are a PartialEmbedding's rows.

        With ``tied=True`` that is the model's input embedding, so new tokens
        get logits from the rows that train, as a tied ``nn.Linear`` would.

        Why not one product with a merged table that carries the gradient? Then
        autograd computes the gradient of the whole ``(V, D)`` table, a third
        product as large as the forward one, only to keep K rows of it. Here
        the product uses a merged copy without gradient (one ``V x D`` copy per
        forward, kept for backward), and the trainable rows get theirs from a
        term that adds exactly zero to their logits.
        """

        def __init__(self, embedding: PartialEmbedding, *, tied: bool) -> None:
            super().__init__()
            self.embedding = embedding
            self.tied = tied

        @property
        def out_features(self) -> int:
            return self.embedding.num_embeddings

        def forward(self, hidden: Tensor) -> Tensor:
            emb = self.embedding
            logits = F.linear(hidden, emb.merged_weight())
            if emb.rows.requires_grad and len(emb.rows) and torch.is_grad_enabled():
                # own - own.detach() is 0, and its gradient is grad[..., ids] @ hidden:
                # exactly the trainable rows' share of the table's gradient.
                own = F.linear(hidden.detach(), emb.rows)
                logits.index_add_(-1, emb.trainable_index, own - own.detach())
            return logits

        def extra_repr(self) -> str:
            return f"{self.embedding.embedding_dim} -> {self.out_features}, tied={self.tied}"

    PartialLMHead.__module__ = __name__
    PartialLMHead.__qualname__ = PartialLMHead.__name__
    return PartialLMHead


def __getattr__(name: str) -> Any:
    # So that ``vocabgraft.torch.hf.PartialLMHead`` resolves (and a pickled model loads).
    if name == "PartialLMHead":
        return _head_type()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
