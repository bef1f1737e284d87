"""AlignmentReport: where every aligned row came from, coverage, and its renderings."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from vocabgraft.errors import ArgumentError, VocabError

if TYPE_CHECKING:
    from vocabgraft.table.core import EmbeddingTable

__all__ = ["BUCKET", "INIT", "PAD", "SPECIAL", "AlignmentReport", "RowSource"]

# Row kinds besides the match kinds, in report order.
INIT, BUCKET, SPECIAL, PAD = "init", "bucket", "special", "pad"
_INIT, _BUCKET, _SPECIAL, _PAD = INIT, BUCKET, SPECIAL, PAD


@dataclass(frozen=True)
class RowSource:
    """Where one row of an aligned matrix came from.

    Attributes:
        id: the row (the task vocabulary's id).
        token: the task token.
        kind: ``"exact"``, ``"lower"``, ``"nfkc_casefold"`` (copied from the
            table), ``"init"`` (unmatched, from the initializer), ``"bucket"``
            (an OOV hash bucket of a ``Vocab(oov="hash")``), ``"special"`` or
            ``"pad"``.
        table_id, table_token: the table row it was copied from (matches only).
        initializer: the initializer's name (the other kinds).
    """

    id: int
    token: str
    kind: str
    table_id: int | None = None
    table_token: str | None = None
    initializer: str | None = None


class AlignmentReport:
    """What :func:`align` did: match counts, coverage, the top unmatched tokens, every row's source.

    ``str(report)`` is a terminal table, :meth:`to_markdown` a Markdown one,
    :meth:`to_json` / :meth:`to_dict` the same facts for programs.

    Coverage counts the regular tokens only (not specials or OOV buckets): by
    type, the share of them found in the table; by frequency (when counts are
    known), the share of their occurrences.
    """

    def __init__(
        self,
        *,
        tokens: list[str],
        kinds: list[str],
        table_ids: np.ndarray,
        table: EmbeddingTable,
        initializers: Mapping[str, str],
        match: tuple[str, ...],
        counts: np.ndarray | None,
        top: int = 20,
    ) -> None:
        self.tokens = tokens
        self.kinds = kinds
        self.table_ids = table_ids
        self.initializers = dict(initializers)
        self.match = match
        self.counts = counts
        self.top = top
        self.table_rows, self.dim = table.shape
        self.dtype = str(table.dtype)
        self.source = table.source
        self._table_vocab = table.vocab
        kinds_arr = np.array(kinds, dtype=object)
        self._regular = ~np.isin(kinds_arr, [_BUCKET, _SPECIAL, _PAD])
        self._matched = self.table_ids >= 0

    def __len__(self) -> int:
        return len(self.tokens)

    # -- numbers ----------------------------------------------------------------------

    @property
    def by_kind(self) -> dict[str, int]:
        """Rows per kind, in the order matching tries them, then init, special, pad."""
        order = [*self.match, _INIT, _BUCKET, _SPECIAL, _PAD]
        found = {k: 0 for k in order}
        for k in self.kinds:
            found[k] += 1
        return found

    @property
    def num_regular(self) -> int:
        """The number of regular tokens (not specials, pad or OOV buckets)."""
        return int(self._regular.sum())

    @property
    def num_matched(self) -> int:
        """The number of regular tokens found in the table."""
        return int((self._matched & self._regular).sum())

    @property
    def type_coverage(self) -> float:
        """The share of regular tokens found in the table (1.0 when there are none)."""
        return self.num_matched / self.num_regular if self.num_regular else 1.0

    @property
    def token_coverage(self) -> float | None:
        """The share of regular-token occurrences found in the table; None without counts."""
        if self.counts is None:
            return None
        total = float(self.counts[self._regular].sum())
        if total <= 0:
            return None
        return float(self.counts[self._regular & self._matched].sum()) / total

    def unmatched(self, k: int | None = None) -> list[tuple[str, int | None]]:
        """Unmatched regular tokens, most frequent first (vocabulary order without counts)."""
        ids = np.flatnonzero(self._regular & ~self._matched)
        if self.counts is not None:
            ids = ids[np.argsort(-self.counts[ids], kind="stable")]
        ids = ids if k is None else ids[:k]
        return [
            (self.tokens[i], None if self.counts is None else int(self.counts[i]))
            for i in ids.tolist()
        ]

    def ids(self, *kinds: str) -> np.ndarray:
        """Ids of the rows whose source is one of ``kinds``, in id order.

        ``report.ids("init", "special")`` are the rows with no pretrained
        vector: the ones to train while the matched rows stay frozen.
        """
        known = {*self.match, _INIT, _BUCKET, _SPECIAL, _PAD}
        unknown = sorted(set(kinds) - known)
        if unknown:
            raise ArgumentError(f"unknown row kinds {unknown}; the kinds are {sorted(known)}")
        return np.flatnonzero(np.isin(np.array(self.kinds, dtype=object), list(kinds)))

    def row(self, key: int | str) -> RowSource:
        """Where one row came from, by id or by task token."""
        if isinstance(key, str):
            try:
                i = self.tokens.index(key)
            except ValueError:
                raise VocabError(f"{key!r} is not in the aligned vocabulary") from None
        else:
            i = int(key)
            if not 0 <= i < len(self.tokens):
                raise VocabError(f"row {i} is out of range for {len(self.tokens)} rows")
        return self._row(i)

    def _row(self, i: int) -> RowSource:
        kind = self.kinds[i]
        j = int(self.table_ids[i])
        if j >= 0:
            return RowSource(i, self.tokens[i], kind, j, self._table_vocab.token(j))
        return RowSource(i, self.tokens[i], kind, initializer=self.initializers[kind])

    def rows(self) -> Iterator[RowSource]:
        """Every row's source, in id order."""
        return (self._row(i) for i in range(len(self.tokens)))

    # -- renderings -------------------------------------------------------------------

    def to_dict(self, *, rows: bool = True) -> dict[str, Any]:
        """The report as JSON-ready data; ``rows=False`` leaves out the per-row sources."""
        out: dict[str, Any] = {
            "tokens": len(self.tokens),
            "table": {
                "rows": self.table_rows,
                "dim": self.dim,
                "dtype": self.dtype,
                "source": self.source,
            },
            "match": list(self.match),
            "by_kind": self.by_kind,
            "initializers": self.initializers,
            "regular_tokens": self.num_regular,
            "matched_tokens": self.num_matched,
            "type_coverage": self.type_coverage,
            "token_coverage": self.token_coverage,
            "top_unmatched": [{"token": t, "count": c} for t, c in self.unmatched(self.top)],
        }
        if rows:
            out["rows"] = [
                {
                    "id": r.id,
                    "token": r.token,
                    "kind": r.kind,
                    "from": r.table_token if r.table_token is not None else r.initializer,
                }
                for r in self.rows()
            ]
        return out

    def to_json(self, *, rows: bool = True, indent: int | None = None) -> str:
        """The report as JSON (:meth:`to_dict`)."""
        return json.dumps(self.to_dict(rows=rows), ensure_ascii=False, indent=indent)

    def _kind_rows(self) -> list[tuple[str, int, str]]:
        n = max(len(self.tokens), 1)
        out = []
        for kind, count in self.by_kind.items():
            if kind in self.match and count == 0 and kind != "exact":
                continue
            if kind in (_BUCKET, _SPECIAL, _PAD) and count == 0:
                continue
            label = kind if kind in self.match else f"{kind} ({self.initializers[kind]})"
            out.append((label, count, f"{100 * count / n:.1f}%"))
        return out

    def _summary_lines(self) -> list[str]:
        lines = [
            f"coverage by type: {100 * self.type_coverage:.2f}% "
            f"({self.num_matched:,} of {self.num_regular:,} regular tokens)"
        ]
        cov = self.token_coverage
        if cov is not None:
            assert self.counts is not None
            total = int(self.counts[self._regular].sum())
            lines.append(f"coverage by frequency: {100 * cov:.2f}% of {total:,} occurrences")
        return lines

    def _title(self) -> str:
        return (
            f"{len(self.tokens):,} tokens aligned to {self.source or 'a table'} "
            f"({self.table_rows:,} x {self.dim}, {self.dtype})"
        )

    def to_text(self) -> str:
        """A plain-text table for a terminal."""
        rows = self._kind_rows()
        head = ("row source", "rows", "share")
        w0 = max([len(head[0]), *(len(r[0]) for r in rows)])
        w1 = max([len(head[1]), *(len(f"{r[1]:,}") for r in rows)])
        lines = [self._title(), "", f"  {head[0]:<{w0}}  {head[1]:>{w1}}  {head[2]:>6}"]
        lines += [f"  {label:<{w0}}  {count:>{w1},}  {share:>6}" for label, count, share in rows]
        lines += ["", *self._summary_lines()]
        missing = self.unmatched(self.top)
        if missing:
            shown = ", ".join(t if c is None else f"{t} ({c:,})" for t, c in missing)
            which = "first" if self.counts is None else "most frequent"
            lines.append(f"{which} unmatched: {shown}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_text()

    def __repr__(self) -> str:
        return (
            f"AlignmentReport({len(self.tokens)} rows, type_coverage={self.type_coverage:.4f}, "
            f"by_kind={self.by_kind})"
        )

    def to_markdown(self) -> str:
        """A Markdown report (for a README, a model card or an issue)."""

        def cell(text: str) -> str:
            return text.replace("|", "\\|").replace("\n", " ")

        lines = [
            f"**{cell(self._title())}**",
            "",
            "| row source | rows | share |",
            "|---|---:|---:|",
        ]
        lines += [f"| {cell(k)} | {c:,} | {s} |" for k, c, s in self._kind_rows()]
        lines += ["", *(f"- {line}" for line in self._summary_lines())]
        missing = self.unmatched(self.top)
        if missing:
            if self.counts is None:
                lines += ["", "| unmatched token |", "|---|"]
                lines += [f"| `{cell(t)}` |" for t, _ in missing]
            else:
                lines += ["", "| unmatched token | count |", "|---|---:|"]
                lines += [f"| `{cell(t)}` | {c:,} |" for t, c in missing]
        return "\n".join(lines)
