"""Behaviour on the real GloVe 6B 50d table: train only new special rows, the rest stays put."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vocabgraft import EmbeddingTable
from vocabgraft.torch import PartialEmbedding

pytestmark = [pytest.mark.torch, pytest.mark.slow]


def cosine(weights: torch.Tensor, ids: list[int]) -> float:
    return float(F.cosine_similarity(weights[ids[0]], weights[ids[1]], dim=0))


def batches(table: EmbeddingTable, extra: list[int], steps: int):
    """Sentences mentioning tv, television and the new specials."""
    gen = torch.Generator().manual_seed(0)
    tv, television = table.vocab.lookup_exact(["tv", "television"]).tolist()
    for _ in range(steps):
        ids = torch.randint(0, 400_000, (16, 12), generator=gen)
        ids[:, 0] = tv
        ids[:8, 1] = television
        ids[:, 2] = torch.tensor(extra)[torch.randint(0, len(extra), (16,), generator=gen)]
        yield ids, torch.randn(16, 1, generator=gen)


def test_train_only_special_rows_of_glove(glove_table: EmbeddingTable):
    pair = glove_table.vocab.lookup_exact(["tv", "television"]).tolist()
    before = cosine(torch.from_numpy(np.array(glove_table.vectors[pair])), [0, 1])
    emb = PartialEmbedding.from_table(glove_table, trainable=[], add=["<unk>", "<s>"], init="mean")
    assert emb.base.data_ptr() == glove_table.vectors.ctypes.data  # the mmap, not a copy
    specials = emb.vocab.lookup_exact(["<unk>", "<s>"]).tolist()  # type: ignore[union-attr]
    assert specials == [400_000, 400_001]
    head = torch.randn(50, 1, generator=torch.Generator().manual_seed(1))
    opt = torch.optim.AdamW(emb.parameters(), lr=0.05, weight_decay=0.01)
    start = emb.rows.detach().clone()
    for ids, target in batches(glove_table, specials, 30):
        loss = F.mse_loss(emb(ids).mean(1) @ head, target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert (emb.rows.detach() != start).any(dim=1).all()  # both special rows trained
    assert np.array_equal(emb.base.numpy(), glove_table.vectors)  # every frozen row bit-identical
    out = emb(torch.tensor(pair))
    assert torch.equal(out, torch.from_numpy(np.array(glove_table.vectors[pair])))
    assert cosine(out.detach(), [0, 1]) == before

    # The same training with a dense, trainable table moves tv away from television.
    dense = nn.Embedding.from_pretrained(
        torch.from_numpy(np.array(glove_table.vectors)), freeze=False
    )
    dense_opt = torch.optim.SGD(dense.parameters(), lr=50.0)
    for ids, target in batches(glove_table, [0], 5):
        loss = F.mse_loss(dense(ids).mean(1) @ head, target)
        dense_opt.zero_grad()
        loss.backward()
        dense_opt.step()
    assert abs(cosine(dense.weight.detach(), pair) - before) > 1e-3
