"""``vocabgraft add-tokens MODEL OUT TOKEN...``: a Hugging Face checkpoint with new tokens.

Each new row starts as the mean of the rows of the pieces the tokenizer split
the token into before it was added (:func:`vocabgraft.torch.hf.add_tokens`;
byte-level BPE and SentencePiece tokenizers get each token with and without
its leading space); a tied output layer follows. ``MODEL`` is a checkpoint
folder or a GGUF file (read through transformers' GGUF loading, dequantized).
The grown model and tokenizer are written to ``OUT`` as an ordinary
checkpoint, to fine-tune with any trainer; a sentence-transformers folder is
written back whole (``modules.json``, pooling). Reads local files only (no download).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from vocabgraft.cli._common import add_json_arg, check_destination, emit
from vocabgraft.errors import FormatError, OutputExistsError, require

INITS = ("subtokens", "mean", "normal")


def add_parser(sub: Any) -> None:
    """Add the ``add-tokens`` command to ``sub``."""
    p = sub.add_parser(
        "add-tokens",
        help="add tokens to a Hugging Face checkpoint, each row started from its old pieces",
    )
    p.add_argument(
        "model",
        metavar="MODEL",
        help="a local checkpoint folder (model + tokenizer) or a .gguf file",
    )
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
    p.add_argument(
        "--no-space-forms",
        dest="space_forms",
        action="store_false",
        help="add each token as given only, not also with a leading space",
    )
    p.add_argument(
        "--on-longer",
        choices=("skip", "warn", "raise"),
        default="skip",
        help="a form that makes typical text longer: leave it out (default), add it with a "
        "warning, or stop",
    )
    p.add_argument(
        "--overwrite", action="store_true", help="replace OUT if it is a folder vocabgraft wrote"
    )
    add_json_arg(p)
    p.set_defaults(func=run)


def _load(path: Path) -> tuple[Any, Any]:
    """The checkpoint's model (its own architecture, so a head comes along) and tokenizer."""
    transformers: Any = require("transformers", "hf", "vocabgraft add-tokens")
    require("torch", "torch", "vocabgraft add-tokens")
    transformers.logging.set_verbosity_error()  # the CLI's stderr holds one line per error
    if not path.exists():
        raise FormatError(f"MODEL {path} does not exist")
    if path.is_file():
        from vocabgraft.torch.hf import load_gguf

        return load_gguf(path)
    if not (path / "config.json").is_file():
        raise FormatError(f"{path} is not a Hugging Face checkpoint folder (no config.json)")
    config = transformers.AutoConfig.from_pretrained(path, local_files_only=True)
    names = getattr(config, "architectures", None) or []
    cls = getattr(transformers, names[0], None) if names else None
    model = (cls or transformers.AutoModel).from_pretrained(path, local_files_only=True)
    tokenizer = transformers.AutoTokenizer.from_pretrained(path, local_files_only=True)
    return model, tokenizer


def run(args: argparse.Namespace) -> int:
    """Grow the checkpoint and write it; returns the exit code."""
    from vocabgraft._safetensors import atomic_dir
    from vocabgraft.torch.hf import add_tokens, merge
    from vocabgraft.torch.hf.checkpoint import copy_sentence_transformers_files

    out = Path(args.out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not args.overwrite:
        raise OutputExistsError(f"{out} exists and is not empty; pass --overwrite to replace it")
    # Before the long work: --overwrite replaces only a folder vocabgraft wrote.
    check_destination(args.out, "OUT", overwrite=args.overwrite)
    src = Path(args.model)
    model, tokenizer = _load(src)
    init = None if args.init == "subtokens" else args.init
    added = add_tokens(
        model,
        tokenizer,
        args.tokens,
        init=init,
        special=args.special,
        space_forms=args.space_forms,
        on_longer=args.on_longer,
    )
    # Written whole into a fresh folder that then replaces OUT: a kill leaves the old or the new.
    with atomic_dir(out, overwrite=args.overwrite, mark=True) as tmp:
        merge(model).save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        copied = copy_sentence_transformers_files(src, tmp) if src.is_dir() else []
    result = {
        "out": str(out),
        "added": dict(zip(added.tokens, added.ids)),
        "skipped": dict(added.skipped),
        "pieces": {t: list(p) for t, p in added.pieces.items()},
        "rows": added.num_rows,
        "output_layer": added.output,
        "init": added.init,
        "sentence_transformers_files": copied,
    }
    # The report's last line counts rows that train; nothing trains here.
    lines = [line for line in str(added).splitlines() if not line.startswith("trainable rows")]
    if copied:
        lines.append(f"copied the sentence-transformers files: {', '.join(copied)}")
    emit(args, "\n".join([*lines, f"wrote {out}"]), result)
    return 0
