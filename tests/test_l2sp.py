"""L2-SP in torch (penalty and decoupled decay) and in Keras (the rows' regularizer).

Under AdamW, SGD with momentum and Adam: frozen rows stay bit-exact, a strong
pull keeps the trained rows near their pretrained values, and strength 0 is
plain training, bit for bit. The Keras cases run in a child process with
``KERAS_BACKEND=torch`` (Keras picks its backend once per process).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from vocabgraft.errors import ArgumentError, ArgumentTypeError, StateError  # noqa: E402
from vocabgraft.torch import PartialEmbedding  # noqa: E402
from vocabgraft.torch.l2sp import L2SP, l2sp_decay, l2sp_penalty  # noqa: E402

V, D, TRAINABLE = 40, 6, [2, 5, 11, 17, 30]
OPTIMIZERS: dict[str, Callable[[Any], Any]] = {
    "adamw": lambda p: torch.optim.AdamW(p, lr=0.05, weight_decay=0.1),
    "sgd_momentum": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9),
    "adam": lambda p: torch.optim.Adam(p, lr=0.05),
}


def _train(optimizer: str, form: str, strength: float, steps: int = 40) -> tuple[Any, Any]:
    """Train an embedding + linear head to random targets; return (module, pretrained table)."""
    torch.manual_seed(0)
    table = torch.randn(V, D)
    emb = PartialEmbedding.from_pretrained(table.clone(), trainable=TRAINABLE)
    head = torch.nn.Linear(D, 1)
    opt = OPTIMIZERS[optimizer]([*emb.parameters(), *head.parameters()])
    if form == "decay":
        l2sp_decay(emb, opt, strength)
    g = torch.Generator().manual_seed(1)
    for _ in range(steps):
        ids = torch.randint(0, V, (16, 4), generator=g)
        target = torch.randn(16, 1, generator=g) * 3
        loss = torch.nn.functional.mse_loss(head(emb(ids).mean(1)), target)
        if form == "penalty":
            loss = loss + l2sp_penalty(emb, strength)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return emb, table


def _distance(emb: Any, table: Any) -> float:
    return float((emb.rows.detach() - table[TRAINABLE]).norm())


@pytest.mark.parametrize("form", ["penalty", "decay"])
@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
def test_torch_l2sp_pulls_trained_rows_and_never_frozen_ones(optimizer: str, form: str) -> None:
    plain, table = _train(optimizer, "none", 0.0)
    zero, _ = _train(optimizer, form, 0.0)
    strong, _ = _train(optimizer, form, 5.0)
    frozen = np.setdiff1d(np.arange(V), TRAINABLE)
    for emb in (plain, zero, strong):
        merged = emb.merged_weight()
        assert torch.equal(merged[frozen], table[frozen])  # bit-exact
    assert torch.equal(zero.rows, plain.rows)  # strength 0 is plain training
    moved_plain, moved_strong = _distance(plain, table), _distance(strong, table)
    assert moved_plain > 0.5
    assert moved_strong < 0.3 * moved_plain


def test_the_penalty_and_its_gradient_by_hand() -> None:
    table = torch.randn(10, 3)
    emb = PartialEmbedding.from_pretrained(table, trainable=[1, 4])
    with torch.no_grad():
        emb.rows += torch.tensor([[1.0, 0, 0], [0, 2.0, 0]])
    penalty = l2sp_penalty(emb, 0.5)
    assert float(penalty.detach()) == pytest.approx(0.5 / 2 * (1 + 4))
    penalty.backward()
    expected = 0.5 * (emb.rows.detach() - table[[1, 4]])
    torch.testing.assert_close(emb.rows.grad, expected)


def test_the_decay_step_is_lr_times_strength_toward_the_reference() -> None:
    table = torch.randn(10, 3)
    emb = PartialEmbedding.from_pretrained(table, trainable=[1, 4])
    with torch.no_grad():
        emb.rows += 1.0
    opt = torch.optim.SGD(emb.parameters(), lr=0.1)
    l2sp_decay(emb, opt, 2.0)
    emb.rows.grad = torch.zeros_like(emb.rows)
    opt.step()
    torch.testing.assert_close(emb.rows.detach(), table[[1, 4]] + 1.0 - 0.1 * 2.0 * 1.0)


def test_the_reference_follows_freeze_unfreeze_and_extend() -> None:
    table = torch.randn(10, 3)
    emb = PartialEmbedding.from_pretrained(table, trainable=[1, 4])
    reg = L2SP(emb, 1.0)
    torch.testing.assert_close(reg.reference, table[[1, 4]])
    opt = torch.optim.Adam(emb.parameters(), lr=0.1)
    emb.extend(1, init=torch.full((1, 3), 3.0), optimizer=opt)  # id 10
    assert reg.reference.shape == (3, 3)  # read at the next step, before it trains
    with torch.no_grad():
        emb.rows += 1.0  # training moves every row, the appended one too
    emb.unfreeze([7], optimizer=opt)
    assert emb.trainable_ids.tolist() == [1, 4, 7, 10]
    want = torch.cat([table[[1, 4, 7]], torch.full((1, 3), 3.0)])  # appended: its first value
    torch.testing.assert_close(reg.reference, want)
    emb.freeze([4], optimizer=opt)
    torch.testing.assert_close(reg.reference, want[[0, 2, 3]])


def test_torch_l2sp_refusals() -> None:
    emb = PartialEmbedding.from_pretrained(torch.randn(5, 2), trainable=[1])
    with pytest.raises(ArgumentError, match="strength must be a number >= 0"):
        l2sp_penalty(emb, -1.0)
    with pytest.raises(ArgumentTypeError, match=r"takes a vocabgraft\.torch\.PartialEmbedding"):
        L2SP(torch.nn.Embedding(5, 2), 1.0)  # type: ignore[arg-type]
    other = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    l2sp_decay(emb, other, 1.0)
    with pytest.raises(StateError, match="holds no parameter group with the module's rows"):
        other.step()


KERAS_CASES = """
import inspect, sys
import numpy as np, keras
from vocabgraft.keras import PartialEmbedding
from vocabgraft.keras.l2sp import L2SP

if "embeddings_regularizer" not in inspect.signature(PartialEmbedding.__init__).parameters:
    print("the layer takes no embeddings_regularizer")
    sys.exit(0)

V, D, TRAINABLE = 40, 6, [2, 5, 11, 17, 30]
rng = np.random.default_rng(0)
table = rng.normal(size=(V, D)).astype("float32")
ids = rng.integers(0, V, (256, 4))
y = (rng.normal(size=(256, 1)) * 3).astype("float32")
OPT = {
    "adamw": lambda: keras.optimizers.AdamW(learning_rate=0.05, weight_decay=0.1),
    "sgd_momentum": lambda: keras.optimizers.SGD(learning_rate=0.1, momentum=0.9),
    "adam": lambda: keras.optimizers.Adam(learning_rate=0.05),
}

def train(name, strength):
    keras.utils.set_random_seed(0)
    reg = None if strength is None else L2SP(strength)
    emb = PartialEmbedding.from_pretrained(table, trainable=TRAINABLE, embeddings_regularizer=reg)
    inputs = keras.Input((4,), dtype="int32")
    out = keras.layers.Dense(1)(keras.layers.GlobalAveragePooling1D()(emb(inputs)))
    model = keras.Model(inputs, out)
    model.compile(optimizer=OPT[name](), loss="mse")
    model.fit(ids, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    return emb

frozen = np.setdiff1d(np.arange(V), TRAINABLE)
for name in OPT:
    plain, zero, strong = train(name, None), train(name, 0.0), train(name, 5.0)
    for emb in (plain, zero, strong):
        assert np.array_equal(emb.merged_weight()[frozen], table[frozen]), name
    assert np.array_equal(np.asarray(zero.rows), np.asarray(plain.rows)), name
    d_plain = np.linalg.norm(np.asarray(plain.rows) - table[TRAINABLE])
    d_strong = np.linalg.norm(np.asarray(strong.rows) - table[TRAINABLE])
    assert d_plain > 0.5 and d_strong < 0.3 * d_plain, (name, d_plain, d_strong)
    print(name, round(float(d_plain), 4), round(float(d_strong), 4))

# the reference follows the layout: unfreeze, extend (first value kept), freeze
reg = L2SP(1.0)
emb = PartialEmbedding.from_pretrained(table, trainable=[1, 4], embeddings_regularizer=reg)
emb.build()
emb.extend(1, init=np.full((1, D), 3.0, "float32"))
emb.rows.assign(np.asarray(emb.rows) + 1.0)
emb.unfreeze([7])
want = np.concatenate([table[[1, 4, 7]], np.full((1, D), 3.0, "float32")])
assert np.allclose(np.asarray(reg._reference), want)
value = float(reg(emb.rows))
assert np.isclose(value, 0.5 * ((np.asarray(emb.rows) - want) ** 2).sum(), rtol=1e-5)
print("layout ok")
"""


@pytest.mark.slow
def test_keras_l2sp_on_the_torch_backend() -> None:
    if importlib.util.find_spec("keras") is None:
        pytest.skip("keras is not installed")
    env = {**os.environ, "KERAS_BACKEND": "torch"}
    run = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(KERAS_CASES)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    if "the layer takes no embeddings_regularizer" in run.stdout:
        pytest.skip("this PartialEmbedding takes no embeddings_regularizer to bind")
    assert "layout ok" in run.stdout
    assert all(name in run.stdout for name in ("adamw", "sgd_momentum", "adam"))
