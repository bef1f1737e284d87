from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from vocabgraft import EmbeddingTable, FormatError, TokenNotFoundError, Vocab, VocabError


def test_lookup_single_and_batch(small_table: EmbeddingTable) -> None:
    v = small_table.vectors
    assert np.array_equal(small_table["cat"], v[1])
    assert np.array_equal(small_table[["mat", "the"]], v[[4, 0]])
    with pytest.raises(TokenNotFoundError, match="'dog' is not in the vocabulary"):
        small_table["dog"]


def test_lookup_applies_the_oov_policy() -> None:
    vocab = Vocab(["a", "b"], unk="<unk>")
    t = EmbeddingTable(np.arange(6, dtype=np.float32).reshape(3, 2), vocab)
    assert t.lookup(["b", "nope"]).tolist() == [[4.0, 5.0], [0.0, 1.0]]


def test_shape_checks() -> None:
    with pytest.raises(VocabError, match="2 tokens but vectors has 3 rows"):
        EmbeddingTable(np.zeros((3, 2), np.float32), ["a", "b"])
    with pytest.raises(ValueError, match="must be 2-D"):
        EmbeddingTable(np.zeros(3, np.float32), ["a", "b", "c"])
    with pytest.raises(ValueError, match="floating point"):
        EmbeddingTable(np.zeros((1, 2), np.int64), ["a"])
    with pytest.raises(TypeError, match="must be a numpy array"):
        EmbeddingTable([[0.0]], ["a"])  # type: ignore[arg-type]


def test_most_similar_matches_brute_force(small_table: EmbeddingTable) -> None:
    v = small_table.vectors.astype(np.float64)
    unit = v / np.linalg.norm(v, axis=1, keepdims=True)
    cos = unit @ unit[2]
    cos[2] = -np.inf
    expected = [small_table.vocab.token(int(i)) for i in np.argsort(-cos)[:3]]
    got = small_table.most_similar("sat", k=3)
    assert [t for t, _ in got] == expected
    assert got[0][1] == pytest.approx(cos.max(), abs=1e-5)
    # A batch of queries gives one list per query; a vector query keeps the token itself.
    batch = small_table.most_similar(["sat", "cat"], k=2)
    assert len(batch) == 2
    assert [t for t, _ in batch[0]] == [t for t, _ in got[:2]]
    assert [c for _, c in batch[0]] == pytest.approx([c for _, c in got[:2]], abs=1e-6)
    assert small_table.most_similar(small_table["sat"], k=1)[0][0] == "sat"
    assert "the" not in [t for t, _ in small_table.most_similar("sat", k=9, exclude=["the"])]
    with pytest.raises(ValueError, match="k must be a positive integer"):
        small_table.most_similar("sat", k=0)


def test_real_glove_neighbours(glove: EmbeddingTable) -> None:
    assert glove.shape == (400_000, 50)
    # The official glove.6B.50d.txt row for "the" starts 0.418 0.24968 -0.41242.
    assert glove["the"][:3].tolist() == pytest.approx([0.418, 0.24968, -0.41242], abs=1e-6)
    neighbours = [t for t, _ in glove.most_similar("television", k=5)]
    assert "tv" in neighbours
    assert "king" in dict(glove.most_similar("queen", k=10))


def test_subset_keeps_order(small_table: EmbeddingTable) -> None:
    sub = small_table.subset(["mat", "the"])
    assert sub.vocab.tokens == ["mat", "the"]
    assert np.array_equal(sub.vectors, small_table[["mat", "the"]])


def test_cache_roundtrip_is_exact_and_mmapped(small_table: EmbeddingTable, tmp_path: Path) -> None:
    small_table.save(tmp_path / "t")
    back = EmbeddingTable.load(tmp_path / "t", verify=True)
    assert np.array_equal(back.vectors, small_table.vectors)
    assert back.vocab == small_table.vocab
    assert back.source == "generated"
    assert not back.vectors.flags.writeable  # a read-only map, not a copy
    info = json.loads((tmp_path / "t" / "table.json").read_text())
    assert info["rows"] == 10
    assert info["dim"] == 8
    assert len(info["checksum"]) == 32


def test_save_refuses_to_clobber_and_can_overwrite(
    small_table: EmbeddingTable, tmp_path: Path
) -> None:
    small_table.save(tmp_path / "t")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        small_table.save(tmp_path / "t")
    other = EmbeddingTable(np.ones((1, 8), np.float32), ["x"])
    other.save(tmp_path / "t", overwrite=True)
    assert EmbeddingTable.load(tmp_path / "t").vocab.tokens == ["x"]
    assert sorted(os.listdir(tmp_path)) == ["t"]  # no temp folders left behind


def test_interrupted_save_leaves_nothing_that_loads(
    small_table: EmbeddingTable, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(Vocab, "save", boom)
    with pytest.raises(KeyboardInterrupt):
        small_table.save(tmp_path / "t")
    assert os.listdir(tmp_path) == []
    assert not EmbeddingTable.is_cache(tmp_path / "t")


def test_damaged_cache_is_named(small_table: EmbeddingTable, tmp_path: Path) -> None:
    small_table.save(tmp_path / "t")
    vec = tmp_path / "t" / "vectors.safetensors"
    vec.write_bytes(vec.read_bytes()[:-16])
    with pytest.raises(FormatError, match=r"vectors\.safetensors.*truncated"):
        EmbeddingTable.load(tmp_path / "t")
    with pytest.raises(FormatError, match=r"no table\.json"):
        EmbeddingTable.load(tmp_path)


def test_checksum_catches_changed_bytes(small_table: EmbeddingTable, tmp_path: Path) -> None:
    small_table.save(tmp_path / "t")
    vec = tmp_path / "t" / "vectors.safetensors"
    data = bytearray(vec.read_bytes())
    data[-1] ^= 0xFF
    vec.write_bytes(bytes(data))
    EmbeddingTable.load(tmp_path / "t")  # opening alone does not read the data
    with pytest.raises(FormatError, match="checksum mismatch"):
        EmbeddingTable.load(tmp_path / "t", verify=True)


@settings(max_examples=30, deadline=None)
@given(
    data=st.data(),
    dtype=st.sampled_from([np.float16, np.float32, np.float64]),
)
def test_cache_roundtrip_property(
    tmp_path_factory: pytest.TempPathFactory, data: st.DataObject, dtype: type
) -> None:
    tokens = data.draw(st.lists(st.text(max_size=8), unique=True, min_size=0, max_size=20))
    dim = data.draw(st.integers(1, 5))
    vectors = data.draw(arrays(dtype, (len(tokens), dim)))
    table = EmbeddingTable(vectors, tokens)
    path = tmp_path_factory.mktemp("cache") / "t"
    table.save(path)
    back = EmbeddingTable.load(path)
    assert back.vocab.tokens == tokens
    assert back.dtype == dtype
    assert np.array_equal(back.vectors, vectors, equal_nan=True)
