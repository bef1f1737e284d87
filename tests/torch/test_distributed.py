"""Two CPU processes (gloo): DDP keeps trainable rows in sync and reduces only their gradient; FSDP2."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from torch import nn

from vocabgraft import EmbeddingTable
from vocabgraft.errors import VocabgraftError
from vocabgraft.torch import PartialEmbedding, ddp_ignore_frozen

pytestmark = [pytest.mark.torch, pytest.mark.slow]

ROWS, DIM, STEPS = 5000, 16, 6
TRAINABLE = list(range(0, ROWS, 500))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Model(nn.Module):
    def __init__(self, embedding: nn.Module) -> None:
        super().__init__()
        self.embed = embedding
        self.head = nn.Linear(DIM, 1)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(ids).mean(1))


def train_ddp(model: nn.Module, rank: int) -> int:
    """Train a few steps under DDP; return the gradient bytes all-reduced per step."""
    from torch.nn.parallel import DistributedDataParallel

    counted = {"bytes": 0}

    def counting_hook(state, bucket):  # unannotated: DDP checks annotations at run time
        buffer = bucket.buffer()
        state["bytes"] += buffer.numel() * buffer.element_size()
        buffer.div_(dist.get_world_size())
        return dist.all_reduce(buffer, async_op=True).get_future().then(lambda f: f.value()[0])

    ddp = DistributedDataParallel(model)
    ddp.register_comm_hook(counted, counting_hook)
    opt = torch.optim.AdamW(ddp.parameters(), lr=0.05, weight_decay=0.01)
    gen = torch.Generator().manual_seed(rank)  # each rank sees different data
    for _ in range(STEPS):
        ids = torch.randint(0, ROWS, (8, 10), generator=gen)
        ids[:, 0] = torch.tensor(TRAINABLE)[torch.randint(0, len(TRAINABLE), (8,), generator=gen)]
        loss = F.mse_loss(ddp(ids), torch.randn(8, 1, generator=gen))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return counted["bytes"] // STEPS


def ddp_worker(rank: int, port: int, folder: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    try:
        torch.manual_seed(0)  # the same head on both ranks (DDP broadcasts it anyway)
        table = EmbeddingTable.load(Path(folder) / "cache")  # each rank maps the same file
        emb = PartialEmbedding.from_table(table, trainable=TRAINABLE)
        model = Model(emb)
        ignored = ddp_ignore_frozen(model)
        partial_bytes = train_ddp(model, rank)
        rows = [torch.empty_like(emb.rows) for _ in range(2)]
        dist.all_gather(rows, emb.rows.detach())
        merged = emb.merged_weight()
        frozen = [i for i in range(ROWS) if i not in TRAINABLE]
        base = torch.from_numpy(table.vectors.copy())
        dense_model = Model(nn.Embedding.from_pretrained(base.clone(), freeze=False))
        dense_bytes = train_ddp(dense_model, rank)
        result = {
            "ignored": ignored,
            "rows_equal_across_ranks": bool(torch.equal(rows[0], rows[1])),
            "frozen_untouched": bool(torch.equal(merged[frozen], base[frozen])),
            "trained_moved": bool((merged[TRAINABLE] != base[TRAINABLE]).any(dim=1).all()),
            "partial_bytes": partial_bytes,
            "dense_bytes": dense_bytes,
        }
        (Path(folder) / f"rank{rank}.json").write_text(json.dumps(result))
    finally:
        dist.destroy_process_group()


def fsdp_worker(rank: int, port: int, folder: str) -> None:
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    try:
        torch.manual_seed(0)
        weights = torch.randn(ROWS, DIM, generator=torch.Generator().manual_seed(0))
        emb = PartialEmbedding.from_pretrained(weights, trainable=TRAINABLE)
        model = Model(emb)
        fully_shard(model, mesh=init_device_mesh("cpu", (2,)))
        opt = torch.optim.AdamW(model.parameters(), lr=0.05, weight_decay=0.01)
        gen = torch.Generator().manual_seed(rank)
        for _ in range(3):
            ids = torch.randint(0, ROWS, (8, 10), generator=gen)
            ids[:, 0] = TRAINABLE[rank]
            loss = F.mse_loss(model(ids), torch.randn(8, 1, generator=gen))
            opt.zero_grad()
            loss.backward()
            opt.step()
        full = emb.rows.full_tensor()  # type: ignore[attr-defined]
        frozen = [i for i in range(ROWS) if i not in TRAINABLE]
        try:
            emb.unfreeze([1])
            refused = ""
        except VocabgraftError as exc:
            refused = str(exc)
        result = {
            "frozen_untouched": bool(torch.equal(emb.base[frozen], weights[frozen])),
            "trained_moved": bool((full != weights[TRAINABLE]).any()),
            "refused": refused,
        }
        (Path(folder) / f"fsdp{rank}.json").write_text(json.dumps(result))
    finally:
        dist.destroy_process_group()


def test_ddp_two_processes_sync_trainable_rows_and_reduce_only_them(tmp_path: Path):
    vectors = torch.randn(ROWS, DIM, generator=torch.Generator().manual_seed(0)).numpy()
    EmbeddingTable(vectors, [f"t{i}" for i in range(ROWS)]).save(tmp_path / "cache")
    mp.spawn(ddp_worker, args=(free_port(), str(tmp_path)), nprocs=2, join=True)
    results = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    for r in results:
        assert r["rows_equal_across_ranks"]
        assert r["frozen_untouched"]
        assert r["trained_moved"]
        assert set(r["ignored"]) >= {"embed.base", "embed.slots"}
    k_bytes = (len(TRAINABLE) * DIM + DIM + 1) * 4  # trainable rows + head
    assert results[0]["partial_bytes"] == k_bytes
    assert results[0]["dense_bytes"] == (ROWS * DIM + DIM + 1) * 4
    assert results[0]["dense_bytes"] / results[0]["partial_bytes"] > 400


def test_fsdp2_trains_a_fixed_layout_and_refuses_layout_changes(tmp_path: Path):
    mp.spawn(fsdp_worker, args=(free_port(), str(tmp_path)), nprocs=2, join=True)
    for r in range(2):
        result = json.loads((tmp_path / f"fsdp{r}.json").read_text())
        assert result["frozen_untouched"]
        assert result["trained_moved"]
        assert "sharded" in result["refused"]
