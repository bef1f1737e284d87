"""DriftReport and the summaries it holds: what drift() measured, as text and JSON."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

__all__ = ["DriftReport", "Key", "NeighbourChange", "PairChange", "RowChange", "RowSummary", "When"]

Key = int | str  # a row id, or a token of ``vocab``
When = int | str | None


def _num(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else x


@dataclass(frozen=True)
class RowSummary:
    """How far a set of rows moved; the distances are None for an empty set.

    Attributes:
        rows: rows in the set.
        moved: rows whose L2 distance is above 0.
        mean_l2, median_l2, p95_l2, max_l2: statistics of the L2 distances.
        mean_cosine_distance, max_cosine_distance: of ``1 - cosine``, in [0, 2].
    """

    rows: int
    moved: int
    mean_l2: float | None = None
    median_l2: float | None = None
    p95_l2: float | None = None
    max_l2: float | None = None
    mean_cosine_distance: float | None = None
    max_cosine_distance: float | None = None

    @classmethod
    def of(cls, l2: np.ndarray, cd: np.ndarray) -> RowSummary:
        """The summary of per-row L2 distances ``l2`` and cosine distances ``cd``."""
        if len(l2) == 0:
            return cls(rows=0, moved=0)
        return cls(
            rows=len(l2),
            moved=int((l2 > 0).sum()),
            mean_l2=float(l2.mean()),
            median_l2=float(np.median(l2)),
            p95_l2=float(np.percentile(l2, 95)),
            max_l2=float(l2.max()),
            mean_cosine_distance=float(cd.mean()),
            max_cosine_distance=float(cd.max()),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: non-finite numbers become None."""
        return {k: _num(v) if isinstance(v, float) else v for k, v in asdict(self).items()}


@dataclass(frozen=True)
class RowChange:
    """One row that moved: its id, its token (when a vocabulary was given), how far."""

    id: int
    token: str | None
    l2: float
    cosine_distance: float


@dataclass(frozen=True)
class PairChange:
    """The cosine similarity of two rows before and after."""

    first: Key
    second: Key
    before: float
    after: float


@dataclass(frozen=True)
class NeighbourChange:
    """A word's ``k`` nearest neighbours before and after, and the share kept (overlap@k)."""

    word: Key
    before: tuple[Key, ...]
    after: tuple[Key, ...]
    overlap: float


@dataclass(frozen=True)
class DriftReport:
    """What :func:`drift` measured. ``str(report)`` is a text table, :meth:`to_dict` JSON-safe.

    Attributes:
        shape: ``(rows, dims)`` of the compared rows.
        summary: over every compared row.
        groups: the same per named group of ids.
        top: the rows that moved most, by L2 distance, most first (moved rows only).
        pairs: the cosine of each requested pair, before and after.
        neighbours: overlap@``k`` of each watched word's nearest neighbours.
        k: neighbours per watched word.
        when: the epoch or step :meth:`DriftMonitor.update` was given, else None.
    """

    shape: tuple[int, int]
    summary: RowSummary
    groups: Mapping[str, RowSummary] = field(default_factory=dict)
    top: tuple[RowChange, ...] = ()
    pairs: tuple[PairChange, ...] = ()
    neighbours: tuple[NeighbourChange, ...] = ()
    k: int = 10
    when: When = None

    def to_dict(self) -> dict[str, Any]:
        """Plain lists, dicts, numbers and strings; non-finite numbers become None."""
        return {
            "when": self.when,
            "shape": list(self.shape),
            "summary": self.summary.to_dict(),
            "groups": {name: s.to_dict() for name, s in self.groups.items()},
            "top": [{**asdict(r), "l2": _num(r.l2)} for r in self.top],
            "pairs": [
                {**asdict(p), "before": _num(p.before), "after": _num(p.after)} for p in self.pairs
            ],
            "neighbours": [
                {
                    "word": n.word,
                    "before": list(n.before),
                    "after": list(n.after),
                    "overlap": n.overlap,
                }
                for n in self.neighbours
            ],
            "k": self.k,
        }

    def __str__(self) -> str:
        """A text table of the groups, then the rows moved most, the pairs and the neighbours."""
        at = "" if self.when is None else f" at {self.when}"
        s = self.summary
        lines = [f"drift{at}: {s.moved:,} of {s.rows:,} rows moved ({self.shape[1]} dims)", ""]
        lines += _table(
            ["group", "rows", "moved", "mean L2", "p95 L2", "max L2", "mean cos d", "max cos d"],
            [_summary_cells("all", s), *(_summary_cells(g, v) for g, v in self.groups.items())],
        )
        if self.top:
            moved = ", ".join(
                f"{r.token if r.token is not None else r.id} ({r.l2:.4g})" for r in self.top
            )
            lines.append(f"moved most (L2): {moved}")
        for p in self.pairs:
            lines.append(f"cosine {p.first} / {p.second}: {p.before:.4f} -> {p.after:.4f}")
        if self.neighbours:
            kept = ", ".join(f"{n.word} {n.overlap:.2f}" for n in self.neighbours)
            lines.append(f"overlap@{self.k} of nearest neighbours: {kept}")
        return "\n".join(lines)


def _summary_cells(name: str, s: RowSummary) -> list[str]:
    def g(x: float | None) -> str:
        return "-" if x is None else f"{x:.4g}"

    return [
        name,
        f"{s.rows:,}",
        f"{s.moved:,}",
        *map(g, [s.mean_l2, s.p95_l2, s.max_l2, s.mean_cosine_distance, s.max_cosine_distance]),
    ]


def _table(headers: list[str], rows: list[list[str]]) -> list[str]:
    cells = [headers, *rows]
    widths = [max(len(r[c]) for r in cells) for c in range(len(headers))]
    return [
        "  ".join(t.ljust(w) if c == 0 else t.rjust(w) for c, (t, w) in enumerate(zip(r, widths)))
        for r in cells
    ]
