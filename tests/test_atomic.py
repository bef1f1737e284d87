"""Writers replace only vocabgraft outputs, atomically and exclusively, with plain permissions."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from vocabgraft import EmbeddingTable
from vocabgraft._atomic import _HOST, atomic_dir, atomic_path, is_vocabgraft_output, recover
from vocabgraft._safetensors import save_arrays
from vocabgraft.errors import OutputExistsError


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


def _dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], check=True,
                          capture_output=True, text=True)  # fmt: skip
    return int(proc.stdout)


def _scratch(target: str, kind: str, pid: int, host: str = _HOST) -> str:
    """A scratch name as a write by ``pid`` on machine ``host`` makes it."""
    return f".{target}.vg-{kind}-{pid}-{host}0a0b0c0d"


def _user_folder(path: Path) -> Path:
    (path / "sub").mkdir(parents=True)
    (path / "notes.txt").write_text("keep me")
    (path / "sub" / "code.py").write_text("print('mine')")
    return path


def test_overwrite_refuses_a_users_folder_and_names_what_is_there(
    small_table: EmbeddingTable, tmp_path: Path
) -> None:
    target = _user_folder(tmp_path / "mine")
    with pytest.raises(OutputExistsError, match=r"mine holds notes\.txt, sub/, which vocabgraft"):
        small_table.save(target, overwrite=True)
    assert (target / "notes.txt").read_text() == "keep me"
    assert (target / "sub" / "code.py").read_text() == "print('mine')"
    assert sorted(os.listdir(tmp_path)) == ["mine"]


def test_a_cache_with_one_extra_file_is_not_a_cache_any_more(
    small_table: EmbeddingTable, tmp_path: Path
) -> None:
    small_table.save(tmp_path / "t")
    (tmp_path / "t" / "notes.txt").write_text("mine")
    assert not is_vocabgraft_output(tmp_path / "t")
    with pytest.raises(OutputExistsError, match=r"notes\.txt"):
        small_table.save(tmp_path / "t", overwrite=True)


def test_a_regular_file_is_not_replaced_by_a_folder(
    small_table: EmbeddingTable, tmp_path: Path
) -> None:
    (tmp_path / "t").write_text("a file")
    with pytest.raises(OutputExistsError, match=r"t is a file, not a folder vocabgraft wrote"):
        small_table.save(tmp_path / "t", overwrite=True)
    assert (tmp_path / "t").read_text() == "a file"


def test_a_symlink_is_not_followed_or_replaced(small_table: EmbeddingTable, tmp_path: Path) -> None:
    small_table.save(tmp_path / "real")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with pytest.raises(OutputExistsError, match="is a symbolic link"):
        small_table.save(tmp_path / "link", overwrite=True)
    assert (tmp_path / "link").is_symlink()


def test_the_current_folder_is_never_replaced(
    small_table: EmbeddingTable, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    small_table.save(tmp_path / "t")
    monkeypatch.chdir(tmp_path / "t")
    with pytest.raises(OutputExistsError, match="is or holds the current folder"):
        small_table.save(".", overwrite=True)
    assert EmbeddingTable.is_cache(tmp_path / "t")


def test_a_cache_and_a_report_are_recognised(small_table: EmbeddingTable, tmp_path: Path) -> None:
    small_table.save(tmp_path / "t")
    assert is_vocabgraft_output(tmp_path / "t")
    report = tmp_path / "r"
    report.mkdir()
    (report / "results.json").write_text("{}")
    (report / "drift.png").write_bytes(b"")
    assert is_vocabgraft_output(report)
    (tmp_path / "t" / "table.json").write_text(json.dumps({"format": "other"}))
    assert not is_vocabgraft_output(tmp_path / "t")


def test_overwrite_replaces_an_earlier_cache_whole(
    small_table: EmbeddingTable, tmp_path: Path
) -> None:
    small_table.save(tmp_path / "t")
    other = EmbeddingTable(np.ones((1, 8), np.float32), ["x"])
    other.save(tmp_path / "t", overwrite=True)
    assert EmbeddingTable.load(tmp_path / "t").vocab.tokens == ["x"]
    assert sorted(os.listdir(tmp_path)) == ["t"]


def test_the_final_step_is_exclusive(tmp_path: Path) -> None:
    # Another writer finishes first while this one is still writing.
    target = tmp_path / "t"
    with (  # noqa: PT012
        pytest.raises(OutputExistsError, match="exists; pass overwrite=True"),
        atomic_dir(target, overwrite=False) as tmp,
    ):
        (tmp / "table.json").write_text("second")
        target.mkdir()
        (target / "table.json").write_text("first")
    assert (target / "table.json").read_text() == "first"
    assert sorted(os.listdir(tmp_path)) == ["t"]


def test_an_exclusive_file_write_refuses_a_file_that_appeared(tmp_path: Path) -> None:
    target = tmp_path / "model.safetensors"
    with (  # noqa: PT012
        pytest.raises(OutputExistsError, match="exists"),
        atomic_path(target, overwrite=False) as tmp,
    ):
        tmp.write_text("second")
        target.write_text("first")
    assert target.read_text() == "first"
    assert sorted(os.listdir(tmp_path)) == ["model.safetensors"]


def test_a_file_never_replaces_a_folder(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    with pytest.raises(OutputExistsError, match="is a folder"), atomic_path(tmp_path / "x"):
        pass


@pytest.mark.usefixtures("umask_022")
def test_outputs_get_ordinary_permissions(small_table: EmbeddingTable, tmp_path: Path) -> None:
    small_table.save(tmp_path / "t")
    assert stat.S_IMODE((tmp_path / "t").stat().st_mode) == 0o755
    for file in (tmp_path / "t").iterdir():
        assert stat.S_IMODE(file.stat().st_mode) == 0o644, file.name
    with atomic_path(tmp_path / "f.bin") as tmp:
        tmp.write_bytes(b"x")
    assert stat.S_IMODE((tmp_path / "f.bin").stat().st_mode) == 0o644
    # safetensors itself creates its file owner-only; a fitted subword model is saved so.
    save_arrays(tmp_path / "model.safetensors", {"a": np.zeros(2, np.float32)})
    assert stat.S_IMODE((tmp_path / "model.safetensors").stat().st_mode) == 0o644


def test_recover_puts_back_an_output_moved_away_by_a_killed_swap(
    small_table: EmbeddingTable, tmp_path: Path
) -> None:
    dead = _dead_pid()
    small_table.save(tmp_path / "t")
    os.rename(tmp_path / "t", tmp_path / _scratch("t", "old", dead))
    (tmp_path / _scratch("t", "tmp", dead)).mkdir()  # the new one, maybe half-written
    (tmp_path / _scratch("u", "tmp", dead)).write_text("half")  # a killed file write
    live = tmp_path / _scratch("v", "tmp", os.getpid())  # a write still running
    live.mkdir()
    recover(tmp_path / "t")
    assert sorted(os.listdir(tmp_path)) == [live.name, "t"]
    assert EmbeddingTable.load(tmp_path / "t").vocab == small_table.vocab


def test_recover_drops_the_old_output_once_the_new_one_is_in_place(
    small_table: EmbeddingTable, tmp_path: Path
) -> None:
    dead = _dead_pid()
    small_table.save(tmp_path / "t")
    small_table.save(tmp_path / _scratch("t", "old", dead))
    recover(tmp_path / "t")
    assert sorted(os.listdir(tmp_path)) == ["t"]


def test_an_interrupted_body_leaves_the_old_output(
    small_table: EmbeddingTable, tmp_path: Path
) -> None:
    small_table.save(tmp_path / "t")
    with pytest.raises(KeyboardInterrupt), atomic_dir(tmp_path / "t") as tmp:  # noqa: PT012
        (tmp / "table.json").write_text("{}")
        raise KeyboardInterrupt
    assert EmbeddingTable.load(tmp_path / "t").vocab == small_table.vocab
    assert sorted(os.listdir(tmp_path)) == ["t"]


def test_a_marked_folder_is_replaceable_until_a_user_adds_to_it(tmp_path: Path) -> None:
    target = tmp_path / "checkpoint"
    with atomic_dir(target, mark=True) as tmp:
        (tmp / "config.json").write_text("{}")
        (tmp / "weights").mkdir()
    assert sorted(os.listdir(target)) == [".vocabgraft-output.json", "config.json", "weights"]
    assert is_vocabgraft_output(target)
    with atomic_dir(target, mark=True) as tmp:
        (tmp / "config.json").write_text('{"v": 2}')
    assert (target / "config.json").read_text() == '{"v": 2}'
    (target / "notes.txt").write_text("mine")
    assert not is_vocabgraft_output(target)
    with pytest.raises(OutputExistsError, match=r"notes\.txt"), atomic_dir(target, mark=True):
        pass
    (target / ".vocabgraft-output.json").write_text("[not an object")
    (target / "notes.txt").unlink()
    assert not is_vocabgraft_output(target)


def test_another_machines_scratch_is_judged_by_age_not_pid(tmp_path: Path) -> None:
    other = "ffffff" if _HOST != "ffffff" else "000000"
    fresh = tmp_path / _scratch("a", "tmp", _dead_pid(), host=other)
    stale = tmp_path / _scratch("b", "tmp", os.getpid(), host=other)
    fresh.mkdir()
    stale.mkdir()
    two_days_ago = time.time() - 2 * 24 * 3600
    os.utime(stale, (two_days_ago, two_days_ago))
    recover(tmp_path / "a")
    assert os.listdir(tmp_path) == [fresh.name]
