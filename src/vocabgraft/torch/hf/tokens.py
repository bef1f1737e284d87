"""Which strings to add for a token, and which of them the tokenizer already has or would make worse.

Byte-level BPE (GPT-2, Llama 3, SmolLM2) and SentencePiece (``▁``) tokenizers
spell a word differently at the start of text and after a space: ``Kubernetes``
and ``ĠKubernetes`` are different tokens. An added token is matched in the raw
text before the tokenizer splits it, so adding only ``"Kubernetes"`` leaves the
space before it on its own: ``the Kubernetes`` becomes ``the Ġ Kubernetes``.
So for these tokenizers each token is added in both forms, ``"Kubernetes"``
and ``" Kubernetes"``, each a row of its own started from that form's pieces.
A form the vocabulary already has as one token (``" PyTorch"`` is ``ĠPyTorch``)
is not added, and a form whose addition would make typical text longer is
caught before anything changes.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from vocabgraft.errors import ArgumentError, ArgumentTypeError, VocabError

__all__ = ["Form", "TokenOptions", "check_longer", "plan_forms", "space_style"]

Style = Literal["byte_level", "metaspace"] | None
OnLonger = Literal["skip", "warn", "raise"]
_ON_LONGER = ("skip", "warn", "raise")


@dataclass(frozen=True)
class TokenOptions:
    """How the added tokens are matched: the options of ``tokenizers.AddedToken``."""

    special: bool = False
    single_word: bool | None = None
    lstrip: bool = False
    rstrip: bool = False
    normalized: bool | None = None

    def added_token(self, content: str, style: Style) -> Any:
        """The ``tokenizers.AddedToken`` for ``content``.

        ``single_word`` None means: whole words only for tokenizers without
        space forms (WordPiece), where a token matched inside a word would
        split it in two when decoded; anywhere for the others.
        """
        from tokenizers import AddedToken

        single = (
            (style is None and not self.special) if self.single_word is None else self.single_word
        )
        normalized = not self.special if self.normalized is None else self.normalized
        return AddedToken(
            content,
            single_word=single,
            lstrip=self.lstrip,
            rstrip=self.rstrip,
            normalized=normalized,
            special=self.special,
        )


@dataclass(frozen=True)
class Form:
    """One string to add for a token: ``"Kubernetes"`` or ``" Kubernetes"``, and its old pieces."""

    token: str
    text: str
    pieces: tuple[int, ...]


def space_style(tokenizer: Any) -> Style:
    """``"byte_level"``, ``"metaspace"`` (SentencePiece ``▁``), or None for tokenizers without space forms."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return None
    parts = [backend.pre_tokenizer, backend.decoder, backend.normalizer]
    text = " ".join(repr(p) for p in parts if p is not None)
    if "ByteLevel" in text:
        return "byte_level"
    if "Metaspace" in text or "▁" in text:
        return "metaspace"
    return None


def _ids(tokenizer: Any, text: str) -> list[int]:
    return [int(i) for i in tokenizer.encode(text, add_special_tokens=False)]


def pieces_of(tokenizer: Any, text: str) -> list[int]:
    """The ids ``text`` takes in running text, without the unknown token (its row says nothing).

    A form with a leading space is read after a word (``"a" + text``), as it
    appears mid-sentence, so that tokenizers that add a prefix space do not
    add a second one.
    """
    ids = _ids(tokenizer, text)
    if text[:1].isspace():
        before = _ids(tokenizer, "a")
        after = _ids(tokenizer, "a" + text)
        if after[: len(before)] == before:
            ids = after[len(before) :]
    return [i for i in ids if i != tokenizer.unk_token_id]


def plan_forms(
    tokens: Sequence[Any], tokenizer: Any, options: TokenOptions, *, space_forms: bool = True
) -> tuple[list[Form], dict[str, str]]:
    """The forms to add, in order, and the skipped tokens or forms with the reason; or raise.

    Raises:
        ArgumentTypeError: a token is not a string.
        VocabError: a token is blank, or the normalizer would change it.
    """
    if isinstance(tokens, str):
        tokens = [tokens]
    style = space_style(tokenizer) if space_forms and not options.special else None
    vocab = tokenizer.get_vocab()
    seen: set[str] = set()
    forms: list[Form] = []
    skipped: dict[str, str] = {}
    for token in tokens:
        if not isinstance(token, str):
            raise ArgumentTypeError(
                f"tokens must be strings. Received {token!r} ({type(token).__name__})"
            )
        if not token.strip():
            raise VocabError(f"cannot add the blank token {token!r}")
        if token in seen:
            skipped[token] = "repeated"
            continue
        seen.add(token)
        _check_normalized(token, tokenizer, options)
        texts = [token] if style is None or token[:1].isspace() else [token, " " + token]
        for text in texts:
            why = _misread(text) if style == "byte_level" else None
            why = why or _existing(text, tokenizer, vocab)
            if why:
                skipped[text] = why
            else:
                forms.append(Form(token, text, tuple(pieces_of(tokenizer, text))))
    return forms, skipped


def _misread(text: str) -> str | None:
    """Why the byte-level decoder would decode ``text`` wrongly as an added token, or None.

    It maps each character of a token through its byte alphabet, and uses
    the token's own UTF-8 only when some character is outside it: so a
    non-ASCII token made only of alphabet characters (``Zürich``) comes back
    as other bytes. With a leading space (outside the alphabet) it is right.
    """
    from tokenizers.pre_tokenizers import ByteLevel

    if text.isascii() or not set(text) <= set(ByteLevel.alphabet()):
        return None
    return (
        "the byte-level decoder would turn it into other characters; only its form "
        "with a leading space decodes right"
    )


def _existing(text: str, tokenizer: Any, vocab: Mapping[str, int]) -> str | None:
    """Why ``text`` need not be added (it is one token already, in any spelling), or None."""
    if text in vocab:
        return f"already in the vocabulary (id {vocab[text]})"
    ids = pieces_of(tokenizer, text)
    if len(ids) == 1 and tokenizer.decode(ids) == text:
        name = tokenizer.convert_ids_to_tokens(ids)[0]
        return f"already in the vocabulary as {name!r} (id {ids[0]})"
    return None


def _check_normalized(token: str, tokenizer: Any, options: TokenOptions) -> None:
    if options.special or options.normalized is False:
        return
    backend = getattr(tokenizer, "backend_tokenizer", None)
    normalizer = getattr(backend, "normalizer", None)
    if normalizer is None:
        return
    got = normalizer.normalize_str(token)
    if got.replace("▁", " ").strip() != token.strip():  # a SentencePiece normalizer adds ▁
        raise VocabError(
            f"{token!r} could never be produced by this tokenizer: its normalizer turns it "
            f"into {got!r} before added tokens are matched. Add {got!r} instead, or pass "
            "special=True to match it verbatim. No token was added"
        )


def contexts(word: str) -> list[str]:
    """The typical text :func:`check_longer` reads a token in: alone, mid-sentence, after punctuation."""
    return [word, f"the {word} is", f"({word})", f"{word}.", f"a {word}, {word}"]


def check_longer(
    forms: list[Form], tokenizer: Any, options: TokenOptions, on_longer: OnLonger
) -> tuple[list[Form], dict[str, str]]:
    """The forms to keep, and those dropped because they make typical text longer.

    Adds every form to a copy of the tokenizer and encodes each token in the
    texts of :func:`contexts`; a form that appears in a text that became
    longer (``PyTorch`` in ``the PyTorch is`` when ``ĠPyTorch`` exists) is
    dropped (``"skip"``), kept with a warning (``"warn"``), or refused
    (``"raise"``, nothing changed).

    Raises:
        ArgumentError: ``on_longer`` is not one of the three.
        VocabError: ``on_longer="raise"`` and a form makes text longer.
    """
    if on_longer not in _ON_LONGER:
        raise ArgumentError(f"on_longer must be one of {_ON_LONGER}. Received {on_longer!r}")
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if not forms or backend is None:
        return forms, {}
    style = space_style(tokenizer)
    trial = type(backend).from_str(backend.to_str())
    first = trial.get_vocab_size(with_added_tokens=True)
    trial.add_tokens([options.added_token(f.text, style) for f in forms])
    ids = {f.text: trial.token_to_id(f.text) for f in forms}
    bad: dict[str, str] = {}
    for form in forms:
        for text in contexts(form.token.strip()):
            old = len(backend.encode(text, add_special_tokens=False).ids)
            new = trial.encode(text, add_special_tokens=False).ids
            if len(new) > old and ids[form.text] in new and ids[form.text] >= first:
                bad[form.text] = f"makes {text!r} longer ({old} -> {len(new)} tokens)"
                break
    if not bad:
        return forms, {}
    listing = "; ".join(f"{t!r} {why}" for t, why in bad.items())
    if on_longer == "raise":
        raise VocabError(
            f"adding {listing}. Pass on_longer='skip' to leave such forms out. No token was added"
        )
    if on_longer == "warn":
        warnings.warn(f"adding {listing}", UserWarning, stacklevel=3)
        return forms, {}
    return [f for f in forms if f.text not in bad], bad
