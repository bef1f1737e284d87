"""PartialEmbedding: lookups match nn.Embedding on the merged table; construction and errors."""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from vocabgraft import EmbeddingTable
from vocabgraft.errors import MissingExtraError, RowIndexError, VocabgraftError
from vocabgraft.torch import PartialEmbedding, graft

pytestmark = pytest.mark.torch


def reference(emb: PartialEmbedding) -> nn.Embedding:
    return nn.Embedding.from_pretrained(emb.merged_weight(), padding_idx=emb.padding_idx)


@pytest.mark.parametrize(
    "dtype",
    [torch.float32, torch.float64, torch.float16, torch.bfloat16],
    ids=["f32", "f64", "f16", "bf16"],
)
@pytest.mark.parametrize("id_dtype", [torch.int64, torch.int32], ids=["i64", "i32"])
@pytest.mark.parametrize(
    "shape", [(7,), (3, 4), (2, 3, 5), (0,), ()], ids=["1d", "2d", "3d", "empty", "scalar"]
)
def test_forward_matches_nn_embedding_on_merged_weights(dtype, id_dtype, shape):
    gen = torch.Generator().manual_seed(0)
    emb = PartialEmbedding.from_pretrained(
        torch.randn(12, 5, dtype=dtype, generator=gen), [1, 4, 9]
    )
    emb.extend(2, init=np.ones((2, 5)))
    emb.freeze([4])  # a patched row
    with torch.no_grad():
        emb.rows.add_(1.0)  # trained rows differ from the base
    ids = torch.randint(0, 14, shape, generator=gen, dtype=id_dtype)
    out = emb(ids)
    assert out.dtype == dtype
    assert out.shape == (*shape, 5)
    assert torch.equal(out, reference(emb)(ids))


def test_repeated_ids_accumulate_gradient_like_nn_embedding():
    weights = torch.randn(6, 3)
    emb = PartialEmbedding.from_pretrained(weights, trainable=[2, 5])
    dense = nn.Embedding.from_pretrained(weights.clone(), freeze=False)
    ids = torch.tensor([[2, 2, 5], [0, 2, 1]])
    (emb(ids) * torch.arange(3.0)).sum().backward()
    (dense(ids) * torch.arange(3.0)).sum().backward()
    assert dense.weight.grad is not None and emb.rows.grad is not None
    assert torch.equal(emb.rows.grad, dense.weight.grad[[2, 5]])


@pytest.mark.parametrize("pool", ["sum", "mean", "none"], ids=["sum", "mean", "none"])
@pytest.mark.parametrize("shape", [(4, 6), (2, 3, 4)], ids=["2d", "3d"])
def test_gradient_matches_nn_embedding_whatever_the_gradient_layout(pool, shape):
    """A pooled output's gradient arrives expanded (stride 0); rows are read where they are."""
    gen = torch.Generator().manual_seed(3)
    weights = torch.randn(9, 5, generator=gen)
    emb = PartialEmbedding.from_pretrained(weights, trainable=[1, 4, 8])
    dense = nn.Embedding.from_pretrained(weights.clone(), freeze=False)
    ids = torch.randint(0, 9, shape, generator=gen)
    ids.view(-1)[:3] = torch.tensor([1, 4, 8])
    for module in (emb, dense):
        out = module(ids)
        pooled = {"sum": out.sum(1), "mean": out.mean(1), "none": out}[pool]
        pooled.backward(torch.ones_like(pooled) * torch.arange(5.0))
    assert dense.weight.grad is not None and emb.rows.grad is not None
    assert torch.equal(emb.rows.grad, dense.weight.grad[[1, 4, 8]])


def test_frozen_rows_are_buffers_and_trainable_rows_one_compact_parameter(table):
    emb = PartialEmbedding.from_table(table, trainable=["<unk>", "tv"])
    assert emb.padding_idx == 0  # the vocabulary's pad token
    assert [n for n, _ in emb.named_parameters()] == ["rows"]
    assert emb.rows.shape == (2, 6)
    assert emb.trainable_ids.tolist() == [1, 7]
    assert not emb.base.requires_grad
    assert {n for n, _ in emb.named_buffers()} >= {"base", "patch", "slots"}


def test_memory_mapped_base_is_used_without_copy_or_warning(cached: EmbeddingTable):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        emb = PartialEmbedding.from_table(cached, trainable=[3])
    assert emb.base.data_ptr() == cached.vectors.ctypes.data
    ids = torch.arange(10)
    emb(ids).sum().backward()
    assert torch.equal(emb(ids), reference(emb)(ids))


def test_padding_row_gives_its_row_and_never_trains():
    weights = torch.randn(5, 3)
    emb = PartialEmbedding.from_pretrained(weights, trainable=[1, 2], padding_idx=0)
    assert torch.equal(emb(torch.tensor([0]))[0], weights[0])
    with pytest.raises(RowIndexError, match="id 0 is the padding row"):
        emb.unfreeze([0])
    emb.unfreeze()
    assert emb.trainable_ids.tolist() == [1, 2, 3, 4]
    assert emb.merge().padding_idx == 0


def test_from_embedding_keeps_padding_and_shares_memory():
    src = nn.Embedding(8, 4, padding_idx=0)
    emb = PartialEmbedding.from_embedding(src, trainable=[3])
    assert emb.padding_idx == 0
    assert emb.base.data_ptr() == src.weight.data_ptr()
    ids = torch.tensor([[0, 3, 7]])
    assert torch.equal(emb(ids), src(ids))


@pytest.mark.parametrize(
    ("ids", "match"),
    [
        (torch.tensor([1, 10]), r"id 10 is out of range for a table of 10 rows"),
        (torch.tensor([[-3, 2]]), r"ids: id -3 is out of range for a table of 10 rows"),
        (torch.tensor([1.0]), r"int64 or int32.*Received dtype torch.float32 \(table of 10 rows\)"),
        (torch.tensor([True]), r"Received dtype torch.bool"),
    ],
    ids=["too-big", "negative", "float", "bool"],
)
def test_bad_ids_are_named_before_any_kernel_runs(table, ids, match):
    emb = PartialEmbedding.from_table(table, trainable=[1])
    with pytest.raises(RowIndexError, match=match):
        emb(ids)


@pytest.mark.parametrize(
    ("trainable", "error", "match"),
    [
        ([12], RowIndexError, r"trainable ids: id 12 is out of range for a table of 10 rows"),
        ([-1], RowIndexError, r"trainable ids: id -1 is out of range for a table of 10 rows"),
        ([], RowIndexError, r"trainable id set is empty \(table of 10 rows\)"),
        (torch.tensor([0.5]), RowIndexError, r"must be integers. Received dtype torch.float32"),
        (["nope"], KeyError, r"token 'nope' is not in the vocabulary"),
    ],
    ids=["out-of-range", "negative", "empty", "float", "unknown-token"],
)
def test_bad_trainable_sets_are_named(table, trainable, error, match):
    with pytest.raises(error, match=match):
        PartialEmbedding.from_table(table, trainable=trainable)


def test_range_check_can_be_turned_off(table):
    emb = PartialEmbedding.from_table(table, trainable=[1], check_ids=False)
    assert emb(torch.tensor([9])).shape == (1, 6)


def test_tokens_need_a_vocabulary():
    with pytest.raises(VocabgraftError, match="are tokens, but this module has no vocabulary"):
        PartialEmbedding.from_pretrained(torch.zeros(3, 2), trainable=["a"])


def test_unsupported_embedding_options_are_refused():
    with pytest.raises(VocabgraftError, match=r"max_norm=1.0, which PartialEmbedding does not"):
        PartialEmbedding.from_embedding(nn.Embedding(4, 2, max_norm=1.0), trainable=[1])


def test_merge_returns_plain_embedding_with_merged_rows(table):
    emb = PartialEmbedding.from_table(table, trainable=["tv"])
    with torch.no_grad():
        emb.rows.fill_(3.0)
    merged = emb.merge()
    assert type(merged) is nn.Embedding
    assert merged.weight.requires_grad
    ids = torch.arange(10)
    assert torch.equal(merged(ids), emb(ids))
    assert torch.equal(merged.weight[7], torch.full((6,), 3.0))


class Encoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed_tokens = nn.Embedding(10, 4, padding_idx=0)
        self.proj = nn.Linear(4, 2)


class Model(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = Encoder()
        self.layers = nn.ModuleList([nn.Embedding(5, 4)])

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.encoder.proj(self.encoder.embed_tokens(ids))


@pytest.mark.parametrize("target", ["encoder.embed_tokens", "module"], ids=["dotted", "module"])
def test_graft_swaps_the_embedding_in_place(target):
    model = Model()
    ids = torch.tensor([[0, 3, 9]])
    before = model(ids)
    old = model.encoder.embed_tokens
    new = graft(model, old if target == "module" else target, trainable=[3])
    assert model.encoder.embed_tokens is new
    assert new.padding_idx == 0
    assert torch.equal(model(ids), before)
    assert "encoder.embed_tokens.rows" in dict(model.named_parameters())


def test_graft_works_inside_module_lists():
    model = Model()
    new = graft(model, "layers.0", trainable=[1])
    assert model.layers[0] is new


def test_graft_refuses_tied_weights_and_unknown_names():
    model = Model()
    model.head = nn.Linear(4, 10, bias=False)
    model.head.weight = model.encoder.embed_tokens.weight
    with pytest.raises(
        VocabgraftError, match=r"encoder.embed_tokens.weight is tied to head.weight"
    ):
        graft(model, "encoder.embed_tokens", trainable=[1])
    with pytest.raises(VocabgraftError, match=r"no submodule 'encoder.embed'; its embeddings are"):
        graft(model, "encoder.embed", trainable=[1])
    with pytest.raises(VocabgraftError, match=r"'encoder.proj' is a Linear, not an nn.Embedding"):
        graft(model, "encoder.proj", trainable=[1])


@pytest.mark.parametrize(
    "dtype", [torch.float16, torch.bfloat16, torch.float64], ids=["f16", "bf16", "f64"]
)
def test_to_dtype_keeps_buffers_and_parameters_together(table, dtype):
    emb = PartialEmbedding.from_table(table, trainable=[1, 7])
    emb.extend(["radio2"], init="mean")
    emb.freeze([7])
    emb.to(dtype)
    assert {emb.base.dtype, emb.rows.dtype, emb.patch.dtype} == {dtype}
    assert emb.slots.dtype == torch.int32
    ids = torch.tensor([[1, 7, 10, 3]])
    out = emb(ids)
    assert out.dtype == dtype
    assert torch.equal(out, reference(emb)(ids))
    out.float().sum().backward()
    assert emb.rows.grad is not None and emb.rows.grad.dtype == dtype


def test_to_device_moves_everything(table):
    emb = PartialEmbedding.from_table(table, trainable=[1]).to("meta")
    assert {t.device.type for t in [emb.base, emb.rows, emb.patch, emb.slots]} == {"meta"}


def test_missing_torch_names_the_extra(monkeypatch):
    for name in [
        m for m in sys.modules if m == "vocabgraft.torch" or m.startswith("vocabgraft.torch.")
    ]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'vocabgraft\[torch\]'") as info:
        import vocabgraft.torch  # noqa: F401
    assert info.value.extra == "torch"
