"""The nearest trained rows of each untrained row, in blocks: exact, or through clusters.

Local propagation needs, for every row that did not train, its ``k`` nearest
trained rows by cosine in the pretrained space. Exactly, that is one
``(rows, trained)`` product of scores: 380,000 x 20,000 x 300 multiply-adds on
a 400k-row table, minutes on two cores. :func:`nearest_trained` does it
exactly through :func:`vocabgraft.table.topk.topk` when that is affordable, and
otherwise through clusters: the trained rows are projected on their top
principal directions (``dims``) and grouped there by spherical k-means into
``clusters``; each cluster's candidates are the members of its ``probes``
nearest clusters. Each query goes to its nearest cluster (in the reduced
space) and scores that cluster's candidates with the exact cosine in the full
space. The neighbours' cosines, and so their weights, are exact; only the
candidate list is approximate (a true neighbour outside it is missed).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vocabgraft.errors import ArgumentError
from vocabgraft.table.topk import topk, unit_rows

__all__ = ["Search", "nearest_trained"]

# Work per query block above which "auto" leaves the exact search (multiply-adds).
_EXACT_LIMIT = 2e10
_QUERY_BLOCK = 16384


@dataclass(frozen=True)
class Search:
    """How :func:`nearest_trained` looks for neighbours.

    Attributes:
        mode: ``"exact"``, ``"clustered"``, or ``"auto"`` (exact while
            queries x trained rows x dims stays under 2e10 multiply-adds).
        dims: width of the reduced space of the clustered search.
        clusters: k-means clusters of the trained rows (None: one per 24 rows).
        probes: clusters whose members a query scores (its cluster's nearest).
        seed: seeds the k-means start.
    """

    mode: str = "auto"
    dims: int = 48
    clusters: int | None = None
    probes: int = 16
    seed: int = 0

    def resolved(self, queries: int, trained: int, dim: int) -> str:
        """``"exact"`` or ``"clustered"`` for this many queries and trained rows."""
        if self.mode not in ("auto", "exact", "clustered"):
            raise ArgumentError(
                f"search mode must be 'auto', 'exact' or 'clustered'. Received: {self.mode!r}"
            )
        if self.mode != "auto":
            return self.mode
        return "exact" if queries * trained * dim <= _EXACT_LIMIT else "clustered"


def nearest_trained(
    table: np.ndarray, query_ids: np.ndarray, trained: np.ndarray, k: int, search: Search
) -> tuple[np.ndarray, np.ndarray, str]:
    """The ``k`` trained rows nearest (cosine) to each row ``query_ids`` of ``table``.

    Args:
        table: the pretrained ``(V, D)`` table (read a block at a time).
        query_ids: the rows to find neighbours for.
        trained: ``(K, D)`` float32 unit rows: the trained rows' pretrained values.
        k: neighbours per query (at most ``K``).
        search: exact or clustered, and the clustered search's settings.

    Returns:
        ``(positions, cosines, mode)``: ``(Q, k)`` positions into ``trained``
        and their exact cosines, highest first, and the mode used.
    """
    mode = search.resolved(len(query_ids), len(trained), trained.shape[1])
    if mode == "clustered":
        ids, cos = _Index.build(trained, search).search(table, query_ids, trained, k)
        return ids, cos, mode
    ones = np.ones(len(trained), dtype=np.float32)
    out_i = np.empty((len(query_ids), k), dtype=np.int64)
    out_s = np.empty((len(query_ids), k), dtype=np.float32)
    for lo in range(0, len(query_ids), _QUERY_BLOCK):
        part = slice(lo, lo + _QUERY_BLOCK)
        x = np.asarray(table[query_ids[part]], dtype=np.float32)
        out_i[part], out_s[part] = topk(x, trained, k, row_norms=ones)
    return out_i, out_s, mode


@dataclass(frozen=True)
class _Index:
    """Trained rows grouped by spherical k-means in a reduced space, with each group's neighbourhood."""

    basis: np.ndarray  # (D, r): the trained rows' top principal directions
    centroids: np.ndarray  # (C, r) unit rows
    candidates: list[np.ndarray]  # per cluster: the trained rows of its ``probes`` nearest clusters

    @classmethod
    def build(cls, trained: np.ndarray, search: Search) -> _Index:
        n, dim = trained.shape
        r = max(1, min(search.dims, dim, n))
        # The top right singular vectors of the unit rows, from the small (D, D) Gram matrix.
        _, vectors = np.linalg.eigh(trained.T.astype(np.float64) @ trained)
        basis = np.ascontiguousarray(vectors[:, ::-1][:, :r], dtype=np.float32)
        reduced = unit_rows(trained @ basis)
        c = search.clusters or max(1, n // 24)
        c = max(1, min(c, n))
        centroids, assign = _spherical_kmeans(reduced, c, np.random.default_rng(search.seed))
        order = np.argsort(assign, kind="stable")
        starts = np.concatenate([[0], np.cumsum(np.bincount(assign, minlength=c))])
        probes = min(search.probes, c)
        near = np.argpartition(-(centroids @ centroids.T), probes - 1, axis=1)[:, :probes]
        candidates = [
            np.concatenate([order[starts[j] : starts[j + 1]] for j in row]) for row in near.tolist()
        ]
        return cls(basis, centroids, candidates)

    def search(
        self, table: np.ndarray, query_ids: np.ndarray, trained: np.ndarray, k: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Each query scores, exactly, the candidates of the cluster nearest to it."""
        home = np.empty(len(query_ids), dtype=np.int64)
        for lo in range(0, len(query_ids), _QUERY_BLOCK):
            x = np.asarray(table[query_ids[lo : lo + _QUERY_BLOCK]], dtype=np.float32)
            home[lo : lo + _QUERY_BLOCK] = np.argmax((x @ self.basis) @ self.centroids.T, axis=1)
        out_i = np.full((len(query_ids), k), -1, dtype=np.int64)
        out_s = np.full((len(query_ids), k), -np.inf, dtype=np.float32)
        by_home = np.argsort(home, kind="stable")
        bounds = np.searchsorted(home[by_home], np.arange(len(self.centroids) + 1))
        for c in np.flatnonzero(np.diff(bounds)).tolist():
            mine = by_home[bounds[c] : bounds[c + 1]]
            cand = self.candidates[c]
            if len(cand) < k:  # a tiny neighbourhood: search every trained row
                cand = np.arange(len(trained))
            x = np.asarray(table[query_ids[mine]], dtype=np.float32)
            out_i[mine], out_s[mine] = _best(x, trained, cand, k)
        return out_i, out_s


def _best(
    x: np.ndarray, trained: np.ndarray, cand: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` rows of ``trained[cand]`` with the highest exact cosine to each row of ``x``."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    s = (x @ trained[cand].T) / np.where(norms == 0, np.float32(1), norms)
    top = np.argpartition(-s, k - 1, axis=1)[:, :k] if s.shape[1] > k else np.arange(k)[None]
    top = np.broadcast_to(top, (len(x), k))
    s_top = np.take_along_axis(s, top, axis=1)
    order = np.argsort(-s_top, axis=1, kind="stable")
    return cand[np.take_along_axis(top, order, axis=1)], np.take_along_axis(s_top, order, axis=1)


def _spherical_kmeans(
    rows: np.ndarray, c: int, rng: np.random.Generator, iterations: int = 6
) -> tuple[np.ndarray, np.ndarray]:
    """``c`` unit centroids of unit ``rows`` (Lloyd's iterations on cosine), and each row's."""
    centroids = rows[rng.choice(len(rows), size=c, replace=False)].copy()
    assign = np.zeros(len(rows), dtype=np.int64)
    for _ in range(iterations):
        assign = np.argmax(rows @ centroids.T, axis=1)
        sums = np.zeros_like(centroids)
        np.add.at(sums, assign, rows)
        filled = np.bincount(assign, minlength=c) > 0
        centroids[filled] = unit_rows(sums[filled])  # an empty cluster keeps its centroid
    return centroids, np.argmax(rows @ centroids.T, axis=1)
