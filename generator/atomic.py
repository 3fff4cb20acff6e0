"""Replace the generated files of one output folder all at once, and recover after a crash.

The mechanism behind :mod:`generator.writer` (whose docstring states the guarantee):

1. The new generated files are written and fsynced into a staging folder beside the target,
   ``out/.tfgen-<env>.staging/``.
2. Every entry of ``out/<env>/`` that is not replaced (``.terraform/``, the lock file, a
   user's files) is carried into the staging folder: non-folders by a second hard link, so
   they never leave ``out/<env>/``; folders (and whatever cannot be linked) by a rename,
   after a journal, ``out/.tfgen-<env>.journal``, was written and fsynced.
3. One ``renameat2(RENAME_EXCHANGE)`` swaps the two folders: the commit point.
4. The old folder, now at the staging path, holds only the old generated files and spare
   hard links; it is emptied and removed, then the journal is removed.

A crash leaves a journal, a staging folder, or both. :func:`recover` tells from the
journal and the folders' inodes whether the exchange happened, and rolls forward or back:
tfgen's files are deleted, anything else moves back into ``out/<env>/``.

Fallback where the exchange is not available: stage the changed files, commit by writing
the journal, then rename them over their targets one by one (rolled forward on recovery).
"""

# Every filesystem call goes through the `os` module, not pathlib: the fault-injection
# tests (tests/test_faults.py) replace `os` in this module to fail or kill at each step.
# ruff: noqa: PTH101, PTH102, PTH103, PTH104, PTH105, PTH106, PTH108, PTH112

from __future__ import annotations

import ctypes
import errno
import fcntl
import json
import os
import stat
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generator.errors import OutputError, Problem

# Names tfgen keeps for itself, in out/ and in out/<env>/; no rendered file may use them.
RESERVED_PREFIX = ".tfgen"
# How long a write waits for another tfgen process writing into the same output root.
LOCK_TIMEOUT = 120.0
_JOURNAL_VERSION = 1
_RENAME_NOREPLACE = 1
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100
# renameat2 errors that mean "this kernel or filesystem cannot do it", not "it failed".
_UNSUPPORTED = frozenset({errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP})


@dataclass(frozen=True)
class OutputFolder:
    """One output folder, ``out/<env>``, with its staging folder and journal beside it."""

    target: Path
    display: str

    @property
    def root(self) -> Path:
        """The output root, ``out/``."""
        return self.target.parent

    @property
    def staging(self) -> Path:
        """Where the new set is built, beside the target."""
        return self.root / f"{RESERVED_PREFIX}-{self.target.name}.staging"

    @property
    def journal(self) -> Path:
        """The record of a write in progress."""
        return self.root / f"{RESERVED_PREFIX}-{self.target.name}.journal"

    @property
    def journal_tmp(self) -> Path:
        """Where the journal is written before it is renamed into place."""
        return self.root / f"{RESERVED_PREFIX}-{self.target.name}.journal.tmp"

    def show(self, path: Path | str | bytes | None) -> str:
        """A path as messages name it: relative to the output root as ``display`` is."""
        if path is None:
            return self.display
        path = Path(os.fsdecode(path))
        root_display = self.display.rpartition("/")[0]
        for base, shown in ((self.target, self.display), (self.root, root_display)):
            if path == base:
                return shown or "."
            if path.is_relative_to(base):
                rel = path.relative_to(base).as_posix()
                return f"{shown}/{rel}" if shown else rel
        return str(path)

    def error(self, err: OSError) -> OutputError:
        """An OSError as an OutputError naming the folder (and the path that failed)."""
        where = self.show(err.filename)
        extra = f" ({where})" if where != self.display else ""
        msg = f"cannot write output: {err.strerror or err}{extra}"
        return OutputError(Problem(msg, path=self.display))


def prepare(txn: OutputFolder) -> None:
    """Refuse links and non-folders at out/<env> and out/, then create out/ if needed."""
    for path in (txn.target, txn.root):
        if path.is_symlink():
            msg = "is a symbolic link; tfgen does not write through links"
            raise OutputError.at(msg, path=txn.show(path))
        if path.exists() and not path.is_dir():
            msg = "exists and is not a directory"
            raise OutputError.at(msg, path=txn.show(path))
    try:
        os.makedirs(txn.root, exist_ok=True)
    except OSError as err:
        where = txn.show(err.filename or txn.root)
        msg = f"cannot create the output folder: {err.strerror or err}"
        raise OutputError.at(msg, path=where) from err


def replace_generated(
    txn: OutputFolder,
    generated: Mapping[str, bytes],
    *,
    entries: Mapping[str, int] | None,
    replaced: set[str],
    changed: list[str],
    stale: list[str],
) -> None:
    """Put ``generated`` in place of the old generated set, all at once (see the module).

    Args:
        txn: the output folder.
        generated: every new generated file (the manifest included) -> bytes.
        entries: what the folder holds now (:func:`scan`); None when it does not exist.
        replaced: the regular files that go away with the old set (old generated files,
            stale ones, files overwritten with --force); every other entry is carried over.
        changed: the generated files whose bytes differ, the manifest last (for the
            per-file fallback, which renames them in this order).
        stale: old generated files that are no longer rendered.

    Raises:
        OSError: a step failed; before the commit point nothing was changed.
        OutputError: a fallback write was interrupted after its commit point.
    """
    if entries is None:
        _create(txn, generated)
        return
    carry = sorted(n for n in entries if n not in replaced)
    swapped = _LIBC_RENAMEAT2 is not None and _swap(
        txn, generated, carry, entries, sorted(replaced)
    )
    if not swapped:
        _replace(txn, {n: generated[n] for n in changed}, stale)


# --------------------------------------------------------------------------- writing


def _create(txn: OutputFolder, generated: Mapping[str, bytes]) -> None:
    """No out/<env> yet: build it as the staging folder, then rename it into place."""
    os.mkdir(txn.staging)
    try:
        for name, data in sorted(generated.items()):
            _write_file(txn.staging / name, data)
        _fsync_dir(txn.staging)
        _rename_noreplace(txn.staging, txn.target)
    except BaseException:
        _discard(txn, txn.staging, keep=None)
        raise
    _fsync_dir(txn.root)


def _swap(
    txn: OutputFolder,
    generated: Mapping[str, bytes],
    carry: list[str],
    entries: Mapping[str, int],
    replaced: list[str],
) -> bool:
    """Stage the new set with the carried entries and exchange it with out/<env>.

    Returns:
        False when this system cannot exchange folders (nothing was changed).
    """
    target, staging = txn.target, txn.staging
    os.mkdir(staging, 0o700)
    committed = False
    try:
        info = os.lstat(staging)
        for name, data in sorted(generated.items()):
            _write_file(staging / name, data)
        for name in carry:
            if not stat.S_ISDIR(entries[name]):
                # A file that cannot be linked is carried by a rename below, like a folder.
                with suppress(OSError):
                    os.link(target / name, staging / name, follow_symlinks=False)
        os.chmod(staging, stat.S_IMODE(os.lstat(target).st_mode))
        _fsync_dir(staging)
        journal = {
            "version": _JOURNAL_VERSION,
            "mode": "swap",
            "staging": [info.st_dev, info.st_ino],
            "new": sorted(generated),
            "old": replaced,
        }
        _write_journal(txn, journal)
        moved = [n for n in carry if not os.path.lexists(staging / n)]
        for name in moved:
            os.rename(target / name, staging / name)
        if moved:
            _fsync_dir(target)
            _fsync_dir(staging)
        try:
            _renameat2(target, staging, _RENAME_EXCHANGE)
        except OSError as err:
            if err.errno not in _UNSUPPORTED:
                raise
            return False  # rolled back below; the caller falls back to a per-file replace
        committed = True
    finally:
        if not committed:
            _rollback(txn)
    # Committed: the new set is in place. Cleaning up may fail; the next run finishes it.
    try:
        _fsync_dir(txn.root)
        _discard(txn, staging, keep=set(replaced))
        _unlink(txn.journal)
        _fsync_dir(txn.root)
    except (OSError, OutputError):
        pass
    return True


def _replace(txn: OutputFolder, install: Mapping[str, bytes], stale: list[str]) -> None:
    """The fallback: stage, commit by the journal, then rename file by file."""
    os.mkdir(txn.staging, 0o700)
    try:
        for name, data in sorted(install.items()):
            _write_file(txn.staging / name, data)
        _fsync_dir(txn.staging)
        # In the caller's order: the manifest last, so it lists the old set until every
        # file is new.
        order = list(install)
        _write_journal(
            txn, {"version": _JOURNAL_VERSION, "mode": "replace", "install": order, "remove": stale}
        )
    except BaseException:
        _rollback(txn)
        raise
    try:
        _roll_forward(txn, order, stale)
    except OSError as err:
        msg = (
            f"interrupted after the new files were committed ({err.strerror or err}); "
            "run tfgen again to finish replacing them"
        )
        raise OutputError.at(msg, path=txn.display) from err


def _roll_forward(txn: OutputFolder, install: list[str], remove: list[str]) -> None:
    for name in install:
        if os.path.lexists(txn.staging / name):
            os.replace(txn.staging / name, txn.target / name)
    for name in remove:
        path = txn.target / name
        if os.path.lexists(path) and stat.S_ISREG(os.lstat(path).st_mode):
            os.unlink(path)
    _fsync_dir(txn.target)
    if os.path.lexists(txn.staging):
        _discard(txn, txn.staging, keep=None)
    _unlink(txn.journal)
    _fsync_dir(txn.root)


# --------------------------------------------------------------------------- recovery


def recover(txn: OutputFolder) -> None:
    """Roll an interrupted write forward or back, from the journal and the folders' inodes."""
    _unlink(txn.journal_tmp)
    journal = _read_journal(txn)
    if journal is None:
        if os.path.lexists(txn.staging):
            _discard(txn, txn.staging, keep=None)  # crashed before anything was moved
        return
    if journal["mode"] == "replace":
        _roll_forward(txn, journal["install"], journal["remove"])
        return
    try:
        info = os.lstat(txn.target)
        exchanged = [info.st_dev, info.st_ino] == journal["staging"]
    except FileNotFoundError:
        exchanged = False
        os.mkdir(txn.target)  # removed by hand meanwhile: somewhere to put the user's folders
    if os.path.lexists(txn.staging):
        _discard(txn, txn.staging, keep=set(journal["old" if exchanged else "new"]))
    _unlink(txn.journal)
    _fsync_dir(txn.root)


def _rollback(txn: OutputFolder) -> None:
    """Undo a write that failed before its commit point (best effort: else the journal stays)."""
    try:
        journal = _read_journal(txn)
        if os.path.lexists(txn.staging):
            keep = set(journal.get("new", ())) if journal and journal["mode"] == "swap" else None
            _discard(txn, txn.staging, keep=keep)
        _unlink(txn.journal)
        _unlink(txn.journal_tmp)
        _fsync_dir(txn.root)
    except (OSError, OutputError):
        pass  # the journal is still there: the next run's recovery finishes the rollback


def _discard(txn: OutputFolder, folder: Path, *, keep: set[str] | None) -> None:
    """Empty and remove a staging folder without losing anything a user owns.

    A regular file named in ``keep`` (or any regular file when ``keep`` is None) is tfgen's
    and is deleted; so is a spare hard link of an entry still in out/<env>. Anything else
    was carried by a rename and moves back into out/<env>.
    """
    conflicts: list[Problem] = []
    with os.scandir(folder) as found:
        items = [(e.name, e.stat(follow_symlinks=False)) for e in found]
    for name, info in items:
        path, home = folder / name, txn.target / name
        ours = stat.S_ISREG(info.st_mode) and (keep is None or name in keep)
        if ours or _same_inode(info, home):
            os.unlink(path)
            continue
        try:
            _rename_noreplace(path, home)
        except FileExistsError:
            conflicts.append(
                Problem(
                    f"kept here after an interrupted write, because {txn.show(home)} was "
                    "created again since; compare the two, delete one, and run tfgen again",
                    txn.show(path),
                )
            )
    if conflicts:
        raise OutputError(*conflicts)
    if os.path.isdir(txn.target):
        _fsync_dir(txn.target)
    os.rmdir(folder)


def _same_inode(info: os.stat_result, other: Path) -> bool:
    try:
        found = os.lstat(other)
    except FileNotFoundError:
        return False
    return (found.st_dev, found.st_ino) == (info.st_dev, info.st_ino)


def _read_journal(txn: OutputFolder) -> dict[str, Any] | None:
    try:
        raw = read_regular(txn.journal)
    except NotAFileError as err:
        raise OutputError.at(str(err), path=txn.show(txn.journal)) from err
    if raw is None:
        return None
    try:
        data = json.loads(raw.decode("utf-8"))
    except ValueError:
        data = None
    if not isinstance(data, dict) or data.get("version") != _JOURNAL_VERSION:
        msg = (
            f"unreadable journal of an interrupted write; check {txn.show(txn.staging)} "
            "for anything of yours, then delete both"
        )
        raise OutputError.at(msg, path=txn.show(txn.journal))
    return data


# --------------------------------------------------------------------------- filesystem


class NotAFileError(OSError):
    """A path that tfgen reads is a link, a folder or a device instead of a regular file."""


def scan(directory: Path) -> dict[str, int] | None:
    """Entry name -> ``st_mode`` (links not followed); None when the folder does not exist."""
    try:
        with os.scandir(directory) as found:
            return {e.name: e.stat(follow_symlinks=False).st_mode for e in found}
    except FileNotFoundError:
        return None


def read_regular(path: Path) -> bytes | None:
    """The bytes of a regular file, never through a link; None when nothing is there."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as err:
        if err.errno == errno.ELOOP:
            msg = "is a symbolic link; tfgen never follows links"
            raise NotAFileError(msg) from err
        raise
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            msg = "is not a regular file"
            raise NotAFileError(msg)
        chunks: list[bytes] = []
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _write_file(path: Path, data: bytes) -> None:
    """Create ``path`` (never through a link, never over a file) and fsync it."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(path, flags, 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_journal(txn: OutputFolder, body: Mapping[str, Any]) -> None:
    _write_file(txn.journal_tmp, (json.dumps(body, sort_keys=True) + "\n").encode("utf-8"))
    os.replace(txn.journal_tmp, txn.journal)
    _fsync_dir(txn.root)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _unlink(path: Path) -> None:
    with suppress(FileNotFoundError):
        os.unlink(path)


@contextmanager
def locked(txn: OutputFolder) -> Iterator[None]:
    """Hold an exclusive ``flock`` on the output root: one write at a time per root.

    Raises:
        OutputError: another process held the lock for :data:`LOCK_TIMEOUT` seconds.
    """
    fd = os.open(txn.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        deadline = time.monotonic() + LOCK_TIMEOUT
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    msg = (
                        f"another tfgen process has been writing here for {LOCK_TIMEOUT:.0f} s; "
                        "wait for it or stop it"
                    )
                    raise OutputError.at(msg, path=txn.show(txn.root)) from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        with suppress(OSError):  # the lock is released; a write that returned stays done
            os.close(fd)


def _load_renameat2() -> Callable[..., int] | None:
    try:
        func = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError, TypeError):
        return None
    func.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    func.restype = ctypes.c_int
    return func


_LIBC_RENAMEAT2 = _load_renameat2()


def _renameat2(src: Path, dst: Path, flags: int) -> None:
    """rename(2) with ``flags``; ``OSError(ENOSYS)`` where the C library has no renameat2."""
    if _LIBC_RENAMEAT2 is None:
        raise OSError(errno.ENOSYS, os.strerror(errno.ENOSYS), str(src))
    if _LIBC_RENAMEAT2(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), flags) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), str(src), None, str(dst))


def _rename_noreplace(src: Path, dst: Path) -> None:
    """Rename, failing with FileExistsError rather than replacing anything at ``dst``."""
    try:
        _renameat2(src, dst, _RENAME_NOREPLACE)
    except OSError as err:
        if err.errno not in _UNSUPPORTED:
            raise
        if os.path.lexists(dst):  # the next best thing where the flag is not available
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(dst)) from err
        os.rename(src, dst)
