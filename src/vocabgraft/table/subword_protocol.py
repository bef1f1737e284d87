"""The subword-model protocol a table can carry, and the registry its cache loads by kind."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from typing import ClassVar, Protocol, TypeVar, runtime_checkable

import numpy as np

from vocabgraft.errors import FormatError

__all__ = [
    "SUBWORD_KINDS",
    "SubwordModel",
    "import_subword_kinds",
    "register_subword_model",
    "require_arrays",
]


@runtime_checkable
class SubwordModel(Protocol):
    """Anything that can build a vector for any word from its pieces.

    fastText's n-gram buckets (:class:`vocabgraft.subwords.FastTextSubwords`) and
    the subword model fitted on a table without n-grams both implement it, so
    a table can carry one and save it in its cache.
    """

    kind: ClassVar[str]

    @property
    def dim(self) -> int:
        """The width of the composed vectors."""
        ...

    def compose(self, words: Sequence[str]) -> np.ndarray:
        """Vectors for ``words`` (len(words) x dim, float32)."""
        ...

    def to_state(self) -> tuple[dict[str, np.ndarray], dict[str, str]]:
        """The arrays and string metadata that :meth:`from_state` rebuilds the model from."""
        ...

    @classmethod
    def from_state(cls, arrays: Mapping[str, np.ndarray], meta: Mapping[str, str]) -> SubwordModel:
        """The model saved by :meth:`to_state`; raises FormatError for damaged state."""
        ...


SUBWORD_KINDS: dict[str, type[SubwordModel]] = {}
_S = TypeVar("_S", bound=type)
_SUBWORD_MODULES = ("vocabgraft.subwords.fasttext", "vocabgraft.subwords.model")


def register_subword_model(cls: _S) -> _S:
    """Class decorator: let table caches save and load this subword model by its ``kind``.

    Args:
        cls: a class implementing :class:`SubwordModel`.

    Returns:
        ``cls``, registered under ``cls.kind``.
    """
    SUBWORD_KINDS[cls.kind] = cls  # type: ignore[attr-defined]
    return cls


def import_subword_kinds(importer: Callable[[str], object] | None = None) -> None:
    """Import the modules that register subword models, so caches can name them.

    Args:
        importer: the import function (``importlib.import_module`` by default).
    """
    for name in _SUBWORD_MODULES:
        try:
            (importer or importlib.import_module)(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise


def require_arrays(arrays: Mapping[str, np.ndarray], names: Sequence[str], what: str) -> None:
    """Raise FormatError naming the first of ``names`` missing from a saved ``what``'s arrays."""
    for name in names:
        if name not in arrays:
            raise FormatError(f"the {what} state has no tensor {name!r} (found: {sorted(arrays)})")
