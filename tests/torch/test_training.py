"""Training: frozen rows stay bit-identical under every optimizer; rows move in and out cleanly."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _steps import make_step
from torch import nn

from vocabgraft.errors import VocabgraftError
from vocabgraft.init import Mean
from vocabgraft.torch import FreezeSchedule, PartialEmbedding, unfreeze_at

pytestmark = pytest.mark.torch

OPTIMIZERS = {
    "adamw-wd": lambda p: torch.optim.AdamW(p, lr=1e-2, weight_decay=0.01),
    "sgd-nesterov": lambda p: torch.optim.SGD(p, lr=1e-2, momentum=0.9, nesterov=True),
    "adagrad": lambda p: torch.optim.Adagrad(p, lr=1e-2),
    "adam-amsgrad": lambda p: torch.optim.Adam(p, lr=1e-2, amsgrad=True),
}


@pytest.mark.parametrize("make_opt", OPTIMIZERS.values(), ids=OPTIMIZERS.keys())
def test_frozen_rows_bit_identical_after_1000_steps(make_opt):
    weights = torch.randn(40, 8, generator=torch.Generator().manual_seed(1))
    original = weights.clone()
    trainable = [0, 7, 21, 39]
    emb = PartialEmbedding.from_pretrained(weights, trainable=trainable)
    opt = make_opt(emb.parameters())
    step = make_step(emb, opt, 40, 8)
    for _ in range(1000):
        step()
    merged = emb.merged_weight()
    frozen = [i for i in range(40) if i not in trainable]
    assert torch.equal(merged[frozen], original[frozen])
    assert torch.equal(emb.base, original)
    assert (merged[trainable] != original[trainable]).any(dim=1).all()


def test_optimizer_state_holds_k_rows_not_v():
    emb = PartialEmbedding.from_pretrained(torch.randn(1000, 16), trainable=range(0, 1000, 100))
    opt = torch.optim.AdamW(emb.parameters(), weight_decay=0.01)
    make_step(emb, opt, 1000, 16)()
    state = opt.state[emb.rows]
    assert state["exp_avg"].shape == state["exp_avg_sq"].shape == (10, 16)
    per_row = sum(v.numel() for v in state.values() if v.dim() == 2)
    assert per_row == 10 * 16 * 2


def adam_setup(trainable):
    weights = torch.randn(30, 4, generator=torch.Generator().manual_seed(2))
    emb = PartialEmbedding.from_pretrained(weights, trainable=trainable)
    opt = torch.optim.Adam(emb.parameters(), lr=1e-2, amsgrad=True)
    step = make_step(emb, opt, 30, 4)
    for _ in range(5):
        step()
    return emb, opt, step


def test_unfreeze_keeps_state_of_rows_that_stay_and_zero_state_for_new_ones():
    emb, opt, _ = adam_setup([3, 10, 20])
    old = {k: v.clone() for k, v in opt.state[emb.rows].items()}
    emb.unfreeze([5, 25], optimizer=opt)
    assert emb.trainable_ids.tolist() == [3, 5, 10, 20, 25]
    state = opt.state[emb.rows]
    for key in ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"):
        assert torch.equal(state[key][[0, 2, 3]], old[key])
        assert not state[key][[1, 4]].any()
    assert torch.equal(state["step"], old["step"])
    assert emb.rows is opt.param_groups[0]["params"][0]


@pytest.mark.parametrize("make_opt", OPTIMIZERS.values(), ids=OPTIMIZERS.keys())
def test_rows_frozen_again_stop_moving_despite_momentum(make_opt):
    emb = PartialEmbedding.from_pretrained(torch.randn(30, 4), trainable=[3, 10, 20])
    opt = make_opt(emb.parameters())
    step = make_step(emb, opt, 30, 4)
    for _ in range(20):
        step()
    emb.freeze([10], optimizer=opt)
    value = emb.merged_weight()[10].clone()
    stays = emb.merged_weight()[[3, 20]].clone()
    for _ in range(50):
        step()
    merged = emb.merged_weight()
    assert torch.equal(merged[10], value)
    assert (merged[[3, 20]] != stays).any()
    assert emb.patch_index.tolist() == [10]


def test_rebind_after_several_changes_composes_them():
    emb, opt, step = adam_setup([3, 10, 20])
    old = opt.state[emb.rows]["exp_avg"].clone()
    emb.freeze([3])
    emb.unfreeze([1])
    emb.extend(1)
    emb.rebind(opt)
    assert emb.trainable_ids.tolist() == [1, 10, 20, 30]
    state = opt.state[emb.rows]["exp_avg"]
    assert torch.equal(state[[1, 2]], old[[1, 2]])
    assert not state[[0, 3]].any()
    step()


def test_forgetting_to_rebind_fails_loudly():
    emb, _, step = adam_setup([3, 10])
    emb.unfreeze([4])
    with pytest.raises(RuntimeError, match="size of tensor"):
        step()


def test_rebind_refuses_an_optimizer_without_the_rows():
    emb, _, _ = adam_setup([3])
    other = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1)
    with pytest.raises(VocabgraftError, match="SGD does not hold this module's trainable rows"):
        emb.freeze([3], optimizer=other)


def test_freeze_everything_then_train_nothing():
    emb, opt, step = adam_setup([3, 10])
    emb.freeze(optimizer=opt)
    assert emb.rows.shape == (0, 4)
    before = emb.merged_weight()
    step()
    assert torch.equal(emb.merged_weight(), before)


def test_extend_adds_trainable_rows_without_touching_old_ids(table):
    emb = PartialEmbedding.from_table(table, trainable=["<unk>"])
    before = emb(torch.arange(10))
    base_memory = emb.base.data_ptr()
    new = emb.extend(["podcast", "stream"], init=np.full((2, 6), 0.5))
    assert new.tolist() == [10, 11]
    assert emb.vocab is not None and emb.vocab["stream"] == 11
    assert len(table.vocab) == 10  # the table's own vocabulary is not changed
    assert torch.equal(emb(torch.arange(10)), before)
    assert torch.equal(emb(new), torch.full((2, 6), 0.5))
    assert emb.trainable_ids.tolist() == [1, 10, 11]
    assert emb.base.shape[0] == 10  # the base was not copied or grown
    assert emb.base.data_ptr() == base_memory


def test_extend_initializers_seeded_and_lazy(table):
    emb = PartialEmbedding.from_table(table, trainable=["<unk>"])
    calls = []
    emb._merged_numpy = lambda: calls.append(1) or table.vectors  # type: ignore[method-assign]
    emb.extend(["x"])  # zeros: never reads the table
    assert calls == []
    emb.extend(["y"], init=Mean())
    assert calls == [1]
    assert torch.allclose(emb(torch.tensor([11]))[0], torch.from_numpy(table.vectors.mean(0)))
    a = PartialEmbedding.from_table(table, trainable=[1])
    b = PartialEmbedding.from_table(table, trainable=[1])
    a.extend(["z"], init=Mean(noise=0.1), seed=3)
    b.extend(["z"], init=Mean(noise=0.1), generator=np.random.default_rng(3))
    assert torch.equal(a.rows, b.rows)


def test_extend_frozen_rows_go_to_the_patch():
    emb = PartialEmbedding.from_pretrained(torch.zeros(4, 2), trainable=[0])
    emb.extend(2, init=torch.ones(2, 2), trainable=False)
    assert emb.patch_index.tolist() == [4, 5]
    assert torch.equal(emb(torch.tensor([5])), torch.ones(1, 2))


@pytest.mark.parametrize(
    ("rows", "kwargs", "match"),
    [
        (["the"], {}, r"token 'the' is already in the vocabulary at id 2"),
        (["new", "new"], {}, r"token 'new' is repeated"),
        (2, {}, r"has a vocabulary, so new rows need tokens"),
        (0, {"vocab": False}, r"extend needs a positive number of rows. Received: 0"),
        (["a"], {"init": np.zeros((2, 6))}, r"initial values have shape \(2, 6\), but 1 rows"),
    ],
    ids=["present", "repeated", "count-with-vocab", "zero", "bad-shape"],
)
def test_bad_extend_changes_nothing(table, rows, kwargs, match):
    kwargs = dict(kwargs)
    vocab = kwargs.pop("vocab", True)
    emb = PartialEmbedding.from_table(table, trainable=[1], **({} if vocab else {"vocab": None}))
    with pytest.raises((ValueError, VocabgraftError), match=match):
        emb.extend(rows, **kwargs)
    assert emb.num_embeddings == 10
    assert emb.vocab is None or len(emb.vocab) == 10


def test_unfreeze_at_epoch_hands_rows_to_the_optimizer():
    emb = PartialEmbedding.from_pretrained(torch.randn(20, 4), trainable=[0])
    opt = torch.optim.AdamW(emb.parameters(), weight_decay=0.01)
    step = make_step(emb, opt, 20, 4)
    schedule = unfreeze_at(emb, opt, epoch=2, ids=[5, 6])
    fired = []
    for epoch in range(4):
        fired += schedule.update(epoch)
        step()
    assert fired == [2]
    assert emb.trainable_ids.tolist() == [0, 5, 6]
    assert opt.state[emb.rows]["exp_avg"].shape == (3, 4)


def test_schedule_warns_with_bytes_when_a_large_table_becomes_trainable(monkeypatch):
    emb = PartialEmbedding.from_pretrained(torch.randn(100, 8), trainable=[0])
    monkeypatch.setattr(emb, "large_table_bytes", 1000)
    opt = torch.optim.Adam(emb.parameters())
    schedule = FreezeSchedule(emb, opt, {3: None})
    assert schedule.update(2) == []
    with pytest.warns(UserWarning, match=r"all 100 rows .* take 3,200 bytes .* adds 6,400 bytes"):
        schedule.update(3)
    assert emb.rows.shape == (100, 8)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({}, "exactly one of epoch= or step="), ({"epoch": 1, "step": 1}, "exactly one")],
    ids=["neither", "both"],
)
def test_unfreeze_at_needs_one_trigger(kwargs, match):
    emb = PartialEmbedding.from_pretrained(torch.randn(5, 2), trainable=[0])
    with pytest.raises(VocabgraftError, match=match):
        unfreeze_at(emb, torch.optim.SGD(emb.parameters(), lr=0.1), **kwargs)


@pytest.mark.parametrize(
    "change", ["unfreeze", "freeze", "extend"], ids=["unfreeze", "freeze", "extend"]
)
def test_layout_change_while_an_old_graph_is_alive(change: str) -> None:
    # A training loop keeps last step's `loss` (and so its graph) while a schedule
    # changes what trains; the next backward must see the new shape.
    emb = PartialEmbedding.from_pretrained(torch.randn(10, 4), trainable=[1, 2, 5])
    opt = torch.optim.Adam(emb.parameters(), lr=0.1)
    ids = torch.tensor([1, 2, 3, 5])
    loss = emb(ids).pow(2).sum()
    loss.backward()
    opt.step()
    rows = emb.rows
    if change == "unfreeze":
        emb.unfreeze(optimizer=opt)
    elif change == "freeze":
        emb.freeze([2], optimizer=opt)
    else:
        emb.extend(2, optimizer=opt)
    assert emb.rows is rows  # the optimizer's reference still holds
    before = emb.merged_weight().clone()
    opt.zero_grad()
    loss = emb(torch.tensor([1, 3, 5, 9])).pow(2).sum()
    loss.backward()
    assert emb.rows.grad is not None
    assert emb.rows.grad.shape == emb.rows.shape
    opt.step()
    moved = set((emb.merged_weight() != before).any(dim=1).nonzero().ravel().tolist())
    trainable = set(emb.trainable_ids.tolist())
    assert {1, 3, 5, 9} & trainable <= moved  # rows with a gradient moved
    assert moved <= trainable  # frozen rows did not (momentum may move other trainable rows)
