"""PartialEmbedding as an nn.Embedding user expects it: construction, weight, state_dict, options."""

from __future__ import annotations

import typing

import numpy as np
import pytest
import torch
from torch import nn

from vocabgraft.errors import ArgumentError, StateError
from vocabgraft.torch import PartialEmbedding, PartialEmbeddingBag
from vocabgraft.torch.kernel import lookup_dense

pytestmark = pytest.mark.torch


@pytest.mark.parametrize("padding_idx", [None, 2, -1], ids=["no-pad", "pad", "negative-pad"])
def test_constructor_draws_the_table_nn_embedding_draws(padding_idx):
    torch.manual_seed(7)
    ours = PartialEmbedding(10, 4, padding_idx=padding_idx)
    torch.manual_seed(7)
    theirs = nn.Embedding(10, 4, padding_idx=padding_idx)
    assert torch.equal(ours.weight, theirs.weight)
    assert ours.padding_idx == theirs.padding_idx
    ids = torch.tensor([[1, 2, 2, 9, 5]])
    (ours(ids) * torch.arange(4.0)).sum().backward()
    (theirs(ids) * torch.arange(4.0)).sum().backward()
    assert ours.rows.grad is not None and theirs.weight.grad is not None
    assert torch.equal(ours.rows.grad, theirs.weight.grad[ours.trainable_ids])


def test_fresh_table_with_a_trainable_subset_keeps_the_other_rows_drawn():
    torch.manual_seed(1)
    ours = PartialEmbedding(6, 3, trainable=[4])
    torch.manual_seed(1)
    assert torch.equal(ours.weight, nn.Embedding(6, 3).weight)
    assert ours.trainable_ids.tolist() == [4]


def test_factory_kwargs_give_the_device_and_dtype():
    fresh = PartialEmbedding(5, 2, dtype=torch.float64, device="meta")
    assert {t.dtype for t in (fresh.base, fresh.rows, fresh.patch)} == {torch.float64}
    assert {t.device.type for t in (fresh.base, fresh.rows, fresh.slots)} == {"meta"}
    given = PartialEmbedding.from_pretrained(torch.randn(5, 2), trainable=[1], dtype=torch.float16)
    assert given.base.dtype == given.rows.dtype == torch.float16


@pytest.mark.parametrize("freeze", [True, False], ids=["frozen", "trainable"])
def test_from_pretrained_freeze_reads_as_in_nn_embedding(freeze):
    weights = torch.randn(7, 3)
    ours = PartialEmbedding.from_pretrained(weights, freeze, padding_idx=1)  # positional, as there
    theirs = nn.Embedding.from_pretrained(weights, freeze, padding_idx=1)
    ids = torch.tensor([0, 1, 1, 6])
    assert torch.equal(ours(ids), theirs(ids))
    trained = [i for i in range(7) if i != 1] if not freeze else []
    assert ours.trainable_ids.tolist() == trained
    assert theirs.weight.requires_grad is (not freeze)
    with pytest.raises(ArgumentError, match=r"pass freeze= once"):
        PartialEmbedding.from_pretrained(weights, True, freeze=True)


def test_weight_is_the_merged_table_read_only():
    emb = PartialEmbedding.from_pretrained(torch.randn(6, 3), trainable=[2])
    emb.extend(1, init=np.ones((1, 3)))
    with torch.no_grad():
        emb.rows.add_(1.0)
    weight = emb.weight
    assert not weight.requires_grad and weight.shape == (7, 3)
    assert torch.equal(weight, emb.merged_weight())
    weight[2] = 0.0  # a copy: the module is unchanged
    assert torch.equal(emb(torch.tensor([2]))[0], emb.rows[0].detach())
    with pytest.raises(StateError, match=r"PartialEmbedding.weight is the merged table, read-only"):
        emb.weight = nn.Parameter(torch.zeros(7, 3))


def test_an_nn_embedding_state_dict_loads():
    theirs = nn.Embedding(8, 3, padding_idx=0)
    ours = PartialEmbedding.from_pretrained(torch.zeros(8, 3), trainable=[2, 5], padding_idx=0)
    ours.freeze([5])  # a patched row takes its saved value too
    ours.load_state_dict(theirs.state_dict())
    ids = torch.arange(8)
    assert torch.equal(ours(ids), theirs(ids))
    assert ours.trainable_ids.tolist() == [2]
    with pytest.raises(RuntimeError, match=r"size mismatch for weight: copying a param with shape"):
        ours.load_state_dict(nn.Embedding(9, 3).state_dict())


@pytest.mark.parametrize("path", ["eager", "dense"], ids=["eager", "dense"])
def test_scale_grad_by_freq_scales_as_nn_embedding(path):
    weights = torch.randn(9, 4, generator=torch.Generator().manual_seed(0))
    ours = PartialEmbedding.from_pretrained(weights, trainable=[1, 4, 8], scale_grad_by_freq=True)
    theirs = nn.Embedding.from_pretrained(weights.clone(), freeze=False, scale_grad_by_freq=True)
    ids = torch.tensor([[1, 1, 1, 4], [8, 4, 0, 1]])
    if path == "dense":
        out = lookup_dense(
            ids, ours.base, ours.rows, ours.patch, ours.slots, scale_grad_by_freq=True
        )
    else:
        out = ours(ids)
    assert torch.equal(out, theirs(ids))
    (out * torch.arange(4.0)).sum().backward()
    (theirs(ids) * torch.arange(4.0)).sum().backward()
    assert ours.rows.grad is not None and theirs.weight.grad is not None
    assert torch.equal(ours.rows.grad, theirs.weight.grad[[1, 4, 8]])
    assert ours.merge().scale_grad_by_freq


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"max_norm": 1.0}, r"max_norm=1.0, which PartialEmbedding does not support: nn.Embedding"),
        ({"sparse": True}, r"sparse=True, which PartialEmbedding does not support"),
    ],
    ids=["max_norm", "sparse"],
)
def test_options_that_would_break_the_frozen_rows_are_refused_with_the_reason(kwargs, match):
    with pytest.raises(ArgumentError, match=match):
        PartialEmbedding(5, 2, **kwargs)
    with pytest.raises(ArgumentError, match=match):
        PartialEmbedding.from_embedding(nn.Embedding(5, 2, **kwargs))


def test_from_embedding_carries_scale_grad_by_freq_and_bags_refuse_it_with_max():
    emb = PartialEmbedding.from_embedding(nn.Embedding(5, 2, scale_grad_by_freq=True), [1])
    assert emb.scale_grad_by_freq
    with pytest.raises(ArgumentError, match=r"mode='max' does not support scale_grad_by_freq"):
        PartialEmbeddingBag(5, 2, mode="max", scale_grad_by_freq=True)


def test_merge_is_typed_as_nn_embedding():
    assert typing.get_type_hints(PartialEmbedding.merge)["return"] is nn.Embedding
    assert type(PartialEmbedding(4, 2).merge()) is nn.Embedding


def test_weights_go_to_trainable_not_the_second_argument():
    with pytest.raises(TypeError, match=r"takes the rows that train as trainable="):
        PartialEmbedding(torch.zeros(3, 2), [1])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"num_embeddings must be a positive integer"):
        PartialEmbedding(0, 2)
