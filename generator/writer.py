"""Write a verified, rendered set into out/<env>/: the whole new set or the old one, never a mix.

How a write works (Linux, the normal case):

1. The new generated files and their manifest (``.tfgen-manifest.json``, one SHA-256 per
   file) are written and fsynced into a staging folder beside the target,
   ``out/.tfgen-<env>.staging/``.
2. Every entry of ``out/<env>/`` that tfgen does not replace (``.terraform/``,
   ``.terraform.lock.hcl``, anything a user put there) is carried into the staging folder:
   files, links and other non-folders by a second hard link, so they never leave
   ``out/<env>/``; folders (and anything that cannot be linked) by a rename. A small journal,
   ``out/.tfgen-<env>.journal``, is written and fsynced before the first rename.
3. One ``renameat2(RENAME_EXCHANGE)`` swaps the two folders. That syscall is the commit point.
4. The old folder, now at the staging path, is emptied and removed (it holds only the old
   generated files and spare hard links), and then the journal is removed.

The guarantee, for an exception, an ``OSError`` (``ENOSPC``...) or a SIGKILL at any point:

- At every instant the generated files in ``out/<env>/`` (the manifest and the files it lists)
  are exactly the old set or exactly the new set. Stale files (listed by the old manifest,
  no longer rendered) disappear together with the old set.
- A file tfgen did not generate is never opened for writing, truncated or deleted, and a
  symbolic link is never followed or written through. The only moment something a user owns
  is not in ``out/<env>/`` is between step 2's renames of folders and step 3. A crash there
  leaves it in the staging folder, named in the journal. The next write, and
  :func:`recover_output` (``tfgen check``), moves it back before anything else. If the user
  recreated it in the meantime, both copies are kept and tfgen stops with an error that
  names them.
- An error before the commit point is rolled back at once. Nothing in ``out/<env>/`` differs
  afterwards, byte for byte. A failure while cleaning up after the commit is left for the
  next run to finish; the new set is already in place.
- When the write returns, files and folders are fsynced.

Fallback, where ``renameat2`` or ``RENAME_EXCHANGE`` is not available (not Linux, or a
filesystem without it): a journaled per-file replace. The new files are staged and fsynced
first. The journal is the commit point; the staged files are then renamed over their targets
one by one. A crash after the commit can leave a mix of old and new files until the next
write or :func:`recover_output` rolls the journal forward. Before the commit nothing changes.

Limits: writes into one output root are serialised by an ``flock`` on that root. A program
writing into ``out/<env>/`` during a render (a running ``terraform``) is not covered. After a
swap, ``out/<env>/`` is a new folder (inode), so a shell sitting in it sees the old folder
until it runs ``cd .``. ``out/<env>/`` must be on the same filesystem as ``out/``.
"""

# Every filesystem call goes through the `os` module, not pathlib: the fault-injection
# tests (tests/test_faults.py) replace `os` in this module to fail or kill at each step.
# ruff: noqa: PTH101, PTH102, PTH103, PTH104, PTH105, PTH106, PTH108, PTH112

from __future__ import annotations

import ctypes
import errno
import fcntl
import hashlib
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

MANIFEST = ".tfgen-manifest.json"
# Names tfgen keeps for itself, in out/ and in out/<env>/; no rendered file may use them.
RESERVED_PREFIX = ".tfgen"
_JOURNAL_VERSION = 1
# How long a write waits for another tfgen process writing into the same output root.
LOCK_TIMEOUT = 120.0
_HEX64 = frozenset("0123456789abcdef")
_RENAME_NOREPLACE = 1
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100
# renameat2 errors that mean "this kernel or filesystem cannot do it", not "it failed".
_UNSUPPORTED = frozenset({errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP})


@dataclass(frozen=True)
class WriteResult:
    """What a write changed in one output folder."""

    directory: Path
    written: tuple[str, ...]
    removed: tuple[str, ...]
    unchanged: tuple[str, ...]


def sha256(text: str) -> str:
    """The hex SHA-256 of ``text`` encoded as UTF-8."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def manifest_text(files: Mapping[str, str]) -> str:
    """The manifest recorded beside a rendered set: one content hash per generated file."""
    body = {"generator": "tfgen", "files": {n: sha256(t) for n, t in sorted(files.items())}}
    return json.dumps(body, indent=2, sort_keys=True) + "\n"


def read_manifest(directory: Path, *, display: str | None = None) -> dict[str, str]:
    """The files tfgen wrote last time into ``directory``, with their SHA-256.

    Args:
        directory: the output folder, ``out/<env>``.
        display: how the folder is named in messages (default: the path).

    Returns:
        File name -> hex SHA-256; empty when there is no manifest.

    Raises:
        OutputError: the manifest is a link or not a file, cannot be read, or is not
            tfgen's format (then only ``render --force`` rewrites the folder).
    """
    where = f"{display or directory}/{MANIFEST}"
    try:
        raw = _read_regular(directory / MANIFEST)
    except _NotAFileError as err:
        raise OutputError.at(str(err), path=where) from err
    except OSError as err:
        msg = f"cannot read the manifest: {err.strerror or err}"
        raise OutputError.at(msg, path=where) from err
    if raw is None:
        return {}
    try:
        data = json.loads(raw.decode("utf-8"))
    except ValueError as err:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        msg = "the manifest is not valid JSON; re-run render with --force to rewrite the folder"
        raise OutputError.at(msg, path=where) from err
    files = data.get("files") if isinstance(data, dict) else None
    if (
        not isinstance(data, dict)
        or data.get("generator") != "tfgen"
        or not isinstance(files, dict)
        or not all(_valid_entry(k, v) for k, v in files.items())
    ):
        msg = "not a tfgen manifest; re-run render with --force to rewrite the folder"
        raise OutputError.at(msg, path=where)
    return dict(files)


def recover_output(directory: Path, *, display: str) -> None:
    """Finish or undo a write that was interrupted (killed, power loss) in ``directory``.

    Every write runs this first; ``tfgen check`` should too. Without a leftover journal
    or staging folder it does nothing.

    Raises:
        OutputError: a recovery step failed, or a user's folder was recreated while
            its earlier copy waited in the staging folder (both are kept).
    """
    txn = _Txn(directory, display)
    if not txn.root.is_dir() or txn.root.is_symlink():
        return
    try:
        with _locked(txn):
            _recover(txn)
    except OSError as err:
        raise txn.error(err) from err


def write_output(
    directory: Path, files: Mapping[str, str], *, display: str, force: bool = False
) -> WriteResult:
    """Replace the generated files in ``directory`` with ``files``, all at once.

    Files tfgen did not generate (``.terraform/``, the lock file, anything else) are
    never touched. A generated file edited by hand since the last render, or a file in
    the way that tfgen did not write, is not overwritten or removed unless ``force``.
    See the module docstring for the exact guarantee on failure.

    Args:
        directory: the output folder, ``out/<env>``.
        files: output file name -> text, already verified.
        display: how the folder is named in messages.
        force: overwrite (or remove) generated files that were edited by hand.

    Returns:
        What was written, removed and left unchanged.

    Raises:
        OutputError: the folder cannot be written safely; nothing was changed.
    """
    txn = _Txn(directory, display)
    _check_names(files, display)
    _prepare_root(txn)
    try:
        with _locked(txn):
            _recover(txn)
            return _write(txn, files, force=force)
    except OSError as err:
        raise txn.error(err) from err


# --------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class _Txn:
    """The paths of one write: the target, its staging folder and journal beside it."""

    target: Path
    display: str

    @property
    def root(self) -> Path:
        return self.target.parent

    @property
    def staging(self) -> Path:
        return self.root / f"{RESERVED_PREFIX}-{self.target.name}.staging"

    @property
    def journal(self) -> Path:
        return self.root / f"{RESERVED_PREFIX}-{self.target.name}.journal"

    @property
    def journal_tmp(self) -> Path:
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
        where = self.show(err.filename)
        extra = f" ({where})" if where != self.display else ""
        msg = f"cannot write output: {err.strerror or err}{extra}"
        return OutputError(Problem(msg, path=self.display))


def _write(txn: _Txn, files: Mapping[str, str], *, force: bool) -> WriteResult:
    target = txn.target
    entries = _scan(target)
    previous = _previous_manifest(txn, force=force)
    present = entries or {}
    disk = {
        n: _read_regular(target / n)
        for n in {*files, *previous, MANIFEST}
        if n in present and stat.S_ISREG(present[n])
    }
    _check_entries(txn, entries, previous, files, disk, force=force)
    new_manifest = manifest_text(files)
    generated = {**files, MANIFEST: new_manifest}
    encoded = {n: t.encode("utf-8") for n, t in generated.items()}
    stale = sorted(n for n in previous if n not in files and n in disk)
    changed = sorted(n for n in files if disk.get(n) != encoded[n])
    unchanged = tuple(n for n in sorted(files) if n not in changed)
    if not changed and not stale and disk.get(MANIFEST) == encoded[MANIFEST]:
        return WriteResult(target, (), (), unchanged)
    if entries is None:
        _create(txn, encoded)
    else:
        # Regular files that the new set replaces or that are stale go away with the old set;
        # everything else is carried over.
        replaced = {n for n in (*generated, *stale) if n in disk}
        carry = sorted(n for n in entries if n not in replaced)
        swapped = _LIBC_RENAMEAT2 is not None and _swap(
            txn, encoded, carry, entries, sorted(replaced)
        )
        if not swapped:
            _replace(txn, {n: encoded[n] for n in (*changed, MANIFEST)}, stale)
    return WriteResult(target, tuple(changed), tuple(stale), unchanged)


def _check_names(files: Mapping[str, str], display: str) -> None:
    bad = [n for n in files if not _plain_name(n)]
    if bad:
        msg = (
            f"refusing to write {', '.join(map(repr, sorted(bad)))}: a generated file has a "
            f"plain name that does not start with {RESERVED_PREFIX!r}"
        )
        raise OutputError.at(msg, path=display)


def _plain_name(name: str) -> bool:
    return (
        bool(name)
        and name not in (".", "..")
        and not any(c in name for c in "/\\\0")
        and not name.startswith(RESERVED_PREFIX)
    )


def _valid_entry(name: Any, digest: Any) -> bool:
    return (
        isinstance(name, str)
        and _plain_name(name)
        and isinstance(digest, str)
        and len(digest) == 64
        and set(digest) <= _HEX64
    )


def _prepare_root(txn: _Txn) -> None:
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


def _previous_manifest(txn: _Txn, *, force: bool) -> dict[str, str]:
    try:
        return read_manifest(txn.target, display=txn.display)
    except OutputError:
        if force:
            return {}
        raise


def _check_entries(
    txn: _Txn,
    entries: Mapping[str, int] | None,
    previous: Mapping[str, str],
    files: Mapping[str, str],
    disk: Mapping[str, bytes | None],
    *,
    force: bool,
) -> None:
    """Refuse links and folders where a generated file goes, and hand edits (unless force)."""
    if entries is None:
        return
    problems: list[Problem] = []
    for name in sorted({*files, *previous, MANIFEST}):
        mode = entries.get(name)
        where = f"{txn.display}/{name}"
        if mode is None:
            continue
        if not stat.S_ISREG(mode):
            # A stale name that is no longer a file is the user's now: it is carried over.
            if name in files or name == MANIFEST:
                msg = (
                    "is a symbolic link; tfgen never writes through links"
                    if stat.S_ISLNK(mode)
                    else "is in the way of a generated file; move it away"
                )
                problems.append(Problem(msg, where))
            continue
        data = disk.get(name)
        if force or name == MANIFEST or data is None:
            continue
        new = files.get(name)
        if new is not None and data == new.encode("utf-8"):
            continue
        if name not in previous:
            problems.append(
                Problem(
                    f"exists but tfgen did not write it (it is not in {MANIFEST}); move it away, "
                    "or re-run with --force to replace it",
                    where,
                )
            )
        elif hashlib.sha256(data).hexdigest() != previous[name]:
            action = "overwrite" if new is not None else "remove (it is no longer rendered)"
            problems.append(
                Problem(
                    "was edited by hand since tfgen wrote it; move the change into the "
                    f"environment files or templates, or re-run with --force to {action} it",
                    where,
                )
            )
    if problems:
        raise OutputError(*problems)


# --------------------------------------------------------------------------- writing


def _create(txn: _Txn, generated: Mapping[str, bytes]) -> None:
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
    txn: _Txn,
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


def _replace(txn: _Txn, install: Mapping[str, bytes], stale: list[str]) -> None:
    """The fallback: stage, commit by the journal, then rename file by file."""
    os.mkdir(txn.staging, 0o700)
    try:
        for name, data in sorted(install.items()):
            _write_file(txn.staging / name, data)
        _fsync_dir(txn.staging)
        # The manifest goes last, so it lists the old set until every file is new.
        order = sorted(install, key=lambda n: (n == MANIFEST, n))
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


def _roll_forward(txn: _Txn, install: list[str], remove: list[str]) -> None:
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


def _recover(txn: _Txn) -> None:
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


def _rollback(txn: _Txn) -> None:
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


def _discard(txn: _Txn, folder: Path, *, keep: set[str] | None) -> None:
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


def _read_journal(txn: _Txn) -> dict[str, Any] | None:
    try:
        raw = _read_regular(txn.journal)
    except _NotAFileError as err:
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


class _NotAFileError(OSError):
    """A path that tfgen reads is a link, a folder or a device instead of a regular file."""


def _scan(directory: Path) -> dict[str, int] | None:
    """Entry name -> ``st_mode`` (links not followed); None when the folder does not exist."""
    try:
        with os.scandir(directory) as found:
            return {e.name: e.stat(follow_symlinks=False).st_mode for e in found}
    except FileNotFoundError:
        return None


def _read_regular(path: Path) -> bytes | None:
    """The bytes of a regular file, never through a link; None when nothing is there."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as err:
        if err.errno == errno.ELOOP:
            msg = "is a symbolic link; tfgen never follows links"
            raise _NotAFileError(msg) from err
        raise
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            msg = "is not a regular file"
            raise _NotAFileError(msg)
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


def _write_journal(txn: _Txn, body: Mapping[str, Any]) -> None:
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
def _locked(txn: _Txn) -> Iterator[None]:
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
