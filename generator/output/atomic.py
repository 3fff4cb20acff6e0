"""Replace the generated files of one output folder all at once, and recover after a crash.

The mechanism behind :mod:`generator.output.writer` (whose docstring states the guarantee):

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

Nothing read back is trusted, since ``out/`` may come from a pull request. The staging
folder and the journal are tfgen's only if they are a real folder and a regular file (never
a link) on the output root's filesystem; a journal is at most :data:`JOURNAL_LIMIT` bytes,
nests at most :data:`JSON_DEPTH_LIMIT` brackets, has exactly the fields tfgen writes, names
only plain file names, and records the inode of the staging folder it belongs to. Recovery
works on folder descriptors opened without following links, and deletes a regular file only
when its SHA-256 is the one the journal recorded (or, without a journal, a file of the
staging folder that has no other link). Anything else stops with an error naming the path.
"""

# Every filesystem call goes through the `os` module, not pathlib: the fault-injection
# tests (tests/output/test_faults.py) replace `os` in this module (and in safeio, whose
# reads this module calls) to fail or kill at each step.
# NOTE: over 400 lines on purpose: the swap, its recovery and the folder descriptors they
# share are one transaction; split across modules, filesystem calls would escape the
# fault injection that proves it (the journal's schema and safe reads live apart).
# ruff: noqa: PTH101, PTH102, PTH103, PTH104, PTH105

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
from generator.output.journal import JOURNAL_VERSION, journal_shape
from generator.output.safeio import (
    DIR_FLAGS,
    RESERVED_PREFIX,
    NotAFileError,
    load_json,
    read_regular,
    sha256_hex,
    write_new,
)

# The largest journal tfgen reads.
JOURNAL_LIMIT = 4 * 1024 * 1024
# How long a write waits for another tfgen process writing into the same output root.
LOCK_TIMEOUT = 120.0
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
    replaced: Mapping[str, str],
    changed: list[str],
    stale: list[str],
) -> None:
    """Put ``generated`` in place of the old generated set, all at once (see the module).

    Args:
        txn: the output folder.
        generated: every new generated file (the manifest included) -> bytes.
        entries: what the folder holds now (:func:`scan`); None when it does not exist.
        replaced: the regular files that go away with the old set (old generated files,
            stale ones, files overwritten with --force) -> the SHA-256 of their bytes now;
            every other entry is carried over.
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
    swapped = _LIBC_RENAMEAT2 is not None and _swap(txn, generated, carry, entries, replaced)
    if not swapped:
        _replace(txn, {n: generated[n] for n in changed}, stale, replaced)


# --------------------------------------------------------------------------- writing


def _create(txn: OutputFolder, generated: Mapping[str, bytes]) -> None:
    """No out/<env> yet: build it as the staging folder, then rename it into place."""
    os.mkdir(txn.staging)
    try:
        for name, data in sorted(generated.items()):
            write_new(txn.staging / name, data)
        _fsync_dir(txn.staging)
        _rename_noreplace(txn.staging, txn.target)
    except BaseException:
        with _opened(txn) as dirs:
            if dirs.staging is not None:
                _discard(txn, dirs, keep=None)
        raise
    _fsync_dir(txn.root)


def _swap(
    txn: OutputFolder,
    generated: Mapping[str, bytes],
    carry: list[str],
    entries: Mapping[str, int],
    replaced: Mapping[str, str],
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
            write_new(staging / name, data)
        for name in carry:
            if not stat.S_ISDIR(entries[name]):
                # A file that cannot be linked is carried by a rename below, like a folder.
                with suppress(OSError):
                    os.link(target / name, staging / name, follow_symlinks=False)
        _fsync_dir(staging)
        journal = {
            "version": JOURNAL_VERSION,
            "mode": "swap",
            "staging": [info.st_dev, info.st_ino],
            "new": {n: sha256_hex(d) for n, d in generated.items()},
            "old": dict(replaced),
        }
        _write_journal(txn, journal)
        moved = [n for n in carry if not os.path.lexists(staging / n)]
        for name in moved:
            os.rename(target / name, staging / name)
        if moved:
            _fsync_dir(target)
        # The folder's mode last, once it is filled: a read-only out/<env> stays writable
        # until the exchange, so a failure on the way can always be rolled back.
        os.chmod(staging, stat.S_IMODE(os.lstat(target).st_mode))
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
        with _opened(txn) as dirs:
            if dirs.staging is not None:
                _discard(txn, dirs, keep=replaced)
            _unlink_at(txn.journal.name, dirs.root)
            os.fsync(dirs.root)
    except (OSError, OutputError):
        pass
    return True


def _replace(
    txn: OutputFolder,
    install: Mapping[str, bytes],
    stale: list[str],
    replaced: Mapping[str, str],
) -> None:
    """The fallback: stage, commit by the journal, then rename file by file."""
    os.mkdir(txn.staging, 0o700)
    try:
        info = os.lstat(txn.staging)
        for name, data in sorted(install.items()):
            write_new(txn.staging / name, data)
        _fsync_dir(txn.staging)
        # In the caller's order: the manifest last, so it lists the old set until every
        # file is new.
        journal: dict[str, Any] = {
            "version": JOURNAL_VERSION,
            "mode": "replace",
            "staging": [info.st_dev, info.st_ino],
            "install": [[n, sha256_hex(d), replaced.get(n)] for n, d in install.items()],
            "remove": [[n, replaced[n]] for n in stale if n in replaced],
        }
        _write_journal(txn, journal)
    except BaseException:
        _rollback(txn)
        raise
    try:
        with _opened(txn) as dirs:
            _roll_forward(txn, dirs, journal["install"], journal["remove"])
    except OSError as err:
        msg = (
            f"interrupted after the new files were committed ({err.strerror or err}); "
            "run tfgen again to finish replacing them"
        )
        raise OutputError.at(msg, path=txn.display) from err


def _roll_forward(
    txn: OutputFolder, dirs: _Dirs, install: list[list[Any]], remove: list[list[Any]]
) -> None:
    """Finish a journaled per-file replace; every staged file must be the one journaled."""
    if dirs.target is None:
        os.mkdir(txn.target.name, dir_fd=dirs.root)  # removed by hand meanwhile
        dirs.target = _open_dir(txn, txn.target, dirs)
    target, staging = dirs.target, dirs.staging
    assert target is not None  # noqa: S101 - opened just above
    planned: list[str] = []
    problems: list[Problem] = []
    for name, new, old in install:
        staged = None if staging is None else _lstat_at(staging, name)
        if staging is None or staged is None:
            continue  # renamed into place before the interruption
        if not stat.S_ISREG(staged.st_mode) or _digest_at(staging, name) != new:
            why = "is not the file the journal recorded"
            problems.append(Problem(_untrusted_hint(txn, why), txn.show(txn.staging / name)))
            continue
        home = _lstat_at(target, name)
        if home is not None and (
            not stat.S_ISREG(home.st_mode) or _digest_at(target, name) not in (old, new)
        ):
            why = "changed since the interrupted write began"
            problems.append(Problem(_untrusted_hint(txn, why), txn.show(txn.target / name)))
            continue
        planned.append(name)
    if problems:
        raise OutputError(*problems)
    for name in planned:
        os.replace(name, name, src_dir_fd=staging, dst_dir_fd=target)
    for name, digest in remove:
        home = _lstat_at(target, name)
        # Only the file tfgen meant to remove: anything else at that name is the user's now.
        if home is not None and stat.S_ISREG(home.st_mode) and _digest_at(target, name) == digest:
            os.unlink(name, dir_fd=target)
    os.fsync(target)
    if dirs.staging is not None:
        _discard(txn, dirs, keep=None)
    _unlink_at(txn.journal.name, dirs.root)
    os.fsync(dirs.root)


# --------------------------------------------------------------------------- recovery


def recover(txn: OutputFolder) -> None:
    """Roll an interrupted write forward or back, from the journal and the folders' inodes.

    Raises:
        OutputError: the journal, the staging folder or out/<env> is not what tfgen left
            (a link, another filesystem, the wrong shape or inode); nothing was changed.
        OSError: a recovery step failed.
    """
    with _opened(txn) as dirs:
        _remove_journal_tmp(txn, dirs)
        journal = _read_journal(txn, dirs)
        if journal is None:
            if dirs.staging is not None:
                _discard(txn, dirs, keep=None)  # crashed before anything was moved
            return
        if dirs.staging is None:
            # Clean-up or rollback finished but for the journal: nothing is left to do.
            _unlink_at(txn.journal.name, dirs.root)
            os.fsync(dirs.root)
            return
        staging_id = _identity(dirs.staging)
        target_id = _identity(dirs.target) if dirs.target is not None else None
        exchanged = target_id == journal["staging"]
        if staging_id != journal["staging"] and not (journal["mode"] == "swap" and exchanged):
            why = f"does not belong to {txn.show(txn.staging)} (another folder's inode)"
            raise OutputError.at(_untrusted_hint(txn, why), path=txn.show(txn.journal))
        if journal["mode"] == "replace":
            _roll_forward(txn, dirs, journal["install"], journal["remove"])
            return
        if dirs.target is None:
            os.mkdir(txn.target.name, dir_fd=dirs.root)  # somewhere to put the user's folders
            dirs.target = _open_dir(txn, txn.target, dirs)
        _discard(txn, dirs, keep=journal["old" if exchanged else "new"])
        _unlink_at(txn.journal.name, dirs.root)
        os.fsync(dirs.root)


def _rollback(txn: OutputFolder) -> None:
    """Undo a write that failed before its commit point (best effort: else the journal stays)."""
    try:
        with _opened(txn) as dirs:
            journal = _read_journal(txn, dirs)
            if dirs.staging is not None:
                swap = journal is not None and journal["mode"] == "swap"
                _discard(txn, dirs, keep=journal["new"] if swap and journal else None)
            _unlink_at(txn.journal.name, dirs.root)
            _unlink_at(txn.journal_tmp.name, dirs.root)
            os.fsync(dirs.root)
    except (OSError, OutputError):
        pass  # the journal is still there: the next run's recovery finishes the rollback


def _discard(txn: OutputFolder, dirs: _Dirs, *, keep: Mapping[str, str] | None) -> None:
    """Empty and remove the staging folder without losing anything a user owns.

    A spare hard link of an entry still in out/<env> is deleted. With a journal
    (``keep``: name -> SHA-256), a regular file is deleted only when its SHA-256 is the
    recorded one; anything else was carried by a rename and moves back into out/<env>.
    Without a journal nothing was moved yet: a regular file with no other link is tfgen's
    unfinished work and is deleted, and anything else means the folder is not tfgen's
    (then nothing is touched).
    """
    staging = dirs.staging
    assert staging is not None  # noqa: S101 - the callers checked
    info = os.fstat(staging)
    if not info.st_mode & stat.S_IWUSR:
        os.chmod(staging, 0o700)  # a read-only out/<env> exchanged out of the way
    with os.scandir(staging) as found:
        items = [(e.name, e.stat(follow_symlinks=False)) for e in found]
    delete: list[str] = []
    move: list[str] = []
    foreign: list[str] = []
    for name, entry in items:
        if dirs.target is not None and _same_inode_at(entry, dirs.target, name):
            delete.append(name)
        elif keep is None:
            ours = stat.S_ISREG(entry.st_mode) and entry.st_nlink == 1
            (delete if ours else foreign).append(name)
        elif stat.S_ISREG(entry.st_mode) and keep.get(name) == _digest_at(staging, name):
            delete.append(name)
        else:
            move.append(name)
    target = dirs.target
    if foreign or (move and target is None):
        shown = ", ".join(sorted(foreign or move)[:5])
        why = f"holds entries tfgen did not put there ({shown})"
        raise OutputError.at(_untrusted_hint(txn, why), path=txn.show(txn.staging))
    for name in delete:
        os.unlink(name, dir_fd=staging)
    conflicts: list[Problem] = []
    for name in move:
        assert target is not None  # noqa: S101 - refused above
        try:
            _rename_noreplace_at(staging, name, target)
        except FileExistsError:
            conflicts.append(
                Problem(
                    f"kept here after an interrupted write, because "
                    f"{txn.show(txn.target / name)} was created again since; compare the two, "
                    "delete one, and run tfgen again",
                    txn.show(txn.staging / name),
                )
            )
    if conflicts:
        raise OutputError(*conflicts)
    if dirs.target is not None:
        os.fsync(dirs.target)
    os.rmdir(txn.staging.name, dir_fd=dirs.root)
    os.close(staging)
    dirs.staging = None


def _same_inode_at(info: os.stat_result, dir_fd: int, name: str) -> bool:
    found = _lstat_at(dir_fd, name)
    return found is not None and (found.st_dev, found.st_ino) == (info.st_dev, info.st_ino)


def _read_journal(txn: OutputFolder, dirs: _Dirs) -> dict[str, Any] | None:
    where = txn.show(txn.journal)
    try:
        raw = read_regular(txn.journal.name, dir_fd=dirs.root, limit=JOURNAL_LIMIT, dev=dirs.dev)
    except NotAFileError as err:
        raise OutputError.at(_untrusted_hint(txn, str(err)), path=where) from err
    if raw is None:
        return None
    try:
        data = load_json(raw)
        reason = "" if journal_shape(data) else "not the shape tfgen writes"
    except ValueError as err:
        reason = str(err)
    if reason:
        why = f"unreadable journal of an interrupted write ({reason})"
        raise OutputError.at(_untrusted_hint(txn, why), path=where)
    assert isinstance(data, dict)  # noqa: S101 - _journal_shape checked it
    return data


def _untrusted_hint(txn: OutputFolder, why: str) -> str:
    return (
        f"{why}; tfgen changed nothing: check {txn.show(txn.staging)} and "
        f"{txn.show(txn.journal)} for anything of yours, then remove them by hand"
    )


def _remove_journal_tmp(txn: OutputFolder, dirs: _Dirs) -> None:
    """Remove a half-written journal (a file or a link; never follows it, never a folder)."""
    info = _lstat_at(dirs.root, txn.journal_tmp.name)
    if info is None:
        return
    if not (stat.S_ISREG(info.st_mode) or stat.S_ISLNK(info.st_mode)):
        why = "is not a file tfgen wrote"
        raise OutputError.at(_untrusted_hint(txn, why), path=txn.show(txn.journal_tmp))
    _unlink_at(txn.journal_tmp.name, dirs.root)


# --------------------------------------------------------------------------- folders


@dataclass
class _Dirs:
    """Descriptors of out/, out/<env> and the staging folder, opened without following links."""

    root: int
    dev: int
    target: int | None = None
    staging: int | None = None


@contextmanager
def _opened(txn: OutputFolder) -> Iterator[_Dirs]:
    """Open out/ and, when there, out/<env> and the staging folder (never through a link).

    Raises:
        OutputError: one of them is a link, not a folder, or on another filesystem.
    """
    try:
        root = os.open(txn.root, DIR_FLAGS)
    except OSError as err:
        if err.errno in (errno.ELOOP, errno.ENOTDIR):
            msg = "is a symbolic link or not a folder; tfgen never works through links"
            raise OutputError.at(msg, path=txn.show(txn.root)) from err
        raise
    dirs = _Dirs(root, -1)
    try:
        dirs.dev = os.fstat(root).st_dev
        dirs.target = _open_dir(txn, txn.target, dirs)
        dirs.staging = _open_dir(txn, txn.staging, dirs)
        yield dirs
    except BaseException:
        _close(dirs, quiet=True)
        raise
    _close(dirs, quiet=False)


def _close(dirs: _Dirs, *, quiet: bool) -> None:
    """Close every descriptor; then raise the first error unless ``quiet``."""
    failed: list[OSError] = []
    for fd in (dirs.staging, dirs.target, dirs.root):
        if fd is not None:
            try:
                os.close(fd)
            except OSError as err:
                failed.append(err)
    if failed and not quiet:
        raise failed[0]


def _open_dir(txn: OutputFolder, path: Path, dirs: _Dirs) -> int | None:
    """Open a folder of out/ by name, never through a link; None when nothing is there."""
    try:
        fd = os.open(path.name, DIR_FLAGS, dir_fd=dirs.root)
    except FileNotFoundError:
        return None
    except OSError as err:
        if err.errno not in (errno.ELOOP, errno.ENOTDIR):
            raise
        info = _lstat_at(dirs.root, path.name)
        link = info is not None and stat.S_ISLNK(info.st_mode)
        why = "is a symbolic link; tfgen never follows links" if link else "is not a folder"
        raise OutputError.at(_untrusted_hint(txn, why), path=txn.show(path)) from err
    if os.fstat(fd).st_dev != dirs.dev:
        os.close(fd)
        why = f"is on another filesystem than {txn.show(txn.root)}"
        raise OutputError.at(_untrusted_hint(txn, why), path=txn.show(path))
    return fd


def _identity(fd: int) -> list[int]:
    info = os.fstat(fd)
    return [info.st_dev, info.st_ino]


def _lstat_at(dir_fd: int, name: str) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def _digest_at(dir_fd: int, name: str) -> str | None:
    """The SHA-256 of a regular file in a folder; None when it is absent, too large or odd."""
    try:
        data = read_regular(name, dir_fd=dir_fd)
    except NotAFileError:
        return None
    return None if data is None else sha256_hex(data)


def _unlink_at(name: str, dir_fd: int) -> None:
    with suppress(FileNotFoundError):
        os.unlink(name, dir_fd=dir_fd)


# --------------------------------------------------------------------------- filesystem


def _write_journal(txn: OutputFolder, body: Mapping[str, Any]) -> None:
    write_new(txn.journal_tmp, (json.dumps(body, sort_keys=True) + "\n").encode("utf-8"))
    os.replace(txn.journal_tmp, txn.journal)
    _fsync_dir(txn.root)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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


def _rename_noreplace_at(src_dir: int, name: str, dst_dir: int) -> None:
    """Move ``name`` from one folder descriptor to another, never replacing anything."""
    if _LIBC_RENAMEAT2 is not None:
        encoded = os.fsencode(name)
        if _LIBC_RENAMEAT2(src_dir, encoded, dst_dir, encoded, _RENAME_NOREPLACE) == 0:
            return
        code = ctypes.get_errno()
        if code not in _UNSUPPORTED:
            raise OSError(code, os.strerror(code), name)
    if _lstat_at(dst_dir, name) is not None:
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), name)
    os.rename(name, name, src_dir_fd=src_dir, dst_dir_fd=dst_dir)
