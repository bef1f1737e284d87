"""``vocabgraft align`` and ``vocabgraft impute``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from vocabgraft import EmbeddingTable, Vocab
from vocabgraft.cli import main

WORDS = ["the", "cat", "cats", "sat", "mat", "mats", "dog", "dogs", "walk", "walks", "walked"]


@pytest.fixture
def vectors(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    table = EmbeddingTable(rng.normal(size=(len(WORDS), 5)).astype(np.float32), WORDS)
    return table.save(tmp_path / "vectors")


def test_align_a_word_list_writes_a_table(
    vectors: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "vocab.txt").write_text("Cat\t30\nthe\t20\nzebra\t5\n", encoding="utf-8")
    args = ["align", "--vocab", str(tmp_path / "vocab.txt"), "--vectors", str(vectors)]
    assert main([*args, "--out", str(tmp_path / "aligned")]) == 0
    captured = capsys.readouterr()
    assert "coverage by frequency: 90.91% of 55 occurrences" in captured.out
    assert "most frequent unmatched: zebra (5)" in captured.out
    assert "wrote 5 x 5 table" in captured.err
    aligned = EmbeddingTable.load(tmp_path / "aligned")
    assert aligned.vocab.tokens == ["<pad>", "<unk>", "Cat", "the", "zebra"]
    source = EmbeddingTable.load(vectors)
    np.testing.assert_array_equal(aligned["Cat"], source["cat"])
    assert aligned.meta["alignment"]["by_kind"]["lower"] == 1


def test_align_a_corpus_as_json(
    vectors: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "c.txt").write_text("the cat sat\nthe Dog sat on the mat\nqq\n", encoding="utf-8")
    args = ["align", "--corpus", str(tmp_path / "c.txt"), "--vectors", str(vectors)]
    assert main([*args, "--min-freq", "2", "--json", "--rows"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["tokens"] == 4  # <pad>, <unk>, the, sat
    assert report["token_coverage"] == 1.0
    assert [r["kind"] for r in report["rows"]] == ["pad", "special", "exact", "exact"]


def test_align_markdown(vectors: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "v.txt").write_text("cat\nunicorn\n", encoding="utf-8")
    args = ["align", "--vocab", str(tmp_path / "v.txt"), "--vectors", str(vectors)]
    assert main([*args, "--markdown", "--unk", "", "--match", "exact"]) == 0
    out = capsys.readouterr().out
    assert "| row source | rows | share |" in out
    assert "| `unicorn` |" in out


def test_align_repeated_token_names_the_line(
    vectors: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "v.txt").write_text("cat\ndog\ncat\n", encoding="utf-8")
    code = main(["align", "--vocab", str(tmp_path / "v.txt"), "--vectors", str(vectors)])
    assert code == 1
    err = capsys.readouterr().err
    assert "v.txt, line 3: token 'cat' is listed again (first on line 1)" in err


def test_align_min_freq_needs_counts(
    vectors: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "v.txt").write_text("cat\ndog\n", encoding="utf-8")
    args = ["align", "--vocab", str(tmp_path / "v.txt"), "--vectors", str(vectors)]
    assert main([*args, "--min-freq", "3"]) == 1
    assert "--min-freq needs counts" in capsys.readouterr().err


def test_align_needs_a_vocabulary_source(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit, match="2"):
        main(["align"])
    assert "one of the arguments --vocab --corpus is required" in capsys.readouterr().err


def test_align_refuses_to_overwrite(
    vectors: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "v.txt").write_text("cat\n", encoding="utf-8")
    (tmp_path / "out").mkdir()
    args = ["align", "--vocab", str(tmp_path / "v.txt"), "--vectors", str(vectors)]
    assert main([*args, "--out", str(tmp_path / "out")]) == 1
    assert "exists; pass --overwrite to replace it" in capsys.readouterr().err
    assert main([*args, "--out", str(tmp_path / "out"), "--overwrite"]) == 0


def test_impute_with_a_fitted_subword_model_is_cached(
    vectors: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from vocabgraft.datasets.packaged import cache_dir

    args = ["impute", "walking", "cat", "--vectors", str(vectors), "-k", "3", "--json"]
    assert main(args) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["walking"]["in_table"] is False
    assert first["cat"]["in_table"] is True
    assert -1 <= first["cat"]["cosine_to_own_row"] <= 1
    assert first["walking"]["neighbors"][0]["token"].startswith("walk")
    cached = list((cache_dir() / "subwords").glob("subwords-*.safetensors"))
    assert len(cached) >= 1
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out) == first


@pytest.mark.parametrize("method", ["mean", "normal"], ids=["mean", "normal"])
def test_impute_other_methods(
    vectors: Path, capsys: pytest.CaptureFixture[str], method: str
) -> None:
    assert main(["impute", "zebra", "--vectors", str(vectors), "--method", method, "-k", "2"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"zebra  ({method}; not in the table)")
    assert len(out.strip().splitlines()) == 3


def test_impute_k_must_be_positive(vectors: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit, match="2"):
        main(["impute", "x", "--vectors", str(vectors), "-k", "0"])
    assert "argument -k: must be 1 or more, got 0" in capsys.readouterr().err


def test_vocab_tokens_with_tabs_but_no_count_stay_whole(
    vectors: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "v.txt").write_text("a\tb\ncat\n", encoding="utf-8")
    args = ["align", "--vocab", str(tmp_path / "v.txt"), "--vectors", str(vectors), "--json"]
    assert main([*args, "--rows", "--pad", "", "--unk", ""]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert [r["token"] for r in rows] == ["a\tb", "cat"]
    assert Vocab(["a\tb"]).tokens == ["a\tb"]


@pytest.mark.parametrize(
    ("tokenizer", "unmatched"),
    # simple: "Dog's" -> "dog" + "'s" (the table lacks "'s"), "sat." -> "sat".
    [("simple", ["'s"]), ("whitespace", ["Cats.", "Dog's", "sat."])],
    ids=["simple", "whitespace"],
)
def test_corpus_tokenizer_splits_punctuation_and_clitics(
    vectors: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    tokenizer: str,
    unmatched: list[str],
) -> None:
    (tmp_path / "c.txt").write_text("The cat sat. Dog's mat\nCats.\n", encoding="utf-8")
    args = ["align", "--corpus", str(tmp_path / "c.txt"), "--vectors", str(vectors), "--json"]
    assert main([*args, "--tokenizer", tokenizer, "--match", "exact,lower"]) == 0
    report = json.loads(capsys.readouterr().out)
    missing = sorted(r["token"] for r in report["top_unmatched"])
    assert missing == unmatched


@pytest.fixture
def items(tmp_path: Path) -> tuple[Path, Path]:
    """A table of 40 items in two clusters, and a CSV of their kinds (plus two new items)."""
    rng = np.random.default_rng(0)
    ids = [f"x{i}" for i in range(20)] + [f"y{i}" for i in range(20)]
    centre = {"x": np.array([1.0, 0, 0, 0]), "y": np.array([0, 1.0, 0, 0])}
    rows = np.stack([centre[t[0]] + 0.1 * rng.normal(size=4) for t in ids]).astype(np.float32)
    path = EmbeddingTable(rows, ids).save(tmp_path / "items")
    lines = ["id,kind", *(f"{t},{t[0]}" for t in ids), "newx,x", "newy,y"]
    (tmp_path / "f.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, tmp_path / "f.csv"


def test_impute_from_features_predicts_new_items_rows(
    items: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("pyarrow")
    table, features = items
    argv = ["impute", "newx", "newy", "--vectors", str(table), "--features", str(features)]
    assert main([*argv, "-k", "5", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    for word, kind in (("newx", "x"), ("newy", "y")):
        assert out[word]["method"] == "features" and out[word]["in_table"] is False
        assert all(n["token"].startswith(kind) for n in out[word]["neighbors"])
    assert main([*argv, "-k", "1"]) == 0
    err = capsys.readouterr().err
    assert "fitted on the 40 items of" in err and "held-out R²" in err


def test_impute_features_errors(
    items: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("pyarrow")
    table, features = items
    base = ["impute", "newx", "--vectors", str(table)]
    for extra, says in (
        (["--method", "features"], "--method features needs --features FILE"),
        (["--features", str(features), "--method", "mean"], "not --method mean"),
    ):
        with pytest.raises(SystemExit, match="2"):
            main([*base, *extra])
        assert says in capsys.readouterr().err.splitlines()[-1]
    assert main([*base, "--features", str(features), "--id-column", "item"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "no id column 'item'" in err[0] and "--id-column" in err[0]
    argv = ["impute", "zebra", "--vectors", str(table), "--features", str(features), "--json"]
    assert main(argv) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "no features in" in err[0] and "--fallback mean" in err[0], err
    assert main([*argv, "--fallback", "mean"]) == 0
    mean = np.asarray(EmbeddingTable.load(table).vectors).mean(axis=0)
    best = json.loads(capsys.readouterr().out)["zebra"]["neighbors"][0]["cosine"]
    rows = np.asarray(EmbeddingTable.load(table).vectors)
    cosines = rows @ mean / np.linalg.norm(rows, axis=1) / np.linalg.norm(mean)
    assert best == pytest.approx(float(cosines.max()), abs=1e-5)  # the mean row's neighbour
