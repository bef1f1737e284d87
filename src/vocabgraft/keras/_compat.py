"""Every Keras internal that vocabgraft relies on, in one place, behind a tested-version check.

The Keras layer changes shape after it is built (a Keras variable cannot), and
hands the change to a compiled model's optimizer. Keras offers no public way
to do either, so this module uses these internals, and nothing else in
vocabgraft touches Keras' private API:

1. ``layer._tracker`` (unlock and lock) and ``layer._untrack_variable``: to
   swap a built layer's weight, as ``keras.layers.Embedding.enable_lora``
   adds weights after ``build()``;
2. ``model._flatten_layers``: to find every PartialEmbedding of a model;
3. ``optimizer._trainable_variables``: the variables an optimizer was built for;
4. the slot-name convention: an optimizer's state variable for the weight at
   path ``"emb/rows"`` is named ``"emb_rows_<slot>"`` (``emb_rows_momentum``);
5. ``model.train_function`` / ``test_function`` / ``predict_function``:
   reset so that the next ``fit``, ``evaluate`` or ``predict`` traces again.

They were checked on the Keras versions in :data:`TESTED`; importing
``vocabgraft.keras`` with another version raises
:class:`~vocabgraft.errors.UnsupportedVersionError`, unless the environment
variable ``VOCABGRAFT_KERAS_UNTESTED=1`` turns that into a warning.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import keras

from vocabgraft.errors import UnsupportedVersionError

__all__ = [
    "TESTED",
    "built_for",
    "check_version",
    "flatten_layers",
    "replace_weight",
    "reset_step_functions",
    "slot_prefix",
]

#: The Keras versions these internals were checked on: ``>= 3.15, < 3.16``
#: (the ``keras`` extra of vocabgraft pins the same range).
TESTED = ((3, 15), (3, 16))
_OVERRIDE = "VOCABGRAFT_KERAS_UNTESTED"


def check_version(version: str = keras.__version__) -> None:
    """Refuse a Keras version outside :data:`TESTED`, naming it and the tested range.

    Raises:
        UnsupportedVersionError: unless ``VOCABGRAFT_KERAS_UNTESTED=1`` is set,
            which warns instead.
    """
    found = tuple(int(part) for part in re.findall(r"\d+", version)[:2])
    low, high = TESTED
    if low <= found < high:
        return
    tested = f">={low[0]}.{low[1]},<{high[0]}.{high[1]}"
    message = (
        f"vocabgraft.keras relies on Keras internals checked on keras{tested}, but Keras "
        f"{version} is installed. Install a tested version (pip install 'keras{tested}'), or "
        f"set {_OVERRIDE}=1 to try this one"
    )
    if os.environ.get(_OVERRIDE) == "1":
        warnings.warn(message, stacklevel=2)
        return
    raise UnsupportedVersionError(message)


def flatten_layers(model: keras.Model) -> Iterator[Any]:
    """Every layer inside ``model``, nested ones included, ``model`` itself left out."""
    yield from model._flatten_layers(include_self=False)


def built_for(optimizer: keras.optimizers.Optimizer) -> list[Any]:
    """The variables ``optimizer.build()`` was given (BaseOptimizer keeps them; no public accessor)."""
    return list(getattr(optimizer, "_trainable_variables", []))


def slot_prefix(path: str) -> str:
    """The name prefix of an optimizer's state variables for the weight at ``path``."""
    return path.replace("/", "_") + "_"


def replace_weight(layer: keras.layers.Layer, old: Any, make: Callable[[], Any]) -> Any:
    """Untrack weight ``old`` of a built ``layer`` and return ``make()``, a new weight it adds."""
    layer._tracker.unlock()
    try:
        layer._untrack_variable(old)
        return make()
    finally:
        layer._tracker.lock()


def reset_step_functions(model: keras.Model) -> None:
    """Make the next ``fit``, ``evaluate`` and ``predict`` of ``model`` trace again."""
    if getattr(model, "train_function", None) is not None:
        model.make_train_function(force=True)
    model.test_function = None
    model.predict_function = None
