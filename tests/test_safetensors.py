"""Safetensors headers are checked on every open: offsets, sizes, dtypes, overlaps."""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vocabgraft import EmbeddingTable
from vocabgraft._safetensors import open_arrays, save_arrays
from vocabgraft.errors import FormatError


def _craft(path: Path, header: dict[str, Any], data: bytes) -> Path:
    """A safetensors file with exactly this header and data (no checks)."""
    blob = json.dumps(header).encode()
    blob += b" " * (-len(blob) % 8)
    path.write_bytes(struct.pack("<Q", len(blob)) + blob + data)
    return path


def _vectors(offsets: Any, shape: Any = (2, 3), dtype: str = "F32") -> dict[str, Any]:
    shape = list(shape) if isinstance(shape, tuple) else shape
    return {"vectors": {"dtype": dtype, "shape": shape, "data_offsets": offsets}}


@pytest.mark.parametrize(
    ("header", "match"),
    [
        (_vectors([-48, 0], (12,)), r"'vectors': data_offsets \[-48, 0\] is not two non-negative"),
        (_vectors([0, 48], (12,)), r"'vectors': data_offsets \[0, 48\] lie outside the 24 data"),
        (_vectors([8, 4], (1,)), r"'vectors': data_offsets \[8, 4\] lie outside"),
        (
            _vectors([0, 20]),
            r"'vectors': data_offsets \[0, 20\] span 20 bytes, but \[2, 3\] needs 24",
        ),
        (_vectors([0, 24], dtype="F8"), r"'vectors': dtype 'F8' is not one of F64"),
        (_vectors([0, 24], shape=(2, -3)), r"'vectors': shape \[2, -3\] is not a list"),
        (_vectors([0, 24], shape="2x3"), r"'vectors': shape '2x3' is not a list"),
        (_vectors([0.0, 24]), r"'vectors': data_offsets \[0.0, 24\] is not two"),
        ({"vectors": [1, 2]}, r"'vectors': header entry is list, not an object"),
        (
            {**_vectors([0, 24]), "ids": {"dtype": "I32", "shape": [4], "data_offsets": [8, 24]}},
            r"tensors 'vectors' and 'ids' share bytes",
        ),
        ({**_vectors([0, 24]), "__metadata__": {"n": 3}}, r"__metadata__ is not an object of str"),
    ],
    ids=[
        "negative-begin",
        "end-past-data",
        "begin-after-end",
        "span-vs-shape",
        "unknown-dtype",
        "negative-dim",
        "shape-not-list",
        "float-offset",
        "entry-not-object",
        "overlap",
        "metadata-not-strings",
    ],
)
def test_damaged_headers_are_refused_on_every_open(
    tmp_path: Path, header: dict[str, Any], match: str
) -> None:
    path = _craft(tmp_path / "v.safetensors", header, bytes(24))
    for mmap in (True, False):
        with pytest.raises(FormatError, match=match) as info:
            open_arrays(path, mmap=mmap)
        assert info.value.path == str(path)


def test_a_table_cache_with_negative_offsets_does_not_load_header_bytes(
    small_table: EmbeddingTable, tmp_path: Path
) -> None:
    small_table.save(tmp_path / "t")
    vec = tmp_path / "t" / "vectors.safetensors"
    _craft(vec, _vectors([-48, 272], (10, 8)), bytes(320))
    with pytest.raises(FormatError, match=r"vectors\.safetensors.*'vectors': data_offsets"):
        EmbeddingTable.load(tmp_path / "t")


def test_a_missing_file_is_a_format_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(FormatError, match=r"gone\.safetensors: cannot be read \(No such file"):
        open_arrays(tmp_path / "gone.safetensors")


def test_valid_files_still_round_trip(tmp_path: Path) -> None:
    arrays = {
        "a": np.arange(6, dtype=np.float32).reshape(2, 3),
        "empty": np.zeros((0, 4), np.int64),
        "b": np.array([True, False]),
    }
    save_arrays(tmp_path / "x.safetensors", arrays, {"k": "v"})
    back, meta = open_arrays(tmp_path / "x.safetensors")
    assert meta == {"k": "v"}
    for name, a in arrays.items():
        np.testing.assert_array_equal(back[name], a)
        assert back[name].dtype == a.dtype


@settings(max_examples=150, deadline=None)
@given(
    begin=st.integers(-100, 100),
    end=st.integers(-100, 100),
    rows=st.integers(0, 4),
    data=st.integers(0, 64),
)
def test_any_offsets_give_a_checked_array_or_a_format_error(
    tmp_path_factory: pytest.TempPathFactory, begin: int, end: int, rows: int, data: int
) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "v.safetensors"
    _craft(path, _vectors([begin, end], (rows, 2)), bytes(range(data)))
    valid = 0 <= begin <= end <= data and end - begin == rows * 2 * 4
    if not valid:
        with pytest.raises(FormatError, match=r"'vectors': (data_offsets|shape)"):
            open_arrays(path)
        return
    arrays, _ = open_arrays(path)
    assert arrays["vectors"].tobytes() == bytes(range(data))[begin:end]


# A long run: VOCABGRAFT_FUZZ_EXAMPLES=20000 pytest tests/test_safetensors.py -k mutated
FUZZ_EXAMPLES = int(os.environ.get("VOCABGRAFT_FUZZ_EXAMPLES", "200"))


@pytest.fixture(scope="module")
def real_file(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The vocabulary file of a cache of gensim's real test_glove.txt."""
    from vg_testdata import gensim_data
    from vocabgraft.io import load

    folder = tmp_path_factory.mktemp("real") / "cache"
    load(gensim_data("test_glove.txt"), progress=False).save(folder)
    return (folder / "vocab.safetensors").read_bytes()


@settings(max_examples=FUZZ_EXAMPLES, deadline=2000)
@given(
    flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=4),
    cut=st.one_of(st.none(), st.integers(0, 10**6)),
)
def test_mutated_real_files_open_or_raise_format_error(
    tmp_path_factory: pytest.TempPathFactory,
    real_file: bytes,
    flips: list[tuple[int, int]],
    cut: int | None,
) -> None:
    data = bytearray(real_file)
    for at, value in flips:
        data[at % len(data)] = value
    if cut is not None:
        data = data[: cut % (len(data) + 1)]
    path = tmp_path_factory.mktemp("mut") / "v.safetensors"
    path.write_bytes(bytes(data))
    refused: FormatError | None = None
    try:
        arrays, meta = open_arrays(path)
    except FormatError as exc:  # the only escape allowed
        refused = exc
    if refused is not None:
        assert refused.path == str(path)
        return
    assert all(isinstance(v, str) for v in meta.values())
    for a in arrays.values():
        assert a.nbytes <= len(data)  # every array lies inside the file
