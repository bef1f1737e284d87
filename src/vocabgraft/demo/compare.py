"""Step 2: four ways to treat the embedding, each trained with several seeds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from vocabgraft.demo._console import bar, note, say
from vocabgraft.demo._tables import text_table
from vocabgraft.demo.config import DemoConfig
from vocabgraft.demo.model import (
    CLASSIFIER,
    ReviewClassifier,
    optimizer_state_bytes,
    trainable_parameters,
)
from vocabgraft.demo.train import History, fit
from vocabgraft.demo.transfer import Transfer
from vocabgraft.torch import PartialEmbedding, unfreeze_at

__all__ = [
    "HOW",
    "LABELS",
    "SHORT",
    "SUMMARY_HEADERS",
    "VARIANTS",
    "Run",
    "majority_baseline",
    "majority_line",
    "run_compare",
    "summary_rows",
]

LABELS = ("other", "great")  # label 1 is "great" (demo.data)

VARIANTS = {
    "frozen": "(i) all frozen",
    "partial": "(ii) pretrained frozen, unmatched + specials train",
    "full": "(iii) all trainable",
    "schedule": "(iv) frozen first epochs, then all trainable",
}
SHORT = {"frozen": "(i)", "partial": "(ii)", "full": "(iii)", "schedule": "(iv)"}
HOW = {
    "frozen": "nn.Embedding.from_pretrained(freeze=True)",
    "partial": "PartialEmbedding(trainable=unmatched + <unk>, padding_idx=0)",
    "full": "nn.Embedding.from_pretrained(freeze=False)",
    "schedule": "PartialEmbedding as (ii), then unfreeze_at(emb, opt, epoch=E) unfreezes every row",
}


@dataclass
class Run:
    """One trained model of step 2 and what it cost."""

    variant: str
    seed: int
    model: ReviewClassifier
    history: History
    trainable: list[int]  # trainable parameters at the start of each epoch, then at the end
    state_bytes: list[int]  # optimizer state after each epoch (all parameters)
    embedding_state_bytes: list[int]  # ... of the embedding's parameters only
    weights: np.ndarray  # the embedding's rows after training

    @property
    def best_epoch(self) -> int:
        """The epoch (0-based) of the best validation accuracy; the first one on ties."""
        return int(np.argmax(self.history.accuracy["val"]))

    def to_dict(self) -> dict[str, Any]:
        """The run's numbers as plain Python, for results.json."""
        test = self.history.accuracy["test"]
        return {
            "seed": self.seed,
            "accuracy": test[-1],
            "accuracy_at_best_val": test[self.best_epoch],
            "best_val_epoch": self.best_epoch + 1,
            "accuracy_per_epoch": test,
            "val_accuracy_per_epoch": self.history.accuracy["val"],
            "loss_per_epoch": self.history.loss,
            "seconds_per_epoch": self.history.seconds_per_epoch,
            "epoch_seconds": self.history.seconds,
            "trainable_parameters": self.trainable,
            "optimizer_state_bytes": self.state_bytes,
            "embedding_optimizer_state_bytes": self.embedding_state_bytes,
        }


def _embedding(variant: str, transfer: Transfer) -> nn.Module:
    pad = transfer.pad_id
    if variant in ("frozen", "full"):
        weights = torch.from_numpy(transfer.weights.copy())
        return nn.Embedding.from_pretrained(weights, freeze=variant == "frozen", padding_idx=pad)
    return PartialEmbedding.from_pretrained(
        transfer.weights,  # the base buffer: shared by every model, never written
        transfer.partial_trainable,
        padding_idx=pad,
        vocab=transfer.vocab.copy(),
    )


def _final_weights(embedding: nn.Module) -> np.ndarray:
    if isinstance(embedding, PartialEmbedding):
        return embedding.merged_weight().detach().numpy().copy()
    assert isinstance(embedding, nn.Embedding)
    return embedding.weight.detach().numpy().copy()


def train_variant(
    variant: str, seed: int, transfer: Transfer, cfg: DemoConfig, progress: Any = None
) -> Run:
    """Train one variant with one seed; score on all held-out reviews after each epoch."""
    torch.manual_seed(seed)
    embedding = _embedding(variant, transfer)
    model = ReviewClassifier(
        embedding, dim=transfer.weights.shape[1], hidden=cfg.hidden, pad_id=transfer.pad_id
    )
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=cfg.lr)
    schedule = None
    if variant == "schedule":
        assert isinstance(embedding, PartialEmbedding)
        schedule = unfreeze_at(embedding, optimizer, epoch=cfg.unfreeze_epoch)
    trainable: list[int] = []
    state: list[int] = []
    emb_state: list[int] = []

    def measure() -> None:
        state.append(optimizer_state_bytes(optimizer))
        emb_state.append(optimizer_state_bytes(optimizer, embedding.parameters()))

    def on_epoch(epoch: int) -> None:
        if epoch > 0:
            measure()
        if schedule is not None:
            schedule.update(epoch)
        trainable.append(trainable_parameters(model))

    history = fit(
        model,
        optimizer,
        transfer.train.subset(transfer.fit),
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        seed=seed,
        score_on={"val": transfer.train.subset(transfer.val), "test": transfer.test},
        on_epoch=on_epoch,
        progress=progress,
    )
    measure()
    trainable.append(trainable_parameters(model))
    return Run(
        variant, seed, model, history, trainable, state, emb_state, _final_weights(embedding)
    )


def _std(a: np.ndarray) -> float:
    return float(a.std(ddof=1)) if len(a) > 1 else 0.0


def _summary(runs: list[Run]) -> dict[str, Any]:
    acc = np.array([r.history.accuracy["test"][-1] for r in runs])
    early = np.array([r.history.accuracy["test"][r.best_epoch] for r in runs])
    return {
        "accuracy_mean": float(acc.mean()),
        "accuracy_std": _std(acc),
        "accuracy_min": float(acc.min()),
        "accuracy_max": float(acc.max()),
        "accuracy_at_best_val_mean": float(early.mean()),
        "accuracy_at_best_val_std": _std(early),
        "best_val_epochs": [r.best_epoch + 1 for r in runs],
        "trainable_parameters_start": runs[0].trainable[0],
        "trainable_parameters_end": runs[0].trainable[-1],
        "optimizer_state_bytes_peak": max(max(r.state_bytes) for r in runs),
        "embedding_optimizer_state_bytes_peak": max(max(r.embedding_state_bytes) for r in runs),
        "seconds_per_epoch_mean": float(np.mean([r.history.seconds_per_epoch for r in runs])),
    }


def _count(start: int, end: int) -> str:
    return f"{start:,}" if start == end else f"{start:,} -> {end:,}"


def summary_rows(variants: dict[str, Any]) -> list[list[str]]:
    """Rows of the step 2 table, one per variant.

    Accuracy (mean ± std over seeds, min / max; and at the epoch of best
    validation accuracy), trainable parameters, optimizer state, time per epoch.
    """
    rows = []
    for name, v in variants.items():
        s = v["summary"]
        rows.append(
            [
                VARIANTS[name],
                f"{s['accuracy_mean']:.4f} ± {s['accuracy_std']:.4f}",
                f"{s['accuracy_min']:.4f} / {s['accuracy_max']:.4f}",
                f"{s['accuracy_at_best_val_mean']:.4f} ± {s['accuracy_at_best_val_std']:.4f}",
                _count(s["trainable_parameters_start"], s["trainable_parameters_end"]),
                f"{s['optimizer_state_bytes_peak']:,}",
                f"{s['embedding_optimizer_state_bytes_peak']:,}",
                f"{s['seconds_per_epoch_mean']:.3f}",
            ]
        )
    return rows


SUMMARY_HEADERS = [
    "variant",
    "test acc, last epoch",
    "min / max",
    "at best val epoch",
    "trainable params",
    "optimizer state B",
    "of which embedding B",
    "s / epoch",
]


def run_compare(transfer: Transfer, cfg: DemoConfig) -> tuple[dict[str, list[Run]], dict[str, Any]]:
    """Train every variant with every seed (interleaved, so machine noise spreads evenly)."""
    say(f"classifier: {CLASSIFIER}")
    say(
        f"{len(VARIANTS)} variants x {cfg.seeds} seeds ({', '.join(map(str, cfg.seed_list))}) "
        f"x {cfg.epochs} epochs; (iv) unfreezes at the start of epoch {cfg.unfreeze_epoch + 1}"
    )
    say(
        f"trained on {len(transfer.fit):,} training reviews; test accuracy on all "
        f"{len(transfer.test):,} held-out reviews, after the last epoch and after the epoch with "
        f"the best accuracy on the other {len(transfer.val):,} training reviews (validation)"
    )
    runs: dict[str, list[Run]] = {v: [] for v in VARIANTS}
    with bar(len(VARIANTS) * cfg.seeds * cfg.epochs, "step 2: training") as progress:
        for k, seed in enumerate(cfg.seed_list):
            for variant in VARIANTS:
                run = train_variant(variant, seed, transfer, cfg, progress)
                runs[variant].append(run)
                note(
                    f"step 2: {SHORT[variant]} seed {seed} ({k + 1}/{cfg.seeds}): test accuracy "
                    f"{run.history.accuracy['test'][-1]:.4f}, "
                    f"{sum(run.history.seconds):.1f} s training"
                )
    result: dict[str, Any] = {
        "classifier": CLASSIFIER,
        "optimizer": f"Adam(lr={cfg.lr}), no weight decay",
        "epochs": cfg.epochs,
        "unfreeze_epoch": cfg.unfreeze_epoch,
        "seeds": cfg.seed_list,
        "variants": {
            v: {
                "label": VARIANTS[v],
                "how": HOW[v],
                "runs": [r.to_dict() for r in rs],
                "summary": _summary(rs),
            }
            for v, rs in runs.items()
        },
    }
    result["majority"] = majority_baseline(transfer, result["variants"])
    say(text_table(SUMMARY_HEADERS, summary_rows(result["variants"])))
    say(majority_line(result["majority"]))
    return runs, result


def majority_baseline(transfer: Transfer, variants: dict[str, Any]) -> dict[str, Any]:
    """Always predicting the training reviews' most common label: its test accuracy.

    Also counts the runs whose first-epoch test accuracy is exactly that (a
    model that has not yet learnt to say anything but the majority label).
    """
    fit_labels = transfer.train.labels[transfer.fit]
    label = int(np.bincount(fit_labels, minlength=2).argmax())
    acc = float((transfer.test.labels == label).mean())
    first = [r["accuracy_per_epoch"][0] for v in variants.values() for r in v["runs"]]
    return {
        "label": LABELS[label],
        "accuracy": acc,
        "first_epoch_runs_at_majority": sum(abs(a - acc) < 1e-12 for a in first),
        "runs": len(first),
    }


def majority_line(m: dict[str, Any]) -> str:
    """One line: the majority-class baseline, and how many runs sat on it after epoch 1."""
    return (
        f"majority class (always {m['label']!r}): test accuracy {m['accuracy']:.4f}; "
        f"{m['first_epoch_runs_at_majority']} of {m['runs']} runs score exactly that after "
        "their first epoch"
    )
