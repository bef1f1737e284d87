"""torch.compile and torch.export: the fixed-shape lookup path gives the same values and gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vocabgraft.torch import PartialEmbedding, PartialEmbeddingBag

pytestmark = [
    pytest.mark.torch,
    pytest.mark.slow,
    # torch.compile itself uses the deprecated torch.jit.script_method; nothing to act on here.
    pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning"),
]


def small() -> PartialEmbedding:
    emb = PartialEmbedding.from_pretrained(
        torch.randn(20, 4, generator=torch.Generator().manual_seed(0)), trainable=[1, 5, 9]
    )
    emb.extend(2, init=np.ones((2, 4)))
    emb.freeze([5])
    return emb


def test_compile_matches_eager_values_and_gradients():
    emb = small()
    ids = torch.tensor([[1, 5, 9, 20], [21, 0, 1, 3]])
    eager = emb(ids)
    (eager * 2).sum().backward()
    assert emb.rows.grad is not None
    grad = emb.rows.grad.clone()
    emb.rows.grad = None
    compiled = torch.compile(emb, fullgraph=True)
    out = compiled(ids)
    assert torch.equal(out, eager)
    (out * 2).sum().backward()
    assert torch.equal(emb.rows.grad, grad)


def test_export_gives_the_same_lookup():
    emb = small().eval()
    ids = torch.tensor([[1, 5, 9, 20], [21, 0, 1, 3]])
    program = torch.export.export(emb, (ids,))
    assert torch.equal(program.module()(ids), emb(ids))


def test_export_of_a_bag():
    bag = PartialEmbeddingBag.from_pretrained(torch.randn(10, 3), trainable=[4], mode="sum").eval()
    ids = torch.tensor([[4, 1], [2, 4]])
    program = torch.export.export(bag, (ids,))
    assert torch.equal(program.module()(ids), bag(ids))
