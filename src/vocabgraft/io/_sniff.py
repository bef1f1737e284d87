r"""Telling formats apart from a file's first bytes.

Compressed files (gzip, bz2, xz, zip) are seen through: the rules apply to
the decompressed bytes. Rules, in order:

1. A folder with ``table.json`` is a table cache.
2. ``\x93NUMPY`` starts a ``.npy`` matrix.
3. fastText's magic number (793712314, as int32) starts a ``.bin`` model; a
   file from before fastText 0.2 starts with a plausible argument block instead.
4. A Python pickle that mentions gensim is a gensim save (never loaded unless
   asked for with ``format="gensim"``, as unpickling can run code).
5. A first line of two integers is a word2vec header: the file is word2vec
   text if the next line ends in that many numbers, binary if the bytes after
   the first token are not plain text, else text.
6. Any other text whose first line ends in a number is GloVe.
"""

from __future__ import annotations

import codecs
import stat
import struct
from pathlib import Path

from vocabgraft.errors import FormatError
from vocabgraft.io._floats import is_number
from vocabgraft.io._plan import BOM, read_up_to
from vocabgraft.io._source import Source, open_source, stat_input
from vocabgraft.io.fasttext import FASTTEXT_MAGIC
from vocabgraft.io.word2vec import _HEADER

__all__ = ["sniff_format", "sniff_source"]

_SNIFF_BYTES = 1 << 16
_KNOWN = (
    "a table cache folder, GloVe or word2vec text, word2vec binary, a fastText .bin, or a .npy "
    "matrix"
)


def sniff_format(path: str | Path, *, member: str | None = None) -> str:
    r"""The format name of ``path``: one of :data:`vocabgraft.io.formats`.

    A compressed file is named by what it holds (``member`` picks the file
    inside a zip). Raises :class:`~vocabgraft.errors.FormatError` when the
    file is empty, is not a regular file, or its format is not recognised,
    and :class:`~vocabgraft.errors.InputNotFoundError` when it is absent.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "v.txt"
    >>> _ = p.write_text("the 0.1 0.2\n")
    >>> sniff_format(p)
    'glove'
    """
    where = Path(path)
    if stat.S_ISDIR(stat_input(where).st_mode) and (where / "table.json").is_file():
        return "cache"
    return sniff_source(open_source(where, member))


def sniff_source(source: Source) -> str:
    """The format of an opened :class:`~vocabgraft.io._source.Source` (see :func:`sniff_format`)."""
    path = source.label
    with source.open() as f:
        head = read_up_to(f, _SNIFF_BYTES)
    if not head:
        raise FormatError("the file is empty", path=path, hint="Download or write it again")
    if head.startswith(b"\x93NUMPY"):
        return "npy"
    if len(head) >= 4 and struct.unpack_from("<i", head)[0] == FASTTEXT_MAGIC:
        return "fasttext-bin"
    if head[0] == 0x80 and len(head) > 1 and 2 <= head[1] <= 5:
        if b"gensim" in head:
            return "gensim"
        raise FormatError(
            "a Python pickle, not a vectors file",
            path=path,
            hint="vocabgraft does not unpickle files; save the vectors in a vector format",
        )
    if _old_fasttext(head):
        return "fasttext-bin"
    if head.startswith(BOM):
        head = head[len(BOM) :]
    lines = head.split(b"\n")
    first = lines[0].rstrip(b" \r")
    header = _HEADER.fullmatch(first)
    if header is not None:
        count, dim = int(header.group(1)), int(header.group(2))
        return _word2vec_kind(lines, count, dim, whole=len(head) < _SNIFF_BYTES)
    fields = first.split(b" ")
    if len(fields) >= 2 and is_number(fields[-1]):
        return "glove"
    raise FormatError(
        f"the format is not recognised (the file starts {head[:40]!r})",
        path=path,
        hint=f"vocabgraft reads {_KNOWN}; pass format= to name one (see vocabgraft.io.formats)",
    )


def _word2vec_kind(lines: list[bytes], count: int, dim: int, *, whole: bool) -> str:
    """``"word2vec"`` (text) or ``"word2vec-binary"``, from the first record.

    Text if the line after the header ends in ``dim`` numbers. Otherwise
    binary if the whole (small) file is exactly ``count`` binary records, or
    if what follows the token's space is not plain text (binary floats almost
    never are); else text, whose reader then names the bad line.
    """
    body = b"\n".join(lines[1:])
    line = lines[1].rstrip(b" \r") if len(lines) > 2 else b""
    fields = line.split(b" ")
    if len(fields) > dim and all(is_number(f) for f in fields[-dim:]):
        return "word2vec"
    if whole and _binary_records(body, count, dim):
        return "word2vec-binary"
    space = body.find(b" ")
    after = body[space + 1 : space + 1 + 4 * dim] if space >= 0 else b""
    try:
        # Not final: the sample may end inside a character.
        text = codecs.getincrementaldecoder("utf-8")().decode(after, final=False)
    except UnicodeDecodeError:
        return "word2vec-binary"
    if any(not (c.isprintable() or c in "\r\n\t") for c in text):
        return "word2vec-binary"
    return "word2vec"


def _binary_records(body: bytes, count: int, dim: int) -> bool:
    """Whether ``body`` (a whole file after its header) is exactly ``count`` binary records."""
    pos = 0
    for _ in range(count):
        while pos < len(body) and body[pos] == 10:
            pos += 1
        space = body.find(b" ", pos)
        if space <= pos:
            return False
        pos = space + 1 + 4 * dim
        if pos > len(body):
            return False
    return not body[pos:].strip(b"\r\n")


def _old_fasttext(head: bytes) -> bool:
    """Whether ``head`` starts like a fastText model saved before fastText 0.2."""
    if len(head) < 56:
        return False
    (dim, ws, epoch, min_count, neg, ngrams, loss, model, bucket, minn, maxn, lr_rate) = (
        struct.unpack_from("<12i", head)
    )
    return (
        0 < dim <= 1 << 20
        and 0 < ws <= 1 << 16
        and 0 < epoch <= 1 << 20
        and min_count >= 0
        and neg >= 0
        and ngrams >= 0
        and loss in (1, 2, 3, 4)
        and model in (1, 2, 3)
        and bucket >= 0
        and 0 <= minn <= maxn <= 1 << 10
        and lr_rate >= 0
    )
