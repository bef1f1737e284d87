"""Better first values for new rows, and the probability the new tokens take on ordinary text.

:func:`distill` is "token distillation": it trains only the new rows so that
the model reading a new token reproduces what it computed from the token's
old pieces. The teacher is the same model on the old split, so no second copy
is needed: old rows never change. Two terms, on a few hundred contexts that
use the new tokens:

- the last hidden states at and after each new token match the teacher's at
  and after the token's last piece (the input side of the row);
- the log-probability of the new token where it comes next matches the
  teacher's log-probability of the whole piece sequence there (the output
  side, for a tied head; it also keeps the token's mass where it belongs).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from vocabgraft.errors import ArgumentError, StateError
from vocabgraft.torch.hf.head import PartialLMHead

__all__ = ["DistillReport", "distill", "keep_mass", "new_token_mass"]


@dataclass(frozen=True)
class DistillReport:
    """What :func:`distill` did: steps taken, seconds, and the loss at the first and last step."""

    steps: int
    seconds: float
    first_loss: float
    last_loss: float
    contexts: int


def _old_split(
    ids: list[int], pieces: dict[int, list[int]]
) -> tuple[list[int], list[tuple[int, int]], list[tuple[int, int, int]]]:
    """The old ids, (new position, old position) pairs at and after new tokens, and (position, id, old start) per new token."""
    old: list[int] = []
    pairs: list[tuple[int, int]] = []
    hits: list[tuple[int, int, int]] = []
    for pos, i in enumerate(ids):
        if pieces.get(i):
            hits.append((pos, i, len(old)))
            old.extend(pieces[i])
        else:
            old.append(i)
        if hits:
            pairs.append((pos, len(old) - 1))
    return old, pairs, hits


def _pad(rows: list[list[int]], pad: int) -> tuple[Tensor, Tensor]:
    n = max(len(r) for r in rows)
    ids = torch.full((len(rows), n), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), n), dtype=torch.long)
    for b, r in enumerate(rows):
        ids[b, : len(r)] = torch.tensor(r)
        mask[b, : len(r)] = 1
    return ids, mask


def _hidden(model: Any, ids: Tensor, mask: Tensor) -> Tensor:
    """The last hidden states (what the head reads), without computing every position's logits."""
    return model.base_model(input_ids=ids, attention_mask=mask).last_hidden_state


def _log_probs(model: Any, hidden: Tensor) -> Tensor:
    return model.get_output_embeddings()(hidden).float().log_softmax(-1)


def _targets(
    model: Any, batch: list[list[int]], pieces: dict[int, list[int]], pad: int
) -> dict[str, Any]:
    """The teacher's hidden states and piece-sequence log-probabilities for one batch."""
    split = [_old_split(ids, pieces) for ids in batch]
    old_ids, old_mask = _pad([s[0] for s in split], pad)
    with torch.no_grad():
        hidden = _hidden(model, old_ids, old_mask)
        idx = [(b, n, o) for b, s in enumerate(split) for n, o in s[1]]
        seq = []
        for b, s in enumerate(split):
            for pos, i, start in s[2]:
                if start == 0:
                    continue  # nothing predicts a token at the start of text
                steps = torch.arange(start - 1, start - 1 + len(pieces[i]))
                logp = _log_probs(model, hidden[b, steps])
                want = float(logp[torch.arange(len(steps)), torch.tensor(pieces[i])].sum())
                seq.append((b, pos - 1, i, want))
    return {
        "b": torch.tensor([t[0] for t in idx]),
        "new": torch.tensor([t[1] for t in idx]),
        "target": hidden[[t[0] for t in idx], [t[2] for t in idx]].detach(),
        "seq": seq,
    }


def _loss(model: Any, ids: Tensor, mask: Tensor, t: dict[str, Any], scale: float) -> Tensor:
    hidden = _hidden(model, ids, mask)
    got = hidden[t["b"], t["new"]]
    loss = F.mse_loss(got.float(), t["target"].float()) / scale
    if t["seq"]:
        b, pos, i, want = (torch.tensor(c) for c in zip(*t["seq"]))
        logp = _log_probs(model, hidden[b, pos])[torch.arange(len(i)), i]
        loss = loss + 0.05 * F.mse_loss(logp, want.float())
    return loss


def distill(
    model: Any,
    tokenizer: Any,
    added: Any,
    texts: Sequence[str],
    *,
    steps: int = 30,
    lr: float = 1e-2,
    batch_size: int = 16,
    max_length: int = 48,
    seconds: float | None = None,
) -> DistillReport:
    """Train only ``added``'s rows so the model reading the new tokens matches itself on the old split.

    Args:
        model: the model :func:`add_tokens` grew (in eval mode; dropout would add noise).
        tokenizer: its tokenizer, with the new tokens.
        added: what :func:`add_tokens` returned.
        texts: contexts that use the new tokens (a few hundred sentences).
            Keep held-out text out of them.
        steps: optimizer steps (each over one batch of ``batch_size`` texts).
        lr: Adam's learning rate.
        batch_size: texts per step.
        max_length: tokens per text (longer texts are cut).
        seconds: stop after this many seconds (counting the teacher's passes),
            whatever ``steps`` says; at least one step is taken.

    Raises:
        ArgumentError: no text uses a new token.
    """
    pieces = {
        i: [int(p) for p in tokenizer.convert_tokens_to_ids(list(added.pieces[t]))]
        for t, i in zip(added.tokens, added.ids)
    }
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    rows = [tokenizer.encode(t, add_special_tokens=False)[:max_length] for t in texts]
    rows = [r for r in rows if any(i in pieces for i in r)]
    if not rows:
        raise ArgumentError("none of texts uses a new token; distill needs contexts that do")
    start = time.perf_counter()
    batches = [rows[k : k + batch_size] for k in range(0, len(rows), batch_size)]
    targets = [_targets(model, b, pieces, pad) for b in batches]
    scale = float(torch.cat([t["target"] for t in targets]).float().pow(2).mean())
    params = added.parameters()
    opt = torch.optim.Adam(params, lr=lr)
    losses: list[float] = []
    for step in range(steps):
        if step and seconds is not None and time.perf_counter() - start > seconds:
            break  # at least one step, whatever the budget
        k = step % len(batches)
        ids, mask = _pad(batches[k], pad)
        loss = _loss(model, ids, mask, targets[k], scale)
        grads = torch.autograd.grad(loss, params)
        for p, g in zip(params, grads):
            p.grad = g
        opt.step()
        losses.append(float(loss.detach()))
    for p in params:
        p.grad = None
    return DistillReport(len(losses), time.perf_counter() - start, losses[0], losses[-1], len(rows))


def new_token_mass(model: Any, tokenizer: Any, added: Any, texts: Sequence[str]) -> float:
    """The mean probability the model gives the new tokens, summed, at each position of ``texts``.

    On ordinary text (none of the new words) the old model gave them 0: this
    is how much the new rows take from the old tokens there.
    """
    ids = torch.tensor(added.ids)
    total, count = 0.0, 0
    with torch.no_grad():
        for text in texts:
            enc = tokenizer(text, return_tensors="pt")
            probs = model(**enc).logits.float().softmax(-1)
            total += float(probs[..., ids].sum())
            count += probs.shape[1]
    return total / max(count, 1)


def keep_mass(
    model: Any, tokenizer: Any, added: Any, texts: Sequence[str], *, mass: float = 1e-4
) -> Tensor:
    """Give the new tokens a logit offset so that on ``texts`` (ordinary text) each takes at most ``mass``.

    The old model gave the new tokens nothing there. The offset is a fixed
    (not trained), never positive bias on the new tokens' logits only, lowered
    for each token that takes more than ``mass``; old tokens' logits are
    untouched, so they keep their share but for what the new ones take.
    Returns the offsets. A head without a bias of
    its own cannot save it: :func:`merge` refuses until
    ``added.lm_head.set_new_bias(None)``.

    Raises:
        StateError: the model has no :class:`PartialLMHead`.
        ArgumentError: ``mass`` is not in (0, 1).
    """
    head = added.lm_head
    if not isinstance(head, PartialLMHead):
        raise StateError("keep_mass needs an output layer; this model's add_tokens made none")
    if not 0 < mass < 1:
        raise ArgumentError(f"mass must be in (0, 1). Received {mass!r}")
    emb = head.embedding
    n_new = emb.num_embeddings - emb.num_base
    offset = torch.zeros(n_new)
    ids = torch.tensor([i for i in added.ids if i >= emb.num_base])
    for _ in range(2):  # the softmax's normalizer moves a little with the offset
        head.set_new_bias(offset.clone())
        probs = _mean_probs(model, tokenizer, texts)[ids]
        step = math.log(mass) - probs.clamp_min(1e-30).log()
        offset[ids - emb.num_base] = (offset[ids - emb.num_base] + step).clamp(max=0.0)
    head.set_new_bias(offset.clone())
    return offset


def _mean_probs(model: Any, tokenizer: Any, texts: Sequence[str]) -> Tensor:
    total: Tensor | None = None
    count = 0
    with torch.no_grad():
        for text in texts:
            probs = model(**tokenizer(text, return_tensors="pt")).logits.float().softmax(-1)[0]
            total = probs.sum(0) if total is None else total + probs.sum(0)
            count += probs.shape[0]
    assert total is not None
    return total / max(count, 1)
