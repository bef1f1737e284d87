"""Every kind of cache damage is a FormatError naming the file and the field; float16 stays float16."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from safetensors.numpy import save_file

from cache_mutations import edit_header, edit_json, read_st, write_st
from vg_testdata import gensim_data
from vocabgraft import EmbeddingTable, FormatError, Vocab
from vocabgraft.vocab.storage import pack, vocab_state


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory, glove: EmbeddingTable) -> Path:
    """A real cache: 2,000 GloVe rows, with pad and unk."""
    tokens = glove.vocab.tokens[:2000]
    vocab = Vocab(tokens, pad="<pad>", unk="<unk>")
    vectors = np.concatenate([np.zeros((2, 50), np.float32), np.asarray(glove.vectors[:2000])])
    folder = tmp_path_factory.mktemp("c") / "glove2k"
    EmbeddingTable(vectors, vocab, source="glove").save(folder)
    return folder


@pytest.fixture(scope="module")
def fasttext_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from vocabgraft.io import load

    folder = tmp_path_factory.mktemp("f") / "lee"
    load(gensim_data("lee_fasttext.bin"), progress=False).save(folder)
    return folder


def _swap(folder: Path) -> None:
    a, b = folder / "vectors.safetensors", folder / "vocab.safetensors"
    tmp = folder / "x"
    a.rename(tmp)
    b.rename(a)
    tmp.rename(b)


def _rename_tensor(file: str, old: str, new: str) -> Callable[[Path], None]:
    def damage(folder: Path) -> None:
        def edit(h: dict[str, Any]) -> None:
            h[new] = h.pop(old)

        edit_header(folder / file, edit)

    return damage


def _meta_field(file: str, key: str, value: str) -> Callable[[Path], None]:
    def damage(folder: Path) -> None:
        def edit(h: dict[str, Any]) -> None:
            h["__metadata__"][key] = value

        edit_header(folder / file, edit)

    return damage


def _json_field(key: str, value: Any) -> Callable[[Path], None]:
    def damage(folder: Path) -> None:
        def edit(info: dict[str, Any]) -> None:
            if value is KeyError:
                del info[key]
            else:
                info[key] = value

        edit_json(folder / "table.json", edit)

    return damage


def _header(file: str, edit: Callable[[dict[str, Any]], Any]) -> Callable[[Path], None]:
    return lambda folder: edit_header(folder / file, edit)


def _blob_byte(folder: Path) -> None:
    header, data = read_st(folder / "vocab.safetensors")
    begin = header["blob"]["data_offsets"][0]
    raw = bytearray(data)
    raw[begin + 3] = 0xFF  # never valid in UTF-8
    write_st(folder / "vocab.safetensors", header, bytes(raw))


CASES: dict[str, tuple[Callable[[Path], None], str]] = {
    "files swapped": (_swap, r"vectors\.safetensors.*no tensor 'vectors'"),
    "vectors renamed": (
        _rename_tensor("vectors.safetensors", "vectors", "weights"),
        r"vectors\.safetensors.*no tensor 'vectors'",
    ),
    "blob renamed": (
        _rename_tensor("vocab.safetensors", "blob", "b"),
        r"vocab\.safetensors.*field 'blob'.*missing",
    ),
    "rows missing": (_json_field("rows", KeyError), r"table\.json.*field 'rows' is missing"),
    "dim a string": (_json_field("dim", "50"), r"table\.json.*field 'dim' is '50'"),
    "meta a list": (_json_field("meta", []), r"table\.json.*field 'meta' is \[\]"),
    "table.json a list": (
        lambda f: edit_json(f / "table.json", lambda info: [info]),
        r"table\.json.*JSON list, not an object",
    ),
    "header a list": (
        _header("vectors.safetensors", lambda h: [h]),
        r"vectors\.safetensors.*(header is damaged|not a JSON object)",
    ),
    "tensor info a list": (
        _header("vectors.safetensors", lambda h: {**h, "vectors": [1, 2]}),
        r"vectors\.safetensors.*(header is damaged|'vectors'.*not an object)",
    ),
    "shape wrong": (
        _header("vectors.safetensors", lambda h: h["vectors"].update(shape=[50, 2002])),
        r"vectors\.safetensors.*\(50, 2002\).*table\.json says \(2002, 50\)",
    ),
    "dtype wrong": (
        _header("vectors.safetensors", lambda h: h["vectors"].update(dtype="I32")),
        r"vectors\.safetensors.*int32",
    ),
    "bad utf-8 blob": (_blob_byte, r"vocab\.safetensors.*field 'blob'.*not UTF-8"),
    "pad out of range": (
        _meta_field("vocab.safetensors", "pad", "99999"),
        r"vocab\.safetensors.*field 'pad': id 99999 is out of range",
    ),
    "pad not a number": (
        _meta_field("vocab.safetensors", "pad", "x"),
        r"vocab\.safetensors.*field 'pad': is 'x', not an integer",
    ),
    "bogus oov": (
        _meta_field("vocab.safetensors", "oov", "ignore"),
        r"vocab\.safetensors.*field 'oov': is 'ignore'",
    ),
    "negative buckets": (
        _meta_field("vocab.safetensors", "num_buckets", "-3"),
        r"vocab\.safetensors.*field 'num_buckets'",
    ),
    "vocab missing": (
        lambda f: (f / "vocab.safetensors").unlink(),
        r"vocab\.safetensors.*missing from the cache",
    ),
    "vocab a folder": (
        lambda f: ((f / "vocab.safetensors").unlink(), (f / "vocab.safetensors").mkdir()),
        r"vocab\.safetensors.*missing from the cache \(or not a regular file\)",
    ),
    "metadata a number": (
        _header("vocab.safetensors", lambda h: h.update({"__metadata__": {"oov": 3}})),
        r"vocab\.safetensors.*(__metadata__|header is damaged)",
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_cache_damage_is_a_format_error_naming_file_and_field(
    cache: Path, tmp_path: Path, name: str
) -> None:
    damage, message = CASES[name]
    folder = tmp_path / "c"
    shutil.copytree(cache, folder)
    damage(folder)
    for mmap in (True, False):
        with pytest.raises(FormatError, match=message):
            EmbeddingTable.load(folder, mmap=mmap)


SUBWORD_CASES: dict[str, tuple[Callable[[Path], None], str]] = {
    "huge maxn": (
        _meta_field("subwords.safetensors", "maxn", str(2**31 - 1)),
        r"subwords\.safetensors.*field 'maxn' is 2147483647",
    ),
    "ngrams renamed": (
        _rename_tensor("subwords.safetensors", "ngrams", "n"),
        r"subwords\.safetensors.*no tensor 'ngrams'",
    ),
    "unknown kind": (_json_field("subwords", "bpe"), r"subword model of kind 'bpe'"),
    "shared list a dict": (
        _json_field("subword_arrays_from_vectors", {"a": 1}),
        r"field 'subword_arrays_from_vectors'",
    ),
    "minn above maxn": (
        _meta_field("subwords.safetensors", "minn", "7"),
        r"subwords\.safetensors.*'minn' and 'maxn' are 7 > 6",
    ),
}


@pytest.mark.parametrize("name", sorted(SUBWORD_CASES))
def test_fasttext_cache_damage_is_named(fasttext_cache: Path, tmp_path: Path, name: str) -> None:
    damage, message = SUBWORD_CASES[name]
    folder = tmp_path / "f"
    shutil.copytree(fasttext_cache, folder)
    damage(folder)
    with pytest.raises(FormatError, match=message):
        EmbeddingTable.load(folder)


def _vocab_file(
    tmp_path: Path, edit: Callable[[dict[str, np.ndarray], dict[str, str]], None]
) -> Path:
    v = Vocab(["the", "cat", "sat", "naïve"], pad="<pad>", unk="<unk>")
    arrays, meta = vocab_state(v)
    edit(arrays, meta)
    path = tmp_path / "v.safetensors"
    save_file({k: np.ascontiguousarray(a) for k, a in arrays.items()}, str(path), metadata=meta)
    return path


def _set(name: str, value: Any) -> Callable[[dict[str, np.ndarray], dict[str, str]], None]:
    def edit(arrays: dict[str, np.ndarray], meta: dict[str, str]) -> None:
        arrays[name] = np.asarray(value, dtype=arrays[name].dtype)

    return edit


def _same_tokens(arrays: dict[str, np.ndarray], meta: dict[str, str]) -> None:
    # Every token "the", with the original hash index left in place.
    arrays["blob"] = np.frombuffer(b"the" * 6, dtype=np.uint8)
    arrays["offsets"] = np.arange(0, 19, 3, dtype=np.int64)


def _duplicates(arrays: dict[str, np.ndarray], meta: dict[str, str]) -> None:
    arrays.update(pack(["<pad>", "<unk>", "the", "cat", "the", "x"]))


VOCAB_CASES: dict[str, tuple[Callable[[dict[str, np.ndarray], dict[str, str]], None], str]] = {
    "decreasing offsets": (_set("offsets", [0, 5, 3, 13, 16, 19, 25]), r"field 'offsets'"),
    "every token the same": (_same_tokens, r"field 'sorted_hashes': do not match token"),
    "duplicate tokens": (_duplicates, r"'the' appears twice, at ids 2 and 4"),
    "order out of range": (_set("order", [0, 1, 2, 3, 4, 99]), r"field 'order'.*permutation"),
    "special id out of range": (_set("special_ids", [0, 9]), r"field 'special_ids'"),
    "bogus oov": (lambda a, m: m.update(oov="skip"), r"field 'oov': is 'skip'"),
    "negative buckets": (lambda a, m: m.update(num_buckets="-1"), r"field 'num_buckets'"),
    "unk policy without unk": (lambda a, m: m.update(unk=""), r"field 'oov'"),
    "offsets as floats": (
        lambda a, m: a.update(offsets=a["offsets"].astype(np.float64)),
        r"field 'offsets': has shape \(7,\) and dtype float64",
    ),
    "counts of another length": (
        lambda a, m: a.update(counts=np.zeros(2, np.int64)),
        r"field 'counts'",
    ),
}


@pytest.mark.parametrize("name", sorted(VOCAB_CASES))
def test_vocab_files_are_checked_on_load(tmp_path: Path, name: str) -> None:
    edit, message = VOCAB_CASES[name]
    path = _vocab_file(tmp_path, edit)
    for mmap in (True, False):
        with pytest.raises(FormatError, match=message) as info:
            Vocab.load(path, mmap=mmap)
        assert str(path) in str(info.value)


def test_float16_caches_stay_float16_and_memory_mapped(
    glove: EmbeddingTable, tmp_path: Path
) -> None:
    from vocabgraft.cli.info import describe

    half = EmbeddingTable(np.asarray(glove.vectors[:500], np.float16), glove.vocab.tokens[:500])
    half.save(tmp_path / "h")
    back = EmbeddingTable.load(tmp_path / "h")
    assert back.dtype == np.float16 and not back.vectors.flags.owndata
    assert not back.vectors.flags.writeable
    np.testing.assert_array_equal(back.vectors, half.vectors)
    assert describe(back)["dtype"] == "float16"
    # vocabgraft.load keeps it too, memory-mapped; it converts only when a dtype is named.
    import vocabgraft

    loaded = vocabgraft.load(tmp_path / "h")
    assert loaded.dtype == np.float16 and not loaded.vectors.flags.owndata
    assert vocabgraft.load(tmp_path / "h", dtype="float32").dtype == np.float32


def test_a_huge_maxn_costs_nothing_in_compose() -> None:
    from vocabgraft.subwords import FastTextSubwords, ngram_hashes

    model = FastTextSubwords(np.ones((10, 2), np.float32), minn=3, maxn=2**31 - 1)
    np.testing.assert_allclose(model.compose(["abc"]), [[1.0, 1.0]])
    indptr, _ = ngram_hashes(["ab"], 1, 2**31 - 1)
    assert indptr.tolist() == [0, 10]  # every n-gram of "<ab>", no more
