"""EmbeddingTable: a matrix of vectors with the vocabulary that names its rows.

A table saves to a cache folder (safetensors, memory-mapped on load), so a
400,000-row table reopens in milliseconds whatever its size.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeVar, overload, runtime_checkable

import numpy as np

from vocabgraft._safetensors import atomic_dir, atomic_path, open_arrays, save_arrays
from vocabgraft.errors import FormatError, VocabError
from vocabgraft.vocab.core import Vocab

__all__ = ["EmbeddingTable", "SubwordModel", "register_subword_model"]

_FORMAT = "vocabgraft.table"
_VERSION = 2
# Version 2 may store a subword array equal to the table's vectors once (see _write);
# version 1 caches read the same way.
_READS = (1, 2)
_META_FILE = "table.json"
_VECTORS_FILE = "vectors.safetensors"
_VOCAB_FILE = "vocab.safetensors"
_SUBWORD_FILE = "subwords.safetensors"


@runtime_checkable
class SubwordModel(Protocol):
    """Anything that can build a vector for any word from its pieces.

    fastText's n-gram buckets (:class:`vocabgraft.subwords.FastTextSubwords`) and
    the subword model fitted on a table without n-grams both implement it, so
    a table can carry one and save it in its cache.
    """

    kind: ClassVar[str]

    @property
    def dim(self) -> int: ...

    def compose(self, words: Sequence[str]) -> np.ndarray:
        """Vectors for ``words`` (len(words) x dim, float32)."""
        ...

    def to_state(self) -> tuple[dict[str, np.ndarray], dict[str, str]]: ...

    @classmethod
    def from_state(
        cls, arrays: Mapping[str, np.ndarray], meta: Mapping[str, str]
    ) -> SubwordModel: ...


_SUBWORD_KINDS: dict[str, type[SubwordModel]] = {}
_S = TypeVar("_S", bound=type)


def register_subword_model(cls: _S) -> _S:
    """Class decorator: let table caches save and load this subword model by its ``kind``."""
    _SUBWORD_KINDS[cls.kind] = cls  # type: ignore[attr-defined]
    return cls


def _checksum(vectors: np.ndarray) -> str:
    """blake2b of the raw bytes, in 64 MB slices so a memory map is not read all at once."""
    h = hashlib.blake2b(digest_size=16)
    flat = vectors.reshape(-1).view(np.uint8)
    step = 64 << 20
    for i in range(0, flat.size, step):
        h.update(flat[i : i + step].data)
    return h.hexdigest()


class EmbeddingTable:
    """Vectors plus the vocabulary that names their rows.

    Args:
        vectors: an ``(N, D)`` array; row ``i`` is the vector of ``vocab``'s id ``i``.
            Kept as given (no copy), so it may be a read-only memory map.
        vocab: a :class:`Vocab`, or the ``N`` tokens in row order.
        source: where the vectors came from (a path, a model name); kept in the cache.
        meta: any further JSON-serialisable facts (format, header, skipped rows).
        subwords: an optional model that composes vectors for any word.

    >>> import numpy as np
    >>> t = EmbeddingTable(np.eye(3, dtype=np.float32), ["tv", "television", "radio"])
    >>> t["tv"].tolist()
    [1.0, 0.0, 0.0]
    >>> t.most_similar("tv", k=1)
    [('television', 0.0)]
    """

    def __init__(
        self,
        vectors: np.ndarray,
        vocab: Vocab | Sequence[str],
        *,
        source: str | None = None,
        meta: Mapping[str, Any] | None = None,
        subwords: SubwordModel | None = None,
    ) -> None:
        if not isinstance(vectors, np.ndarray):
            raise TypeError(
                f"vectors must be a numpy array. Received: {type(vectors).__name__}; "
                "use np.asarray(...) or tensor.numpy() first"
            )
        if vectors.ndim != 2:
            raise ValueError(f"vectors must be 2-D (rows x dims). Received shape {vectors.shape}")
        if not np.issubdtype(vectors.dtype, np.floating):
            raise ValueError(f"vectors must be floating point. Received dtype {vectors.dtype}")
        if not isinstance(vocab, Vocab):
            vocab = Vocab(vocab)
        if len(vocab) != len(vectors):
            raise VocabError(
                f"the vocabulary has {len(vocab)} tokens but vectors has {len(vectors)} rows; "
                "they must match one to one"
            )
        if subwords is not None and subwords.dim != vectors.shape[1]:
            raise ValueError(
                f"subwords give {subwords.dim}-d vectors but the table is {vectors.shape[1]}-d"
            )
        self.vectors = vectors
        self.vocab = vocab
        self.source = source
        self.meta: dict[str, Any] = dict(meta or {})
        self.subwords = subwords
        self._unit: np.ndarray | None = None

    # -- shape ------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.vectors)

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    @property
    def dtype(self) -> np.dtype[Any]:
        return self.vectors.dtype

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self.vectors), self.dim)

    def __contains__(self, token: object) -> bool:
        return token in self.vocab

    def __repr__(self) -> str:
        src = f", source={self.source!r}" if self.source else ""
        return f"EmbeddingTable({len(self)} x {self.dim}, dtype={self.dtype}{src})"

    # -- lookups ----------------------------------------------------------------------

    @overload
    def __getitem__(self, key: str) -> np.ndarray: ...
    @overload
    def __getitem__(self, key: Sequence[str]) -> np.ndarray: ...
    def __getitem__(self, key: str | Sequence[str]) -> np.ndarray:
        """The vector of one token, or an ``(n, D)`` array for a list of tokens.

        Raises :class:`TokenNotFoundError` (a ``KeyError``) for a missing token;
        :meth:`lookup` applies the vocabulary's OOV policy instead.
        """
        if isinstance(key, str):
            return np.asarray(self.vectors[self.vocab[key]])
        ids = self.vocab.lookup_exact(key)
        return np.asarray(self.vectors[ids])

    def lookup(self, tokens: Iterable[str]) -> np.ndarray:
        """Vectors for ``tokens`` under the vocabulary's OOV policy."""
        return np.asarray(self.vectors[self.vocab.lookup(list(tokens))])

    def _unit_vectors(self) -> np.ndarray:
        if self._unit is None:
            v = np.asarray(self.vectors, dtype=np.float32)
            norms = np.linalg.norm(v, axis=1, keepdims=True)
            self._unit = v / np.where(norms == 0, 1, norms)
        return self._unit

    def norms(self) -> np.ndarray:
        """The L2 norm of every row (float32)."""
        return np.linalg.norm(np.asarray(self.vectors, dtype=np.float32), axis=1)

    @overload
    def most_similar(
        self, query: str | np.ndarray, k: int = ..., *, exclude: Iterable[str] = ...
    ) -> list[tuple[str, float]]: ...
    @overload
    def most_similar(
        self, query: Sequence[str], k: int = ..., *, exclude: Iterable[str] = ...
    ) -> list[list[tuple[str, float]]]: ...
    def most_similar(
        self,
        query: str | Sequence[str] | np.ndarray,
        k: int = 10,
        *,
        exclude: Iterable[str] = (),
    ) -> list[tuple[str, float]] | list[list[tuple[str, float]]]:
        """The ``k`` nearest rows by cosine similarity.

        ``query`` is a token, a vector, a list of tokens or an ``(n, D)`` array;
        a single query gives one list of ``(token, cosine)``, several give a list
        of lists. A token query never returns itself; ``exclude`` drops more.
        """
        if not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"k must be a positive integer. Received: k={k!r}")
        single = isinstance(query, str) or (isinstance(query, np.ndarray) and query.ndim == 1)
        if isinstance(query, str):
            query = [query]
        if isinstance(query, np.ndarray):
            q = np.atleast_2d(np.asarray(query, dtype=np.float32))
            if q.shape[1] != self.dim:
                raise ValueError(f"query vectors are {q.shape[1]}-d but the table is {self.dim}-d")
            self_ids = np.full(len(q), -1)
        else:
            words = list(query)
            self_ids = self.vocab.lookup_exact(words)
            q = np.asarray(self.vectors[self_ids], dtype=np.float32)
        excluded = self.vocab.lookup_exact(list(exclude)) if exclude else np.empty(0, np.int64)
        unit = self._unit_vectors()
        qn = np.linalg.norm(q, axis=1, keepdims=True)
        scores = (q / np.where(qn == 0, 1, qn)) @ unit.T
        rows = np.arange(len(q))
        scores[rows[self_ids >= 0], self_ids[self_ids >= 0]] = -np.inf
        scores[:, excluded] = -np.inf
        k = min(int(k), len(self))
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1, kind="stable")
        top = np.take_along_axis(top, order, axis=1)
        out = [
            [
                (self.vocab.token(int(i)), float(scores[r, i]))
                for i in top[r]
                if np.isfinite(scores[r, i])
            ]
            for r in range(len(q))
        ]
        return out[0] if single else out

    # -- derived tables ---------------------------------------------------------------

    def subset(self, tokens: Iterable[str]) -> EmbeddingTable:
        """A new in-memory table with just ``tokens``, in that order."""
        tokens = list(tokens)
        ids = self.vocab.lookup_exact(tokens)
        return EmbeddingTable(
            np.array(self.vectors[ids]),
            Vocab(tokens),
            source=self.source,
            meta={**self.meta, "subset_of": len(self)},
            subwords=self.subwords,
        )

    # -- cache ------------------------------------------------------------------------

    def save(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
        """Save to a cache folder that :meth:`load` (and :func:`vocabgraft.load`) opens by mmap.

        The folder holds ``vectors.safetensors``, ``vocab.safetensors``,
        ``table.json`` (dims, dtype, rows, source, checksum) and, when the table
        has one, ``subwords.safetensors`` (without any array that equals the
        vectors, such as a fastText model's word vectors, which are stored
        once and shared again on load). It is written beside the target and
        renamed into place, so an interrupted save never leaves a folder that
        loads.
        """
        target = Path(path)
        if target.exists() and not overwrite:
            raise FileExistsError(f"{target} exists; pass overwrite=True to replace it")
        with atomic_dir(target) as tmp:
            self._write(tmp)
        return target

    def _write(self, folder: Path) -> None:
        vectors = np.ascontiguousarray(self.vectors)
        save_arrays(folder / _VECTORS_FILE, {"vectors": vectors})
        self.vocab.save(folder / _VOCAB_FILE)
        info: dict[str, Any] = {
            "format": _FORMAT,
            "version": _VERSION,
            "rows": len(self),
            "dim": self.dim,
            "dtype": str(self.dtype),
            "source": self.source,
            "checksum": _checksum(vectors),
            "subwords": None,
            "meta": self.meta,
        }
        if self.subwords is not None:
            arrays, meta = self.subwords.to_state()
            # fastText's word vectors are the table itself: store them once.
            shared = sorted(k for k, a in arrays.items() if _same_array(a, self.vectors))
            save_arrays(
                folder / _SUBWORD_FILE, {k: a for k, a in arrays.items() if k not in shared}, meta
            )
            info["subwords"] = type(self.subwords).kind
            info["subword_arrays_from_vectors"] = shared
        # table.json is written last: a folder without it is not a table.
        with atomic_path(folder / _META_FILE) as tmp:
            tmp.write_text(json.dumps(info, indent=2, default=str), encoding="utf-8")

    @staticmethod
    def is_cache(path: str | os.PathLike[str]) -> bool:
        """Whether ``path`` is a table cache folder."""
        return (Path(path) / _META_FILE).is_file()

    @classmethod
    def load(
        cls, path: str | os.PathLike[str], *, mmap: bool = True, verify: bool = False
    ) -> EmbeddingTable:
        """Open a cache folder written by :meth:`save`.

        With ``mmap=True`` (the default) the vectors are a read-only memory map:
        opening costs milliseconds and pages load as rows are read. ``verify``
        recomputes the checksum (reads every byte).
        """
        folder = Path(path)
        meta_path = folder / _META_FILE
        if not meta_path.is_file():
            raise FormatError(
                "not a vocabgraft table cache (no table.json)",
                path=folder,
                hint="Create one with EmbeddingTable.save or `vocabgraft convert SRC DST`",
            )
        try:
            info = json.loads(meta_path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise FormatError(f"table.json is not valid JSON ({exc})", path=meta_path) from None
        if info.get("format") != _FORMAT or info.get("version") not in _READS:
            raise FormatError(
                f"unsupported cache format {info.get('format')!r} version {info.get('version')!r}",
                path=meta_path,
                hint=f"This vocabgraft reads {_FORMAT} versions {_READS}; convert the vectors again",
            )
        arrays, _ = open_arrays(folder / _VECTORS_FILE, mmap=mmap)
        vectors = arrays["vectors"]
        if vectors.shape != (info["rows"], info["dim"]) or str(vectors.dtype) != info["dtype"]:
            raise FormatError(
                f"vectors are {vectors.shape} {vectors.dtype}, but table.json says "
                f"({info['rows']}, {info['dim']}) {info['dtype']}",
                path=folder / _VECTORS_FILE,
                hint="The cache is damaged; convert the vectors again",
            )
        if verify and _checksum(vectors) != info["checksum"]:
            raise FormatError(
                "checksum mismatch: the vectors changed since the cache was written",
                path=folder / _VECTORS_FILE,
                hint="Convert the vectors again",
            )
        vocab = Vocab.load(folder / _VOCAB_FILE, mmap=mmap)
        subwords = None
        if info.get("subwords"):
            kind = info["subwords"]
            _import_subword_kinds()
            if kind not in _SUBWORD_KINDS:
                raise FormatError(
                    f"the cache holds a subword model of kind {kind!r}, which this vocabgraft "
                    f"does not know (known: {sorted(_SUBWORD_KINDS)})",
                    path=folder / _SUBWORD_FILE,
                )
            sw_arrays, sw_meta = open_arrays(folder / _SUBWORD_FILE, mmap=mmap)
            for name in info.get("subword_arrays_from_vectors", []):
                sw_arrays[name] = vectors
            subwords = _SUBWORD_KINDS[kind].from_state(sw_arrays, sw_meta)
        return cls(
            vectors, vocab, source=info.get("source"), meta=info.get("meta"), subwords=subwords
        )

    # -- conversion -------------------------------------------------------------------

    def to_dict(self) -> dict[str, np.ndarray]:
        """``{token: vector}`` (copies; for small tables and interop)."""
        return {t: np.array(self.vectors[i]) for i, t in enumerate(self.vocab.tokens)}

    def astype(self, dtype: Any) -> EmbeddingTable:
        """A copy with vectors of ``dtype``."""
        return EmbeddingTable(
            np.asarray(self.vectors, dtype=dtype),
            self.vocab,
            source=self.source,
            meta=self.meta,
            subwords=self.subwords,
        )


def _same_array(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether ``a`` holds exactly ``b`` (shape, dtype and every value)."""
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a is b or (a.ctypes.data == b.ctypes.data and a.strides == b.strides):
        return True
    return bool(np.array_equal(a, b))


_SUBWORD_MODULES = ("vocabgraft.subwords.fasttext", "vocabgraft.subwords.fitted")


def _import_subword_kinds(importer: Callable[[str], object] | None = None) -> None:
    """Import the modules that register subword models, so caches can name them."""
    import importlib

    for name in _SUBWORD_MODULES:
        try:
            (importer or importlib.import_module)(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
