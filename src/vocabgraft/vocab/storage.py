"""A Vocab on disk: one safetensors file, memory-mapped, checked field by field on load.

The file holds the tokens as one UTF-8 blob with offsets, a sorted 64-bit
hash index, and the specials and policy as metadata. Opening it costs no
per-token work, yet everything that would make a lookup silently wrong is
refused on load with a :class:`~vocabgraft.errors.FormatError` naming the file
and the field: offsets that decrease or split a character, a blob that is not
UTF-8, hashes that do not match the tokens (a sample of them is rehashed;
``mmap=False`` checks every token), duplicate tokens, an unknown ``oov``
policy, a negative ``num_buckets``, and ids out of range.
"""

from __future__ import annotations

import hashlib
import os
from bisect import bisect_left
from collections.abc import Mapping, Sequence
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from vocabgraft import _safetensors
from vocabgraft.errors import FormatError

if TYPE_CHECKING:
    from vocabgraft.vocab.core import Vocab

_V = TypeVar("_V", bound="Vocab")

__all__ = [
    "FORMAT",
    "POLICIES",
    "VERSION",
    "Packed",
    "check_meta",
    "load_vocab",
    "open_checked",
    "pack",
    "stable_hash",
    "vocab_state",
]

FORMAT = "vocabgraft.vocab"
VERSION = "1"
POLICIES = ("unk", "hash", "raise")
# Tokens rehashed on a memory-mapped load, to catch a blob that does not match its index.
_SAMPLE = 256
_DAMAGED = "The file is damaged; save the vocabulary again"
# What a damaged safetensors header can make the reader raise before it knows better.
_READ_ERRORS = (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError)


def stable_hash(token: str) -> int:
    """A 64-bit hash of ``token`` that is the same in every process and on every machine.

    Python's ``hash`` is salted per process, so it cannot pick OOV buckets or
    index a saved vocabulary. Lone surrogates are hashed as written.

    >>> stable_hash("television") == stable_hash("television")
    True
    """
    data = token.encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


def hashes(tokens: Sequence[str]) -> np.ndarray:
    """:func:`stable_hash` of each token, as uint64."""
    return np.fromiter((stable_hash(t) for t in tokens), dtype=np.uint64, count=len(tokens))


def pack(tokens: Sequence[str]) -> dict[str, np.ndarray]:
    """The arrays a saved vocabulary holds: blob, offsets, sorted hashes and their order."""
    encoded = [t.encode("utf-8", "surrogatepass") for t in tokens]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(b) for b in encoded], out=offsets[1:])
    blob = np.frombuffer(b"".join(encoded), dtype=np.uint8)
    h = hashes(tokens)
    order = np.argsort(h, kind="stable").astype(np.int64)
    return {"blob": blob, "offsets": offsets, "sorted_hashes": h[order], "order": order}


class Packed:
    """A saved vocabulary, memory-mapped: UTF-8 blob, offsets, and a sorted hash index.

    A lookup bisects the sorted 64-bit hashes, then compares the stored
    bytes, which rules out collisions. The arrays are read through
    memoryviews: plain Python ints, no numpy scalar overhead per token.
    """

    def __init__(self, arrays: Mapping[str, np.ndarray]) -> None:
        self.arrays = dict(arrays)
        self._blob = np.ascontiguousarray(arrays["blob"]).data.cast("B")
        self._offsets = (
            np.ascontiguousarray(arrays["offsets"], dtype=np.int64).data.cast("B").cast("q")
        )
        self._hashes = (
            np.ascontiguousarray(arrays["sorted_hashes"], dtype=np.uint64).data.cast("B").cast("Q")
        )
        self._order = np.ascontiguousarray(arrays["order"], dtype=np.int64).data.cast("B").cast("q")

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def token(self, i: int) -> str:
        """The token with id ``i``."""
        return bytes(self._blob[self._offsets[i] : self._offsets[i + 1]]).decode(
            "utf-8", "surrogatepass"
        )

    def tokens(self) -> list[str]:
        """Every token, in id order (the blob is decoded once, then sliced)."""
        raw = np.asarray(self.arrays["blob"], dtype=np.uint8)
        offsets = np.asarray(self.arrays["offsets"], dtype=np.int64)
        text = raw.tobytes().decode("utf-8", "surrogatepass")
        if len(text) != len(raw):
            # Byte offsets to character offsets: drop the UTF-8 continuation bytes before each.
            continuation = np.concatenate([[0], np.cumsum((raw & 0xC0) == 0x80)])
            offsets = offsets - continuation[offsets]
        bounds = offsets.tolist()
        return [text[a:b] for a, b in pairwise(bounds)]

    def find_one(self, token: str) -> int:
        """The id of ``token``, or -1."""
        h = stable_hash(token)
        sorted_h, order, offsets, blob = self._hashes, self._order, self._offsets, self._blob
        p = bisect_left(sorted_h, h)
        want = token.encode("utf-8", "surrogatepass")
        # Equal 64-bit hashes sit next to each other; check each.
        while p < len(sorted_h) and sorted_h[p] == h:
            i = order[p]
            if blob[offsets[i] : offsets[i + 1]] == want:
                return i
            p += 1
        return -1

    def find(self, tokens: Sequence[str]) -> np.ndarray:
        """Ids of ``tokens``, -1 where absent.

        One ``searchsorted`` for the whole batch, then a byte comparison per
        hit; a mismatch (another token with the same hash next to it) falls
        back to :meth:`find_one`, which walks the run of equal hashes.
        """
        out = np.full(len(tokens), -1, dtype=np.int64)
        n = len(self)
        if n == 0 or not tokens:
            return out
        sorted_h = self.arrays["sorted_hashes"]
        want = hashes(tokens)
        pos = np.minimum(np.searchsorted(sorted_h, want), n - 1)
        hit = np.flatnonzero(sorted_h[pos] == want)
        ids = self.arrays["order"][pos[hit]]
        offsets = self.arrays["offsets"]
        blob = self._blob
        for j, i, a, b in zip(
            hit.tolist(), ids.tolist(), offsets[ids].tolist(), offsets[ids + 1].tolist()
        ):
            token = tokens[j]
            out[j] = (
                i if blob[a:b] == token.encode("utf-8", "surrogatepass") else self.find_one(token)
            )
        return out


def open_checked(
    path: Path, *, mmap: bool, names: tuple[str, ...] = (), hint: str = _DAMAGED
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Open a safetensors file of a cache; any damage is a FormatError naming it.

    Args:
        path: the file.
        mmap: map it rather than read it.
        names: tensors that must be present.
        hint: what to do about a damaged file.

    Returns:
        The arrays and the string metadata.

    Raises:
        FormatError: missing, unreadable, damaged, or lacking one of ``names``.
    """
    if not path.is_file():
        raise FormatError("missing from the cache (or not a regular file)", path=path, hint=hint)
    try:
        arrays, meta = _safetensors.open_arrays(path, mmap=mmap)
    except FormatError:
        raise
    except OSError as exc:
        raise FormatError(f"cannot be read ({exc.strerror or exc})", path=path) from None
    except _READ_ERRORS as exc:
        raise FormatError(
            f"its safetensors header is damaged ({type(exc).__name__}: {exc})",
            path=path,
            hint=hint,
        ) from None
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise FormatError("field __metadata__ is not a string mapping", path=path, hint=hint)
    for name in names:
        if name not in arrays:
            raise FormatError(
                f"has no tensor {name!r} (found: {sorted(arrays)})", path=path, hint=hint
            )
    return arrays, meta


def _fail(path: str | os.PathLike[str], field: str, what: str) -> FormatError:
    return FormatError(f"field {field!r}: {what}", path=path, hint=_DAMAGED)


def _array(
    arrays: Mapping[str, np.ndarray], name: str, kind: str, path: str | os.PathLike[str]
) -> np.ndarray:
    """Tensor ``name``, 1-D, of dtype kind ``kind`` ('u' or 'i')."""
    if name not in arrays:
        raise _fail(path, name, f"missing (the file holds {sorted(arrays)})")
    a = arrays[name]
    if a.ndim != 1 or a.dtype.kind != kind or a.dtype.itemsize != (1 if name == "blob" else 8):
        raise _fail(path, name, f"has shape {a.shape} and dtype {a.dtype}")
    return a


def _covers(order: np.ndarray, n: int) -> bool:
    """Whether ``n`` in-range ids hit every id once (a permutation), in O(n) without sorting."""
    seen = np.zeros(n, dtype=bool)
    seen[order] = True
    return bool(seen.all())


def check_arrays(arrays: Mapping[str, np.ndarray], path: str | os.PathLike[str]) -> int:
    """Check a saved vocabulary's arrays; return its size. Costs O(size) numpy, no Python loop."""
    blob = _array(arrays, "blob", "u", path)
    offsets = _array(arrays, "offsets", "i", path)
    sorted_h = _array(arrays, "sorted_hashes", "u", path)
    order = _array(arrays, "order", "i", path)
    n = len(offsets) - 1
    if n < 0 or offsets[0] != 0 or offsets[-1] != len(blob):
        raise _fail(path, "offsets", f"must run from 0 to the blob's {len(blob)} bytes")
    steps = np.diff(offsets)
    if (steps < 0).any():
        at = int(np.flatnonzero(steps < 0)[0])
        raise _fail(path, "offsets", f"decrease at token {at} ({offsets[at]} -> {offsets[at + 1]})")
    if len(sorted_h) != n or len(order) != n:
        raise _fail(path, "order", f"sorted_hashes and order must have {n} entries, one per token")
    if n and (order.min() < 0 or order.max() >= n or not _covers(order, n)):
        raise _fail(path, "order", f"is not a permutation of the ids 0..{n - 1}")
    if n > 1 and (sorted_h[1:] < sorted_h[:-1]).any():
        raise _fail(path, "sorted_hashes", "are not sorted")
    starts = offsets[:-1][steps > 0]
    if len(starts) and ((np.asarray(blob)[starts] & 0xC0) == 0x80).any():
        raise _fail(path, "offsets", "split a UTF-8 character between two tokens")
    try:
        bytes(blob).decode("utf-8", "surrogatepass")
    except UnicodeDecodeError as exc:
        raise _fail(path, "blob", f"is not UTF-8 at byte {exc.start}") from None
    return n


def check_index(packed: Packed, path: str | os.PathLike[str], *, full: bool) -> None:
    """Rehash a sample of tokens (every token when ``full``) against the stored index."""
    n = len(packed)
    order = packed.arrays["order"]
    position = np.empty(n, dtype=np.int64)
    position[order] = np.arange(n)
    ids = np.arange(n) if full else np.unique(np.linspace(0, n - 1, min(n, _SAMPLE)).astype(int))
    stored = packed.arrays["sorted_hashes"][position[ids]]
    tokens = [packed.token(int(i)) for i in ids] if not full else packed.tokens()
    bad = np.flatnonzero(hashes(tokens) != stored)
    if len(bad):
        i = int(ids[bad[0]])
        raise _fail(path, "sorted_hashes", f"do not match token {i} ({tokens[bad[0]]!r})")
    sorted_h = packed.arrays["sorted_hashes"]
    same = np.flatnonzero(sorted_h[1:] == sorted_h[:-1])
    for p in same.tolist():
        a, b = int(order[p]), int(order[p + 1])
        if packed.token(a) == packed.token(b):
            raise _fail(
                path, "blob", f"token {packed.token(a)!r} appears twice, at ids {a} and {b}"
            )


def _int(meta: Mapping[str, str], field: str, path: str | os.PathLike[str], *, empty: bool) -> Any:
    raw = meta.get(field)
    if raw is None:
        raise _fail(path, field, "missing from the metadata")
    if empty and raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise _fail(path, field, f"is {raw!r}, not an integer") from None


def check_meta(
    meta: Mapping[str, str], arrays: Mapping[str, np.ndarray], n: int, path: str | os.PathLike[str]
) -> dict[str, Any]:
    """The checked metadata: policy, pad and unk ids, buckets, specials, counts, default index."""
    oov = meta.get("oov")
    if oov not in POLICIES:
        raise _fail(path, "oov", f"is {oov!r}; the policies are {list(POLICIES)}")
    out: dict[str, Any] = {"oov": oov}
    for field in ("pad", "unk", "default_index"):
        optional = field == "default_index" and field not in meta
        value = None if optional else _int(meta, field, path, empty=True)
        if value is not None and not 0 <= value < n:
            raise _fail(path, field, f"id {value} is out of range for {n} tokens")
        out[field] = value
    start = _int(meta, "bucket_start", path, empty=False)
    buckets = _int(meta, "num_buckets", path, empty=False)
    if buckets < 0 or not 0 <= start <= n - buckets:
        raise _fail(path, "num_buckets", f"{buckets} buckets from id {start} do not fit {n} tokens")
    if (oov == "hash") != (buckets > 0) or (oov == "unk" and out["unk"] is None):
        raise _fail(
            path, "oov", f"policy {oov!r} does not fit num_buckets={buckets}, unk={out['unk']}"
        )
    out["bucket_start"], out["num_buckets"] = start, buckets
    specials = _array(arrays, "special_ids", "i", path) if "special_ids" in arrays else None
    if specials is None:
        raise _fail(path, "special_ids", "missing")
    if len(specials) and (specials.min() < 0 or specials.max() >= n):
        raise _fail(path, "special_ids", f"hold an id out of range for {n} tokens")
    out["special_ids"] = specials.tolist()
    counts = arrays.get("counts")
    if counts is not None and (counts.shape != (n,) or counts.dtype.kind not in "iu"):
        raise _fail(
            path, "counts", f"has shape {counts.shape} and dtype {counts.dtype}, not ({n},)"
        )
    out["counts"] = None if counts is None else np.array(counts, dtype=np.int64)
    return out


def check_file_meta(meta: Mapping[str, str], path: Path) -> None:
    """Refuse a file that is not a vocabulary of a version this vocabgraft reads."""
    if meta.get("format") != FORMAT:
        raise FormatError(
            f"not a vocabgraft vocabulary (format={meta.get('format')!r})",
            path=path,
            hint="Write it with Vocab.save",
        )
    if meta.get("version") != VERSION:
        raise FormatError(
            f"vocabulary format version {meta.get('version')!r} is not supported "
            f"(this vocabgraft reads version {VERSION})",
            path=path,
            hint="Upgrade vocabgraft, or save the vocabulary again",
        )


def vocab_state(vocab: Vocab) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The arrays and metadata :func:`load_vocab` reads back."""
    arrays = pack(vocab.tokens)
    if vocab._counts is not None:
        arrays["counts"] = vocab._counts
    arrays["special_ids"] = np.array(vocab.lookup_exact(vocab._specials), dtype=np.int64)
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "oov": vocab._oov,
        "pad": "" if vocab.pad_id is None else str(vocab.pad_id),
        "unk": "" if vocab.unk_id is None else str(vocab.unk_id),
        "bucket_start": str(vocab._bucket_start),
        "num_buckets": str(vocab._num_buckets),
    }
    if vocab._default_index is not None:
        meta["default_index"] = str(vocab._default_index)
    return arrays, meta


def load_vocab(cls: type[_V], path: Path, *, mmap: bool) -> _V:
    """Open and check a vocabulary file (see :meth:`Vocab.load`)."""
    arrays, meta = open_checked(path, mmap=mmap)
    check_file_meta(meta, path)
    n = check_arrays(arrays, path)
    facts = check_meta(meta, arrays, n, path)
    packed = Packed(arrays)
    check_index(packed, path, full=not mmap)
    new = cls.__new__(cls)
    new._packed = packed
    new._tokens = None
    new._index = None
    new._specials = list(dict.fromkeys(packed.token(i) for i in facts["special_ids"]))
    new._pad = None if facts["pad"] is None else packed.token(facts["pad"])
    new._unk = None if facts["unk"] is None else packed.token(facts["unk"])
    new._oov = facts["oov"]
    new._bucket_start = facts["bucket_start"]
    new._num_buckets = facts["num_buckets"]
    new._counts = facts["counts"]
    new._default_index = facts["default_index"]
    if not mmap:
        new._materialize()
    return new
