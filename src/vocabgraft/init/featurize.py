"""Item side information as numbers: categorical, tag, numeric and text columns.

:class:`ItemFeatures` holds what is known about items (one row per item id,
named columns); :func:`read_item_features` reads it from a CSV or parquet
file. Each column becomes a block of numeric features through a spec
(:class:`Categorical`, :class:`Tags`, :class:`Numeric`, :class:`Text`),
fitted on the existing items only: a category, tag or word that only new items
have maps to zeros (or to its hash bucket), never to a column learnt from them.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from vocabgraft.errors import ArgumentError, FormatError, MissingExtraError
from vocabgraft.vocab.core import stable_hash

if TYPE_CHECKING:
    from vocabgraft.table.core import EmbeddingTable

__all__ = [
    "Categorical",
    "ColumnSpec",
    "ItemFeatures",
    "Numeric",
    "Tags",
    "Text",
    "infer_specs",
    "read_item_features",
]

_WORD = re.compile(r"[^\W_]+")
Encoder = Callable[[np.ndarray], np.ndarray]


def words(text: object) -> list[str]:
    """Lowercase runs of letters and digits (``None`` and NaN give no words)."""
    return _WORD.findall(str(text).lower()) if _present(text) else []


def _present(value: object) -> bool:
    return value is not None and not (isinstance(value, float) and np.isnan(value))


def _column(values: Any) -> np.ndarray:
    """A column as an array: float for numbers (NaN where missing), else object."""
    if isinstance(values, np.ndarray) and values.dtype.kind in "biuf":
        return values.astype(np.float64)
    items = list(values)
    if all(
        v is None or (isinstance(v, (int, float, np.number)) and not isinstance(v, bool))
        for v in items
    ):
        return np.array([np.nan if v is None else float(v) for v in items], dtype=np.float64)
    out = np.empty(len(items), dtype=object)
    for k, v in enumerate(items):
        out[k] = v
    return out


@dataclass(frozen=True)
class ItemFeatures:
    """What is known about items: one row per item id, with named columns.

    Attributes:
        ids: the item ids, as strings (they must match the table's tokens).
        columns: column name -> one value per item, in ``ids`` order. Columns
            of numbers (``None`` for missing) are kept as float arrays with
            NaN, others as object arrays.
        source: where the features were read from, for messages.

    >>> f = ItemFeatures(["a", "b"], {"genre": ["x", "y"], "year": [1990, None]})
    >>> f.take(["b", "a"], "year").tolist()
    [nan, 1990.0]
    """

    ids: Sequence[str]
    columns: Mapping[str, Any]
    source: str = "<memory>"

    def __post_init__(self) -> None:
        ids = [str(i) for i in self.ids]
        object.__setattr__(self, "ids", ids)
        if len(set(ids)) != len(ids):
            repeated = next(i for i, c in Counter(ids).items() if c > 1)
            raise ArgumentError(f"{self.source}: item id {repeated!r} appears more than once")
        for name, values in self.columns.items():
            if len(values) != len(ids):
                raise ArgumentError(
                    f"{self.source}: column {name!r} has {len(values)} values for {len(ids)} items"
                )
        columns = {str(k): _column(v) for k, v in self.columns.items()}
        object.__setattr__(self, "columns", columns)
        object.__setattr__(self, "_row", {i: k for k, i in enumerate(ids)})

    @classmethod
    def from_frame(
        cls, frame: Any, *, id_column: str = "id", source: str = "<frame>"
    ) -> ItemFeatures:
        """From a pandas DataFrame or a pyarrow Table with an id column."""
        arrow = hasattr(frame, "column_names")
        names = [str(c) for c in (frame.column_names if arrow else frame.columns)]
        if id_column not in names:
            raise ArgumentError(
                f"{source}: no id column {id_column!r} (columns: {names}); pass id_column="
            )

        def values(name: str) -> Any:
            col = frame[name]
            return col.to_numpy(zero_copy_only=False) if arrow else col.to_numpy()

        columns = {n: values(n) for n in names if n != id_column}
        return cls([str(v) for v in values(id_column).tolist()], columns, source)

    def __len__(self) -> int:
        """How many items."""
        return len(self.ids)

    def has(self, ids: Iterable[str]) -> np.ndarray:
        """Whether each of ``ids`` has a row."""
        row: dict[str, int] = self._row  # type: ignore[attr-defined]
        return np.array([i in row for i in ids], dtype=bool)

    def rows_of(self, ids: Sequence[str]) -> np.ndarray:
        """The row of each of ``ids`` (every id must have one), for :meth:`take`."""
        row: dict[str, int] = self._row  # type: ignore[attr-defined]
        return np.fromiter((row[i] for i in ids), dtype=np.int64, count=len(ids))

    def take(self, ids: Sequence[str] | np.ndarray, column: str) -> np.ndarray:
        """The values of ``column`` for ``ids``, or for rows from :meth:`rows_of`."""
        if column not in self.columns:
            raise ArgumentError(
                f"{self.source}: no column {column!r}; the columns are {sorted(self.columns)}"
            )
        index = ids if isinstance(ids, np.ndarray) else self.rows_of(ids)
        values: np.ndarray = np.asarray(self.columns[column])[index]
        return values


def read_item_features(path: str | os.PathLike[str], *, id_column: str = "id") -> ItemFeatures:
    """Read item features from a CSV or parquet file (by its suffix) with an id column.

    For ``vocabgraft impute --features FILE``: the file's ids are the table's
    tokens (existing rows and new ones alike); the other columns are described
    to :class:`~vocabgraft.init.features.FromFeatures` by :func:`infer_specs`
    unless specs are given. A command wires it as
    ``init = FromFeatures(read_item_features(FILE, id_column=...))`` (with
    ``weights=`` the existing rows' interaction counts when it has them) and
    passes ``init`` to ``align`` or ``resolve_init`` like any initializer;
    ``init.last_fit.summary()`` is then the line to print.

    Args:
        path: a ``.csv`` (header row; ``.csv.gz`` too) or ``.parquet`` file.
        id_column: the column holding the item ids.

    Returns:
        The features, with ids as strings.

    Raises:
        FormatError: the file cannot be parsed, lacks ``id_column`` or repeats an id.
        MissingExtraError: pyarrow is not installed (``vocabgraft[data]``).
    """
    try:
        import pyarrow as pa
        import pyarrow.csv as pa_csv
        import pyarrow.parquet as pa_parquet
    except ImportError:
        raise MissingExtraError("pyarrow", "data", "reading item features") from None
    name = os.fspath(path)
    try:
        if name.endswith(".parquet"):
            table = pa_parquet.read_table(name)
        else:
            table = pa_csv.read_csv(
                name, convert_options=pa_csv.ConvertOptions(column_types={id_column: pa.string()})
            )
    except (pa.ArrowInvalid, OSError) as e:
        raise FormatError(f"cannot read item features ({e})", path=name) from None
    try:
        return ItemFeatures.from_frame(table, id_column=id_column, source=name)
    except ArgumentError as e:
        raise FormatError(str(e).removeprefix(f"{name}: "), path=name) from None


# -- column specs ----------------------------------------------------------------------


def _onehot(keys: dict[str, int], per_item: Sequence[Sequence[str]]) -> np.ndarray:
    out = np.zeros((len(per_item), len(keys)), dtype=np.float64)
    for r, values in enumerate(per_item):
        cols = [keys[v] for v in values if v in keys]
        out[r, cols] = 1.0
    return out


def _hashed(buckets: int, per_item: Sequence[Sequence[str]]) -> np.ndarray:
    out = np.zeros((len(per_item), buckets), dtype=np.float64)
    for r, values in enumerate(per_item):
        for v in values:
            out[r, stable_hash(v) % buckets] = 1.0
    return out


def _vocabulary(per_item: Sequence[Sequence[str]], min_count: int) -> dict[str, int]:
    counts = Counter(v for values in per_item for v in set(values))
    kept = sorted(v for v, c in counts.items() if c >= min_count)
    return {v: k for k, v in enumerate(kept)}


@dataclass(frozen=True)
class Categorical:
    """One categorical value per item: one-hot over the existing items' values, or hashed.

    Args:
        column: the column's name.
        buckets: hash values into this many columns instead (for
            high-cardinality columns; a new value shares its bucket's column).
        min_count: one-hot only values at least this many existing items have.
    """

    column: str
    buckets: int | None = None
    min_count: int = 1

    def fit(self, values: np.ndarray) -> Encoder:
        """An encoder fitted on the existing items' values."""
        if self.buckets is not None:
            buckets = self.buckets
            return lambda vs: _hashed(buckets, [[str(v)] if _present(v) else [] for v in vs])
        keys = _vocabulary([[str(v)] for v in values if _present(v)], self.min_count)
        return lambda vs: _onehot(keys, [[str(v)] if _present(v) else [] for v in vs])


@dataclass(frozen=True)
class Tags:
    """Several labels per item (genres): a list, or a string split at ``sep``; multi-hot."""

    column: str
    sep: str = "|"
    min_count: int = 1

    def _split(self, value: Any) -> list[str]:
        if not _present(value):
            return []
        if isinstance(value, str):
            return [t.strip() for t in value.split(self.sep) if t.strip()]
        return [str(t) for t in value]

    def fit(self, values: np.ndarray) -> Encoder:
        """An encoder fitted on the existing items' tags."""
        keys = _vocabulary([self._split(v) for v in values], self.min_count)
        return lambda vs: _onehot(keys, [self._split(v) for v in vs])


def _numbers(values: np.ndarray) -> np.ndarray:
    if values.dtype.kind in "biuf":
        return values.astype(np.float64)
    out = np.full(len(values), np.nan)
    for k, v in enumerate(values):
        if _present(v):
            try:
                out[k] = float(v)
            except (TypeError, ValueError):
                raise ArgumentError(
                    f"a numeric column holds {v!r}, which is not a number"
                ) from None
    return out


@dataclass(frozen=True)
class Numeric:
    """A number per item, standardised on the existing items.

    When some existing items lack the number, a second column flags the
    missing ones (they get 0, the mean); otherwise a new item without it gets
    the mean.
    """

    column: str

    def fit(self, values: np.ndarray) -> Encoder:
        """An encoder with the existing items' mean and standard deviation."""
        x = _numbers(values)
        seen = x[np.isfinite(x)]
        mean = float(seen.mean()) if len(seen) else 0.0
        std = float(seen.std()) if len(seen) > 1 and seen.std() > 0 else 1.0

        flag = len(seen) < len(x)

        def encode(vs: np.ndarray) -> np.ndarray:
            z = _numbers(vs)
            missing = ~np.isfinite(z)
            z = np.where(missing, 0.0, (z - mean) / std)
            return np.stack([z, missing.astype(np.float64)] if flag else [z], axis=1)

        return encode


@dataclass(frozen=True)
class Text:
    """Free text per item: the mean of its words' vectors from ``table``, or TF-IDF without one.

    Args:
        column: the column's name.
        table: a word table (e.g. GloVe); words it lacks are skipped. ``None``
            gives TF-IDF over the existing items' words.
        max_terms: TF-IDF keeps this many words with the highest document frequency.
        min_df: TF-IDF keeps words in at least this many existing items.
    """

    column: str
    table: EmbeddingTable | None = None
    max_terms: int = 2000
    min_df: int = 2

    def fit(self, values: np.ndarray) -> Encoder:
        """An encoder: the word table's mean vectors, or TF-IDF fitted on the existing items."""
        table = self.table
        if table is not None:
            return lambda vs: _mean_vectors(table, [words(v) for v in vs])
        docs = [words(v) for v in values]
        df = Counter(w for d in docs for w in set(d))
        kept = sorted((w for w, c in df.items() if c >= self.min_df), key=lambda w: (-df[w], w))
        keys = {w: k for k, w in enumerate(kept[: self.max_terms])}
        idf = np.log((1 + len(docs)) / (1 + np.array([df[w] for w in keys], dtype=np.float64))) + 1
        return lambda vs: _tfidf(keys, idf, [words(v) for v in vs])


def _mean_vectors(table: EmbeddingTable, docs: Sequence[Sequence[str]]) -> np.ndarray:
    out = np.zeros((len(docs), table.dim), dtype=np.float64)
    for r, doc in enumerate(docs):
        known = [w for w in doc if w in table]
        if known:
            out[r] = np.asarray(table[known], dtype=np.float64).mean(axis=0)
    return out


def _tfidf(keys: dict[str, int], idf: np.ndarray, docs: Sequence[Sequence[str]]) -> np.ndarray:
    out = np.zeros((len(docs), len(keys)), dtype=np.float64)
    for r, doc in enumerate(docs):
        for w, c in Counter(doc).items():
            if w in keys:
                out[r, keys[w]] = c
    out *= idf
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.where(norms > 0, norms, 1.0)


ColumnSpec = Categorical | Tags | Numeric | Text


def infer_specs(features: ItemFeatures, *, max_onehot: int = 2000) -> list[ColumnSpec]:
    """A spec per column, from its values (for files read with no specs given).

    Numbers are :class:`Numeric`; lists, or strings holding ``"|"``, are
    :class:`Tags`; strings of more than three words on average are
    :class:`Text` (TF-IDF); other strings are :class:`Categorical`, hashed
    into ``max_onehot`` buckets when they have more distinct values.
    Columns with no values at all are left out.
    """
    specs: list[ColumnSpec] = []
    for name, values in features.columns.items():
        if np.asarray(values).dtype.kind == "f":
            specs.append(Numeric(name))
            continue
        present = [v for v in values if _present(v)]
        if not present:
            continue
        if (
            any(isinstance(v, (list, tuple, np.ndarray)) for v in present)
            or _share(present, "|") > 0.1
        ):
            specs.append(Tags(name))
        elif present and np.mean([len(words(v)) for v in present]) > 3:
            specs.append(Text(name))
        else:
            distinct = len({str(v) for v in present})
            specs.append(Categorical(name, buckets=max_onehot if distinct > max_onehot else None))
    return specs


def _share(values: Sequence[Any], sep: str) -> float:
    return float(np.mean([sep in str(v) for v in values])) if values else 0.0
