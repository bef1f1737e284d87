"""The README's two PyTorch examples, run as written (on a small cached table)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from vocabgraft import EmbeddingTable
from vocabgraft.init import InitContext
from vocabgraft.torch import PartialEmbedding, graft

pytestmark = pytest.mark.torch


def test_readme_train_only_special_rows_of_a_frozen_table(table: EmbeddingTable, tmp_path: Path):
    table.save(tmp_path / "glove-cache")

    # --- README example 1 ---
    table = EmbeddingTable.load(tmp_path / "glove-cache")  # memory-mapped, opens in ms
    emb = PartialEmbedding.from_table(table, add=["<s>", "</s>"], init="mean")
    emb.unfreeze(["<unk>"])  # the OOV row trains too; all other rows stay frozen
    model = nn.Sequential(emb, nn.Flatten(), nn.Linear(3 * emb.embedding_dim, 2))
    opt = torch.optim.AdamW(model.parameters(), weight_decay=0.01)  # state for 3 rows, not 12
    sentences = [["<s>", "tv", "</s>"], ["<s>", "zzz", "</s>"]]  # "zzz" is OOV: <unk>
    ids = torch.stack([torch.from_numpy(emb.vocab.lookup(s)) for s in sentences])
    loss = nn.functional.cross_entropy(model(ids), torch.tensor([0, 1]))
    loss.backward()
    opt.step()
    # --- end ---

    assert emb.trainable_ids.tolist() == [1, 10, 11]
    assert np.array_equal(
        emb.merged_weight()[:10].numpy()[[0, *range(2, 10)]], table.vectors[[0, *range(2, 10)]]
    )


def test_readme_add_an_item_to_a_trained_model_and_train_only_its_row(tmp_path: Path):
    class Recommender(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.items = nn.Embedding(100, 8)
            self.score = nn.Linear(8, 1)

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            return self.score(self.items(ids)).squeeze(-1)

    model = Recommender()
    trained = model.items.weight.detach().clone()

    # --- README example 2 ---
    items = graft(model, "items", add=1, init="mean")  # new item id 100; only its row trains
    model.requires_grad_(False)
    items.rows.requires_grad_(True)
    opt = torch.optim.Adam([items.rows], lr=0.1)
    for _ in range(20):
        loss = (model(torch.tensor([100, 100, 3])) - torch.tensor([1.0, 1.0, 0.0])).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.items = items.merge()  # a plain nn.Embedding(101, 8) for serving
    # --- end ---

    assert model.items.weight.shape == (101, 8)
    assert torch.equal(model.items.weight[:100], trained)


def test_initializers_see_the_new_tokens_and_the_existing_rows(table: EmbeddingTable):
    seen: list[InitContext] = []

    def first_letter_copy(ctx: InitContext) -> np.ndarray:
        seen.append(ctx)
        assert ctx.vocab is not None and ctx.tokens is not None
        ids = [ctx.vocab[t[:-1]] for t in ctx.tokens]  # "tv2" starts from "tv"
        return np.asarray(ctx.weights[ids])

    emb = PartialEmbedding.from_table(table, trainable=[1])
    emb.extend(["tv2", "radio2"], init=first_letter_copy, seed=0)
    assert seen[0].n == 2 and seen[0].dim == 6
    assert torch.equal(emb(torch.tensor([10, 11])), torch.from_numpy(table.vectors[[7, 9]]))
