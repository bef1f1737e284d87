"""Any sequence of layout changes: the eager kernel, the fixed-shape kernel and the merged table agree."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from vocabgraft.rows.layout import BASE
from vocabgraft.torch import PartialEmbedding
from vocabgraft.torch.kernel import lookup, lookup_dense

pytestmark = pytest.mark.torch

ROWS = 12
change = st.one_of(
    st.tuples(st.just("freeze"), st.sets(st.integers(0, ROWS - 1), min_size=1, max_size=5)),
    st.tuples(st.just("unfreeze"), st.sets(st.integers(0, ROWS - 1), min_size=1, max_size=5)),
    st.tuples(st.just("extend"), st.integers(1, 3), st.booleans()),
    st.tuples(st.just("train"), st.floats(-1, 1, allow_nan=False)),
)


def _apply(emb: PartialEmbedding, op: tuple) -> None:
    kind = op[0]
    if kind == "freeze":
        emb.freeze(sorted(op[1]))
    elif kind == "unfreeze":
        emb.unfreeze(sorted(op[1]))  # ids below ROWS: always in the table
    elif kind == "extend":
        n = op[1]
        emb.extend(n, init=torch.full((n, emb.embedding_dim), 7.0), trainable=op[2])
    else:
        with torch.no_grad():  # stands for a training step: the trainable rows move
            emb.rows.add_(op[1])


@settings(max_examples=60, deadline=None)
@given(
    trainable=st.sets(st.integers(0, ROWS - 1), min_size=1, max_size=6),
    ops=st.lists(change, max_size=6),
    data=st.data(),
)
def test_lookups_agree_with_the_merged_table_after_any_changes(trainable, ops, data):
    emb = PartialEmbedding.from_pretrained(
        torch.randn(ROWS, 3, generator=torch.Generator().manual_seed(0)),
        trainable=sorted(trainable),
    )
    for op in ops:
        _apply(emb, op)
    assert torch.equal(emb.hot, emb.slots != BASE)
    n = emb.num_embeddings
    ids = torch.tensor(data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=20)))
    want = emb.merged_weight()[ids]
    args = (ids.view(1, -1), emb.base, emb.rows, emb.patch, emb.slots)
    assert torch.equal(emb(ids), want)
    assert torch.equal(lookup(*args).view(-1, 3), want)  # without the bool table
    assert torch.equal(lookup_dense(*args).view(-1, 3), want)
