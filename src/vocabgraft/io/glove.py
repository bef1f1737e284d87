"""GloVe text: ``token v1 ... vD`` per line, no header.

The vector size ``D`` is not written anywhere, so it is inferred: each of the
first 100 non-blank lines has ``fields - 1`` numbers if its token has no space,
and ``D`` is the most common of those counts (on a tie, the first line's).
A token may contain spaces (some real GloVe files have them): the last ``D``
fields of a line are the vector and everything before them is the token.
"""

from __future__ import annotations

from collections import Counter

from vocabgraft.errors import FormatError
from vocabgraft.io._common import Parsed, Problems, ReadOptions
from vocabgraft.io._lines import TextBody, read_lines, read_stream_lines
from vocabgraft.io._plan import plan_chunks, read_head

# How far a compressed file is read for a first line longer than the usual sample.
_LONG_HEAD = 1 << 26

__all__ = ["infer_dim", "read_glove"]

_SAMPLE_LINES = 100


def infer_dim(lines: list[bytes], *, path: object) -> int:
    """The vector size of GloVe ``lines`` (see the module docs)."""
    counts = [line.count(b" ") for line in lines[:_SAMPLE_LINES] if line]
    if not counts:
        raise FormatError("the file has no vector lines", path=str(path), hint="Is it empty?")
    tally = Counter(counts)
    best = max(tally.values())
    dim = next(c for c in counts if tally[c] == best)  # the first of the most common
    if dim < 1:
        raise FormatError(
            "the first lines hold a single field each; a GloVe line is a token and then "
            "its numbers, separated by single spaces",
            path=str(path),
            line=1,
            hint="Check the file's format, or pass format= to name it",
        )
    return dim


def read_glove(options: ReadOptions, problems: Problems) -> Parsed:
    """Read a GloVe text file."""
    source = options.opened()
    head = read_head(source)
    lines = head.lines()
    if not lines and not head.whole:
        # The first line is longer than the sample: read until it ends.
        head = read_head(source, size=source.size or _LONG_HEAD)
        lines = head.lines()
    dim = infer_dim(lines, path=source.label)
    body = TextBody(start=head.bom, first_line=1, dim=dim)
    meta = {"format": "glove", "dim": dim}
    if source.compression is not None:
        parsed, _ = read_stream_lines(
            body, options, problems, meta=meta, limit=options.limit, check=lambda r, n: None
        )
        return parsed
    plan = plan_chunks(options.path, body.start, options.limit)
    return read_lines(body, options, problems, plan=plan, meta=meta)
