"""New travel agents at prediction time: their embedding rows from what their bookings say.

Hotel bookings (:func:`vocabgraft.datasets.hotel_rates`, 15,402 rows): predict
a booking's average daily price from its attributes, with an embedding row
for each of the high-cardinality categoricals ``agent`` (125 values),
``company`` (167) and ``country`` (98). For each seed:

1. 20% of the agents with at least 20 bookings are new: all their bookings
   leave the training data, as if the agents signed up after training.
2. Train the model on the rest: the numeric attributes (standardised) and the
   small categoricals (one-hot), concatenated with the three 8-d embedding
   rows, then Linear(64) -> ReLU -> Linear(1), on the log price (Adam, 15
   epochs). 10% of the old agents' bookings are kept aside (warm RMSE).
3. Graft ``PartialEmbedding`` onto the agent table, one row per new agent,
   started four ways: ``Zeros``, the ``Mean`` of the old agents' rows, their
   mean weighted by each agent's training bookings, and ``FromFeatures``: a
   ridge regression from an agent's booking profile (the mean of its
   bookings' numeric attributes, its shares of market segments, channels,
   customer types and meals, and the countries it books for) to the old
   agents' rows, each weighted by its training bookings c as c / (c + 20):
   one agent has a third of all bookings, and raw counts would let it alone
   decide the fit. A new agent's profile is computed from its bookings'
   attributes, never their prices.
4. Score the RMSE of the price (clipped at 0) on the new agents' bookings.

    .venv/bin/python examples/hotel_rates_new_agents.py           # 3 seeds
    .venv/bin/python examples/hotel_rates_new_agents.py --seeds 1

Progress goes to stderr; the results table, then one JSON line, to stdout.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from vocabgraft import Vocab
from vocabgraft.datasets import hotel_rates
from vocabgraft.init import Initializer, Mean, Zeros
from vocabgraft.init.features import FromFeatures
from vocabgraft.init.featurize import ItemFeatures, Numeric, Tags
from vocabgraft.torch import graft

NUMERIC = [
    "lead_time", "stays_in_weekend_nights", "stays_in_week_nights", "adults", "children",
    "babies", "is_repeated_guest", "previous_cancellations", "previous_bookings_not_canceled",
    "booking_changes", "days_in_waiting_list", "required_car_parking_spaces",
    "total_of_special_requests", "arrival_date_num", "near_christmas", "near_new_years",
    "historical_adr",
]  # fmt: skip
SMALL = ["meal", "market_segment", "distribution_channel", "reserved_room_type", "customer_type"]
BIG = ["agent", "company", "country"]
EPOCHS, BATCH, LR, DIM = 15, 256, 3e-3, 8


def log(*args: object) -> None:
    print(*args, file=sys.stderr, flush=True)


class PriceModel(nn.Module):
    """Attributes + one embedding row per big categorical -> MLP -> log price."""

    def __init__(self, width: int, sizes: dict[str, int]) -> None:
        super().__init__()
        self.agent = nn.Embedding(sizes["agent"], DIM)
        self.company = nn.Embedding(sizes["company"], DIM)
        self.country = nn.Embedding(sizes["country"], DIM)
        self.head = nn.Sequential(nn.Linear(width + 3 * DIM, 64), nn.ReLU(), nn.Linear(64, 1))

    def forward(self, x: Tensor, ids: Tensor) -> Tensor:
        rows = [self.agent(ids[:, 0]), self.company(ids[:, 1]), self.country(ids[:, 2])]
        return self.head(torch.cat([x, *rows], dim=1))[:, 0]


def encode(frame: Any, agents: list[str]) -> tuple[Tensor, dict[str, list[str]], Tensor]:
    """The attribute matrix, each big categorical's values, and their ids (agents in ``agents`` order)."""
    num = frame[NUMERIC].to_numpy(dtype=np.float64)
    num = (num - num.mean(0)) / np.where(num.std(0) > 0, num.std(0), 1.0)
    onehot = [(frame[c].to_numpy()[:, None] == np.unique(frame[c])).astype(float) for c in SMALL]
    x = torch.tensor(np.concatenate([num, *onehot], axis=1), dtype=torch.float32)
    values = {"agent": agents}
    for c in BIG[1:]:
        values[c] = sorted(set(frame[c]))
    index = {c: {v: i for i, v in enumerate(vs)} for c, vs in values.items()}
    ids = torch.tensor(np.stack([[index[c][v] for v in frame[c]] for c in BIG], axis=1))
    return x, values, ids


def agent_profiles(frame: Any) -> ItemFeatures:
    """Each agent's booking profile, from its bookings' attributes (never their prices)."""
    grouped = frame.groupby("agent")
    columns: dict[str, Any] = {f"mean {c}": grouped[c].mean() for c in NUMERIC}
    for c in SMALL:
        share = grouped[c].value_counts(normalize=True).unstack(fill_value=0.0)
        columns.update({f"{c}={v}": share[v] for v in share.columns})
    agents = columns[f"mean {NUMERIC[0]}"].index.tolist()
    columns = {k: v.reindex(agents).to_numpy() for k, v in columns.items()}
    columns["countries"] = [sorted(set(g)) for _, g in grouped["country"]]
    return ItemFeatures(agents, columns, source="hotel_rates agent profiles")


def _profile_specs(profiles: ItemFeatures) -> list[Numeric | Tags]:
    numbers: list[Numeric | Tags] = [Numeric(c) for c in profiles.columns if c != "countries"]
    return [*numbers, Tags("countries")]


def train(model: PriceModel, x: Tensor, ids: Tensor, y: Tensor, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    for _ in range(EPOCHS):
        order = torch.randperm(len(y), generator=gen)
        for lo in range(0, len(y), BATCH):
            b = order[lo : lo + BATCH]
            loss = nn.functional.mse_loss(model(x[b], ids[b]), y[b])
            opt.zero_grad()
            loss.backward()
            opt.step()


def rmse(model: nn.Module, x: Tensor, ids: Tensor, price: Tensor) -> float:
    with torch.no_grad():
        pred = model(x, ids).exp().clamp(min=0)
    return float((pred - price).pow(2).mean().sqrt())


def run_seed(frame: Any, profiles: ItemFeatures, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    counts = frame["agent"].value_counts()
    eligible = sorted(counts[counts >= 20].index)
    new = sorted(rng.choice(eligible, size=round(0.2 * len(eligible)), replace=False).tolist())
    old = sorted(set(frame["agent"]) - set(new))
    x, values, ids = encode(frame, old + new)
    price = torch.tensor(frame["avg_price_per_room"].to_numpy(), dtype=torch.float32)
    is_new = torch.tensor(frame["agent"].isin(new).to_numpy())
    old_rows = rng.permutation(np.flatnonzero(~is_new.numpy()))
    warm, fit = old_rows[: len(old_rows) // 10], old_rows[len(old_rows) // 10 :]
    torch.manual_seed(seed)
    sizes = {
        "agent": len(old),
        "company": len(values["company"]),
        "country": len(values["country"]),
    }
    base = PriceModel(x.shape[1], sizes)
    start = time.perf_counter()
    train(base, x[fit], ids[fit], price[fit].log(), seed)
    train_s = time.perf_counter() - start
    trained = np.bincount(ids[fit, 0].numpy(), minlength=len(old))
    inits: dict[str, Initializer] = {
        "Zeros": Zeros(),
        "Mean": Mean(),
        "Mean by bookings": Mean(weights=trained),
        "Features": FromFeatures(
            profiles, _profile_specs(profiles), weights=trained / (trained + 20)
        ),
    }
    scores = {}
    test = torch.from_numpy(np.flatnonzero(is_new.numpy()))
    for name, init in inits.items():
        grown = copy.deepcopy(base)
        graft(grown, "agent", trainable=[], vocab=Vocab(old), add=new, init=init, seed=seed)
        scores[name] = rmse(grown, x[test], ids[test], price[test])
    fit_info = inits["Features"].last_fit  # type: ignore[attr-defined]
    return {
        "seed": seed,
        "new_agents": len(new),
        "new_agent_bookings": len(test),
        "warm_rmse": rmse(base, x[warm], ids[warm], price[warm]),
        "train_s": train_s,
        "rmse": scores,
        "features_summary": fit_info.summary(),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args(argv)
    frame = hotel_rates()
    frame[BIG] = frame[BIG].fillna("unknown")  # a few bookings name no country
    profiles = agent_profiles(frame)
    start = time.perf_counter()
    per_seed = []
    for seed in range(args.seeds):
        per_seed.append(run_seed(frame, profiles, seed))
        s = per_seed[-1]
        log(f"seed {seed}: {s['new_agents']} new agents, warm RMSE {s['warm_rmse']:.2f}; "
            f"features: {s['features_summary']}")  # fmt: skip
    print(
        f"Hotel rates, RMSE of the daily price on the new agents' bookings over {args.seeds} "
        f"seeds (mean ± std); {per_seed[0]['new_agents']} new agents, "
        f"{per_seed[0]['new_agent_bookings']:,} bookings for seed 0.\n"
    )
    print("| new agents' rows start from | RMSE |\n|---|---:|")
    summary = {}
    for name in per_seed[0]["rmse"]:
        v = np.array([s["rmse"][name] for s in per_seed])
        summary[name] = [float(v.mean()), float(v.std())]
        print(f"| {name} | {v.mean():.2f} ± {v.std():.2f} |")
    warm = np.array([s["warm_rmse"] for s in per_seed])
    print(f"\nwarm RMSE (old agents, held-out bookings): {warm.mean():.2f} ± {warm.std():.2f}; "
          f"total {time.perf_counter() - start:.0f} s")  # fmt: skip
    print(
        json.dumps(
            {"experiment": "hotel_rates_new_agents", "summary": summary, "per_seed": per_seed}
        )
    )
    return 0


if __name__ == "__main__":
    torch.set_num_threads(1)
    sys.exit(main())
