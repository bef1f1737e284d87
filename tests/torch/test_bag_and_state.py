"""PartialEmbeddingBag matches nn.EmbeddingBag; state_dict round trips exactly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from _steps import make_step
from torch import nn

from vocabgraft import EmbeddingTable
from vocabgraft.torch import PartialEmbedding, PartialEmbeddingBag, graft

pytestmark = pytest.mark.torch


def trained_bag(mode: str, padding_idx: int | None, **kwargs) -> PartialEmbeddingBag:
    gen = torch.Generator().manual_seed(0)
    bag = PartialEmbeddingBag.from_pretrained(
        torch.randn(15, 4, generator=gen),
        trainable=[2, 9],
        mode=mode,
        padding_idx=padding_idx,
        **kwargs,
    )
    bag.extend(1, init=np.ones((1, 4)))
    with torch.no_grad():
        bag.rows.mul_(3.0)
    return bag


@pytest.mark.parametrize("mode", ["sum", "mean", "max"], ids=["sum", "mean", "max"])
@pytest.mark.parametrize("padding_idx", [None, 0], ids=["no-pad", "pad"])
@pytest.mark.parametrize(
    "layout", ["offsets", "2d", "last-offset"], ids=["offsets", "2d", "last-offset"]
)
def test_bag_matches_embedding_bag_on_merged_weights(mode, padding_idx, layout):
    bag = trained_bag(mode, padding_idx, include_last_offset=layout == "last-offset")
    ref = bag.merge()
    assert isinstance(ref, nn.EmbeddingBag)
    ids = torch.tensor([2, 0, 9, 9, 15, 4, 0, 7, 2, 11, 3, 15])
    offsets = torch.tensor([0, 3, 3, 7])
    if layout == "2d":
        ids, offsets = ids.view(3, 4), None
    elif layout == "last-offset":
        offsets = torch.tensor([0, 3, 3, 7, 12])
    out = bag(ids, offsets)
    assert torch.equal(out, ref(ids, offsets))
    out.sum().backward()
    ref(ids, offsets).sum().backward()
    assert bag.rows.grad is not None and ref.weight.grad is not None
    assert torch.equal(bag.rows.grad, ref.weight.grad[bag.trainable_ids])


def test_bag_per_sample_weights_match():
    bag = trained_bag("sum", None)
    ids, offsets = torch.tensor([2, 9, 15, 3]), torch.tensor([0, 2])
    weights = torch.tensor([0.5, 2.0, -1.0, 3.0])
    assert torch.equal(bag(ids, offsets, weights), bag.merge()(ids, offsets, weights))


def test_graft_replaces_an_embedding_bag():
    model = nn.Sequential(nn.EmbeddingBag(6, 3, mode="sum"))
    ids, offsets = torch.tensor([1, 2, 5]), torch.tensor([0, 1])
    before = model(ids, offsets) if False else model[0](ids, offsets)
    new = graft(model, "0", trainable=[5])
    assert isinstance(new, PartialEmbeddingBag) and new.mode == "sum"
    assert torch.equal(new(ids, offsets), before)


def changed_module(table: EmbeddingTable) -> tuple[PartialEmbedding, torch.optim.Optimizer]:
    emb = PartialEmbedding.from_table(table, trainable=["<unk>", "tv"])
    opt = torch.optim.Adam(emb.parameters(), lr=0.1)
    step = make_step(emb, opt, 10, 6)
    for _ in range(3):
        step()
    emb.extend(["podcast"], init="mean", optimizer=opt)
    emb.freeze(["tv"], optimizer=opt)
    emb.unfreeze([3], optimizer=opt)
    make_step(emb, opt, 11, 6)()
    return emb, opt


def test_state_dict_round_trip_into_a_fresh_module(table, cached, tmp_path: Path):
    emb, opt = changed_module(cached)
    state = emb.state_dict()
    assert "base" not in state  # the base is the table, not part of the checkpoint
    torch.save({"model": state, "opt": opt.state_dict()}, tmp_path / "ckpt.pt")
    saved = torch.load(tmp_path / "ckpt.pt", weights_only=True)
    fresh = PartialEmbedding.from_table(table, trainable=["<unk>"])  # any trainable set will do
    fresh.load_state_dict(saved["model"])
    ids = torch.arange(11)
    assert torch.equal(fresh(ids), emb(ids))
    assert fresh.vocab is not None and fresh.vocab["podcast"] == 10
    assert fresh.trainable_ids.tolist() == emb.trainable_ids.tolist()
    fresh_opt = torch.optim.Adam(fresh.parameters(), lr=0.1)
    fresh_opt.load_state_dict(saved["opt"])
    make_step(fresh, fresh_opt, 11, 6, seed=5)()
    make_step(emb, opt, 11, 6, seed=5)()
    assert torch.equal(fresh(ids), emb(ids))


def test_state_dict_with_base_loads_without_writing_the_memory_map(cached):
    emb = PartialEmbedding.from_table(cached, trainable=[1], save_base=True)
    state = {k: v.clone() for k, v in emb.state_dict().items() if isinstance(v, torch.Tensor)}
    state["_extra_state"] = emb.state_dict()["_extra_state"]
    state["base"] += 1.0
    emb.load_state_dict(state)
    assert torch.equal(emb.base, state["base"])
    assert not np.array_equal(cached.vectors, emb.base.numpy())  # the mmap is unchanged


def test_state_dict_over_another_base_is_refused(table):
    emb = PartialEmbedding.from_table(table, trainable=[1])
    other = PartialEmbedding.from_pretrained(torch.zeros(4, 6), trainable=[1])
    with pytest.raises(
        RuntimeError,
        match=r"saved state is over a base of 10 x 6 rows, but this module's base is 4 x 6",
    ):
        other.load_state_dict(emb.state_dict())
