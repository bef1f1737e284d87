"""``vocabgraft align``: pretrained vectors for a task vocabulary, with a coverage report.

The vocabulary comes from a word list (``--vocab``: one token a line,
optionally ``token<TAB>count``) or from the tokens of a text (``--corpus``,
split by ``--tokenizer``: ``simple``, lowercase words with punctuation and
English clitics split off as GloVe's tokenizer does, or ``whitespace``). The report goes to stdout (text, ``--markdown`` or
``--json``); ``--out DIR`` also writes the aligned table as a table cache.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from vocabgraft.align.core import DEFAULT_MATCH, align
from vocabgraft.cli._common import (
    FlagValueError,
    add_json_arg,
    add_vectors_arg,
    check_destination,
    count,
    emit,
    load_vectors,
    positive,
    save_table,
)
from vocabgraft.cli.impute import METHODS, initializer
from vocabgraft.errors import FormatError
from vocabgraft.table.core import EmbeddingTable
from vocabgraft.vocab.core import Vocab
from vocabgraft.vocab.tokenize import TOKENIZERS, get_tokenizer


def match_steps(text: str) -> tuple[str, ...]:
    """A ``--match`` value: comma-separated steps of :data:`~vocabgraft.align.DEFAULT_MATCH`."""
    steps = tuple(s.strip() for s in text.split(",") if s.strip())
    unknown = [s for s in steps if s not in DEFAULT_MATCH]
    if unknown or not steps:
        raise FlagValueError(
            f"unknown step(s) {', '.join(map(repr, unknown)) or repr(text)}; "
            f"choose from {','.join(DEFAULT_MATCH)}"
        )
    if len(set(steps)) != len(steps):
        raise FlagValueError(f"{text!r} lists a step twice")
    return steps


def add_parser(sub: Any) -> None:
    """Add the ``align`` command to ``sub``."""
    p = sub.add_parser(
        "align",
        help="line pretrained vectors up with a task vocabulary and report the coverage",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--vocab", metavar="FILE", help="one token per line, optionally 'token<TAB>count'"
    )
    src.add_argument("--corpus", metavar="FILE", help="text to count the tokens of")
    p.add_argument(
        "--tokenizer",
        choices=sorted(TOKENIZERS),
        default="simple",
        help="how --corpus is split: simple (lowercase words; punctuation and clitics such as "
        "'s and n't split off, as in GloVe) or whitespace (default: simple)",
    )
    add_vectors_arg(p)
    p.add_argument("--out", metavar="DIR", help="write the aligned table to this cache folder")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace --out if it is an earlier vocabgraft cache (any other folder is refused)",
    )
    p.add_argument(
        "--min-freq", type=positive, default=1, metavar="N", help="keep tokens seen N times or more"
    )
    p.add_argument("--max-size", type=count, metavar="N", help="keep the N most frequent tokens")
    p.add_argument("--pad", default="<pad>", help="the pad token, '' for none (default <pad>)")
    p.add_argument("--unk", default="<unk>", help="the unk token, '' for none (default <unk>)")
    p.add_argument(
        "--match",
        type=match_steps,
        default=DEFAULT_MATCH,
        help=f"matching steps, tried in order (default {','.join(DEFAULT_MATCH)})",
    )
    p.add_argument(
        "--init",
        choices=METHODS,
        default="normal",
        help="first vectors for unmatched tokens (default: normal, a sample with the "
        "rows' mean and covariance; subword fits and caches a subword model)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed for random initializers (default 0)")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--markdown", action="store_true", help="print the report as Markdown")
    add_json_arg(out)
    p.add_argument("--rows", action="store_true", help="with --json: the source of every row")
    p.set_defaults(func=run)


def read_vocab_file(path: str) -> tuple[list[str], dict[str, int] | None]:
    """Tokens (and counts, when every line has one) from a word list."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise FormatError(
            f"not UTF-8 text ({exc.reason})", path=path, offset=exc.start, hint="Convert it first"
        ) from None
    tokens: list[str] = []
    counts: dict[str, int] = {}
    seen: dict[str, int] = {}
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.removesuffix("\r")
        if not line:
            continue
        token, tab, count = line.rpartition("\t")
        if not tab or not count.strip().isdigit():
            token, count = line, ""
        if token in seen:
            raise FormatError(
                f"token {token!r} is listed again (first on line {seen[token]})",
                path=path,
                line=number,
                hint="A vocabulary lists each token once",
            )
        seen[token] = number
        tokens.append(token)
        if count:
            counts[token] = int(count)
    if not tokens:
        raise FormatError("the vocabulary file lists no tokens", path=path)
    return tokens, counts if len(counts) == len(tokens) else None


def build_vocab(args: argparse.Namespace) -> Vocab:
    """The task vocabulary that ``--vocab`` or ``--corpus`` describes."""
    pad, unk = args.pad or None, args.unk or None
    if args.corpus:
        split = get_tokenizer(args.tokenizer)
        with open(args.corpus, encoding="utf-8", errors="surrogateescape") as f:
            counted = Counter(tok for line in f for tok in split(line))
        return Vocab.from_counts(
            counted, min_freq=args.min_freq, max_size=args.max_size, pad=pad, unk=unk
        )
    tokens, counts = read_vocab_file(args.vocab)
    if counts is not None:
        return Vocab.from_counts(
            counts, min_freq=args.min_freq, max_size=args.max_size, pad=pad, unk=unk
        )
    if args.min_freq > 1:
        raise FormatError(
            "--min-freq needs counts, but the lines have none",
            path=args.vocab,
            hint="Write 'token<TAB>count' lines, or drop --min-freq",
        )
    return Vocab(tokens[: args.max_size], pad=pad, unk=unk)


def run(args: argparse.Namespace) -> int:
    """Align the vectors with the vocabulary; print the report, write ``--out``."""
    if args.out:
        check_destination(args.out, "--out", overwrite=args.overwrite)
    vocab = build_vocab(args)
    table = load_vectors(args)
    init = initializer(args.init, table, progress=not args.json)
    weights, report = align(table, vocab, init=init, match=args.match, seed=args.seed)
    if args.out:
        aligned = EmbeddingTable(
            weights,
            vocab,
            source=f"aligned from {table.source or 'vectors'}",
            meta={"alignment": report.to_dict(rows=False)},
        )
        path = save_table(aligned, args.out, overwrite=args.overwrite)
        print(f"wrote {len(vocab):,} x {table.dim} table to {path}", file=sys.stderr)
    text = report.to_markdown() if args.markdown else report.to_text()
    emit(args, text, report.to_dict(rows=args.rows))
    return 0
