from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vocabgraft import RowIndexError, TokenNotFoundError, Vocab, VocabError
from vocabgraft.vocab.core import stable_hash


def test_specials_come_first_and_keep_their_ids() -> None:
    v = Vocab(["the", "cat"], specials=["<mask>"], pad="<pad>", unk="<unk>")
    assert v.tokens == ["<pad>", "<unk>", "<mask>", "the", "cat"]
    assert (v.pad_id, v.unk_id) == (0, 1)
    assert v.special_ids.tolist() == [0, 1, 2]
    assert v.specials == ["<pad>", "<unk>", "<mask>"]


def test_specials_already_in_tokens_stay_where_they_are() -> None:
    # A BERT-style list: [PAD] at 0, [UNK] at 2.
    v = Vocab(["[PAD]", "hello", "[UNK]"], pad="[PAD]", unk="[UNK]")
    assert (v.pad_id, v.unk_id) == (0, 2)
    assert len(v) == 3


def test_duplicate_tokens_are_named() -> None:
    with pytest.raises(VocabError, match=r"token 'cat' appears twice, at ids 1 and 2"):
        Vocab(["the", "cat", "cat"])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"oov": "unk"}, "oov='unk' needs an unk token"),
        ({"oov": "hash"}, "oov='hash' needs num_buckets > 0"),
        ({"oov": "bogus"}, "oov must be one of"),
        ({"num_buckets": 3}, "only used with oov='hash'"),
        ({"oov": "hash", "num_buckets": -1}, "non-negative integer"),
    ],
    ids=[
        "unk-without-token",
        "hash-without-buckets",
        "unknown-policy",
        "buckets-without-hash",
        "negative",
    ],
)
def test_bad_policy_arguments(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(VocabError, match=message):
        Vocab(["a"], **kwargs)  # type: ignore[arg-type]


def test_oov_policies() -> None:
    unk = Vocab(["a", "b"], unk="<unk>")
    assert unk.lookup(["a", "zzz", "b"]).tolist() == [1, 0, 2]
    assert unk.lookup("zzz") == 0

    strict = Vocab(["a", "b"])
    with pytest.raises(
        TokenNotFoundError, match=r"token 'zzz' \(position 1\) is not in the vocabulary"
    ):
        strict.lookup(["a", "zzz"])
    with pytest.raises(KeyError, match="zzz"):  # also a KeyError
        strict["zzz"]

    hashed = Vocab(["a", "b"], oov="hash", num_buckets=4)
    assert hashed.bucket_ids.tolist() == [2, 3, 4, 5]
    ids = hashed.lookup(["zzz", "yyy", "zzz"])
    assert ids[0] == ids[2]
    assert set(ids.tolist()) <= set(hashed.bucket_ids.tolist())
    # The bucket is a fixed function of the token, not of the process.
    assert ids[0] == 2 + stable_hash("zzz") % 4


def test_stable_hash_is_fixed_across_processes() -> None:
    # Pinned values: a change here would silently remap every saved OOV bucket.
    assert stable_hash("television") == 0x0AD60173E8032D14
    import subprocess
    import sys

    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "from vocabgraft.vocab import stable_hash; print(stable_hash('tv'))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert int(out.stdout) == stable_hash("tv")


def test_from_counts_orders_by_frequency_then_token() -> None:
    counts = {"b": 3, "a": 3, "c": 5, "rare": 1, "<pad>": 100}
    v = Vocab.from_counts(counts, min_freq=2, max_size=2, pad="<pad>", unk="<unk>")
    assert v.tokens == ["<pad>", "<unk>", "c", "a"]
    assert v.counts is not None
    assert v.counts.tolist() == [100, 0, 5, 3]


def test_from_counts_counts_an_iterable_of_tokens() -> None:
    v = Vocab.from_counts(["the", "cat", "the", "mat", "the"])
    assert v.tokens[0] == "the"
    assert v.counts is not None
    assert v.counts[0] == 3


def test_extend_is_append_only() -> None:
    v = Vocab(["a", "b"], unk="<unk>")
    before = {t: v[t] for t in v.tokens}
    ids = v.extend(["c", "d"])
    assert ids.tolist() == [3, 4]
    assert all(v[t] == i for t, i in before.items())
    with pytest.raises(VocabError, match=r"token 'a' is already in the vocabulary at id 1"):
        v.extend(["e", "a"])
    assert "e" not in v  # nothing was added by the failed call
    with pytest.raises(VocabError, match="repeated"):
        v.extend(["f", "f"])
    assert v.missing(["a", "x", "x", "y"]) == ["x", "y"]


def test_token_ids_are_checked() -> None:
    v = Vocab(["a"])
    with pytest.raises(RowIndexError, match="id 5 is out of range for a vocabulary of 1 tokens"):
        v.token(5)
    with pytest.raises(RowIndexError, match="ids are integers"):
        v.token(1.0)  # type: ignore[arg-type]


tokens_strategy = st.lists(st.text(min_size=0, max_size=12), unique=True, max_size=40)


@settings(max_examples=60, deadline=None)
@given(tokens=tokens_strategy)
def test_save_load_roundtrip_any_token(
    tmp_path_factory: pytest.TempPathFactory, tokens: list[str]
) -> None:
    path = tmp_path_factory.mktemp("vocab") / "v.safetensors"
    v = Vocab(tokens, unk="\x00unk\n" if "\x00unk\n" not in tokens else None)
    v.save(path)
    for mmap in (True, False):
        back = Vocab.load(path, mmap=mmap)
        assert back == v
        assert back.tokens == v.tokens
        assert all(back[t] == v[t] for t in tokens)
        assert back.lookup(["never-seen-\ud800"] if back.oov == "unk" else []).tolist() == (
            [v.unk_id] if back.oov == "unk" else []
        )


@settings(max_examples=40, deadline=None)
@given(tokens=tokens_strategy, extra=st.lists(st.text(max_size=6), unique=True, max_size=10))
def test_growing_never_renumbers(tokens: list[str], extra: list[str]) -> None:
    v = Vocab(tokens)
    before = v.tokens
    new = v.missing(extra)
    v.extend(new)
    assert v.tokens[: len(before)] == before
    assert v.tokens[len(before) :] == new


def test_loaded_vocab_grows_after_materializing(tmp_path: Path) -> None:
    v = Vocab(["x", "y"], pad="<pad>")
    v.save(tmp_path / "v.st")
    back = Vocab.load(tmp_path / "v.st")
    back.add("z")
    assert back.tokens == ["<pad>", "x", "y", "z"]
    assert back["z"] == 3


def test_load_rejects_other_files(tmp_path: Path) -> None:
    from safetensors.numpy import save_file

    from vocabgraft import FormatError

    save_file({"x": np.zeros(3, np.float32)}, str(tmp_path / "other.st"))
    with pytest.raises(FormatError, match="not a vocabgraft vocabulary"):
        Vocab.load(tmp_path / "other.st")
    (tmp_path / "short.st").write_bytes(b"\x01\x02")
    with pytest.raises(FormatError, match="too short for a safetensors header"):
        Vocab.load(tmp_path / "short.st")


def test_lookup_of_nested_sequences_and_encode() -> None:
    v = Vocab(["a", "b"], pad="<pad>", unk="<unk>")
    assert v.lookup([["a", "b"], ["b", "zzz"]]).tolist() == [[2, 3], [3, 1]]
    with pytest.raises(VocabError, match=r"different lengths \(1 to 2\); use vocab.encode"):
        v.lookup([["a"], ["a", "b"]])
    with pytest.raises(VocabError, match=r"tokens are strings\. Received: 3"):
        v.lookup(["a", 3])  # type: ignore[list-item]
    assert v.encode([["a"], ["b", "a", "a"]], length=2).tolist() == [[2, 0], [3, 2]]
    with pytest.raises(VocabError, match="has none; pass pad="):
        Vocab(["a"]).encode([["a"]])


def test_saved_lookup_is_exact_even_when_hashes_collide(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import vocabgraft.vocab as vocab_module

    # Every token hashes to one of two values: lookups must still compare the bytes.
    monkeypatch.setattr(vocab_module, "stable_hash", lambda token: len(token) % 2)
    tokens = ["a", "bb", "c", "dd", "e"]
    Vocab(tokens).save(tmp_path / "v.st")
    back = Vocab.load(tmp_path / "v.st")
    assert back.lookup_exact(["e", "dd", "a"]).tolist() == [4, 3, 0]
    assert [back[t] for t in tokens] == [0, 1, 2, 3, 4]
    assert back.get("zz") is None
    assert "f" not in back
