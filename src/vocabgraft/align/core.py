"""align(): pretrained vectors lined up with a task vocabulary, with a coverage report.

Transfer learning needs the embedding matrix with its rows in the task
vocabulary's order. :func:`align` builds that matrix: rows whose token the
table has are copied from it (bit for bit), the rest get first vectors from
an initializer, and an :class:`AlignmentReport` tells where every row came
from and how much of the vocabulary (and of its text) the table covers.
"""

from __future__ import annotations

import json
import unicodedata
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vocabgraft.errors import VocabError, VocabgraftError
from vocabgraft.init import (
    InitContext,
    Initializer,
    MatchedNormal,
    Mean,
    Subword,
    resolve_init,
)
from vocabgraft.table.core import EmbeddingTable
from vocabgraft.vocab.core import Vocab

__all__ = ["DEFAULT_MATCH", "AlignmentReport", "RowSource", "align", "nfkc_casefold"]


def nfkc_casefold(token: str) -> str:
    """Unicode NFKC normalisation, then case folding: ``"Ｆｕß"`` -> ``"fuss"``.

    >>> nfkc_casefold("Ｓtraße")
    'strasse'
    """
    if token.isascii():
        return token.lower()  # the same result, ten times faster
    return unicodedata.normalize("NFKC", token).casefold()


_KEYS: dict[str, Callable[[str], str]] = {
    "exact": lambda t: t,
    "lower": str.lower,
    "nfkc_casefold": nfkc_casefold,
}
DEFAULT_MATCH = ("exact", "lower", "nfkc_casefold")
# Row kinds besides the match kinds, in report order.
_INIT, _BUCKET, _SPECIAL, _PAD = "init", "bucket", "special", "pad"

# Normalised indexes of recently aligned tables: (id(vocab), kind) -> (ref, size, index).
_INDEXES: dict[tuple[int, str], tuple[weakref.ref[Vocab], int, dict[str, int]]] = {}
_MAX_INDEXES = 8


def _index(vocab: Vocab, kind: str) -> dict[str, int]:
    """``key(token) -> lowest id`` over the table's tokens, built once per table and kind.

    When several tokens share a key ("Apple", "apple", "APPLE"), the lowest id
    wins: in a frequency-sorted table (GloVe, word2vec, fastText) that is the
    most frequent spelling.
    """
    cached = _INDEXES.get((id(vocab), kind))
    if cached is not None and cached[0]() is vocab and cached[1] == len(vocab):
        return cached[2]
    key = _KEYS[kind]
    keys = [key(t) for t in vocab.tokens]
    # Later entries overwrite earlier ones, so walk the ids downwards.
    index = dict(zip(reversed(keys), range(len(keys) - 1, -1, -1)))
    while len(_INDEXES) >= _MAX_INDEXES:
        del _INDEXES[next(iter(_INDEXES))]
    _INDEXES[(id(vocab), kind)] = (weakref.ref(vocab), len(vocab), index)
    return index


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
        return int(self._regular.sum())

    @property
    def num_matched(self) -> int:
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
            raise ValueError(f"unknown row kinds {unknown}; the kinds are {sorted(known)}")
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


def _as_vocab(vocab: Vocab | Sequence[str], pad: str | None, specials: Sequence[str]) -> Vocab:
    if isinstance(vocab, Vocab):
        if pad is not None or specials:
            raise VocabError(
                "pad= and specials= describe a list of tokens; this Vocab already names its "
                f"specials ({vocab.specials}). Build the Vocab with them instead"
            )
        return vocab
    if isinstance(vocab, str):
        raise TypeError("vocab must be a Vocab or a list of tokens, not one string")
    tokens = list(vocab)
    for t in tokens:
        if not isinstance(t, str):
            raise VocabError(f"tokens are strings. Received {t!r} (of type {type(t).__name__})")
    Vocab(tokens)  # raises on duplicates, naming both ids
    lead = [*([pad] if pad is not None and pad not in specials else []), *specials]
    if not lead:
        return Vocab(tokens)
    if tokens[: len(lead)] != lead:
        raise VocabError(
            f"specials out of order: a list vocabulary must start with its specials "
            f"(pad first), as a Vocab numbers them; expected {lead} at ids 0..{len(lead) - 1}, "
            f"found {tokens[: len(lead)]}. Ids are never renumbered: reorder the list or "
            "build a Vocab"
        )
    return Vocab(tokens[len(lead) :], specials=list(specials), pad=pad)


def _counts_by_id(
    vocab: Vocab, counts: Mapping[str, int] | Sequence[int] | None
) -> np.ndarray | None:
    if counts is None:
        return vocab.counts
    if isinstance(counts, Mapping):
        return np.array([counts.get(t, 0) for t in vocab.tokens], dtype=np.float64)
    arr = np.asarray(counts, dtype=np.float64)
    if arr.shape != (len(vocab),):
        raise VocabError(
            f"counts must be a {{token: count}} mapping or one count per vocabulary id "
            f"({len(vocab)}). Received shape {arr.shape}"
        )
    if not np.all(np.isfinite(arr)) or (arr < 0).any():
        raise VocabError("counts must be finite and non-negative")
    return arr


def _check_match(match: Sequence[str] | str) -> tuple[str, ...]:
    steps = (match,) if isinstance(match, str) else tuple(match)
    for s in steps:
        if s not in _KEYS:
            raise ValueError(f"unknown match step {s!r}; choose from {list(_KEYS)}")
    if len(set(steps)) != len(steps):
        raise ValueError(f"match lists a step twice: {list(steps)}")
    return steps


def _init_name(init: Initializer | np.ndarray | str | None) -> str:
    if init is None:
        return "Zeros"
    if isinstance(init, str):
        return init
    if isinstance(init, np.ndarray):
        return "array"
    if isinstance(init, Subword) and init.model is not None:
        return f"Subword({type(init.model).kind})"
    return type(init).__name__


def _match(
    table: EmbeddingTable,
    tokens: list[str],
    todo: list[int],
    steps: tuple[str, ...],
    kinds: list[str],
    table_ids: np.ndarray,
) -> list[int]:
    """Try each match step on the ids still unmatched; record hits; return the rest."""
    for step in steps:
        if not todo:
            break
        if step == "exact":
            get = table.vocab.get
            found = [get(tokens[i]) for i in todo]
        else:
            index, key = _index(table.vocab, step), _KEYS[step]
            found = [index.get(key(tokens[i])) for i in todo]
        left = []
        for i, j in zip(todo, found):
            if j is None:
                left.append(i)
            else:
                table_ids[i] = j
                kinds[i] = step
        todo = left
    return todo


def _initial_rows(
    table: EmbeddingTable,
    tokens: list[str],
    how: Initializer | np.ndarray | str,
    seq: np.random.SeedSequence,
    kind: str,
) -> np.ndarray:
    """Rows for ``tokens`` from an initializer, in the table's dtype; non-finite values raise."""
    ctx = InitContext(
        n=len(tokens),
        dim=table.dim,
        tokens=tokens,
        vocab=table.vocab,
        rng=np.random.default_rng(seq),
        weights_fn=lambda: table.vectors,
    )
    rows = resolve_init(how, ctx)
    if not np.all(np.isfinite(rows)):
        raise VocabgraftError(
            f"{_init_name(how)} gave non-finite values for the {kind} rows; "
            "check the table for NaN or infinite rows"
        )
    return rows.astype(table.dtype, copy=False)


def align(
    table: EmbeddingTable,
    vocab: Vocab | Sequence[str],
    *,
    init: Initializer | np.ndarray | str | None = None,
    special_init: Initializer | np.ndarray | str | None = None,
    match: Sequence[str] | str = DEFAULT_MATCH,
    seed: int = 0,
    counts: Mapping[str, int] | Sequence[int] | None = None,
    pad: str | None = None,
    specials: Sequence[str] = (),
) -> tuple[np.ndarray, AlignmentReport]:
    """The weight matrix for ``vocab``, in its id order, from ``table``; and a report.

    Args:
        table: the pretrained vectors.
        vocab: a :class:`Vocab`, or the tokens in id order.
        init: first vectors for regular tokens the table lacks. Default:
            :class:`~vocabgraft.init.Subword` when the table carries a subword
            model (fastText ``.bin``), else
            :class:`~vocabgraft.init.MatchedNormal` (distinct rows with the
            table's mean and covariance, so they have typical norms).
        special_init: first vectors for specials other than pad (unk, cls,
            mask, ..). Default :class:`~vocabgraft.init.Mean`. The pad row is
            always zero. The OOV hash buckets of a ``Vocab(oov="hash")`` are
            never matched; they take ``init``, so they start apart.
        match: the lookup steps, tried in order for tokens not yet matched:
            ``"exact"``, ``"lower"`` (``token.lower()`` against the table's
            lowercased tokens) and ``"nfkc_casefold"`` (Unicode NFKC with case
            folding on both sides). When several table tokens share a key, the
            lowest row id wins: the most frequent spelling in a
            frequency-sorted table.
        seed: seeds the random initializers (two independent streams: one for
            unmatched rows, one for specials).
        counts: token counts (``{token: count}`` or one per id) for
            frequency-weighted coverage; default ``vocab.counts``.
        pad, specials: for a list ``vocab`` only: its pad and special tokens,
            which must come first (pad first), where a :class:`Vocab` puts them.

    Returns:
        ``(weights, report)``. ``weights`` has ``table.dtype``: matched rows are
        the table's rows bit for bit; initializer rows are cast to it.

    Raises:
        VocabError: duplicate tokens; specials of a list out of order.
        VocabgraftError: an initializer that needs rows asked about an empty
            table, or one that returned non-finite values.

    >>> import numpy as np
    >>> from vocabgraft import EmbeddingTable, Vocab
    >>> table = EmbeddingTable(np.arange(6, dtype=np.float32).reshape(3, 2), ["the", "cat", "sat"])
    >>> weights, report = align(table, Vocab(["Cat", "the", "dog"], pad="<pad>"))
    >>> weights[:3].tolist()
    [[0.0, 0.0], [2.0, 3.0], [0.0, 1.0]]
    >>> report.by_kind
    {'exact': 1, 'lower': 1, 'nfkc_casefold': 0, 'init': 1, 'bucket': 0, 'special': 0, 'pad': 1}
    """
    if not isinstance(table, EmbeddingTable):
        raise TypeError(f"table must be an EmbeddingTable. Received {type(table).__name__}")
    steps = _check_match(match)
    vocab = _as_vocab(vocab, pad, specials)
    tokens = vocab.tokens
    count_arr = _counts_by_id(vocab, counts)
    n = len(tokens)
    kinds = [_INIT] * n
    table_ids = np.full(n, -1, dtype=np.int64)
    special_ids = set(vocab.special_ids.tolist())
    pad_id = vocab.pad_id
    for i in special_ids:
        kinds[i] = _SPECIAL
    if pad_id is not None:
        kinds[pad_id] = _PAD
        special_ids.add(pad_id)
    buckets = vocab.bucket_ids.tolist()
    for i in buckets:
        kinds[i] = _BUCKET
    reserved = special_ids | set(buckets)
    todo = _match(
        table, tokens, [i for i in range(n) if i not in reserved], steps, kinds, table_ids
    )

    weights = np.empty((n, table.dim), dtype=table.dtype)
    matched = np.flatnonzero(table_ids >= 0)
    if len(matched):
        weights[matched] = table.vectors[table_ids[matched]]
    if init is None:
        init = Subword(table) if table.subwords is not None else MatchedNormal()
    if special_init is None:
        special_init = Mean()
    init_seq, special_seq, bucket_seq = np.random.SeedSequence(seed).spawn(3)
    groups = [
        (_INIT, todo, init, init_seq),
        (_BUCKET, buckets, init, bucket_seq),
        (_SPECIAL, sorted(i for i in special_ids if i != pad_id), special_init, special_seq),
    ]
    for kind, ids, how, seq in groups:
        if ids:
            weights[ids] = _initial_rows(table, [tokens[i] for i in ids], how, seq, kind)
    if pad_id is not None:
        weights[pad_id] = 0
    report = AlignmentReport(
        tokens=tokens,
        kinds=kinds,
        table_ids=table_ids,
        table=table,
        initializers={
            _INIT: _init_name(init),
            _BUCKET: _init_name(init),
            _SPECIAL: _init_name(special_init),
            _PAD: "Zeros",
        },
        match=steps,
        counts=count_arr,
    )
    return weights, report
