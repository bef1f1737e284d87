"""``vocabgraft add-tokens MODEL OUT TOKEN...``: a Hugging Face checkpoint with new tokens.

Each new row starts as the mean of the rows of the pieces the tokenizer split
the token into before it was added (:func:`vocabgraft.torch.hf.add_tokens`); a tied
output layer follows. The grown model and tokenizer are written to ``OUT`` as
an ordinary checkpoint, to fine-tune with any trainer. Reads local folders
only (no download).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from vocabgraft.cli._common import add_json_arg, emit
from vocabgraft.errors import VocabgraftError, require

INITS = ("subtokens", "mean", "normal")


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "add-tokens",
        help="add tokens to a Hugging Face checkpoint, each row started from its old pieces",
    )
    p.add_argument("model", metavar="MODEL", help="a local checkpoint folder (model + tokenizer)")
    p.add_argument("out", metavar="OUT", help="the folder to write the grown checkpoint to")
    p.add_argument("tokens", nargs="+", metavar="TOKEN")
    p.add_argument(
        "--init",
        choices=INITS,
        default="subtokens",
        help="subtokens: the mean of the rows of the token's old pieces; mean: the mean row; "
        "normal: a sample matching the rows' mean and covariance (default: subtokens)",
    )
    p.add_argument("--special", action="store_true", help="add them as special tokens")
    p.add_argument("--overwrite", action="store_true", help="write into OUT even if it exists")
    add_json_arg(p)
    p.set_defaults(func=run)


def _load(folder: Path) -> tuple[Any, Any]:
    """The checkpoint's model (its own architecture, so a head comes along) and tokenizer."""
    transformers: Any = require("transformers", "hf", "vocabgraft add-tokens")
    require("torch", "torch", "vocabgraft add-tokens")
    if not (folder / "config.json").is_file():
        raise VocabgraftError(f"{folder} is not a Hugging Face checkpoint folder (no config.json)")
    config = transformers.AutoConfig.from_pretrained(folder, local_files_only=True)
    names = getattr(config, "architectures", None) or []
    cls = getattr(transformers, names[0], None) if names else None
    model = (cls or transformers.AutoModel).from_pretrained(folder, local_files_only=True)
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True)
    return model, tokenizer


def run(args: argparse.Namespace) -> int:
    from vocabgraft.torch.hf import add_tokens, merge

    out = Path(args.out)
    if out.exists() and any(out.iterdir()) and not args.overwrite:
        raise VocabgraftError(f"{out} exists and is not empty; pass --overwrite to write into it")
    model, tokenizer = _load(Path(args.model))
    init = None if args.init == "subtokens" else args.init
    added = add_tokens(model, tokenizer, args.tokens, init=init, special=args.special)
    merge(model).save_pretrained(out)
    tokenizer.save_pretrained(out)
    result = {
        "out": str(out),
        "added": dict(zip(added.tokens, added.ids)),
        "skipped": dict(added.skipped),
        "pieces": {t: list(p) for t, p in added.pieces.items()},
        "rows": added.num_rows,
        "output_layer": added.output,
        "init": added.init,
    }
    # The report's last line counts rows that train; nothing trains here.
    lines = [line for line in str(added).splitlines() if not line.startswith("trainable rows")]
    emit(args, "\n".join([*lines, f"wrote {out}"]), result)
    return 0
