"""The table cache folder: table.json, vectors, vocabulary and subwords in safetensors.

Every field is checked when a cache opens, so a damaged or foreign folder is a
:class:`~vocabgraft.errors.FormatError` that names the file and the field:
never a ``KeyError`` from a renamed tensor, a ``TypeError`` from a list where
an object belongs, or a ``UnicodeDecodeError`` from a bad token blob. The
vectors keep the dtype they were written in (float16 stays float16, memory
mapped).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vocabgraft._safetensors import atomic_dir, atomic_path, recover, save_arrays
from vocabgraft.errors import FormatError, OutputExistsError
from vocabgraft.table.checksum import checksum
from vocabgraft.table.subword_protocol import SUBWORD_KINDS, SubwordModel, import_subword_kinds
from vocabgraft.vocab.core import Vocab
from vocabgraft.vocab.storage import open_checked

if TYPE_CHECKING:
    from vocabgraft.table.core import EmbeddingTable

__all__ = ["META_FILE", "load_table", "save_table"]

FORMAT = "vocabgraft.table"
VERSION = 2
# Version 2 may store a subword array equal to the table's vectors once (see _write);
# version 1 caches read the same way.
READS = (1, 2)
META_FILE = "table.json"
VECTORS_FILE = "vectors.safetensors"
VOCAB_FILE = "vocab.safetensors"
SUBWORD_FILE = "subwords.safetensors"
_DAMAGED = "The cache is damaged; convert the vectors again"
_READ_ERRORS = (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError)


def save_table(table: EmbeddingTable, path: str | os.PathLike[str], *, overwrite: bool) -> Path:
    """Write ``table`` to the cache folder ``path`` (see :meth:`EmbeddingTable.save`)."""
    target = Path(path)
    if target.exists() and not overwrite:
        raise OutputExistsError(f"{target} exists; pass overwrite=True to replace it")
    with atomic_dir(target, overwrite=overwrite) as tmp:
        _write(table, tmp)
    return target


def _write(table: EmbeddingTable, folder: Path) -> None:
    vectors = np.ascontiguousarray(table.vectors)
    save_arrays(folder / VECTORS_FILE, {"vectors": vectors})
    table.vocab.save(folder / VOCAB_FILE)
    info: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "rows": len(table),
        "dim": table.dim,
        "dtype": str(table.dtype),
        "source": table.source,
        "checksum": checksum([vectors]),
        "subwords": None,
        "meta": table.meta,
    }
    if table.subwords is not None:
        arrays, meta = table.subwords.to_state()
        # fastText's word vectors are the table itself: store them once.
        shared = sorted(k for k, a in arrays.items() if _same_array(a, table.vectors))
        save_arrays(
            folder / SUBWORD_FILE, {k: a for k, a in arrays.items() if k not in shared}, meta
        )
        info["subwords"] = type(table.subwords).kind
        info["subword_arrays_from_vectors"] = shared
    # table.json is written last: a folder without it is not a table.
    with atomic_path(folder / META_FILE) as tmp:
        tmp.write_text(json.dumps(info, indent=2, default=str), encoding="utf-8")


def _same_array(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether ``a`` holds exactly ``b`` (shape, dtype and every value)."""
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a is b or (a.ctypes.data == b.ctypes.data and a.strides == b.strides):
        return True
    return bool(np.array_equal(a, b))


def _read_info(folder: Path) -> dict[str, Any]:
    meta_path = folder / META_FILE
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
    except OSError as exc:
        raise FormatError(f"cannot be read ({exc.strerror or exc})", path=meta_path) from None
    if not isinstance(info, dict):
        raise FormatError(
            f"table.json holds a JSON {type(info).__name__}, not an object",
            path=meta_path,
            hint=_DAMAGED,
        )
    if info.get("format") != FORMAT or info.get("version") not in READS:
        raise FormatError(
            f"unsupported cache format {info.get('format')!r} version {info.get('version')!r}",
            path=meta_path,
            hint=f"This vocabgraft reads {FORMAT} versions {READS}; convert the vectors again",
        )
    _check_fields(info, meta_path)
    return info


_FIELDS: dict[str, tuple[type | tuple[type, ...], bool]] = {
    # field: (types, may be null)
    "rows": (int, False),
    "dim": (int, False),
    "dtype": (str, False),
    "checksum": (str, True),
    "source": (str, True),
    "subwords": (str, True),
    "meta": (dict, True),
    "subword_arrays_from_vectors": (list, True),
}


def _check_fields(info: Mapping[str, Any], meta_path: Path) -> None:
    for field, (types, nullable) in _FIELDS.items():
        value = info.get(field)
        if value is None and nullable:
            continue
        if value is None or isinstance(value, bool) or not isinstance(value, types):
            found = (
                "missing" if field not in info else f"{value!r} (of type {type(value).__name__})"
            )
            raise FormatError(f"field {field!r} is {found}", path=meta_path, hint=_DAMAGED)
    if info["rows"] < 0 or info["dim"] < 0:
        raise FormatError(
            f"fields 'rows' and 'dim' must be >= 0, found {info['rows']} and {info['dim']}",
            path=meta_path,
        )
    shared = info.get("subword_arrays_from_vectors") or []
    if not all(isinstance(s, str) for s in shared):
        raise FormatError(
            "field 'subword_arrays_from_vectors' must list tensor names", path=meta_path
        )


def _vectors(folder: Path, info: Mapping[str, Any], mmap: bool, verify: bool) -> np.ndarray:
    path = folder / VECTORS_FILE
    arrays, _ = open_checked(path, mmap=mmap, names=("vectors",), hint=_DAMAGED)
    vectors = arrays["vectors"]
    want = (info["rows"], info["dim"])
    if vectors.shape != want or str(vectors.dtype) != info["dtype"]:
        raise FormatError(
            f"tensor 'vectors' is {vectors.shape} {vectors.dtype}, but table.json says "
            f"{want} {info['dtype']}",
            path=path,
            hint=_DAMAGED,
        )
    if not np.issubdtype(vectors.dtype, np.floating):
        raise FormatError(
            f"tensor 'vectors' has dtype {vectors.dtype}, not floating point",
            path=path,
            hint=_DAMAGED,
        )
    if verify and checksum([vectors]) != info.get("checksum"):
        raise FormatError(
            "checksum mismatch: the vectors changed since the cache was written",
            path=path,
            hint="Convert the vectors again",
        )
    return vectors


def _subwords(
    folder: Path, info: Mapping[str, Any], vectors: np.ndarray, mmap: bool
) -> SubwordModel | None:
    kind = info.get("subwords")
    if not kind:
        return None
    path = folder / SUBWORD_FILE
    import_subword_kinds()
    if kind not in SUBWORD_KINDS:
        raise FormatError(
            f"the cache holds a subword model of kind {kind!r}, which this vocabgraft "
            f"does not know (known: {sorted(SUBWORD_KINDS)})",
            path=path,
        )
    arrays, meta = open_checked(path, mmap=mmap, hint=_DAMAGED)
    for name in info.get("subword_arrays_from_vectors") or []:
        arrays[name] = vectors
    try:
        return SUBWORD_KINDS[kind].from_state(arrays, meta)
    except FormatError as exc:
        raise FormatError(exc.reason, path=path, hint=exc.hint or _DAMAGED) from None
    except (*_READ_ERRORS, UnicodeDecodeError) as exc:
        raise FormatError(
            f"the {kind} subword model's state is damaged ({type(exc).__name__}: {exc})",
            path=path,
            hint=_DAMAGED,
        ) from None


def load_table(path: str | os.PathLike[str], *, mmap: bool, verify: bool) -> EmbeddingTable:
    """Open the cache folder ``path`` (see :meth:`EmbeddingTable.load`)."""
    from vocabgraft.table.core import EmbeddingTable

    folder = Path(path)
    recover(folder)  # put back a cache that a killed overwrite had moved aside
    info = _read_info(folder)
    vectors = _vectors(folder, info, mmap, verify)
    vocab = Vocab.load(folder / VOCAB_FILE, mmap=mmap)
    if len(vocab) != len(vectors):
        raise FormatError(
            f"the vocabulary has {len(vocab)} tokens but table.json says {len(vectors)} rows",
            path=folder / VOCAB_FILE,
            hint=_DAMAGED,
        )
    subwords = _subwords(folder, info, vectors, mmap)
    if subwords is not None and subwords.dim != vectors.shape[1]:
        raise FormatError(
            f"the subword model gives {subwords.dim}-d vectors but the table is "
            f"{vectors.shape[1]}-d",
            path=folder / SUBWORD_FILE,
            hint=_DAMAGED,
        )
    table = EmbeddingTable(
        vectors, vocab, source=info.get("source"), meta=info.get("meta"), subwords=subwords
    )
    if info.get("checksum"):
        table.derived("checksum", lambda: info["checksum"])
    return table
