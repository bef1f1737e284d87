"""The errors vocabgraft raises.

Every error derives from :class:`VocabgraftError`, and each subclass also derives
from the builtin it means (``ValueError``, ``KeyError``, ``IndexError``,
``ImportError``), so ``except ValueError`` keeps working for callers that do not
know about vocabgraft.
"""

from __future__ import annotations

import os

__all__ = [
    "ArgumentError",
    "ArgumentTypeError",
    "FileChangedError",
    "FormatError",
    "InputNotFoundError",
    "MissingExtraError",
    "OutputExistsError",
    "RowIndexError",
    "StateError",
    "TokenNotFoundError",
    "UnsupportedVersionError",
    "VocabError",
    "VocabgraftError",
]


class VocabgraftError(Exception):
    """Base class of every error raised by vocabgraft."""


class FormatError(VocabgraftError, ValueError):
    """A data file is malformed.

    The message names the file, the line (1-based) or byte offset, what was
    found and what to do. The same facts are kept as attributes so that
    programs can act on them.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | os.PathLike[str] | None = None,
        line: int | None = None,
        offset: int | None = None,
        hint: str | None = None,
    ) -> None:
        self.path = None if path is None else os.fspath(path)
        self.line = line
        self.offset = offset
        self.hint = hint
        self.reason = message
        where = self.path or "<input>"
        if line is not None:
            where += f", line {line}"
        if offset is not None:
            where += f", byte {offset}"
        text = f"{where}: {message}"
        if hint:
            text += f". {hint}"
        super().__init__(text)


class FileChangedError(FormatError):
    """A file shrank or changed while it was being read (another process wrote to it)."""


class ArgumentError(VocabgraftError, ValueError):
    """An argument has a bad value: out of range, an unknown name, a bad combination.

    The message names the argument as the caller wrote it, the value received
    and what is accepted.
    """


class ArgumentTypeError(VocabgraftError, TypeError):
    """An argument has the wrong type (a str where a list of tokens is expected, say)."""


class StateError(VocabgraftError, RuntimeError):
    """An object is not in a state that allows the call (not built, sharded, not merged)."""


class InputNotFoundError(VocabgraftError, FileNotFoundError):
    """An input file or folder does not exist; the message names the path."""


class OutputExistsError(VocabgraftError, FileExistsError):
    """A destination exists and is not something vocabgraft may replace.

    Raised instead of deleting a user's folder or file; the message names what
    is there.
    """


class VocabError(VocabgraftError, ValueError):
    """A vocabulary is inconsistent: duplicate tokens, bad specials, bad ids."""


class TokenNotFoundError(VocabgraftError, KeyError):
    """A token is not in the vocabulary and the out-of-vocabulary policy is 'raise'."""

    def __str__(self) -> str:
        # KeyError's str() wraps the message in quotes; show it as written.
        return str(self.args[0]) if self.args else ""


class RowIndexError(VocabgraftError, IndexError):
    """An id is out of range, negative, or of the wrong dtype."""


class MissingExtraError(VocabgraftError, ImportError):
    """An optional dependency is missing; the message names the extra to install."""

    def __init__(self, module: str, extra: str, purpose: str) -> None:
        super().__init__(
            f"{purpose} needs the '{module}' package, which is not installed. "
            f"Install it with: pip install 'vocabgraft[{extra}]'"
        )
        self.module = module
        self.extra = extra


class UnsupportedVersionError(VocabgraftError, ImportError):
    """An installed dependency's version is outside the tested range; the message names both."""


def require(module: str, extra: str, purpose: str) -> object:
    """Import ``module`` or raise :class:`MissingExtraError` naming ``extra``."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtraError(module, extra, purpose) from None
