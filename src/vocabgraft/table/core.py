"""EmbeddingTable: a matrix of vectors with the vocabulary that names its rows.

A table saves to a cache folder (safetensors, memory-mapped on load), so a
400,000-row table reopens in milliseconds whatever its size. Its vectors are
read-only: every lookup returns a read-only view or a copy, so no caller can
change a row behind the back of what was derived from it (neighbours, the
indexes and statistics :func:`vocabgraft.align` keeps on the table).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar, cast, overload

import numpy as np

from vocabgraft.errors import ArgumentError, ArgumentTypeError, VocabError
from vocabgraft.table.similarity import Similarities
from vocabgraft.table.subword_protocol import SubwordModel, register_subword_model
from vocabgraft.vocab.core import Vocab

__all__ = ["EmbeddingTable", "SubwordModel", "register_subword_model"]

_T = TypeVar("_T")


def _read_only(vectors: np.ndarray) -> np.ndarray:
    """``vectors`` itself when already read-only, else a read-only view of it (no copy)."""
    if not vectors.flags.writeable:
        return vectors
    view = vectors.view()
    view.flags.writeable = False
    return view


class EmbeddingTable(Similarities):
    """Vectors plus the vocabulary that names their rows.

    Args:
        vectors: an ``(N, D)`` array; row ``i`` is the vector of ``vocab``'s id ``i``.
            Kept without a copy, behind a read-only view (it may be a read-only
            memory map).
        vocab: a :class:`Vocab`, or the ``N`` tokens in row order.
        source: where the vectors came from (a path, a model name); kept in the cache.
        meta: any further JSON-serialisable facts (format, header, skipped rows).
        subwords: an optional model that composes vectors for any word; then
            ``table[word]`` and :meth:`most_similar` accept words the
            vocabulary lacks, as gensim's ``FastTextKeyedVectors`` does.

    Raises:
        ArgumentTypeError: ``vectors`` is not a numpy array.
        ArgumentError: ``vectors`` is not 2-D floating point, or ``subwords``
            has another width.
        VocabError: the vocabulary and the rows do not match one to one.

    >>> import numpy as np
    >>> t = EmbeddingTable(np.eye(3, dtype=np.float32), ["tv", "television", "radio"])
    >>> t["tv"].tolist()
    [1.0, 0.0, 0.0]
    >>> t.most_similar("tv", topn=1)
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
            raise ArgumentTypeError(
                f"vectors must be a numpy array. Received: {type(vectors).__name__}; "
                "use np.asarray(...) or tensor.numpy() first"
            )
        if vectors.ndim != 2:
            raise ArgumentError(
                f"vectors must be 2-D (rows x dims). Received shape {vectors.shape}"
            )
        if not np.issubdtype(vectors.dtype, np.floating):
            raise ArgumentError(f"vectors must be floating point. Received dtype {vectors.dtype}")
        if not isinstance(vocab, Vocab):
            vocab = Vocab(vocab)
        if len(vocab) != len(vectors):
            raise VocabError(
                f"the vocabulary has {len(vocab)} tokens but vectors has {len(vectors)} rows; "
                "they must match one to one"
            )
        if subwords is not None and subwords.dim != vectors.shape[1]:
            raise ArgumentError(
                f"subwords give {subwords.dim}-d vectors but the table is {vectors.shape[1]}-d"
            )
        self.vectors = _read_only(vectors)
        self.vocab = vocab
        self.source = source
        self.meta: dict[str, Any] = dict(meta or {})
        self.subwords = subwords
        self._derived: dict[str, tuple[int, Any]] = {}

    def derived(self, name: str, build: Callable[[], _T]) -> _T:
        """A value computed from this table once, then kept on it (indexes, statistics).

        The vectors are read-only, so a kept value stays true; it is rebuilt
        only if the vocabulary has grown since.

        Args:
            name: what the value is (one name per kind of value).
            build: computes it from the table.

        Returns:
            The kept value, or ``build()`` on the first call.
        """
        kept = self._derived.get(name)
        if kept is not None and kept[0] == len(self.vocab):
            return cast(_T, kept[1])
        value = build()
        self._derived[name] = (len(self.vocab), value)
        return value

    def checksum(self) -> str:
        """The checksum of the vectors' bytes (:func:`vocabgraft.table.checksum`), kept.

        A table opened from a cache takes the one its ``table.json`` stores,
        so that naming it costs nothing; ``load(..., verify=True)`` checks it.
        """
        from vocabgraft.table.checksum import checksum

        return self.derived("checksum", lambda: checksum([np.ascontiguousarray(self.vectors)]))

    # -- shape ------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.vectors)

    @property
    def dim(self) -> int:
        """The width of the vectors."""
        return int(self.vectors.shape[1])

    @property
    def dtype(self) -> np.dtype[Any]:
        """The vectors' dtype, as stored (a float16 cache stays float16)."""
        return self.vectors.dtype

    @property
    def shape(self) -> tuple[int, int]:
        """``(rows, dim)``."""
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
        """The vector of one token (a read-only view), or an ``(n, D)`` array for a list.

        A token the vocabulary lacks is composed by the table's subword model
        when it has one (fastText); otherwise it raises
        :class:`TokenNotFoundError` (a ``KeyError``). :meth:`lookup` applies
        the vocabulary's OOV policy instead.
        """
        if isinstance(key, str):
            i = self.vocab.get(key)
            if i is not None:
                return np.asarray(self.vectors[i])
            return np.asarray(self._vectors_of([key])[0])
        return self._vectors_of(list(key))

    def _vectors_of(self, tokens: list[str]) -> np.ndarray:
        """Rows for ``tokens`` (a read-only array); unknown ones composed by the subword model."""
        for t in tokens:
            if not isinstance(t, str):
                raise ArgumentTypeError(
                    f"tokens are strings. Received: {t!r} (of type {type(t).__name__})"
                )
        if self.subwords is None:
            out = np.asarray(self.vectors[self.vocab.lookup_exact(tokens)])
        else:
            ids = self.vocab.find(tokens)
            out = np.empty((len(tokens), self.dim), dtype=self.dtype)
            known = ids >= 0
            out[known] = self.vectors[ids[known]]
            unknown = np.flatnonzero(~known)
            if len(unknown):
                out[unknown] = self.subwords.compose([tokens[i] for i in unknown.tolist()])
        out.flags.writeable = False
        return out

    def lookup(self, tokens: Iterable[str]) -> np.ndarray:
        """Vectors for ``tokens`` under the vocabulary's OOV policy (a read-only copy)."""
        out = np.asarray(self.vectors[self.vocab.lookup(list(tokens))])
        out.flags.writeable = False
        return out

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

    # -- files ------------------------------------------------------------------------

    def save(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
        """Save to a cache folder that :meth:`load` (and :func:`vocabgraft.load`) opens by mmap.

        The folder holds ``vectors.safetensors`` (in the table's dtype),
        ``vocab.safetensors``, ``table.json`` (dims, dtype, rows, source,
        checksum) and, when the table has one, ``subwords.safetensors``
        (without any array that equals the vectors, such as a fastText
        model's word vectors, which are stored once and shared again on load).
        It is written beside the target and renamed into place, so an
        interrupted save never leaves a folder that loads.

        Args:
            path: the folder to write.
            overwrite: replace an existing cache at ``path``.

        Returns:
            The folder written.

        Raises:
            OutputExistsError: ``path`` exists and ``overwrite`` is False.
        """
        from vocabgraft.table.cache import save_table

        return save_table(self, path, overwrite=overwrite)

    @staticmethod
    def is_cache(path: str | os.PathLike[str]) -> bool:
        """Whether ``path`` is a table cache folder (it holds a ``table.json``)."""
        from vocabgraft.table.cache import META_FILE

        return (Path(path) / META_FILE).is_file()

    @classmethod
    def load(
        cls, path: str | os.PathLike[str], *, mmap: bool = True, verify: bool = False
    ) -> EmbeddingTable:
        """Open a cache folder written by :meth:`save`.

        The vectors keep the dtype they were saved in (a float16 cache is a
        float16 table). With ``mmap=True`` (the default) they are a read-only
        memory map: opening costs milliseconds and pages load as rows are
        read. Every field of the cache is checked on open.

        Args:
            path: the cache folder.
            mmap: map the files rather than read them into memory.
            verify: also recompute the checksum (reads every byte).

        Returns:
            The table.

        Raises:
            FormatError: not a cache, or a damaged one; the message names the
                file and the field.
        """
        from vocabgraft.table.cache import load_table

        return load_table(path, mmap=mmap, verify=verify)

    def save_word2vec_format(self, path: str | os.PathLike[str], binary: bool = False) -> Path:
        """Write the table in word2vec's format, text or binary, as gensim's method does.

        Args:
            path: the file to write (replaced atomically).
            binary: the binary format instead of text.

        Returns:
            The file written.
        """
        from vocabgraft.io.writers import write_word2vec

        return write_word2vec(self, path, binary=binary)
