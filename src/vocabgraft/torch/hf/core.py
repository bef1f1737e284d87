"""add_tokens and merge: grow a Hugging Face model's vocabulary and train only the new rows."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from vocabgraft.errors import ArgumentTypeError, StateError, VocabError, VocabgraftError, require
from vocabgraft.init import InitContext, Initializer, Mean, Subtokens, resolve_init
from vocabgraft.torch import PartialEmbedding
from vocabgraft.torch.hf import layers as L
from vocabgraft.torch.hf.guard import guard, unguard
from vocabgraft.torch.hf.head import PartialLMHead
from vocabgraft.torch.hf.tokens import Form, OnLonger, TokenOptions, check_longer, plan_forms

__all__ = ["AddedTokens", "add_tokens", "merge"]


@dataclass(frozen=True)
class AddedTokens:
    """What :func:`add_tokens` did.

    Attributes:
        tokens: the strings added to the tokenizer, in order: for byte-level
            BPE and SentencePiece tokenizers each token in its forms
            (``"Kubernetes"``, ``" Kubernetes"``), else the tokens as given.
        ids: their ids, in the tokenizer and in the model.
        skipped: tokens or forms not added, and why (already in the
            vocabulary in some spelling, repeated, or making text longer).
        pieces: for each added string, the pieces the tokenizer split it into
            before it was added, in running text; the default start averages
            their rows. Empty when there were none (the row then starts as the mean row).
        forms: each token given -> the strings added for it.
        spare: the ids among ``ids`` that took a row the model already had but
            the tokenizer did not use (vocabularies padded to a multiple of 64).
        num_rows: rows of the input embedding now (``config.vocab_size``).
        output: the output layer: ``"tied"`` (it shares the input rows, so the
            new tokens have logits from the rows that train), ``"untied"`` (it
            grew its own trainable rows) or ``"none"`` (the model has none).
        init: what the new rows started from.
        embedding: the model's input embedding, or None when nothing changed.
        head: the rows of an untied output layer, or None.
        lm_head: the output layer (a :class:`PartialLMHead`), or None.
    """

    tokens: tuple[str, ...]
    ids: tuple[int, ...]
    skipped: Mapping[str, str]
    pieces: Mapping[str, tuple[str, ...]]
    forms: Mapping[str, tuple[str, ...]]
    spare: tuple[int, ...]
    num_rows: int
    output: Literal["tied", "untied", "none"]
    init: str
    embedding: PartialEmbedding | None = field(default=None, repr=False)
    head: PartialEmbedding | None = field(default=None, repr=False)
    lm_head: PartialLMHead | None = field(default=None, repr=False)

    def parameters(self) -> list[nn.Parameter]:
        """The parameters that hold the trainable rows (and new bias); give them to the optimizer."""
        params = [emb.rows for emb in (self.embedding, self.head) if emb is not None]
        if self.lm_head is not None and isinstance(self.lm_head.new_bias, nn.Parameter):
            params.append(self.lm_head.new_bias)
        return params

    def __str__(self) -> str:
        """What was added, from which pieces, and what was skipped, one line each."""
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
    single_word: bool | None = None,
    lstrip: bool = False,
    rstrip: bool = False,
    normalized: bool | None = None,
    space_forms: bool = True,
    on_longer: OnLonger = "skip",
) -> AddedTokens:
    """Add ``tokens`` to ``tokenizer`` and rows for them to ``model``; only those rows train.

    Args:
        model: a transformers ``PreTrainedModel`` (anything with
            ``get_input_embeddings`` / ``set_input_embeddings``).
        tokenizer: its fast tokenizer, before the tokens are added.
        tokens: the new tokens. For byte-level BPE and SentencePiece
            tokenizers each is added as it appears at the start of text and
            after a space (``"Kubernetes"`` and ``" Kubernetes"``), unless it
            starts with a space itself. Forms already in the vocabulary in any
            spelling (``" PyTorch"`` is ``"ĠPyTorch"``), and repeats, are
            skipped and listed in the report.
        init: the new rows' first values. None: the mean of the rows of each
            form's own pieces in running text (``" Kubernetes"`` from
            ``ĠKu ber netes``), or the mean row when there are none. Any
            initializer or name from :mod:`vocabgraft.init` also works.
        also_train: existing ids or tokens that train too.
        special: add them as special tokens (matched verbatim, never split,
            dropped by ``decode(skip_special_tokens=True)``; one form only).
        single_word: passed to each ``tokenizers.AddedToken``; None: whole
            words only for tokenizers without space forms (WordPiece), whose
            decoder would otherwise split a word the token was found in.
        lstrip: passed to each ``tokenizers.AddedToken``.
        rstrip: passed to each ``tokenizers.AddedToken``.
        normalized: passed to each ``tokenizers.AddedToken``; None: ``not special``.
        space_forms: add the space form too (byte-level and SentencePiece).
        on_longer: a form that would make typical text longer (``"PyTorch"``
            when ``"ĠPyTorch"`` exists: ``the PyTorch`` would become
            ``the Ġ PyTorch``): ``"skip"`` it (listed in ``skipped``),
            ``"warn"`` and add it, or ``"raise"`` and add nothing.

    Call ``model.requires_grad_(False)`` first to train nothing but the new
    rows, and build the optimizer afterwards, from :meth:`AddedTokens.parameters`.
    With PEFT, call :func:`~vocabgraft.torch.hf.train_new_rows` after
    ``get_peft_model``. Call :func:`merge` before ``save_pretrained`` or
    ``resize_token_embeddings`` (they raise until then). A head with a bias
    (BERT's masked-LM head) keeps its old bias frozen; the new tokens' bias
    trains, starting from the mean of their pieces'. A scaled embedding
    (Gemma's ``embed_scale``) keeps its scale.

    Raises:
        ArgumentTypeError: ``tokenizer`` is not a transformers tokenizer, or a
            token is not a string.
        VocabError: a token is empty, or the normalizer would change it.
        VocabgraftError: the layers are of a kind add_tokens cannot grow, or
            the model and tokenizer disagree on the vocabulary. Nothing is
            changed then.
    """
    transformers: Any = require("transformers", "hf", "vocabgraft.torch.hf")
    if not isinstance(tokenizer, transformers.PreTrainedTokenizerBase):
        raise ArgumentTypeError(
            "tokenizer must be a transformers tokenizer (PreTrainedTokenizerBase). "
            f"Received {type(tokenizer).__name__}"
        )
    found = L.find_layers(model)
    used = len(tokenizer)
    if used > found.inp.num_embeddings:
        raise VocabgraftError(
            f"the tokenizer has {used:,} tokens but the input embedding has only "
            f"{found.inp.num_embeddings:,} rows; load the model that belongs to this tokenizer"
        )
    options = TokenOptions(special, single_word, lstrip, rstrip, normalized)
    forms, skipped = plan_forms(tokens, tokenizer, options, space_forms=space_forms)
    forms, longer = check_longer(forms, tokenizer, options, on_longer)
    skipped.update(longer)
    train_ids = _existing_ids(also_train, tokenizer.get_vocab(), used)
    ids = tuple(range(used, used + len(forms)))  # where the tokenizer puts new tokens
    report = AddedTokens(
        tokens=tuple(f.text for f in forms),
        ids=ids,
        skipped=skipped,
        pieces={f.text: tuple(tokenizer.convert_ids_to_tokens(list(f.pieces))) for f in forms},
        forms={t: tuple(f.text for f in forms if f.token == t) for t in dict.fromkeys(f.token for f in forms)},
        spare=tuple(i for i in ids if i < found.inp.num_embeddings),
        num_rows=found.inp.num_embeddings,
        output="none" if found.out is None else "tied" if found.tied else "untied",
        init=_describe(init),
    )  # fmt: skip
    if not forms and not train_ids:
        return report
    # Rows first (with the tokenizer as it was), so that a refusal leaves the tokenizer alone.
    start = _initial_rows(init, forms, used, found.inp.embedding_dim)
    emb = L.grow(found.inp, start(found.inp), used, train_ids)
    head = None
    if found.out is not None and not found.tied:
        base = found.out.embedding if isinstance(found.out, PartialLMHead) else found.out.weight
        head = L.grow(base, start(found.out), used, train_ids)
    if forms:
        _add_to_tokenizer(tokenizer, forms, options, ids)
    lm_head = _install(model, found, emb, head, forms, used)
    L.set_vocab_size(model, emb.num_embeddings)
    guard(model)
    return replace(report, num_rows=emb.num_embeddings, embedding=emb, head=head, lm_head=lm_head)


def merge(model: Any) -> Any:
    """Put plain ``nn.Embedding`` / ``nn.Linear`` layers back, with the trained rows; returns ``model``.

    An output layer that was tied to the input embedding is tied again, and
    a bias is kept (the old values and the new tokens'), so ``save_pretrained``
    writes an ordinary checkpoint that ``from_pretrained`` loads with the grown
    vocabulary. Works on the model ``merge_and_unload`` gives after PEFT LoRA.

    Raises:
        StateError: the head has a logit offset on the new tokens
            (:func:`~vocabgraft.torch.hf.keep_mass`) but the model's head has no
            bias to hold it; the saved model would give other outputs.
    """
    inp = model.get_input_embeddings()
    out = L.output_layer(model)
    if isinstance(out, PartialLMHead) and _offset_only(out):
        raise StateError(
            "the head has a logit offset for the new tokens, which the model's plain head "
            "(no bias) cannot hold; call head.set_new_bias(None) to drop it (outputs change) "
            "before merge"
        )
    plain: Any = inp.merge() if isinstance(inp, PartialEmbedding) else inp
    if isinstance(out, PartialLMHead):
        rows = out.embedding
        bias = out.full_bias()
        linear = nn.Linear(rows.embedding_dim, rows.num_embeddings, bias=False, device="meta")
        linear.weight = plain.weight if rows is inp else nn.Parameter(rows.merged_weight())
        if rows is inp:  # PEFT's merge_and_unload may have written tie_word_embeddings=False
            _text_config(model).tie_word_embeddings = True
        if bias is not None and out.bias_base is not None:
            linear.bias = nn.Parameter(bias.detach().clone())
            for module, attr in out.__dict__.get("_bias_aliases", []):
                setattr(module, attr, linear.bias)
        L.replace_module(model, out, linear)
    if plain is not inp:
        model.set_input_embeddings(plain)
    unguard(model)
    return model


# -- helpers ------------------------------------------------------------------------------


def _offset_only(head: PartialLMHead) -> bool:
    """Whether the head adds a nonzero offset to the new tokens but had no bias of its own."""
    offset = head.new_bias
    return head.bias_base is None and offset is not None and bool(offset.detach().abs().max() > 0)


def _text_config(model: Any) -> Any:
    get_text = getattr(model.config, "get_text_config", None)
    return get_text() if callable(get_text) else model.config


def _add_to_tokenizer(
    tokenizer: Any, forms: list[Form], options: TokenOptions, ids: tuple[int, ...]
) -> None:
    from vocabgraft.torch.hf.tokens import space_style

    style = space_style(tokenizer)
    tokenizer.add_tokens(
        [options.added_token(f.text, style) for f in forms], special_tokens=options.special
    )
    got = tuple(int(i) for i in tokenizer.convert_tokens_to_ids([f.text for f in forms]))
    if got != ids:
        raise VocabgraftError(
            f"the tokenizer gave the new tokens ids {list(got)}, not {list(ids)}; "
            "it holds them now, but the model was left as it was"
        )


def _install(
    model: Any,
    found: L.Layers,
    emb: PartialEmbedding,
    head: PartialEmbedding | None,
    forms: list[Form],
    used: int,
) -> PartialLMHead | None:
    """Put the grown layers into ``model``; return the output layer."""
    out = found.out
    lm_head = None
    if out is not None:
        rows = head or emb
        if isinstance(out, PartialLMHead):
            lm_head = out
            if out.bias_base is not None:
                out.set_new_bias(nn.Parameter(_new_bias(out, forms, rows, used)))
        else:
            lm_head = PartialLMHead(rows, tied=found.tied, bias=found.bias)
            if found.bias is not None:
                lm_head.__dict__["_bias_aliases"] = L.param_aliases(model, out.bias, out)
                for module, attr in lm_head.__dict__["_bias_aliases"]:
                    setattr(module, attr, None)  # the head holds the bias now
                lm_head.set_new_bias(nn.Parameter(_new_bias(lm_head, forms, rows, used)))
            L.replace_module(model, out, lm_head)
    if model.get_input_embeddings() is not emb:
        model.set_input_embeddings(emb)
    return lm_head


def _new_bias(head: PartialLMHead, forms: list[Form], rows: PartialEmbedding, used: int) -> Any:
    """The bias of the rows past the base: kept ones, then each new form's pieces' mean bias."""
    assert head.bias_base is not None
    bias = head.bias_base
    old = head.new_bias.detach() if head.new_bias is not None else bias.new_zeros(0)
    n_new = rows.num_embeddings - rows.num_base - len(old)
    mean = bias[:used].double().mean()
    values = [
        bias[list(f.pieces)].double().mean() if f.pieces else mean
        for f in forms[len(forms) - n_new :]
    ]
    new = torch.stack(values).to(bias.dtype) if values else bias.new_zeros(0)
    return torch.cat([old, new])


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
    init: Initializer | str | None, forms: list[Form], used: int, dim: int
) -> Callable[[Any], np.ndarray]:
    """A function from a layer to the new forms' first rows, computed from its first ``used`` rows."""
    pieces = {f.text: list(f.pieces) for f in forms}
    chosen = Subtokens(lambda t: pieces[t], fallback=Mean()) if init is None else init
    texts = [f.text for f in forms]

    def rows(layer: Any) -> np.ndarray:
        if not forms:
            return np.zeros((0, dim), dtype=np.float32)

        def weights() -> np.ndarray:  # read only by initializers that need it, and only once
            return L.table(layer)[:used].detach().cpu().float().numpy()

        ctx = InitContext.build(len(forms), dim, tokens=texts, weights_fn=weights)
        return resolve_init(chosen, ctx).astype(np.float32, copy=False)

    return rows


def _describe(init: Initializer | str | None) -> str:
    if init is None:
        return "the mean of their pieces' rows"
    return repr(init) if isinstance(init, str) else type(init).__name__
