r"""Word lists: the tokens of a ``.npy`` matrix's rows, from a ``.txt`` or ``.parquet`` file.

A ``.txt`` list has one token a line (``\n`` ends a line and a ``\r``
before it is dropped; a token may hold spaces). A list whose every line is
``token count`` or ``token<TAB>count`` (GloVe's own ``vocab.txt``) is read
as tokens with counts, kept in ``table.meta["counts"]``; other tab-separated
lines are refused, since they are not one token a line. A ``.parquet`` list
has one string column (or one named like ``token`` or ``word``). Either may
be compressed (``emb.txt.gz``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from vocabgraft.errors import FormatError, require
from vocabgraft.io._common import Problems, ReadOptions, undecodable_message
from vocabgraft.io._plan import BOM
from vocabgraft.io._source import open_source

__all__ = ["find_word_list", "read_word_list", "split_counts"]

_LIST_SUFFIXES = (".txt", ".vocab", ".parquet")
_COMPRESSED = (".gz", ".bz2", ".xz", ".zip")
_COLUMN_NAMES = ("token", "tokens", "word", "words", "index", "vocab")
_COUNTED = re.compile(rb"(.*[^ \t])[ \t]+(\d+)")
_ENDS_IN_COUNT = re.compile(rb"[ \t][0-9]+$", re.MULTILINE)


def _base(path: Path) -> tuple[str, str]:
    """``(stem, suffix)`` of ``path`` without a compression suffix: ``emb.npy.gz`` -> ``emb``."""
    name = path.name
    for ext in _COMPRESSED:
        if name.lower().endswith(ext):
            name = name[: -len(ext)]
    inner = Path(name)
    return inner.stem, inner.suffix.lower()


def find_word_list(matrix: Path) -> Path:
    """The word list that goes with ``matrix`` (see the module docs).

    Args:
        matrix: the path of the ``.npy`` matrix.

    Returns:
        The word list's path.

    Raises:
        FormatError: no word list, or several, lie beside the matrix.
    """
    folder = matrix.parent
    candidates = sorted(
        p for p in folder.iterdir() if p != matrix and _base(p)[1] in _LIST_SUFFIXES and p.is_file()
    )
    stem = _base(matrix)[0]
    named = [p for p in candidates if _base(p)[0] == stem or p.name.startswith(stem + ".")]
    if len(named) == 1:
        return named[0]
    if not named and len(candidates) == 1:
        return candidates[0]
    found = ", ".join(p.name for p in (named or candidates)) or "none"
    raise FormatError(
        f"cannot tell which word list goes with the matrix (word lists beside it: {found})",
        path=matrix,
        hint="Pass vocab_path= with the word list: a .txt file with one token a line, or a "
        ".parquet file with one string column",
    )


def read_word_list(
    path: Path, options: ReadOptions, problems: Problems
) -> tuple[list[str | None], list[int] | None]:
    """The tokens of a word list, and their counts when it has them.

    A token is None where a row is bad (reported to ``problems``). Lines of
    ``token count`` or ``token<TAB>count`` (GloVe's ``vocab.txt``) give the
    counts; other tab-separated lines are refused (see :func:`split_counts`).
    """
    source = open_source(path)  # a regular file (never a FIFO that would block)
    if _base(path)[1] == ".parquet":
        return _read_parquet(path, problems), None
    with source.guard(), source.open() as f:
        raw = f.read()
    if raw.startswith(BOM):
        raw = raw[len(BOM) :]
    lines = [line[:-1] if line.endswith(b"\r") else line for line in raw.split(b"\n")]
    if lines and not lines[-1]:
        lines.pop()
    lines, counts = split_counts(lines, path)
    return _decode_lines(lines, options, problems, path), counts


def split_counts(lines: list[bytes], path: Path) -> tuple[list[bytes], list[int] | None]:
    """Split ``token count`` lines into tokens and counts; refuse other tab-separated lines.

    Every line must end in a space or tab and a count for the list to be read
    as tokens with counts: a plain list whose tokens all end in a number
    (``"route 66"``) is rare, while a counted list has a count on every line.
    """
    joined = b"\n".join(lines)
    ends_in_count = sum(1 for _ in _ENDS_IN_COUNT.finditer(joined))
    if b"\t" not in joined and ends_in_count * 10 < len(lines) * 9:
        return lines, None  # a plain list (the common case: one scan, no per-line work)
    matches = [_COUNTED.fullmatch(line) for line in lines]
    if lines and all(matches):
        return [m.group(1) for m in matches if m], [int(m.group(2)) for m in matches if m]
    for i, line in enumerate(lines):
        if b"\t" in line:
            raise FormatError(
                f"the line holds a tab ({line[:60]!r}); a word list has one token a line, or a "
                "token and its count",
                path=path,
                line=i + 1,
                hint="Write one token a line, or 'token<TAB>count' on every line (as GloVe's "
                "vocab.txt has 'token count')",
            )
    counted = sum(m is not None for m in matches)
    if lines and counted * 10 >= len(lines) * 9:
        i = next(i for i, m in enumerate(matches) if m is None)
        raise FormatError(
            f"most lines are 'token count' but this one is {lines[i][:60]!r}",
            path=path,
            line=i + 1,
            hint="Give every line its count, or write one token a line",
        )
    return lines, None


def _decode_lines(
    lines: list[bytes], options: ReadOptions, problems: Problems, path: Path
) -> list[str | None]:
    try:  # every line at once; line by line only to name the bad ones
        whole: list[str | None] = list(b"\n".join(lines).decode(options.encoding).split("\n"))
        if len(whole) == len(lines) and "" not in whole:
            return whole
    except UnicodeDecodeError:
        pass
    tokens: list[str | None] = []
    for i, line in enumerate(lines):
        token: str | None = None
        try:
            token = line.decode(options.encoding)
        except UnicodeDecodeError:
            message, hint = undecodable_message(line, options.encoding)
            problems.report("undecodable", message, line=i + 1, hint=hint, path=path)
        if token == "":
            problems.report("empty_token", "empty line in the word list", line=i + 1, path=path)
            token = None
        tokens.append(token)
    return tokens


def _read_parquet(path: Path, problems: Problems) -> list[str | None]:
    pa: Any = require("pyarrow", "data", "Reading a .parquet word list")
    pq: Any = require("pyarrow.parquet", "data", "Reading a .parquet word list")
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise FormatError(f"cannot read the parquet file ({exc})", path=path) from None
    names = [
        f.name
        for f in table.schema
        if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
    ]
    if len(names) > 1:
        names = [n for n in names if n.lower() in _COLUMN_NAMES][:1] or names
    if len(names) != 1:
        raise FormatError(
            f"a word list needs exactly one string column; this file has "
            f"{len(names)} ({', '.join(names) or 'none'}) among its columns "
            f"{table.column_names}",
            path=path,
            hint="Write the tokens as the only string column, or pass a .txt list",
        )
    tokens: list[str | None] = table.column(names[0]).to_pylist()
    for i, token in enumerate(tokens):
        if not token:
            problems.report(
                "empty_token",
                f"row {i} of column {names[0]!r} is {'empty' if token == '' else 'null'}",
                path=path,
                row=i,
            )
            tokens[i] = None
    return tokens
