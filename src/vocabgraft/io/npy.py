"""A ``.npy`` matrix plus a word list: ``.txt`` (one token a line) or ``.parquet`` (one string column).

The word list is ``vocab_path`` when given. Otherwise it is looked for beside
the matrix: a ``.txt``, ``.vocab`` or ``.parquet`` file with the matrix's
name (``emb.npy`` + ``emb.txt`` or ``emb.vocab.txt``), else the only such file
in the folder (the GloVe 6B package ships ``glove_6B_50d_emb.npy`` with
``glove_6B_index.parquet``). Anything else is ambiguous and an error.

In a ``.txt`` list, ``\\n`` ends a line and a ``\\r`` before it is dropped;
a token may hold spaces.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from vocabgraft.errors import FormatError, require
from vocabgraft.io._common import Parsed, PlaceKind, Problems, ReadOptions, undecodable_message
from vocabgraft.io._lines import BOM

__all__ = ["find_word_list", "read_npy", "read_word_list"]

_LIST_SUFFIXES = (".txt", ".vocab", ".parquet")
_COLUMN_NAMES = ("token", "tokens", "word", "words", "index", "vocab")


def find_word_list(matrix: Path) -> Path:
    """The word list that goes with ``matrix`` (see the module docs)."""
    folder = matrix.parent
    candidates = sorted(
        p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in _LIST_SUFFIXES
    )
    stem = matrix.stem
    named = [p for p in candidates if p.stem == stem or p.name.startswith(stem + ".")]
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


def read_word_list(path: Path, options: ReadOptions, problems: Problems) -> list[str | None]:
    """The tokens of a word list; None where a row is bad (reported to ``problems``)."""
    if path.suffix.lower() == ".parquet":
        return _read_parquet(path, problems)
    raw = path.read_bytes()
    if raw.startswith(BOM):
        raw = raw[len(BOM) :]
    lines = raw.split(b"\n")
    if lines and not lines[-1]:
        lines.pop()
    tokens: list[str | None] = []
    for i, line in enumerate(lines):
        if line.endswith(b"\r"):
            line = line[:-1]
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


def read_npy(options: ReadOptions, problems: Problems, vocab_path: Path | None) -> Parsed:
    """Read a ``.npy`` matrix and its word list."""
    path = options.path
    try:
        matrix = np.load(path, mmap_mode="r", allow_pickle=False)
    except Exception as exc:  # numpy's header parser raises many kinds (even TokenError)
        raise FormatError(
            f"not a readable .npy matrix ({exc})",
            path=path,
            hint="Write it with numpy.save(path, matrix)",
        ) from None
    if not isinstance(matrix, np.ndarray) or matrix.ndim != 2:
        raise FormatError(
            f"the array has shape {getattr(matrix, 'shape', None)}; a table needs a 2-D "
            "(rows x dims) matrix",
            path=path,
        )
    if matrix.dtype.kind != "f":
        raise FormatError(
            f"the matrix has dtype {matrix.dtype}; vectors are floating point",
            path=path,
            hint="Convert it with matrix.astype(np.float32) first",
        )
    words_path = vocab_path or find_word_list(path)
    words = read_word_list(words_path, options, problems)
    if len(words) != len(matrix):
        raise FormatError(
            f"the word list has {len(words)} tokens but the matrix has {len(matrix)} rows",
            path=words_path,
            hint=f"The word list must name the rows of {path.name} one to one",
        )
    want = options.want(len(matrix))
    vectors = np.array(matrix[:want], dtype=options.dtype)
    del matrix
    good = np.array([w is not None for w in words[:want]], dtype=bool)
    finite = np.isfinite(vectors).all(axis=1)
    for i in np.flatnonzero(good & ~finite).tolist():
        problems.report("non_finite", "the vector holds nan or inf; vectors must be finite", row=i)
    keep = good & finite
    tokens = [w for w, k in zip(words[:want], keep.tolist()) if k and w is not None]
    if not keep.all():
        vectors = vectors[keep]
    places = np.flatnonzero(keep) + (0 if words_path.suffix == ".parquet" else 1)
    meta = {"format": "npy", "word_list": str(words_path)}
    kind: PlaceKind = "row" if words_path.suffix == ".parquet" else "line"
    return Parsed(tokens, vectors, meta, places=places, place_kind=kind, places_path=words_path)
