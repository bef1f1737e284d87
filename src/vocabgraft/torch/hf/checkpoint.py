"""Reading checkpoints: a GGUF file (dequantized once, then cached), and sentence-transformers folders."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from vocabgraft._cache import cache_dir
from vocabgraft.errors import FormatError, StateError, VocabgraftError

__all__ = ["copy_sentence_transformers_files", "load_gguf"]

#: The files of a sentence-transformers folder beyond the transformer's own.
ST_FILES = ("modules.json", "config_sentence_transformers.json", "sentence_bert_config.json")


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()[:20]


def load_gguf(path: str | os.PathLike[str], *, cache: bool = True) -> tuple[Any, Any]:
    """A causal LM and its tokenizer from a GGUF file, through transformers' GGUF loading.

    transformers dequantizes the file to float32, which takes a minute for a
    135M model; with ``cache`` the result is kept as an ordinary safetensors
    checkpoint under :func:`vocabgraft._cache.cache_dir` (``$VOCABGRAFT_CACHE``),
    keyed by the file's content, and later calls load that in seconds.

    Raises:
        FormatError: ``path`` is not a file ending in ``.gguf``.
        VocabgraftError: the ``gguf`` package is not installed.
    """
    import transformers

    path = Path(path)
    if not path.is_file() or path.suffix.lower() != ".gguf":
        what = "does not exist" if not path.exists() else "is not a .gguf file"
        raise FormatError(f"{path} {what}; load_gguf reads a GGUF model file")
    folder = cache_dir() / "gguf" / f"{path.stem}-{_digest(path)}" if cache else None
    if folder is not None and (folder / "config.json").is_file():
        return _load_folder(folder)
    if importlib.util.find_spec("gguf") is None:
        raise VocabgraftError(
            f"reading {path.name} needs the 'gguf' package, which is not installed. "
            "Install it with: pip install 'gguf>=0.19'"
        )
    tokenizer = transformers.AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    model = transformers.AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name)
    quantizer = getattr(model, "hf_quantizer", None)
    if quantizer is not None:  # the weights are float32 now; save_pretrained refuses until then
        quantizer.remove_quantization_config(model)
    if folder is not None:
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".tmp-"))
        try:
            model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
            os.replace(tmp, folder)
        except OSError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            if not (folder / "config.json").is_file():  # another process did not win the race
                raise StateError(
                    f"could not keep the dequantized copy in {folder}: {exc}; pass cache=False "
                    "or set VOCABGRAFT_CACHE to a writable folder"
                ) from exc
    return model, tokenizer


def _load_folder(folder: Path) -> tuple[Any, Any]:
    import transformers

    model = transformers.AutoModelForCausalLM.from_pretrained(folder, local_files_only=True)
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True)
    return model, tokenizer


def copy_sentence_transformers_files(src: Path, out: Path) -> list[str]:
    """Copy what makes ``src`` a sentence-transformers folder (modules.json, pooling, ...) to ``out``.

    The transformer module (path ``""`` in modules.json) is what was saved to
    ``out``; every other module folder (``1_Pooling``, ``2_Normalize``) and
    the top-level sentence-transformers files are copied as they are.
    Returns the names copied; none when ``src`` has no modules.json.
    """
    import json

    modules = src / "modules.json"
    if not modules.is_file():
        return []
    try:
        entries = json.loads(modules.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise FormatError(f"{modules} is not valid JSON: {exc}") from None
    copied = []
    for name in ST_FILES:
        if (src / name).is_file():
            shutil.copy2(src / name, out / name)
            copied.append(name)
    for entry in entries:
        sub = str(entry.get("path", "")) if isinstance(entry, dict) else ""
        if sub and (src / sub).is_dir():
            shutil.copytree(src / sub, out / sub, dirs_exist_ok=True)
            copied.append(sub)
    return copied
