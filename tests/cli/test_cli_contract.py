"""The CLI's contract, for every command: usage errors exit 2 in argparse's form, data errors
exit 1 with one line, flags (not Python arguments) in messages, no traceback without --debug."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vg_testdata import gensim_data
from vocabgraft import EmbeddingTable
from vocabgraft.cli import main

PYTHON_SPEAK = ("=True", "on_error", "vocab_path", "format=", "encoding=", "table.meta")


def run_cli(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, list[str]]:
    try:
        code = main(argv)
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, capsys.readouterr().err.splitlines()


def run_ok(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    """Stdout of a run that succeeds with nothing on stderr."""
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert err == ""
    return out


def assert_usage_error(capsys: pytest.CaptureFixture[str], argv: list[str], says: str) -> None:
    code, lines = run_cli(capsys, argv)
    assert code == 2, lines
    assert lines[0].startswith("usage: vocabgraft"), lines
    # argparse wraps a long usage line; what follows it is one error line.
    usage = [n for n, line in enumerate(lines) if n == 0 or line.startswith(" ")]
    assert usage == list(range(len(lines) - 1)), lines
    assert " error: " in lines[-1] and says in lines[-1], lines
    assert "Traceback" not in "\n".join(lines)


def assert_data_error(capsys: pytest.CaptureFixture[str], argv: list[str], says: str) -> str:
    code, lines = run_cli(capsys, argv)
    assert code == 1, lines
    assert len(lines) == 1, lines
    assert lines[0].startswith("vocabgraft: error: "), lines
    assert says in lines[0], lines
    for python in PYTHON_SPEAK:
        assert python not in lines[0], lines
    return lines[0]


@pytest.fixture(scope="module")
def glove_txt() -> Path:
    return gensim_data("test_glove.txt")


@pytest.fixture
def cache(glove_txt: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    assert main(["convert", str(glove_txt), str(tmp_path / "cache")]) == 0
    capsys.readouterr()
    return tmp_path / "cache"


@pytest.fixture
def words(tmp_path: Path) -> Path:
    (tmp_path / "words.txt").write_text("the\nof\n", encoding="utf-8")
    return tmp_path / "words.txt"


USAGE = [
    (["convert", "{src}", "{tmp}/o", "--format", "bogus"], "unknown format 'bogus'; choose"),
    (["convert", "{src}", "{tmp}/o", "--limit", "-1"], "argument --limit: must be 0 or more"),
    (["convert", "{src}", "{tmp}/o", "--limit", "ten"], "expected an integer, got 'ten'"),
    (["convert", "{src}", "{tmp}/o", "--encoding", "bogus"], "unknown encoding 'bogus'"),
    (["convert", "{src}", "{tmp}/o", "--encoding", "utf-16"], "'utf-16' does not write space"),
    (["convert", "{src}", "{tmp}/o", "--dtype", "int8"], "argument --dtype: invalid choice"),
    (["convert", "{src}", ".", "--overwrite"], "DST '.' is the current folder"),
    (["info", "{src}", "--format", "glvoe"], "unknown format 'glvoe'"),
    (["info", "{src}", "--sample", "-5"], "argument --sample: must be 0 or more, got -5"),
    (["info", "{src}", "--encoding", "utf-32"], "'utf-32' does not write space"),
    (["neighbors", "king", "-k", "0"], "argument -k: must be 1 or more, got 0"),
    (["neighbors", "king", "--format", "x"], "unknown format 'x'"),
    (["align", "--vocab", "{words}", "--match", "exact,lowr"], "unknown step(s) 'lowr'"),
    (["align", "--vocab", "{words}", "--match", "exact,exact"], "lists a step twice"),
    (["align", "--vocab", "{words}", "--min-freq", "0"], "argument --min-freq: must be 1"),
    (["align", "--vocab", "{words}", "--tokenizer", "nltk"], "argument --tokenizer: invalid"),
    (["align", "--vocab", "{words}", "--out", "."], "--out '.' is the current folder"),
    (["align"], "one of the arguments --vocab --corpus is required"),
    (["impute", "x", "-k", "-1"], "argument -k: must be 1 or more"),
    (["impute", "x", "--method", "magic"], "argument --method: invalid choice"),
    (["impute", "x", "--method", "features"], "--method features needs --features FILE"),
    (["impute", "x", "--fallback", "mean"], "--fallback is used with --features"),
    (["add-tokens", "{tmp}"], "the following arguments are required"),
    (["add-tokens", "{tmp}", "{tmp}/o", "x", "--init", "magic"], "argument --init"),
    (["demo", "--seed", "one"], "argument --seed: invalid int value"),
    (["demo", "--out", "."], "--out '.' is the current folder"),
    (["bogus"], "invalid choice: 'bogus'"),
]


@pytest.mark.parametrize(("argv", "says"), USAGE, ids=[" ".join(a[:4]) for a, _ in USAGE])
def test_usage_errors_exit_2_in_argparse_form(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    glove_txt: Path,
    words: Path,
    argv: list[str],
    says: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    filled = [a.format(src=glove_txt, tmp=tmp_path, words=words) for a in argv]
    assert_usage_error(capsys, filled, says)


def _damage(cache: Path, how: str) -> None:
    vectors, vocab, meta = (
        cache / n for n in ("vectors.safetensors", "vocab.safetensors", "table.json")
    )
    if how == "truncated":
        vectors.write_bytes(vectors.read_bytes()[:-100])
    elif how == "swapped":
        tmp = cache / "x"
        vectors.rename(tmp)
        vocab.rename(vectors)
        tmp.rename(vocab)
    elif how == "bad-json":
        meta.write_text('{"format": "vocabgraft.table", ', encoding="utf-8")
    elif how == "json-list":
        meta.write_text("[1, 2]", encoding="utf-8")
    elif how == "no-vocab":
        vocab.unlink()
    elif how == "garbage-header":
        vectors.write_bytes(b"\xff" * 64)


DAMAGE = ["truncated", "swapped", "bad-json", "json-list", "no-vocab", "garbage-header"]
READERS = [
    ["info", "{cache}"],
    ["neighbors", "the", "--vectors", "{cache}"],
    ["align", "--vocab", "{words}", "--vectors", "{cache}"],
    ["impute", "the", "--method", "mean", "--vectors", "{cache}"],
    ["convert", "{cache}", "{tmp}/copy"],
]


@pytest.mark.parametrize("how", DAMAGE)
@pytest.mark.parametrize("argv", READERS, ids=[a[0] for a in READERS])
def test_a_damaged_cache_is_one_line_exit_1_for_every_reader(
    capsys: pytest.CaptureFixture[str],
    cache: Path,
    words: Path,
    tmp_path: Path,
    how: str,
    argv: list[str],
) -> None:
    _damage(cache, how)
    filled = [a.format(cache=cache, words=words, tmp=tmp_path) for a in argv]
    line = assert_data_error(capsys, filled, str(cache))  # names the file
    assert "unexpected" not in line  # a FormatError, not an escaped builtin
    assert not (tmp_path / "copy").exists()


def test_data_errors_name_flags(
    capsys: pytest.CaptureFixture[str], cache: Path, tmp_path: Path, glove_txt: Path
) -> None:
    line = assert_data_error(capsys, ["convert", str(glove_txt), str(cache)], "exists")
    assert "pass --overwrite to replace it" in line
    np.save(tmp_path / "m.npy", np.ones((2, 3), np.float32))
    line = assert_data_error(capsys, ["convert", str(tmp_path / "m.npy"), str(tmp_path / "o")], "")
    assert "--vocab" in line
    bad = tmp_path / "bad.txt"
    bad.write_text("cat 1 2 3\ndog 1 x 3\n", encoding="utf-8")
    line = assert_data_error(capsys, ["info", str(bad)], "bad.txt, line 2")
    assert "--skip-bad-rows" in line


def test_overwrite_refuses_a_users_folder_naming_what_is_there(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, glove_txt: Path
) -> None:
    mine = tmp_path / "mine"
    (mine / "sub").mkdir(parents=True)
    (mine / "notes.txt").write_text("keep")
    (mine / "sub" / "code.py").write_text("keep")
    argv = ["convert", str(glove_txt), str(mine), "--overwrite"]
    assert_data_error(capsys, argv, "holds notes.txt, sub/, which vocabgraft did not write")
    assert (mine / "notes.txt").read_text() == (mine / "sub" / "code.py").read_text() == "keep"
    (tmp_path / "w.txt").write_text("the\n", encoding="utf-8")
    argv = ["align", "--vocab", str(tmp_path / "w.txt"), "--vectors", str(glove_txt)]
    assert_data_error(capsys, [*argv, "--out", str(mine), "--overwrite"], "holds notes.txt")
    assert (mine / "notes.txt").read_text() == "keep"
    (tmp_path / "file").write_text("keep")
    argv = ["convert", str(glove_txt), str(tmp_path / "file"), "--overwrite"]
    assert_data_error(capsys, argv, "is a file, not a folder vocabgraft wrote")
    assert (tmp_path / "file").read_text() == "keep"


def test_skip_bad_rows_prints_a_one_line_summary(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("cat 1 2 3\ndog 1 x 3\nemu 1 2\nfox 3 2 1\n", encoding="utf-8")
    for argv in (["info", str(bad)], ["convert", str(bad), str(tmp_path / "c")]):
        code, lines = run_cli(capsys, [*argv, "--skip-bad-rows"])
        assert code == 0
        assert len(lines) == 1, lines
        assert lines[0].startswith(f"vocabgraft: skipped 2 malformed row(s) of {bad}: ")
        assert "line 2" in lines[0] and "line 3" in lines[0]
        assert "UserWarning" not in lines[0] and "{" not in lines[0]
    assert EmbeddingTable.load(tmp_path / "c").vocab.tokens == ["cat", "fox"]


def test_other_commands_data_errors(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, words: Path
) -> None:
    missing = str(tmp_path / "missing.txt")
    assert_data_error(capsys, ["info", missing], "missing.txt")
    assert_data_error(capsys, ["align", "--vocab", missing, "--vectors", missing], "missing.txt")
    (tmp_path / "dup.txt").write_text("a\na\n", encoding="utf-8")
    assert_data_error(capsys, ["align", "--vocab", str(tmp_path / "dup.txt")], "listed again")
    pytest.importorskip("transformers")
    model = tmp_path / "model"
    model.mkdir()
    assert_data_error(capsys, ["add-tokens", str(model), str(tmp_path / "o"), "x"], "config.json")
    (model / "config.json").write_text("{not json", encoding="utf-8")
    assert_data_error(capsys, ["add-tokens", str(model), str(tmp_path / "o"), "x"], "")
    (tmp_path / "report").write_text("a file")
    pytest.importorskip("torch")
    assert_data_error(capsys, ["demo", "--quick", "--out", str(tmp_path / "report")], "report")


def test_an_unexpected_error_is_one_line_with_a_note_and_debug_shows_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, cache: Path
) -> None:
    import vocabgraft.cli.info as info

    def broken(table: object, sample: int = 10) -> dict[str, object]:
        raise AttributeError("'NoneType' object has no attribute 'x'")

    monkeypatch.setattr(info, "describe", broken)
    line = assert_data_error(capsys, ["info", str(cache)], "unexpected AttributeError")
    assert "rerun with --debug" in line
    with pytest.raises(AttributeError, match="no attribute 'x'"):
        main(["info", str(cache), "--debug"])
    with pytest.raises(AttributeError, match="no attribute 'x'"):
        main(["--debug", "info", str(cache)])


def test_python_m_vocabgraft_keeps_the_contract(tmp_path: Path) -> None:
    (tmp_path / "t.json").write_text(json.dumps({"format": "vocabgraft.table"}))
    env = {**os.environ, "PYTHONWARNINGS": "error"}
    cmd = [sys.executable, "-m", "vocabgraft", "info", str(tmp_path / "missing")]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    proc = subprocess.run([*cmd, "--debug"], capture_output=True, text=True, env=env)
    assert proc.returncode == 1
    assert "Traceback" in proc.stderr


def test_every_reader_takes_the_reading_flags(capsys: pytest.CaptureFixture[str]) -> None:
    cp852 = str(gensim_data("cp852_fasttext.bin"))
    line = assert_data_error(capsys, ["info", cp852], "is not valid utf-8")
    assert "Pass --encoding ... with the file's encoding" in line and "--skip-bad-rows" in line
    info = json.loads(run_ok(capsys, ["info", cp852, "--encoding", "cp852", "--json"]))
    assert info["rows"] == 171 and "který" in info["first_tokens"]
    code, lines = run_cli(capsys, ["neighbors", "který", "-k", "1", "--vectors", cp852])
    assert code == 1 and "not valid utf-8" in lines[0]
    argv = ["neighbors", "který", "-k", "1", "--vectors", cp852, "--encoding", "cp852", "--json"]
    assert json.loads(run_ok(capsys, argv))["který"][0]["cosine"] > 0.9
    glove = str(gensim_data("test_glove.txt"))
    argv = ["impute", "the", "--method", "mean", "--vectors", glove, "--format", "glove", "--json"]
    assert json.loads(run_ok(capsys, argv))["the"]["in_table"] is True


def test_info_reports_a_float16_cache_as_float16(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, glove_txt: Path
) -> None:
    argv = ["convert", str(glove_txt), str(tmp_path / "c16"), "--dtype", "float16"]
    run_ok(capsys, argv)
    info = json.loads(run_ok(capsys, ["info", str(tmp_path / "c16"), "--json"]))
    assert info["dtype"] == "float16"


def test_member_picks_the_file_of_a_zip(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, glove_txt: Path
) -> None:
    import zipfile

    archive = tmp_path / "glove.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.write(glove_txt, "a.txt")
        z.writestr("b.txt", "x 1 2\n")
    line = assert_data_error(capsys, ["info", str(archive)], "glove.zip")
    assert "--member" in line and "member=" not in line
    info = json.loads(run_ok(capsys, ["info", str(archive), "--member", "a.txt", "--json"]))
    assert info["rows"] == 76
