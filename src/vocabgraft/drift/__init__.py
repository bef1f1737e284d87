"""How far fine-tuned rows moved: per-row metrics, reports and a monitor."""

from __future__ import annotations

from vocabgraft.drift.core import drift
from vocabgraft.drift.metrics import cosine, nearest
from vocabgraft.drift.monitor import DriftMonitor
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
    "RowChange",
    "RowSummary",
    "cosine",
    "drift",
    "nearest",
]
