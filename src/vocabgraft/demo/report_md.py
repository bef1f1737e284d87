"""report.md: the demo's numbers as Markdown tables, one section per step."""

from __future__ import annotations

from typing import Any

from vocabgraft.demo._tables import markdown_table
from vocabgraft.demo.compare import HOW, SUMMARY_HEADERS, VARIANTS, majority_line, summary_rows
from vocabgraft.demo.step_tables import (
    ITEMS_HEADERS,
    ROW_HEADERS,
    WORDS_HEADERS,
    items_rows,
    neighbour_rows,
    pair_headers,
    pair_rows,
    row_rows,
    words_rows,
)

__all__ = ["render"]


def _section(title: str, *blocks: str) -> str:
    """A heading and its paragraphs and tables, separated by blank lines (empty blocks dropped)."""
    return "\n\n".join([title, *(b for b in blocks if b)])


def _image(r: dict[str, Any], name: str) -> str:
    return f"![{name[:-4]}]({name})" if name in r.get("plots", []) else ""


def _header(r: dict[str, Any]) -> str:
    c = r["config"]
    v = ", ".join(f"{k} {x}" for k, x in c["versions"].items())
    return _section(
        "# vocabgraft demo",
        f"Seed {c['seed']}, {'quick' if c['quick'] else 'full'} run, "
        f"{r['timing']['total_seconds']:.0f} s on {c['torch_threads']} torch thread(s) "
        f"({_threads(r)}). {v}.",
        "Data: GloVe 6B 50d (400,000 x 50) and the Amazon fine-food reviews (4,000 training, "
        "1,000 held-out; label great/other). The held-out reviews are split in halves: "
        "adaptation (steps 3 and 4 train new rows on them) and evaluation (only scored).",
    )


def _threads(r: dict[str, Any]) -> str:
    measured = r.get("threads", {}).get("seconds_per_step", {})
    if not measured:
        return "one core"
    per_step = ", ".join(f"{n}: {1000 * t:.1f} ms" for n, t in measured.items())
    return f"the faster on step 2's training steps; per step {per_step}"


def _transfer(r: dict[str, Any]) -> str:
    t = r["transfer"]
    return _section(
        "## 1. Transfer",
        f"Tokenizer: {t['tokenizer'].replace('<br />', '`<br />`')}. Vocabulary: {t['vocab_size']:,} tokens "
        f"(`<pad>` = {t['specials']['<pad>']}, `<unk>` = {t['specials']['<unk>']}). "
        f"Unmatched words start from a subword model fitted on GloVe's "
        f"{t['subword_model']['fitted_on_words']:,} most frequent words.",
        t["alignment_markdown"],
    )


def _compare(r: dict[str, Any]) -> str:
    c = r["compare"]
    return _section(
        "## 2. Four ways to treat the embedding",
        f"Classifier: {c['classifier']}; {c['optimizer']}. {c['epochs']} epochs, seeds "
        f"{c['seeds']}; (iv) unfreezes at the start of epoch {c['unfreeze_epoch'] + 1}. "
        f"Trained on {r['data']['fit_reviews']:,} training reviews; test accuracy on all "
        f"{r['data']['test_reviews']:,} held-out reviews after the last epoch, and after the "
        f"epoch with the best accuracy on the other {r['data']['validation_reviews']:,} "
        "training reviews (validation; the test reviews never choose anything). Optimizer "
        "state is measured from Adam's state tensors (peak over training).",
        "\n".join(f"- {VARIANTS[k]}: `{HOW[k]}`" for k in c["variants"]),
        markdown_table(SUMMARY_HEADERS, summary_rows(c["variants"])),
        f"Baseline: {majority_line(c['majority'])}.",
        "`nn.Embedding` counts the padding row's parameters as trainable (they get no "
        "gradient); `PartialEmbedding` keeps the padding row out of its parameter, hence the "
        f"difference of {r['transfer']['alignment']['table']['dim']} between (iii) and (iv).",
        _image(r, "accuracy.png"),
    )


def _new_words(r: dict[str, Any]) -> str:
    w = r["new_words"]
    first = w["per_seed"][0]
    return _section(
        "## 3. New vocabulary arrives",
        f"How: {w['how']}.",
        f"{first['new_words']:,} new words: {first['new_words_from_glove']:,} from GloVe, "
        f"{first['new_words_from_subwords']:,} from subwords; "
        f"{first['new_words_in_adaptation_half']:,} occur in the adaptation half.",
        markdown_table(WORDS_HEADERS, words_rows(w)),
        f"All {first['old_rows']:,} old rows and the classifier bit-identical: "
        f"**{w['old_rows_bit_identical']}** (asserted for every seed).",
    )


def _new_items(r: dict[str, Any]) -> str:
    it = r["new_items"]
    return _section(
        "## 4. New items arrive",
        f"How: {it['how']}. Every product in this data has exactly one review, so a product "
        "row can only carry what its one review said.",
        markdown_table(ITEMS_HEADERS, items_rows(it)),
        f"Features read the review as {it['per_seed'][0]['features']['text_features_how']} "
        f"(chosen by held-out R² on the existing products). Seed "
        f"{it['per_seed'][0]['seed']}: {it['per_seed'][0]['features']['summary']}.",
        f"Neighbours minus no product signal: {it['neighbours_minus_zeros']:+.4f}; features "
        f"minus no product signal: {it['features']['minus_zeros']:+.4f}. Old product "
        f"rows and the text model bit-identical: **{it['old_rows_bit_identical']}**.",
        it["features"]["meaning"],
    )


def _propagation(r: dict[str, Any]) -> str:
    if "propagation" not in r:
        return ""
    from vocabgraft.demo.propagation import propagation_markdown

    return _section(
        "## 6. Fine-tuning and words the task never saw", propagation_markdown(r["propagation"])
    )


def _summary(r: dict[str, Any]) -> str:
    """The summary the terminal printed, as it printed it."""
    text = r.get("summary_text")
    return _section("## Summary", f"```\n{text}\n```") if text else ""


def _drift(r: dict[str, Any]) -> str:
    d = r["drift"]
    return _section(
        "## 5. Drift",
        "How far rows moved from their aligned values (mean over seeds):",
        markdown_table(ROW_HEADERS, row_rows(d)),
        f"Cosine of word pairs (mean over seeds). `tv` has {d['tv_counts']['tv']} training uses, "
        f"`television` {d['tv_counts']['television']}. The other pairs are frequent task words "
        "each with its nearest GloVe neighbour inside the training vocabulary, or outside it "
        "(that word keeps its GloVe row, as it would when it arrives later, as in step 3).",
        markdown_table(pair_headers(d), pair_rows(d)),
        f"Nearest task words under (iii), seed {d['variants']['full']['neighbours_seed']}:",
        markdown_table(["word", "before", "after", "overlap@10"], neighbour_rows(d)),
        _image(r, "drift.png"),
    )


def render(results: dict[str, Any]) -> str:
    """report.md: the header, the summary, then a section per step."""
    parts = [_header, _summary, _transfer, _compare, _new_words, _new_items, _drift, _propagation]
    return "\n\n".join(b for b in (p(results) for p in parts) if b) + "\n"
