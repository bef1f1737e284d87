"""align(): pretrained vectors lined up with a task vocabulary, with a coverage report.

Transfer learning needs the embedding matrix with its rows in the task
vocabulary's order. :func:`align` builds that matrix: rows whose token the
table has are copied from it (bit for bit), the rest get first vectors from
an initializer, and an :class:`AlignmentReport` tells where every row came
from and how much of the vocabulary (and of its text) the table covers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from vocabgraft.align.match import DEFAULT_MATCH as DEFAULT_MATCH
from vocabgraft.align.match import check_match, match_rows
from vocabgraft.align.match import nfkc_casefold as nfkc_casefold
from vocabgraft.align.report import BUCKET, INIT, PAD, SPECIAL, AlignmentReport
from vocabgraft.align.report import RowSource as RowSource
from vocabgraft.errors import ArgumentTypeError, VocabError, VocabgraftError
from vocabgraft.init import InitContext, Initializer, MatchedNormal, Mean, Subword, resolve_init
from vocabgraft.table.core import EmbeddingTable
from vocabgraft.vocab.core import Vocab

# The report's names and the match steps are re-exported here for the old import path.
__all__ = ["MIN_FIT_ROWS", "align", "default_init"]

_INIT, _BUCKET, _SPECIAL, _PAD = INIT, BUCKET, SPECIAL, PAD
MIN_FIT_ROWS = 1000
"""The fewest rows a table needs for align to fit a subword model on it by default."""


def default_init(table: EmbeddingTable) -> Initializer:
    """The initializer :func:`align` uses for unmatched tokens when none is given.

    The rule: :class:`~vocabgraft.init.Subword` when the table carries a
    subword model (fastText), or when it has at least :data:`MIN_FIT_ROWS`
    rows and scipy is installed (a model fitted on the table, once, and kept
    on disk); else :class:`~vocabgraft.init.MatchedNormal`. The fitted model
    gives held-out GloVe words a mean cosine of about 0.6 to their true rows,
    MatchedNormal about 0 (``benches/bench_impute.py``).
    """
    if table.subwords is not None:
        return Subword(table)
    if len(table) >= MIN_FIT_ROWS and _has_scipy():
        return Subword(table)
    return MatchedNormal()


def _has_scipy() -> bool:
    import importlib.util

    return importlib.util.find_spec("scipy") is not None


def _as_vocab(vocab: Vocab | Sequence[str], pad: str | None, specials: Sequence[str]) -> Vocab:
    if isinstance(vocab, Vocab):
        if pad is not None or specials:
            raise VocabError(
                "pad= and specials= describe a list of tokens; this Vocab already names its "
                f"specials ({vocab.specials}). Build the Vocab with them instead"
            )
        return vocab
    if isinstance(vocab, str):
        raise ArgumentTypeError("vocab must be a Vocab or a list of tokens, not one string")
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


def _reserved_kinds(vocab: Vocab, n: int) -> tuple[list[str], set[int], list[int]]:
    """Each row's kind before matching (init, special, pad, bucket); special ids with pad; buckets."""
    kinds = [_INIT] * n
    special_ids = set(vocab.special_ids.tolist())
    for i in special_ids:
        kinds[i] = _SPECIAL
    pad_id = vocab.pad_id
    if pad_id is not None:
        kinds[pad_id] = _PAD
        special_ids.add(pad_id)
    buckets = vocab.bucket_ids.tolist()
    for i in buckets:
        kinds[i] = _BUCKET
    return kinds, special_ids, buckets


def _initial_rows(
    table: EmbeddingTable,
    tokens: list[str],
    how: Initializer | np.ndarray | str,
    seq: np.random.SeedSequence,
    kind: str,
) -> np.ndarray:
    """Rows for ``tokens`` from an initializer, in the table's dtype; non-finite values raise."""
    ctx = InitContext.build(
        len(tokens),
        table.dim,
        tokens=tokens,
        vocab=table.vocab,
        generator=np.random.default_rng(seq),
        weights_fn=lambda: table.vectors,
        memo=table.derived,
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
            :func:`default_init`: :class:`~vocabgraft.init.Subword` (the
            table's fastText n-grams, or a subword model fitted on a table of
            at least :data:`MIN_FIT_ROWS` rows, once, and kept in
            ``<cache_dir>/subwords``), else
            :class:`~vocabgraft.init.MatchedNormal`. The report names the one
            used (``report.initializers["init"]``).
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
        pad: for a list ``vocab`` only: its pad token, which must come first.
        specials: for a list ``vocab`` only: its special tokens,
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
        raise ArgumentTypeError(f"table must be an EmbeddingTable. Received {type(table).__name__}")
    steps = check_match(match)
    vocab = _as_vocab(vocab, pad, specials)
    tokens = vocab.tokens
    count_arr = _counts_by_id(vocab, counts)
    n = len(tokens)
    kinds, special_ids, buckets = _reserved_kinds(vocab, n)
    table_ids = np.full(n, -1, dtype=np.int64)
    pad_id = vocab.pad_id
    reserved = special_ids | set(buckets)
    todo = match_rows(
        table, tokens, [i for i in range(n) if i not in reserved], steps, kinds, table_ids
    )

    weights = np.empty((n, table.dim), dtype=table.dtype)
    matched = np.flatnonzero(table_ids >= 0)
    if len(matched):
        weights[matched] = table.vectors[table_ids[matched]]
    if init is None:
        init = default_init(table)
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
