"""How far fine-tuned rows moved (metrics, reports, a monitor), and propagation of the change."""

from __future__ import annotations

from vocabgraft.drift.core import drift
from vocabgraft.drift.layers import propagate_layer
from vocabgraft.drift.metrics import cosine, nearest
from vocabgraft.drift.monitor import DriftMonitor
from vocabgraft.drift.neighbours import Search
from vocabgraft.drift.propagate import Propagation, moved_rows, propagate
from vocabgraft.drift.report import (
    DriftReport,
    NeighbourChange,
    PairChange,
    RowChange,
    RowSummary,
)

__all__ = [
    "DriftMonitor",
    "DriftReport",
    "NeighbourChange",
    "PairChange",
    "Propagation",
    "RowChange",
    "RowSummary",
    "Search",
    "cosine",
    "drift",
    "moved_rows",
    "nearest",
    "propagate",
    "propagate_layer",
]
