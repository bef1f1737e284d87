"""Fuzz: damaged real table caches and Vocab files raise vocabgraft's own errors, nothing else.

Caches are written from real data (GloVe 6B 50d rows, gensim's test_glove.txt
with non-ASCII tokens, gensim's lee_fasttext.bin with its n-grams), then one
file is damaged: bytes flipped, the file cut short, a JSON field of table.json
or of a safetensors header deleted, retyped or renamed, garbage appended.
Opening and using the result may raise a VocabgraftError; any other exception
is a bug. The number of examples is bounded for CI; set
``VOCABGRAFT_FUZZ_EXAMPLES`` for a long run (the counts print at the end with
``-s``).
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cache_mutations import read_st, write_st
from vg_testdata import gensim_data
from vocabgraft import EmbeddingTable, Vocab, VocabgraftError

EXAMPLES = int(os.environ.get("VOCABGRAFT_FUZZ_EXAMPLES", "60"))
STATS: Counter[str] = Counter()
FILES = ("table.json", "vectors.safetensors", "vocab.safetensors", "subwords.safetensors")
JSON_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63),
    st.text(max_size=8),
    st.lists(st.integers(-5, 5), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)


@pytest.fixture(scope="module", autouse=True)
def _report() -> Iterator[None]:
    yield
    print(f"\ncache fuzz: {dict(sorted(STATS.items()))}")


@pytest.fixture(scope="module")
def caches(tmp_path_factory: pytest.TempPathFactory, glove: EmbeddingTable) -> list[Path]:
    from vocabgraft.io import load

    root = tmp_path_factory.mktemp("fuzz")
    vocab = Vocab(glove.vocab.tokens[:300], pad="<pad>", unk="<unk>", specials=["<cls>"])
    rows = np.concatenate([np.zeros((3, 50), np.float32), np.asarray(glove.vectors[:300])])
    tables = {
        "glove": EmbeddingTable(rows, vocab, source="glove"),
        "test_glove": load(gensim_data("test_glove.txt"), progress=False),
        "lee_fasttext": load(gensim_data("lee_fasttext.bin"), progress=False),
        "half": EmbeddingTable(rows[:50].astype(np.float16), vocab.tokens[:50]),
    }
    for name, table in tables.items():
        table.save(root / name)
    return [root / name for name in tables]


def _flip(raw: bytes, data: st.DataObject) -> bytes:
    out = bytearray(raw)
    # Most flips land in the first bytes: the header length and the JSON header.
    limit = len(out) if data.draw(st.booleans()) else min(len(out), 600)
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, max(0, limit - 1)))
        if out:
            out[i] ^= data.draw(st.integers(1, 255))
    return bytes(out)


def _edit_json(obj: Any, data: st.DataObject) -> Any:
    """Delete, retype or rename one key somewhere in ``obj`` (two levels deep)."""
    if not isinstance(obj, dict) or not obj:
        return data.draw(JSON_VALUES)
    key = data.draw(st.sampled_from(sorted(obj)))
    action = data.draw(st.sampled_from(["delete", "retype", "rename", "deeper"]))
    if action == "delete":
        del obj[key]
    elif action == "retype":
        obj[key] = data.draw(JSON_VALUES)
    elif action == "rename":
        obj[key + data.draw(st.sampled_from(["_", "x", "s"]))] = obj.pop(key)
    else:
        obj[key] = _edit_json(obj[key], data)
    return obj


def _damage(path: Path, data: st.DataObject) -> str:
    raw = path.read_bytes()
    how = data.draw(st.sampled_from(["flip", "truncate", "json", "append", "empty"]))
    if how == "flip":
        path.write_bytes(_flip(raw, data))
    elif how == "truncate":
        path.write_bytes(raw[: data.draw(st.integers(0, max(0, len(raw) - 1)))])
    elif how == "append":
        path.write_bytes(raw + data.draw(st.binary(min_size=1, max_size=64)))
    elif how == "empty":
        path.write_bytes(b"")
    elif path.suffix == ".json":
        try:
            obj = json.loads(raw)
        except ValueError:  # damaged already: flip instead
            obj = None
        path.write_text(json.dumps(_edit_json(obj, data))) if obj is not None else None
    else:
        try:
            header, body = read_st(path)
        except (ValueError, struct.error):  # damaged already
            return how
        write_st(path, _edit_json(header, data), body)
    return how


def _use(table: EmbeddingTable) -> None:
    """What a user does right after opening a table."""
    tokens = table.vocab.tokens
    if len(table):
        first = tokens[min(3, len(tokens) - 1)]
        np.asarray(table[first], dtype=np.float64).sum()
        table.most_similar(first, topn=3)
        table.vocab.lookup(tokens[:5])
    if table.subwords is not None:
        table["zzqxnotaword"]
    table.vocab.decode(range(min(len(table), 5)))


def _run(action: Any) -> None:
    start = time.perf_counter()
    try:
        action()
        STATS["opened"] += 1
    except VocabgraftError as exc:
        STATS[f"refused:{type(exc).__name__}"] += 1
    STATS["inputs"] += 1
    assert time.perf_counter() - start < 5.0


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_damaged_caches_raise_only_vocabgraft_errors(
    caches: list[Path], tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    source = data.draw(st.sampled_from(caches))
    folder = tmp_path_factory.mktemp("case") / source.name
    shutil.copytree(source, folder)
    present = [f for f in FILES if (folder / f).exists()]
    for _ in range(data.draw(st.integers(1, 2))):
        _damage(folder / data.draw(st.sampled_from(present)), data)
    mmap = data.draw(st.booleans())
    _run(lambda: _use(EmbeddingTable.load(folder, mmap=mmap, verify=not mmap)))
    shutil.rmtree(folder)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_damaged_vocab_files_raise_only_vocabgraft_errors(
    caches: list[Path], tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    source = data.draw(st.sampled_from(caches)) / "vocab.safetensors"
    path = tmp_path_factory.mktemp("vocab") / "v.safetensors"
    shutil.copy(source, path)
    _damage(path, data)
    mmap = data.draw(st.booleans())

    def use() -> None:
        v = Vocab.load(path, mmap=mmap)
        tokens = v.tokens
        v.lookup_indices(tokens[:3]) if v.get_default_index() is not None else None
        v.encode([tokens[:4]]) if v.pad is not None else v.lookup(tokens[:4])
        [v.token(i) for i in range(min(len(v), 4))]

    _run(use)
    path.unlink()
