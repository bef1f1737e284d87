"""What every reader shares: the error policy, the parsed result, progress bars."""

from __future__ import annotations

import codecs
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from vocabgraft.errors import ArgumentError, FormatError, VocabError
from vocabgraft.io._source import Source, open_source
from vocabgraft.table.core import EmbeddingTable, SubwordModel
from vocabgraft.vocab.core import Vocab

__all__ = [
    "OnError",
    "Parsed",
    "Problems",
    "ReadOptions",
    "build_table",
    "encoding_problem",
    "progress_bar",
]

OnError = Literal["raise", "skip"]
PlaceKind = Literal["line", "offset", "row"]
_DTYPES = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64))
# How many line numbers (or offsets) a skip summary keeps per reason.
_EXAMPLES = 5


@dataclass(frozen=True)
class ReadOptions:
    """The reader options of :func:`vocabgraft.io.load`, checked once."""

    path: Path
    limit: int | None = None
    dtype: np.dtype[Any] = field(default_factory=lambda: np.dtype(np.float32))
    on_error: OnError = "raise"
    progress: bool | None = None
    encoding: str = "utf-8"
    source: Source | None = None

    def opened(self) -> Source:
        """The checked input (opened on first use when a reader is called directly)."""
        return self.source if self.source is not None else open_source(self.path)

    @classmethod
    def make(
        cls,
        path: str | os.PathLike[str],
        *,
        limit: int | None,
        dtype: Any,
        on_error: str,
        progress: bool | None,
        encoding: str,
    ) -> ReadOptions:
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 0
        ):
            raise ArgumentError(
                f"limit must be a non-negative integer or None. Received: {limit!r}"
            )
        try:
            dt = np.dtype(dtype)
        except TypeError:
            raise ArgumentError(
                f"dtype must be float16, float32 or float64. Received: {dtype!r}"
            ) from None
        if dt not in _DTYPES:
            raise ArgumentError(f"dtype must be float16, float32 or float64. Received: {dt}")
        if on_error not in ("raise", "skip"):
            raise ArgumentError(f"on_error must be 'raise' or 'skip'. Received: {on_error!r}")
        problem = encoding_problem(encoding)
        if problem is not None:
            raise ArgumentError(problem)
        return cls(
            Path(path),
            None if limit is None else int(limit),
            dt,
            on_error,  # type: ignore[arg-type]
            progress,
            encoding,
        )

    def want(self, available: int) -> int:
        """How many of ``available`` rows to read under ``limit``."""
        return available if self.limit is None else min(self.limit, available)


def encoding_problem(encoding: str) -> str | None:
    """What is wrong with ``encoding`` for the vector formats, or None if it will do."""
    try:
        codecs.lookup(encoding)
    except LookupError:
        return f"unknown encoding {encoding!r}"
    if " \n".encode(encoding, "replace") != b" \n":
        return (
            f"encoding {encoding!r} does not write space and newline as single ASCII bytes; "
            "the vector formats need an ASCII-compatible encoding (utf-8, latin-1, cp852, ...)"
        )
    return None


class Problems:
    """Applies ``on_error`` to malformed rows: raise at once, or skip and count.

    ``report`` raises a :class:`FormatError` under ``on_error="raise"``; under
    ``"skip"`` it records the reason and location. :meth:`summary` is what
    ``table.meta["skipped"]`` holds: per reason, the count and the first few
    places.
    """

    def __init__(self, path: Path, on_error: OnError) -> None:
        self.path = path
        self.on_error = on_error
        self.counts: dict[str, int] = {}
        self.examples: dict[str, list[str]] = {}
        self.first_message: dict[str, str] = {}

    @property
    def skipping(self) -> bool:
        return self.on_error == "skip"

    def report(
        self,
        reason: str,
        message: str,
        *,
        line: int | None = None,
        offset: int | None = None,
        row: int | None = None,
        hint: str | None = None,
        path: Path | None = None,
    ) -> None:
        """One malformed row. Raises under ``on_error="raise"``, else records it.

        The place is a 1-based ``line``, a byte ``offset`` or a 0-based matrix
        ``row`` (for formats without lines); ``path`` overrides the file named.
        """
        if row is not None:
            message = f"row {row}: {message}"
        if not self.skipping:
            raise FormatError(
                message,
                path=path or self.path,
                line=line,
                offset=offset,
                hint=hint or "Fix the row, or pass on_error='skip' to skip malformed rows",
            )
        self.counts[reason] = self.counts.get(reason, 0) + 1
        if line is not None:
            where = f"line {line}"
        elif offset is not None:
            where = f"byte {offset}"
        else:
            where = f"row {row}"
        examples = self.examples.setdefault(reason, [])
        if len(examples) < _EXAMPLES:
            examples.append(where)
        self.first_message.setdefault(reason, f"{where}: {message}")

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def summary(self) -> dict[str, Any] | None:
        if not self.counts:
            return None
        return {
            "total": self.total,
            "reasons": {
                reason: {
                    "count": n,
                    "first": self.examples[reason],
                    "example": self.first_message[reason],
                }
                for reason, n in sorted(self.counts.items())
            },
        }

    def warn(self) -> None:
        """One warning that sums up what was skipped (nothing when nothing was)."""
        if not self.counts:
            return
        parts = ", ".join(
            f"{n} {reason.replace('_', ' ')} (first at {', '.join(self.examples[reason][:3])})"
            for reason, n in sorted(self.counts.items())
        )
        warnings.warn(
            f"{self.path}: skipped {self.total} malformed row(s): {parts}. "
            "The details are in table.meta['skipped']",
            UserWarning,
            stacklevel=4,  # the caller of load()
        )


@dataclass
class Parsed:
    """What a reader found: tokens, their rows and where each row came from."""

    tokens: list[str]
    vectors: np.ndarray
    meta: dict[str, Any]
    # Line number (text), byte offset (binary) or matrix row of each row, for
    # messages about duplicates; ``places_path`` names the file they refer to.
    places: Sequence[int] | np.ndarray | None = None
    place_kind: PlaceKind = "line"
    places_path: Path | None = None
    subwords: SubwordModel | None = None


def build_table(parsed: Parsed, problems: Problems, source: str) -> EmbeddingTable:
    """Turn a parse into a table: check duplicates, attach the skip summary, warn once."""
    tokens, vectors = parsed.tokens, parsed.vectors
    try:
        vocab = Vocab(tokens)
    except VocabError:
        keep = _first_occurrences(parsed, problems)
        tokens = [tokens[i] for i in keep.tolist()]
        vectors = vectors[keep]
        vocab = Vocab(tokens)
    meta = dict(parsed.meta)
    summary = problems.summary()
    if summary is not None:
        meta["skipped"] = summary
    table = EmbeddingTable(vectors, vocab, source=source, meta=meta, subwords=parsed.subwords)
    problems.warn()
    return table


def _first_occurrences(parsed: Parsed, problems: Problems) -> np.ndarray:
    """Row indices that keep the first of each token; reports every repeat."""
    seen: dict[str, int] = {}
    keep: list[int] = []
    places = parsed.places
    for i, token in enumerate(parsed.tokens):
        first = seen.setdefault(token, i)
        if first == i:
            keep.append(i)
            continue
        kind = parsed.place_kind
        where_first = f"{kind} {places[first] if places is not None else first}"
        place = int(places[i]) if places is not None else i
        problems.report(
            "duplicate_token",
            f"token {token!r} appears again; it first appeared at {where_first}",
            line=place if kind == "line" else None,
            offset=place if kind == "offset" else None,
            row=place if kind == "row" else None,
            hint="Tokens must be unique. Pass on_error='skip' to keep the first of each",
            path=parsed.places_path,
        )
    return np.asarray(keep, dtype=np.int64)


def progress_bar(options: ReadOptions, total: int | None, desc: str, unit: str = "B") -> Any:
    """A tqdm counter on stderr; silent when stderr is not a terminal (``progress=None``)."""
    from tqdm.auto import tqdm

    disable = None if options.progress is None else not options.progress
    return tqdm(
        total=total,
        unit=unit,
        unit_scale=True,
        unit_divisor=1024 if unit == "B" else 1000,
        desc=desc,
        disable=disable,
        leave=False,
    )


def undecodable_message(raw: bytes, encoding: str) -> tuple[str, str]:
    """The message and hint for a token that does not decode."""
    try:
        raw.decode(encoding)
    except UnicodeDecodeError as exc:
        bad = raw[exc.start : exc.end]
        message = (
            f"token {raw[:60]!r} is not valid {encoding} "
            f"(byte {exc.start} of the token: {bad!r}, {exc.reason})"
        )
    else:  # pragma: no cover - only called for tokens that failed
        message = f"token {raw[:60]!r} could not be decoded"
    hint = (
        "Pass encoding='...' with the file's encoding (for example 'latin-1' or 'cp852'), "
        "or on_error='skip' to skip such rows"
    )
    return message, hint
