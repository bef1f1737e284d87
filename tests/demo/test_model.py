"""The demo's classifier and how its cost is measured."""

from __future__ import annotations

import doctest
import importlib

import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

from vocabgraft.demo.model import (  # noqa: E402
    ReviewClassifier,
    optimizer_state_bytes,
    trainable_parameters,
)
from vocabgraft.torch import PartialEmbedding  # noqa: E402


def _model(embedding: nn.Module | None = None) -> ReviewClassifier:
    torch.manual_seed(0)
    emb = embedding if embedding is not None else nn.Embedding(12, 4, padding_idx=0)
    return ReviewClassifier(emb, dim=4, hidden=8, pad_id=0)


def test_logits_and_features_have_the_documented_shapes() -> None:
    model = _model()
    ids = torch.tensor([[3, 4, 0, 0], [5, 6, 7, 0]])
    assert model.features(ids).shape == (2, 8)
    assert model(ids).shape == (2, 2)


def test_padding_does_not_change_a_review_s_features() -> None:
    model = _model()
    short = model.features(torch.tensor([[3, 4]]))
    padded = model.features(torch.tensor([[3, 4, 0, 0, 0]]))
    assert torch.equal(short, padded)


def test_an_all_padding_review_gives_zero_features_not_nan() -> None:
    feats = _model().features(torch.tensor([[0, 0]]))
    assert torch.equal(feats, torch.zeros(1, 8))


def test_items_add_to_the_features() -> None:
    model = _model()
    model.eval()
    ids = torch.tensor([[3, 4]])
    model.items = nn.Embedding(3, 8)
    with torch.no_grad():
        model.items.weight.zero_()
        assert torch.equal(model(ids, torch.tensor([1])), model(ids))
        model.items.weight.fill_(1.0)
        assert not torch.equal(model(ids, torch.tensor([1])), model(ids))


def test_adam_state_is_measured_from_its_tensors() -> None:
    emb = PartialEmbedding.from_pretrained(torch.randn(12, 4), trainable=[2, 5, 7], padding_idx=0)
    model = _model(emb)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=0.1)
    assert optimizer_state_bytes(opt) == 0
    loss = nn.functional.cross_entropy(model(torch.tensor([[2, 3, 5]])), torch.tensor([1]))
    loss.backward()
    opt.step()
    n = trainable_parameters(model)
    head = sum(p.numel() for p in model.head.parameters())
    assert n == 3 * 4 + head
    params = [p for p in model.parameters() if p.requires_grad]
    # exp_avg and exp_avg_sq per element (float32), plus one float32 step per parameter.
    assert optimizer_state_bytes(opt) == 2 * 4 * n + 4 * len(params)
    assert optimizer_state_bytes(opt, emb.parameters()) == 2 * 4 * 12 + 4


@pytest.mark.parametrize("name", ["model", "drift", "_tables"])
def test_docstring_examples_run(name: str) -> None:
    module = importlib.import_module(f"vocabgraft.demo.{name}")
    result = doctest.testmod(module)
    assert result.attempted > 0
    assert result.failed == 0
