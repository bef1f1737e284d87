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

Every header field is checked against what fastText writes and what the
file's size allows (``dim``, ``bucket`` and the dictionary sizes must fit in
the bytes that follow; ``minn`` and ``maxn`` are at most
:data:`~vocabgraft.subwords.fasttext.MAX_NGRAM`, 64), so a damaged
header is an error naming the field, never a huge allocation or an endless
n-gram loop. Word vectors and n-gram rows must be finite: under
``on_error="skip"`` a word with nan or inf is dropped and a bucket row with
them is zeroed, each counted under ``non_finite``.

Quantized models (``.ftz``) and pruned dictionaries are not supported.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from vocabgraft.errors import FormatError
from vocabgraft.io._bytes import ByteReader
from vocabgraft.io._common import Parsed, Problems, ReadOptions, progress_bar, undecodable_message
from vocabgraft.subwords.fasttext import MAX_NGRAM, FastTextSubwords, ngram_sums

__all__ = ["FASTTEXT_MAGIC", "read_fasttext_bin"]

FASTTEXT_MAGIC = 793712314
_NEWEST_VERSION = 12
_ARGS = ("dim", "ws", "epoch", "min_count", "neg", "word_ngrams", "loss", "model", "bucket")
_ARGS_TAIL = ("minn", "maxn", "lr_update_rate")
_MODELS = {1: "cbow", 2: "skipgram", 3: "supervised"}
_LOSSES = {1: "hs", 2: "ns", 3: "softmax", 4: "ova"}
_INT32_MAX = 2**31 - 1
# The range of each int32 argument; dim, bucket are also bounded by the file size.
_RANGES = {
    "dim": (1, 1 << 20),
    "loss": (1, 4),
    "model": (1, 3),
    "minn": (0, MAX_NGRAM),
    "maxn": (0, MAX_NGRAM),
}
# Each dictionary entry takes at least a NUL, an int64 count and an int8 type.
_MIN_ENTRY = 10
# Word rows are composed in slices of this many words (bounds the memory used).
_COMPOSE_STEP = 1 << 15


_DAMAGED = "The file is damaged or not a fastText model"
_UNQUANTIZED = "Use the unquantized .bin model or its .vec file"


@dataclass
class _Header:
    new_format: bool
    version: int | None
    args: dict[str, Any]


def _read_header(cur: ByteReader) -> _Header:
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
    _check_args(cur, args, base=8 if new else 0)
    if new and version == 11 and args["model"] == 3:
        # fastText: supervised models of version 11 did not use character n-grams.
        args["maxn"] = 0
    return _Header(new, version if new else None, args)


def _check_args(cur: ByteReader, args: dict[str, Any], base: int) -> None:
    """Each argument within what fastText writes; dim and bucket within the file's size."""
    names = (*_ARGS, *_ARGS_TAIL)
    for i, name in enumerate(names):
        lo, hi = _RANGES.get(name, (0, _INT32_MAX))
        _check_field(cur, name, args[name], base + 4 * i, lo, hi)
    room = cur.remaining
    if room is not None and args["bucket"] * 4 * args["dim"] > room:
        raise _field_error(
            cur,
            "bucket",
            args["bucket"],
            base + 32,
            f"at most {room // (4 * args['dim'])}, as the {room} bytes left in the file hold "
            f"no more rows of {args['dim']} float32",
        )
    if not (args["t"] >= 0 and np.isfinite(args["t"])):
        raise _field_error(cur, "t", args["t"], base + 48, "a finite number >= 0")


def _check_field(cur: ByteReader, name: str, value: int, offset: int, lo: int, hi: int) -> None:
    if not lo <= value <= hi:
        raise _field_error(cur, name, value, offset, f"{lo} to {hi} here")


def _field_error(
    cur: ByteReader, name: str, value: object, offset: int, allowed: str
) -> FormatError:
    return cur.error(
        f"the header field {name} is {value}, but a fastText model allows {allowed}",
        offset=offset,
        hint="The file is damaged or not a fastText .bin model; pass format= to name another "
        "format",
    )


@dataclass
class _Dictionary:
    words: list[bytes]
    places: list[int]
    labels: list[bytes]
    ntokens: int


def _read_sizes(cur: ByteReader, header: _Header) -> tuple[int, int, int, int, int]:
    """``(size, nwords, nlabels, ntokens, prune)``, checked against each other and the file."""
    at = cur.pos
    size, nwords, nlabels = cur.unpack("<3i", "the dictionary sizes")
    (ntokens,) = cur.unpack("<q", "the dictionary sizes")
    prune = -1
    if header.new_format:
        (prune,) = cur.unpack("<q", "the dictionary sizes")
    if min(size, nwords, nlabels) < 0 or size != nwords + nlabels:
        raise cur.error(
            f"the dictionary says {size} entries, {nwords} words and {nlabels} labels, "
            "which do not add up",
            offset=at,
            hint=_DAMAGED,
        )
    room = cur.remaining
    if room is not None and size * _MIN_ENTRY > room:
        raise _field_error(
            cur,
            "size",
            size,
            at,
            f"at most {room // _MIN_ENTRY}, as the {room} bytes left in the file hold no "
            f"more entries of {_MIN_ENTRY} bytes or more",
        )
    _check_field(cur, "ntokens", ntokens, at + 12, 0, 2**63 - 1)
    if prune < -1:
        raise _field_error(cur, "pruneidx_size", prune, at + 20, "-1 (not pruned) or more")
    return size, nwords, nlabels, ntokens, prune


def _read_dictionary(cur: ByteReader, header: _Header, options: ReadOptions) -> _Dictionary:
    size, nwords, nlabels, ntokens, prune = _read_sizes(cur, header)
    words: list[bytes] = []
    places: list[int] = []
    labels: list[bytes] = []
    bar = progress_bar(options, size, f"reading {options.path.name} dictionary", unit="word")
    with bar:
        for i in range(size):
            start = cur.pos
            raw = cur.until(b"\0", f"entry {i + 1} of the dictionary")
            _count, kind = cur.unpack("<qb", f"entry {i + 1} of the dictionary")
            if kind != (0 if i < nwords else 1):
                raise cur.error(
                    f"dictionary entry {i + 1} has type {kind}; fastText lists its {nwords} "
                    f"words (type 0) before its {nlabels} labels (type 1)",
                    offset=start,
                    hint=_DAMAGED,
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


def _read_input_matrix(
    cur: ByteReader, header: _Header, nwords: int
) -> tuple[np.ndarray, np.ndarray]:
    """The input matrix, read into memory: its word rows and its n-gram rows."""
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
            hint=_DAMAGED,
        )
    what = f"the input matrix ({rows} x {cols} float32)"
    own = cur.array(nwords * cols, "<f4", what).reshape(nwords, cols)
    ngrams = cur.array(bucket * cols, "<f4", what).reshape(bucket, cols)
    return own, ngrams


def _check_output_matrix(cur: ByteReader, header: _Header) -> None:
    """The output matrix is not needed, but it must be complete (else: truncated file)."""
    if header.new_format:
        (quantized,) = cur.unpack("<?", "the output matrix flag")
        if quantized:
            return  # a quantized output layer: its size is not simply rows x cols
    rows, cols = cur.unpack("<2q", "the output matrix shape")
    if rows < 0 or cols < 0:
        raise cur.error(f"the output matrix is {rows} x {cols}", offset=cur.pos - 16, hint=_DAMAGED)
    cur.skip(4 * rows * cols, f"the output matrix ({rows} x {cols} float32)")
    if not cur.at_end():
        extra = "some" if cur.size is None else str(cur.size - cur.pos)
        raise cur.error(
            f"{extra} unexpected bytes follow the end of the model",
            hint="The file is damaged, or two files were joined",
        )


def read_fasttext_bin(options: ReadOptions, problems: Problems) -> Parsed:
    """Read a fastText ``.bin`` model."""
    source = options.opened()
    if source.size == 0:
        raise FormatError("the file is empty", path=source.label, hint="Download or save it again")
    with source.open() as stream:
        cur = ByteReader(stream, source.label, source.size)
        header = _read_header(cur)
        vocab = _read_dictionary(cur, header, options)
        own, ngrams = _read_input_matrix(cur, header, len(vocab.words))
        _check_output_matrix(cur, header)
    return _build(own, ngrams, header, vocab, options, problems)


def _decode_words(vocab: _Dictionary, options: ReadOptions, problems: Problems) -> list[int]:
    """The indices of the first ``limit`` words that decode (the others are reported)."""
    keep: list[int] = []
    for i in range(options.want(len(vocab.words))):
        raw = vocab.words[i]
        try:
            raw.decode(options.encoding)
            keep.append(i)
        except UnicodeDecodeError:
            message, hint = undecodable_message(raw, options.encoding)
            problems.report("undecodable", message, offset=vocab.places[i], hint=hint)
    return keep


def _finite_ngrams(ngrams: np.ndarray, problems: Problems) -> None:
    """Report n-gram rows with nan or inf; under ``on_error="skip"`` they become zeros."""
    bad = np.flatnonzero(~np.isfinite(ngrams).all(axis=1))
    for b in bad.tolist():
        problems.report(
            "non_finite",
            f"n-gram bucket {b} holds nan or inf; vectors must be finite",
            row=b,
            hint="The model is damaged; pass on_error='skip' to zero such buckets",
        )
    ngrams[bad] = 0.0


def _compose_words(
    word_rows: np.ndarray, raw_words: list[bytes], ngrams: np.ndarray, minn: int, maxn: int
) -> None:
    """Compose fastText's word vectors in place: the mean of a word's own row and n-gram rows."""
    if not len(ngrams) or maxn < max(minn, 1) or not raw_words:
        return
    # n-grams longer than the longest word (with its < >) add nothing: stop there.
    top = min(maxn, max(map(len, raw_words)) + 2)
    for lo in range(0, len(raw_words), _COMPOSE_STEP):
        part = raw_words[lo : lo + _COMPOSE_STEP]
        sums, counts = ngram_sums(part, ngrams, minn, top)
        rows = word_rows[lo : lo + len(part)]
        rows += sums
        rows /= (counts + 1).astype(np.float32)[:, None]


def _finite_words(
    word_rows: np.ndarray, keep: list[int], vocab: _Dictionary, problems: Problems
) -> tuple[np.ndarray, list[int]]:
    """Drop (or refuse) words whose vector holds nan or inf."""
    finite = np.isfinite(word_rows).all(axis=1)
    if finite.all():
        return word_rows, keep
    for k in np.flatnonzero(~finite).tolist():
        i = keep[k]
        problems.report(
            "non_finite",
            f"the vector of {vocab.words[i][:60]!r} holds nan or inf; vectors must be finite",
            offset=vocab.places[i],
        )
    return word_rows[finite], [i for i, ok in zip(keep, finite.tolist()) if ok]


def _build(
    own: np.ndarray,
    ngrams: np.ndarray,
    header: _Header,
    vocab: _Dictionary,
    options: ReadOptions,
    problems: Problems,
) -> Parsed:
    args = header.args
    nwords = len(vocab.words)
    keep = _decode_words(vocab, options, problems)
    _finite_ngrams(ngrams, problems)
    word_rows = own if len(keep) == nwords else own[np.asarray(keep, dtype=np.int64)]
    minn, maxn = args["minn"], args["maxn"]
    with np.errstate(over="ignore", invalid="ignore"):
        _compose_words(word_rows, [vocab.words[i] for i in keep], ngrams, minn, maxn)
    word_rows, keep = _finite_words(word_rows, keep, vocab, problems)
    tokens = [vocab.words[i].decode(options.encoding) for i in keep]
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
