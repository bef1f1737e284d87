"""The errors vocabgraft raises.

Every error derives from :class:`VocabgraftError`, and each subclass also derives
from the builtin it means (``ValueError``, ``KeyError``, ``IndexError``,
``ImportError``), so ``except ValueError`` keeps working for callers that do not
know about vocabgraft.
"""

from __future__ import annotations

import os

__all__ = [
    "FormatError",
    "MissingExtraError",
    "RowIndexError",
    "TokenNotFoundError",
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


def require(module: str, extra: str, purpose: str) -> object:
    """Import ``module`` or raise :class:`MissingExtraError` naming ``extra``."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtraError(module, extra, purpose) from None
