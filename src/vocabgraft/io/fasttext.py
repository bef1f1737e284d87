"""fastText's native ``.bin`` model, parsed directly (neither fasttext nor gensim is needed).

Layout (fastText's ``FastText::saveModel``; all values little-endian):

1. Since fastText 0.2: ``int32`` magic 793712314 and ``int32`` version
   (11 or 12). Older files start directly with the arguments.
2. Arguments: ``int32`` dim, ws, epoch, minCount, neg, wordNgrams, loss,
   model, bucket, minn, maxn, lrUpdateRate; ``float64`` t.
3. Dictionary: ``int32`` size, nwords, nlabels; ``int64`` ntokens;
   ``int64`` pruneidx_size (new format only); then ``size`` entries of a
   NUL-terminated word, an ``int64`` count and an ``int8`` type (0 word,
   1 label); then pruneidx_size pairs of ``int32`` (new format only).
4. ``bool`` quant_input (new format only), then the input matrix: ``int64``
   rows and cols, then rows x cols ``float32``. Rows ``0 .. nwords-1`` are
   the words, the next ``bucket`` rows the n-gram buckets.
5. ``bool`` qout (new format only) and the output matrix, which is not read
   but must be complete.

The table's rows are fastText's word vectors: for each word, the mean of its
own row and its n-gram rows (what ``fasttext``'s ``get_word_vector`` and
gensim's ``wv[word]`` give). The n-gram rows become a
:class:`~vocabgraft.subwords.FastTextSubwords`, so ``table.subwords.compose``
gives the vector of any word.

Encoding: fastText stores words as raw bytes. They are decoded with
``encoding`` (UTF-8 by default); a word that does not decode is an error, or
skipped under ``on_error="skip"``. With another ``encoding`` (gensim's test
file ``cp852_fasttext.bin`` needs ``"cp852"``), n-grams are hashed over the
bytes in that encoding, as fastText itself does. gensim instead hashes the
UTF-8 bytes of the decoded word, so for such files its vectors of non-ASCII
words differ from fastText's and from these.

Quantized models (``.ftz``) and pruned dictionaries are not supported.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vocabgraft.errors import FormatError
from vocabgraft.io._common import (
    Parsed,
    Problems,
    ReadOptions,
    close_map,
    progress_bar,
    undecodable_message,
)
from vocabgraft.subwords.fasttext import FastTextSubwords, ngram_sums

__all__ = ["FASTTEXT_MAGIC", "read_fasttext_bin"]

FASTTEXT_MAGIC = 793712314
_NEWEST_VERSION = 12
_ARGS = ("dim", "ws", "epoch", "min_count", "neg", "word_ngrams", "loss", "model", "bucket")
_ARGS_TAIL = ("minn", "maxn", "lr_update_rate")
_MODELS = {1: "cbow", 2: "skipgram", 3: "supervised"}
_LOSSES = {1: "hs", 2: "ns", 3: "softmax", 4: "ova"}
# Word rows are composed in slices of this many words (bounds the memory used).
_COMPOSE_STEP = 1 << 15


_DAMAGED = "The file is damaged or not a fastText model"
_UNQUANTIZED = "Use the unquantized .bin model or its .vec file"


class _Cursor:
    """Reads little-endian values from a memory map, naming what was cut off."""

    def __init__(self, mm: mmap.mmap, size: int, path: Path) -> None:
        self.mm, self.size, self.path, self.pos = mm, size, path, 0

    def error(
        self, message: str, *, offset: int | None = None, hint: str = _DAMAGED
    ) -> FormatError:
        """A :class:`FormatError` at ``offset`` (default: the current position)."""
        where = self.pos if offset is None else offset
        return FormatError(message, path=self.path, offset=where, hint=hint)

    def need(self, n: int, what: str) -> None:
        if n < 0 or self.pos + n > self.size:
            raise self.error(
                f"the file ends at byte {self.size} while reading {what} "
                f"({n} bytes from byte {self.pos})",
                hint="The file is truncated or not a fastText .bin model; download or save it "
                "again",
            )

    def unpack(self, fmt: str, what: str) -> tuple[Any, ...]:
        n = struct.calcsize(fmt)
        self.need(n, what)
        values = struct.unpack_from(fmt, self.mm, self.pos)
        self.pos += n
        return values

    def cstring(self, what: str) -> bytes:
        end = self.mm.find(b"\0", self.pos)
        if end < 0:
            self.need(self.size - self.pos + 1, what)
        raw = self.mm[self.pos : end]
        self.pos = end + 1
        return raw


@dataclass
class _Header:
    new_format: bool
    version: int | None
    args: dict[str, Any]


def _read_header(cur: _Cursor) -> _Header:
    magic, version = cur.unpack("<ii", "the file signature")
    new = magic == FASTTEXT_MAGIC
    if new:
        if not 0 < version <= _NEWEST_VERSION:
            raise cur.error(
                f"fastText format version {version} is not supported (this reader knows up to "
                f"{_NEWEST_VERSION})",
                offset=4,
                hint="Save the model with a fastText release that writes version 12, or use "
                "its .vec file",
            )
        args = dict(zip(_ARGS, cur.unpack("<9i", "the model arguments")))
    else:
        # Files from before the signature start with dim and ws.
        args = {"dim": magic, "ws": version}
        args.update(zip(_ARGS[2:], cur.unpack("<7i", "the model arguments")))
    args.update(zip(_ARGS_TAIL, cur.unpack("<3i", "the model arguments")))
    (args["t"],) = cur.unpack("<d", "the model arguments")
    if not (0 < args["dim"] <= 1 << 20 and args["bucket"] >= 0 and 0 <= args["minn"] <= 1 << 10):
        raise cur.error(
            f"the header does not look like a fastText model (dim={args['dim']}, "
            f"bucket={args['bucket']}, minn={args['minn']})",
            offset=0,
            hint="Is this a fastText .bin model? Pass format= to name the format",
        )
    if new and version == 11 and args["model"] == 3:
        # fastText: supervised models of version 11 did not use character n-grams.
        args["maxn"] = 0
    return _Header(new, version if new else None, args)


@dataclass
class _Dictionary:
    words: list[bytes]
    places: list[int]
    labels: list[bytes]
    ntokens: int


def _read_dictionary(cur: _Cursor, header: _Header, options: ReadOptions) -> _Dictionary:
    size, nwords, nlabels = cur.unpack("<3i", "the dictionary sizes")
    (ntokens,) = cur.unpack("<q", "the dictionary sizes")
    prune = -1
    if header.new_format:
        (prune,) = cur.unpack("<q", "the dictionary sizes")
    if min(size, nwords, nlabels) < 0 or size != nwords + nlabels:
        raise cur.error(
            f"the dictionary says {size} entries, {nwords} words and {nlabels} labels, "
            "which do not add up"
        )
    words: list[bytes] = []
    places: list[int] = []
    labels: list[bytes] = []
    bar = progress_bar(options, size, f"reading {options.path.name} dictionary", unit="word")
    with bar:
        for i in range(size):
            start = cur.pos
            raw = cur.cstring(f"entry {i + 1} of the dictionary")
            _count, kind = cur.unpack("<qb", f"entry {i + 1} of the dictionary")
            if kind != (0 if i < nwords else 1):
                raise cur.error(
                    f"dictionary entry {i + 1} has type {kind}; fastText lists its {nwords} "
                    f"words (type 0) before its {nlabels} labels (type 1)",
                    offset=start,
                )
            if i < nwords:
                words.append(raw)
                places.append(start)
            else:
                labels.append(raw)
            if i % 65536 == 65535:
                bar.update(65536)
        bar.update(size % 65536)
    if prune >= 0:
        # -1 means "not pruned"; only `fasttext quantize -cutoff` prunes.
        raise cur.error(
            f"the model's dictionary is pruned ({prune} n-gram entries kept), as "
            "`fasttext quantize -cutoff` leaves it; pruned models are not supported",
            hint=_UNQUANTIZED,
        )
    return _Dictionary(words, places, labels, ntokens)


def _read_input_matrix(cur: _Cursor, header: _Header, nwords: int) -> np.ndarray:
    """The input matrix, as a view of the memory map."""
    if header.new_format:
        (quantized,) = cur.unpack("<?", "the input matrix flag")
        if quantized:
            raise cur.error(
                "this is a quantized fastText model (made by `fasttext quantize`, often "
                "saved as .ftz); quantized models are not supported",
                offset=cur.pos - 1,
                hint=_UNQUANTIZED,
            )
    rows, cols = cur.unpack("<2q", "the input matrix shape")
    dim, bucket = header.args["dim"], header.args["bucket"]
    if (rows, cols) != (nwords + bucket, dim):
        raise cur.error(
            f"the input matrix is {rows} x {cols}, but the header promises "
            f"{nwords} words + {bucket} buckets = {nwords + bucket} rows of {dim}",
            offset=cur.pos - 16,
        )
    cur.need(4 * rows * cols, f"the input matrix ({rows} x {cols} float32)")
    matrix = np.frombuffer(cur.mm, dtype="<f4", count=rows * cols, offset=cur.pos)
    cur.pos += 4 * rows * cols
    return matrix.reshape(rows, cols)


def _check_output_matrix(cur: _Cursor, header: _Header) -> None:
    """The output matrix is not needed, but it must be complete (else: truncated file)."""
    if header.new_format:
        (quantized,) = cur.unpack("<?", "the output matrix flag")
        if quantized:
            return  # a quantized output layer: its size is not simply rows x cols
    rows, cols = cur.unpack("<2q", "the output matrix shape")
    cur.need(4 * rows * cols, f"the output matrix ({rows} x {cols} float32)")
    cur.pos += 4 * rows * cols
    if cur.pos != cur.size:
        raise cur.error(
            f"{cur.size - cur.pos} unexpected bytes follow the end of the model",
            hint="The file is damaged, or two files were joined",
        )


def read_fasttext_bin(options: ReadOptions, problems: Problems) -> Parsed:
    """Read a fastText ``.bin`` model."""
    path = options.path
    size = path.stat().st_size
    if size == 0:
        raise FormatError("the file is empty", path=path, hint="Download or save it again")
    with open(path, "rb") as f:
        mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    try:
        cur = _Cursor(mm, size, path)
        header = _read_header(cur)
        vocab = _read_dictionary(cur, header, options)
        matrix = _read_input_matrix(cur, header, len(vocab.words))
        _check_output_matrix(cur, header)
        parsed = _build(matrix, header, vocab, options, problems)
        del matrix
    finally:
        close_map(mm)
    return parsed


def _build(
    matrix: np.ndarray,
    header: _Header,
    vocab: _Dictionary,
    options: ReadOptions,
    problems: Problems,
) -> Parsed:
    args = header.args
    nwords = len(vocab.words)
    want = options.want(nwords)
    tokens: list[str] = []
    keep: list[int] = []
    for i in range(want):
        raw = vocab.words[i]
        try:
            tokens.append(raw.decode(options.encoding))
            keep.append(i)
        except UnicodeDecodeError:
            message, hint = undecodable_message(raw, options.encoding)
            problems.report("undecodable", message, offset=vocab.places[i], hint=hint)
    ngrams = np.array(matrix[nwords:], dtype=np.float32)
    kept = np.asarray(keep, dtype=np.int64)
    word_rows = np.array(matrix[kept], dtype=np.float32)
    minn, maxn = args["minn"], args["maxn"]
    if len(ngrams) and maxn >= max(minn, 1):
        raw_words = [vocab.words[i] for i in keep]
        for lo in range(0, len(raw_words), _COMPOSE_STEP):
            part = raw_words[lo : lo + _COMPOSE_STEP]
            sums, counts = ngram_sums(part, ngrams, minn, maxn)
            rows = word_rows[lo : lo + len(part)]
            rows += sums
            rows /= (counts + 1).astype(np.float32)[:, None]
    subwords = FastTextSubwords(
        ngrams,
        minn=minn,
        maxn=maxn,
        words=tokens,
        word_vectors=word_rows,
        encoding=options.encoding,
    )
    meta = {
        "format": "fasttext-bin",
        "fasttext": {
            "version": header.version,
            **args,
            "model": _MODELS.get(args["model"], args["model"]),
            "loss": _LOSSES.get(args["loss"], args["loss"]),
            "nwords": nwords,
            "ntokens": vocab.ntokens,
        },
    }
    if vocab.labels:
        meta["labels"] = [label.decode(options.encoding, "replace") for label in vocab.labels]
    vectors = word_rows.astype(options.dtype, copy=False)
    places = [vocab.places[i] for i in keep]
    return Parsed(tokens, vectors, meta, places=places, place_kind="offset", subwords=subwords)
