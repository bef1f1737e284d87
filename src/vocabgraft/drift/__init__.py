"""How far fine-tuned rows moved: per-row metrics, reports and a monitor."""

from __future__ import annotations

from vocabgraft.drift.core import (
    DriftMonitor,
    DriftReport,
    NeighbourChange,
    PairChange,
    RowChange,
    RowSummary,
    cosine,
    drift,
    nearest,
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
