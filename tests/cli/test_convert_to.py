"""``vocabgraft convert --to word2vec|word2vec-binary|glove``: files gensim reads back."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import vocabgraft
from vocabgraft.cli import main

gensim = pytest.importorskip("gensim")
pytestmark = pytest.mark.gensim


@pytest.fixture(scope="module")
def glove_txt() -> Path:
    from gensim.test.utils import datapath

    return Path(datapath("test_glove.txt"))


@pytest.mark.parametrize(
    ("to", "binary", "no_header"),
    [("word2vec", False, False), ("word2vec-binary", True, False), ("glove", False, True)],
    ids=["word2vec", "word2vec-binary", "glove"],
)
def test_convert_to_a_format_gensim_reads(
    glove_txt: Path, tmp_path: Path, to: str, binary: bool, no_header: bool
) -> None:
    out = tmp_path / "vectors.out"
    assert main(["convert", str(glove_txt), str(out), "--to", to]) == 0
    kv = gensim.models.KeyedVectors.load_word2vec_format(
        str(out), binary=binary, no_header=no_header
    )
    table = vocabgraft.load(glove_txt)
    assert kv.index_to_key == table.vocab.tokens
    np.testing.assert_allclose(kv.vectors, table.vectors, rtol=1e-6, atol=1e-6)
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask  # a plain file's mode, not 0600


def test_convert_to_a_file_refuses_to_replace_without_overwrite(
    glove_txt: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "mine.txt"
    out.write_text("a user's file\n")
    assert main(["convert", str(glove_txt), str(out), "--to", "glove"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pass --overwrite" in err
    assert out.read_text() == "a user's file\n"
    assert main(["convert", str(glove_txt), str(out), "--to", "glove", "--overwrite"]) == 0
    assert (
        out.read_text().split("\n", 1)[0].split(" ", 1)[0]
        == vocabgraft.load(glove_txt).vocab.tokens[0]
    )
    folder = tmp_path / "folder"
    folder.mkdir()
    assert main(["convert", str(glove_txt), str(folder), "--to", "word2vec", "--overwrite"]) == 1
    assert "is a folder" in capsys.readouterr().err
