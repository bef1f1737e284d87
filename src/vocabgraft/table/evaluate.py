"""gensim's two intrinsic evaluations, on an EmbeddingTable: word pairs and analogies.

Both follow ``gensim.models.KeyedVectors`` line for line in what they count:
the same files (WordSim353, SimLex-999, ``questions-words.txt``), the same
``restrict_vocab`` and ``case_insensitive`` rules (the first row of each
upper-cased spelling stands for it), the same OOV accounting, so the numbers
agree with gensim's on the same table. The analogies are searched as one
batch of queries through :func:`~vocabgraft.table.topk.topk`.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vocabgraft.errors import FormatError, require
from vocabgraft.table.topk import topk, unit_rows

if TYPE_CHECKING:
    from vocabgraft.table.similarity import Similarities

__all__ = ["evaluate_word_analogies", "evaluate_word_pairs"]


def _ok_vocab(table: Similarities, restrict_vocab: int, case_insensitive: bool) -> dict[str, int]:
    """Key -> row over the first ``restrict_vocab`` rows; the first row of a key wins."""
    keys = table.vocab.tokens[:restrict_vocab]
    if case_insensitive:
        keys = [k.upper() for k in keys]
    return dict(zip(reversed(keys), range(len(keys) - 1, -1, -1)))


def _read_lines(path: str | os.PathLike[str], encoding: str) -> list[str]:
    try:
        return Path(path).read_text(encoding=encoding).splitlines(keepends=True)
    except (OSError, UnicodeDecodeError) as exc:
        raise FormatError(f"cannot read the evaluation file ({exc})", path=path) from None


def _unit_row(table: Similarities, i: int) -> np.ndarray:
    return np.asarray(unit_rows(np.asarray(table.vectors[i], dtype=np.float32)[None])[0])


def evaluate_word_pairs(
    table: Similarities,
    pairs: str | os.PathLike[str],
    delimiter: str = "\t",
    encoding: str = "utf8",
    restrict_vocab: int = 300000,
    case_insensitive: bool = True,
    dummy4unknown: bool = False,
) -> tuple[Any, Any, float]:
    """Pearson and Spearman correlation of the table's cosines with human judgements.

    Args:
        table: the table.
        pairs: a file of ``word1<delimiter>word2<delimiter>score`` lines;
            lines starting with ``#`` are comments.
        delimiter: the field separator.
        encoding: the file's encoding.
        restrict_vocab: only the first rows count as known.
        case_insensitive: compare upper-cased words.
        dummy4unknown: score pairs with unknown words as 0 instead of skipping them.

    Returns:
        ``(pearson, spearman, oov_ratio)`` as gensim returns them: scipy's
        results (statistic and p-value) and the percentage of unknown pairs.

    Raises:
        FormatError: the file cannot be read, or has no usable pair.
    """
    stats: Any = require("scipy.stats", "subword", "Evaluating word pairs")
    ok = _ok_vocab(table, restrict_vocab, case_insensitive)
    gold: list[float] = []
    model: list[float] = []
    oov = 0
    for line in _read_lines(pairs, encoding):
        if not line or line.startswith("#"):
            continue
        fields = line.split(delimiter)
        if len(fields) != 3:
            continue
        a, b, score = (f.upper() for f in fields) if case_insensitive else fields
        try:
            sim = float(score)
        except ValueError:
            continue
        if a not in ok or b not in ok:
            oov += 1
            if dummy4unknown:
                model.append(0.0)
                gold.append(sim)
            continue
        gold.append(sim)
        model.append(float(_unit_row(table, ok[a]) @ _unit_row(table, ok[b])))
    if not gold:
        raise FormatError(
            "no valid similarity judgements: the lines are not word1, word2, score, or every "
            "pair has a word outside the table",
            path=pairs,
        )
    spearman = stats.spearmanr(gold, model)
    pearson = stats.pearsonr(gold, model)
    known = len(gold) if dummy4unknown else len(gold) + oov
    return pearson, spearman, 100.0 * oov / known


def _read_analogies(
    path: str | os.PathLike[str], case_insensitive: bool
) -> list[tuple[str, list[tuple[str, str, str, str]]]]:
    sections: list[tuple[str, list[tuple[str, str, str, str]]]] = []
    for line_no, line in enumerate(_read_lines(path, "utf-8"), 1):
        if line.startswith(": "):
            sections.append((line.lstrip(": ").strip(), []))
            continue
        if not sections:
            raise FormatError(
                "missing section header (': name') before it", path=path, line=line_no
            )
        words = line.split()
        if len(words) != 4:
            continue
        if case_insensitive:
            words = [w.upper() for w in words]
        sections[-1][1].append((words[0], words[1], words[2], words[3]))
    return sections


def _predict(
    table: Similarities,
    quads: list[tuple[str, str, str, str]],
    ok: dict[str, int],
    limit: int,
    case_insensitive: bool,
) -> list[str | None]:
    """3CosAdd for each (a, b, c, _): the first of the 5 nearest to b - a + c not among a, b, c."""
    if not quads:
        return []
    ids = np.array([[ok[a], ok[b], ok[c]] for a, b, c, _ in quads], dtype=np.int64)
    unit = unit_rows(np.asarray(table.vectors[ids.reshape(-1)], dtype=np.float32))
    unit = unit.reshape(len(quads), 3, -1)
    means = unit_rows((unit[:, 1] + unit[:, 2] - unit[:, 0]) / np.float32(3))
    found, _ = topk(means, table.vectors[:limit], 5, exclude=ids)
    out: list[str | None] = []
    for (a, b, c, _), row in zip(quads, found.tolist()):
        predicted = None
        for i in row:
            if i < 0:
                continue
            token = table.vocab.token(i)
            predicted = token.upper() if case_insensitive else token
            if predicted in ok and predicted not in (a, b, c):
                break
        out.append(predicted)
    return out


def evaluate_word_analogies(
    table: Similarities,
    analogies: str | os.PathLike[str],
    restrict_vocab: int = 300000,
    case_insensitive: bool = True,
    dummy4unknown: bool = False,
) -> tuple[float, list[dict[str, Any]]]:
    """Accuracy on ``a : b :: c : ?`` questions, by section and in total.

    Args:
        table: the table.
        analogies: a file like ``questions-words.txt``: ``: section`` lines,
            then ``a b c expected`` lines.
        restrict_vocab: questions with a word outside the first rows are
            skipped, and answers are searched among those rows only.
        case_insensitive: compare upper-cased words.
        dummy4unknown: count questions with unknown words as wrong instead
            of skipping them.

    Returns:
        ``(score, sections)`` as gensim returns them.

    Raises:
        FormatError: the file cannot be read or has a question before any section.
    """
    ok = _ok_vocab(table, restrict_vocab, case_insensitive)
    limit = min(len(table.vectors), restrict_vocab)
    result: list[dict[str, Any]] = []
    for name, quads in _read_analogies(analogies, case_insensitive):
        known = [q for q in quads if all(w in ok for w in q)]
        section: dict[str, Any] = {"section": name, "correct": [], "incorrect": []}
        predicted = iter(_predict(table, known, ok, limit, case_insensitive))
        for quad in quads:
            if all(w in ok for w in quad):
                kind = "correct" if next(predicted) == quad[3] else "incorrect"
                section[kind].append(quad)
            elif dummy4unknown:
                section["incorrect"].append(quad)
        result.append(section)
    total = {
        "section": "Total accuracy",
        "correct": list(itertools.chain.from_iterable(s["correct"] for s in result)),
        "incorrect": list(itertools.chain.from_iterable(s["incorrect"] for s in result)),
    }
    right, wrong = len(total["correct"]), len(total["incorrect"])
    result.append(total)
    return (right / (right + wrong) if right + wrong else 0.0), result
