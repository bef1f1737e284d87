"""Atomic, exclusive writes of files and folders that a kill cannot leave half-done.

Outputs are written beside their destination under a scratch name
(``.NAME.vg-tmp-PID-TAG``, TAG naming the machine) and renamed into place
under an exclusive lock on the parent folder. An existing folder is swapped
out in one step where the file system can (Linux ``RENAME_EXCHANGE``), else
by two renames (the old one aside to ``.NAME.vg-old-PID-TAG`` first). A kill
at any moment leaves the old output or the new one, plus scratch entries;
:func:`recover`, which every write runs first, puts a moved-aside old output
back and removes the scratch entries of dead processes. Files and folders
get the permissions a plain ``open``/``mkdir`` gives under the umask.

Test hooks: ``VOCABGRAFT_TEST_PAUSE=point[,point...]`` makes a write print
``vocabgraft: test pause at POINT`` on stderr and sleep
``VOCABGRAFT_TEST_PAUSE_SECONDS`` (default 60) at these points of a write to
a destination that is not itself a scratch name: ``file`` (a file written,
before its rename), ``dir`` (a folder written, before the lock),
``before-swap`` (the old folder moved aside, the new one not in place) and
``after-swap`` (the new folder in place, the old one not removed).
``VOCABGRAFT_TEST_RENAME=two-step`` takes the two-rename path even where the
one-step swap is available. The kill tests stop writes at each point.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import re
import secrets
import shutil
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from vocabgraft.errors import OutputExistsError

__all__ = ["MARKER", "atomic_dir", "atomic_path", "check_output", "is_vocabgraft_output", "recover"]

_SCRATCH = re.compile(
    r"^\.(?P<target>.+)\.vg-(?P<kind>tmp|old)-(?P<pid>\d+)-(?P<host>[0-9a-f]{6})[0-9a-f]{8}$"
)
# Scratch names carry the machine's tag: a pid means nothing on another machine sharing
# the folder (NFS), so there a scratch entry is judged by its age instead.
_HOST = hashlib.blake2s(socket.gethostname().encode(), digest_size=3).hexdigest()
_FOREIGN_AGE = 24 * 3600
# What vocabgraft writes into its folders: a table cache and a demo report.
_CACHE_FILES = frozenset(
    {"table.json", "vectors.safetensors", "vocab.safetensors", "subwords.safetensors"}
)
_REPORT_FILES = frozenset({"results.json", "report.md"})
# Written by atomic_dir(mark=True) for other layouts: the entries it wrote.
MARKER = ".vocabgraft-output.json"

# -- recovery of killed writes -----------------------------------------------------------


def _pause(point: str, target: Path) -> None:
    """The test hook described in the module docstring (for user-visible targets only)."""
    wanted = os.environ.get("VOCABGRAFT_TEST_PAUSE", "")
    if point in wanted.split(",") and not _SCRATCH.match(target.name):
        print(f"vocabgraft: test pause at {point}", file=sys.stderr, flush=True)
        time.sleep(float(os.environ.get("VOCABGRAFT_TEST_PAUSE_SECONDS", "60")))


def _umask() -> int:
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # elsewhere the only way to read it is to set it
    os.umask(mask)
    return mask


def _scratch(target: Path, kind: str) -> Path:
    tag = f"{os.getpid()}-{_HOST}{secrets.token_hex(4)}"
    return target.with_name(f".{target.name}.vg-{kind}-{tag}")


def _abandoned(m: re.Match[str], entry: os.DirEntry[str]) -> bool:
    """Whether the writer of scratch entry ``entry`` is gone."""
    if m["host"] != _HOST:
        try:
            return time.time() - entry.stat(follow_symlinks=False).st_mtime > _FOREIGN_AGE
        except OSError:
            return False
    try:
        os.kill(int(m["pid"]), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OverflowError):
        pass  # someone else's process, or not a pid we can ask about
    return False


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` (POSIX ``flock``; a no-op elsewhere)."""
    try:
        import fcntl

        fd = os.open(folder, os.O_RDONLY)
    except (ImportError, OSError):
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _stale(parent: Path) -> list[tuple[Path, str, str]]:
    """Scratch entries in ``parent`` left by dead processes: (entry, target name, kind)."""
    found = []
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return []
    for entry in entries:
        m = _SCRATCH.match(entry.name)
        if m and _abandoned(m, entry):
            found.append((Path(entry.path), m["target"], m["kind"]))
    return found


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def recover(path: str | os.PathLike[str]) -> None:
    """Undo or finish what killed writes left beside ``path`` (and its siblings).

    If a process was killed while it replaced ``path``, between moving the
    old output away and moving the new one in, the old output is put back.
    Scratch folders and files of dead processes are removed. Entries of live
    processes are left alone. Costs one directory listing when there is
    nothing to do; a folder that cannot be written is left as it is.

    Args:
        path: an output (a table cache folder, a report folder, a file) or
            where one is about to be written.
    """
    parent = Path(os.path.abspath(path)).parent
    if not _stale(parent):
        return
    with _locked(parent):
        stale = _stale(parent)
        # Newest first, so that the latest old output is the one put back.
        stale.sort(key=lambda s: s[0].lstat().st_ctime if s[0].exists() else 0, reverse=True)
        for entry, name, kind in stale:
            target = parent / name
            try:
                # A scratch folder moved aside by a nested write is scratch too.
                if kind == "old" and not _SCRATCH.match(name) and not os.path.lexists(target):
                    os.rename(entry, target)
                else:
                    _remove(entry)
            except OSError:
                continue


# -- what may be replaced ----------------------------------------------------------------


def _names(folder: Path) -> list[str]:
    return sorted(p.name + ("/" if p.is_dir() else "") for p in folder.iterdir())


def is_vocabgraft_output(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a folder vocabgraft wrote (or an empty one), which it may replace.

    Recognised: a folder written by ``atomic_dir(mark=True)`` that holds no
    entry besides those its :data:`MARKER` file lists, a table cache (a
    ``table.json`` of format ``vocabgraft.table`` and only the cache's own
    files) and a demo report (``results.json`` with only ``report.md`` and PNG
    plots beside it). Anything else, such as a folder that also holds a
    user's file, is not.

    Args:
        path: the folder to look at.

    Returns:
        True for a recognised or empty folder; False otherwise (also for a
        file, a symbolic link or a missing path).
    """
    folder = Path(path)
    if folder.is_symlink() or not folder.is_dir():
        return False
    names = set(_names(folder))
    if not names:
        return True
    if MARKER in names:
        try:
            listed = json.loads((folder / MARKER).read_text(encoding="utf-8"))["entries"]
        except (OSError, ValueError, TypeError, KeyError):
            return False
        return isinstance(listed, list) and names - {MARKER} <= set(listed)
    if names <= _CACHE_FILES and "table.json" in names:
        try:
            info = json.loads((folder / "table.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        return isinstance(info, dict) and info.get("format") == "vocabgraft.table"
    plots = {n for n in names if n.endswith(".png")}
    return "results.json" in names and names - plots <= _REPORT_FILES


def _holds_cwd(target: Path) -> bool:
    here = Path.cwd().resolve()
    there = target.resolve()
    return here == there or there in here.parents


def check_output(path: str | os.PathLike[str], *, overwrite: bool) -> None:
    """Refuse early a folder destination that :func:`atomic_dir` would refuse at the end.

    Args:
        path: the folder about to be written.
        overwrite: whether an earlier vocabgraft output may be replaced.

    Raises:
        OutputExistsError: ``path`` exists and may not be replaced.
    """
    _check_replaceable(Path(os.path.abspath(path)), overwrite)


def _check_replaceable(target: Path, overwrite: bool) -> None:
    """Raise :class:`OutputExistsError` unless ``target`` may be replaced."""
    if not os.path.lexists(target):
        return
    if not overwrite:
        raise OutputExistsError(f"{target} exists; pass overwrite=True to replace it")
    if target.is_symlink() or not target.is_dir():
        kind = "a symbolic link" if target.is_symlink() else "a file"
        raise OutputExistsError(
            f"{target} is {kind}, not a folder vocabgraft wrote; it is left alone. "
            "Choose another destination, or remove it yourself"
        )
    if _holds_cwd(target):
        raise OutputExistsError(f"{target} is or holds the current folder; choose a new folder")
    if not is_vocabgraft_output(target):
        shown = _names(target)
        more = f" and {len(shown) - 5} more" if len(shown) > 5 else ""
        raise OutputExistsError(
            f"{target} holds {', '.join(shown[:5])}{more}, which vocabgraft did not write; "
            "it is left alone. Choose another destination, or remove it yourself"
        )


def _check_file(target: Path, overwrite: bool) -> None:
    if target.is_dir():
        raise OutputExistsError(f"{target} is a folder; it is left alone. Choose a file name")
    if not overwrite and os.path.lexists(target):
        raise OutputExistsError(f"{target} exists; pass overwrite=True to replace it")


# -- atomic writes -----------------------------------------------------------------------


@contextmanager
def atomic_path(path: str | os.PathLike[str], *, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` on success.

    A failure or interruption leaves ``path`` as it was (absent or the old
    version), never half-written. The file gets the permissions a plain
    ``open`` would give (0644 under the usual umask).

    Args:
        path: the file to write.
        overwrite: replace an existing file (never a folder). With False an
            existing ``path``, even one created while the body ran, raises.

    Yields:
        The temporary path to write.

    Raises:
        OutputExistsError: ``path`` is a folder, or exists and ``overwrite``
            is False.
    """
    target = Path(os.path.abspath(path))
    recover(target)
    _check_file(target, overwrite)
    tmp = _scratch(target, "tmp")
    os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    try:
        yield tmp
        # Some writers (safetensors among them) create the file owner-only.
        os.chmod(tmp, 0o666 & ~_umask())
        _pause("file", target)
        if overwrite:
            os.replace(tmp, target)
        else:
            with _locked(target.parent):
                _check_file(target, overwrite)
                os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def atomic_dir(
    path: str | os.PathLike[str], *, overwrite: bool = True, mark: bool = False
) -> Iterator[Path]:
    """Yield a fresh folder beside ``path``; on success it replaces ``path`` whole.

    Before any work, and again under an exclusive lock at the end, ``path``
    is checked: a missing path is created; an existing one is replaced only
    if ``overwrite`` and it is a folder vocabgraft wrote
    (:func:`is_vocabgraft_output`). The folder gets the permissions a plain
    ``mkdir`` would give (0755 under the usual umask). A failure or
    interruption leaves ``path`` as it was; a kill leaves the old output or
    the new one there, and the next write or :func:`recover` cleans up.

    Args:
        path: the folder to write.
        overwrite: allow replacing an earlier vocabgraft output. With False,
            an existing ``path`` raises, also one that another process
            created while the body ran.
        mark: also write a :data:`MARKER` file listing what the body wrote,
            so that a later write recognises the folder as replaceable
            whatever its layout (table caches and reports need none).

    Yields:
        The empty temporary folder to fill.

    Raises:
        OutputExistsError: ``path`` exists and may not be replaced; the
            message names what is there.
    """
    target = Path(os.path.abspath(path))
    target.parent.mkdir(parents=True, exist_ok=True)
    recover(target)
    _check_replaceable(target, overwrite)
    tmp = _scratch(target, "tmp")
    os.mkdir(tmp, 0o777)
    try:
        yield tmp
        if mark:
            entries = json.dumps({"writer": "vocabgraft", "entries": _names(tmp)})
            (tmp / MARKER).write_text(entries, encoding="utf-8")
        _pause("dir", target)
        _commit(tmp, target, overwrite)
    finally:
        _remove(tmp)


def _exchange(a: Path, b: Path) -> bool:
    """Swap ``a`` and ``b`` in one step (Linux ``renameat2(RENAME_EXCHANGE)``), if possible."""
    if sys.platform != "linux" or os.environ.get("VOCABGRAFT_TEST_RENAME") == "two-step":
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    return bool(renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0)


def _commit(tmp: Path, target: Path, overwrite: bool) -> None:
    """Move ``tmp`` to ``target`` under the parent's lock, swapping out an old output.

    Where the file system can swap two names in one step, ``target`` is never
    missing; elsewhere the old output is renamed aside first, and a kill
    between the two renames is undone by :func:`recover`.
    """
    old = None
    with _locked(target.parent):
        _check_replaceable(target, overwrite)
        if os.path.lexists(target):
            if _exchange(tmp, target):
                _pause("after-swap", target)
                return  # tmp holds the old output now; the caller removes it
            old = _scratch(target, "old")
            os.rename(target, old)
            _pause("before-swap", target)
        try:
            os.rename(tmp, target)
        except BaseException:
            if old is not None:
                os.rename(old, target)
            raise
        if old is not None:
            _pause("after-swap", target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
