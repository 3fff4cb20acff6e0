"""The user-private cache folder: where it is, whether it may be used, sealed bounded entries.

Every cache of tfgen lives under one folder, ``$XDG_CACHE_HOME/tfgen`` (``~/.cache/tfgen``
when the variable is unset or not an absolute path), one subfolder per cache. The folder is
created ``0700`` and used only while it is a real folder (not a symbolic link) owned by the
user and not writable by group or others; otherwise every cache is off for the run, which
is never an error. ``TFGEN_NO_CACHE=1`` turns every cache off.

A cache can only make tfgen faster, never change what it accepts or writes:

- Every entry is sealed with an HMAC-SHA256 of its subfolder, name and bytes, keyed by a
  per-user key kept *outside* the cache folder (``$XDG_CONFIG_HOME/tfgen/cache.key``,
  ``0600`` in a ``0700`` folder, made on first use). An entry this user's tfgen did not
  write (planted, copied from another machine or user, restored by CI from another
  branch) fails the check and is a miss. When the key cannot be made or kept private,
  every cache is off.
- Entries are opened relative to descriptors of the cache folder and subfolder, each
  opened without following links and checked (owner, mode, type) on the descriptor, so
  swapping a folder for a link between the check and the open reads nothing.
- A subfolder is kept within :data:`MAX_ENTRIES` files and :data:`MAX_BYTES` bytes, and one
  entry within the caller's limit, the oldest (by modification time, renewed on every
  hit) pruned first, on the first write of a run and every :data:`PRUNE_EVERY` writes after.

Nothing here raises: a cache that cannot be read or written is a miss.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import marshal
import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

NO_CACHE_VARIABLE = "TFGEN_NO_CACHE"
FOLDER_NAME = "tfgen"
KEY_FILE = "cache.key"
MAX_ENTRIES = 20_000
MAX_BYTES = 128 * 1024 * 1024
# Pruning goes below the bounds by this fraction, so it does not run on every write.
_PRUNE_TO = 0.9
PRUNE_EVERY = 64
_MAGIC = b"tfgen-cache-1\0"
_MAC_BYTES = 32
_KEY_BYTES = 32
_writes: dict[Path, int] = {}
_keys: dict[Path, bytes | None] = {}
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | _NOFOLLOW | _CLOEXEC
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _NOFOLLOW | _CLOEXEC


def enabled() -> bool:
    """Whether caches may be used at all: False when ``TFGEN_NO_CACHE`` is set (not ``0``).

    Read on every call, so ``--no-cache`` can set the variable before anything runs.
    """
    return os.environ.get(NO_CACHE_VARIABLE, "").strip() in ("", "0")


def root() -> Path:
    """Where the cache folder is, whether or not it exists or may be used."""
    base = Path(os.environ.get("XDG_CACHE_HOME", ""))
    if not base.is_absolute():
        base = Path("~").expanduser() / ".cache"
    return base / FOLDER_NAME


def key_path() -> Path:
    """Where the per-user cache key is: ``$XDG_CONFIG_HOME/tfgen/cache.key`` (or ``~/.config``)."""
    base = Path(os.environ.get("XDG_CONFIG_HOME", ""))
    if not base.is_absolute():
        base = Path("~").expanduser() / ".config"
    return base / FOLDER_NAME / KEY_FILE


def folder(name: str) -> Path | None:
    """The subfolder ``name`` of the cache folder, created if needed, or None (cache off).

    None when caches are disabled, when there is no private key, when a folder cannot be
    created, or when the cache folder or the subfolder is not a private folder of the user
    (see :func:`private`). Every read and write checks the folders again, on descriptors.
    """
    if not enabled():
        return None
    try:
        top = root()
    except RuntimeError:  # no home folder to be found
        return None
    if _key() is None:
        return None
    sub = top / name
    try:
        if not top.parent.is_dir():
            top.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        for path in (top, sub):  # each checked before anything is made inside it
            with contextlib.suppress(FileExistsError):
                path.mkdir(mode=0o700)
            if not private(path):
                return None
    except OSError:
        return None
    return sub


def private(path: Path) -> bool:
    """Whether ``path`` is a folder (not a link) owned by the user, not group/other-writable."""
    try:
        info = os.lstat(path)
    except OSError:
        return False
    return _private_info(info)


def _private_info(info: os.stat_result) -> bool:
    return (
        stat.S_ISDIR(info.st_mode)
        and info.st_uid == os.geteuid()
        and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    )


def trusted_file(path: Path, limit: int) -> bool:
    """Whether ``path`` is a regular file (not a link) owned by the user, of at most ``limit``."""
    try:
        info = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISREG(info.st_mode) and info.st_uid == os.geteuid() and info.st_size <= limit


# --------------------------------------------------------------------------- the key


def _key() -> bytes | None:
    """This user's cache key, made on first use; None when it cannot be kept private."""
    try:
        path = key_path()
    except RuntimeError:
        return None
    if path not in _keys:
        _keys[path] = _load_key(path)
    return _keys[path]


def _load_key(path: Path) -> bytes | None:
    try:
        if not path.parent.parent.is_dir():
            path.parent.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            path.parent.mkdir(mode=0o700)
        with _open_dir(path.parent, None) as dir_fd:
            if dir_fd is None:
                return None
            try:
                fd = os.open(path.name, _OPEN_FLAGS, dir_fd=dir_fd)
            except FileNotFoundError:  # the first use: make it
                _make_key(path.name, dir_fd)
                fd = os.open(path.name, _OPEN_FLAGS, dir_fd=dir_fd)
            try:
                info = os.fstat(fd)
                if not (
                    stat.S_ISREG(info.st_mode)
                    and info.st_uid == os.geteuid()
                    and not info.st_mode & 0o077
                    and info.st_size == _KEY_BYTES
                ):
                    return None
                key = os.read(fd, _KEY_BYTES + 1)
            finally:
                os.close(fd)
    except OSError:
        return None
    return key if len(key) == _KEY_BYTES else None


def _make_key(name: str, dir_fd: int) -> None:
    """Make the key file unless it exists: written whole aside, then linked in (never torn)."""
    tmp = f".{name}.{secrets.token_hex(8)}"
    fd = os.open(
        tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, 0o600, dir_fd=dir_fd
    )
    try:
        try:
            os.write(fd, secrets.token_bytes(_KEY_BYTES))
        finally:
            os.close(fd)
        with contextlib.suppress(FileExistsError):  # another tfgen made it first: use theirs
            os.link(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd, follow_symlinks=False)
    finally:
        os.unlink(tmp, dir_fd=dir_fd)


# --------------------------------------------------------------------------- entries


@contextlib.contextmanager
def _open_dir(path: Path | str, dir_fd: int | None) -> Iterator[int | None]:
    """A descriptor of the private folder ``path`` (not followed if a link), or None."""
    try:
        fd = os.open(path, _DIR_FLAGS, dir_fd=dir_fd)
    except OSError:
        yield None
        return
    try:
        yield fd if _private_info(os.fstat(fd)) else None
    finally:
        os.close(fd)


@contextlib.contextmanager
def _open_sub(sub: Path) -> Iterator[int | None]:
    """A descriptor of the subfolder ``sub``, reached from a checked descriptor of its parent."""
    with _open_dir(sub.parent, None) as top_fd:
        if top_fd is None:
            yield None
            return
        with _open_dir(sub.name, top_fd) as sub_fd:
            yield sub_fd


def _mac(key: bytes, sub: Path, name: str, payload: bytes) -> bytes:
    mac = hmac.new(key, digestmod=hashlib.sha256)
    mac.update(sub.name.encode("utf-8", "surrogateescape") + b"\0")
    mac.update(name.encode("utf-8", "surrogateescape") + b"\0")
    mac.update(payload)
    return mac.digest()


def read(sub: Path, name: str, limit: int) -> bytes | None:
    """The bytes tfgen stored as entry ``name`` in ``sub``, or None (absent or not ours).

    The entry must be a regular file (a link is not followed), owned by the user, of at
    most ``limit`` bytes, and carry a valid seal of this user's key. A hit renews its
    modification time, so pruning drops the entries used least recently.
    """
    key = _key()
    if key is None or "/" in name or name in ("", ".", ".."):
        return None
    bound = limit + len(_MAGIC) + _MAC_BYTES
    with _open_sub(sub) as sub_fd:
        if sub_fd is None:
            return None
        try:
            fd = os.open(name, _OPEN_FLAGS, dir_fd=sub_fd)
        except OSError:
            return None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid():
                return None
            if info.st_size > bound:
                return None
            data = os.read(fd, bound + 1)
            if len(data) != info.st_size or not data.startswith(_MAGIC):
                return None
            seal = data[len(_MAGIC) : len(_MAGIC) + _MAC_BYTES]
            payload = data[len(_MAGIC) + _MAC_BYTES :]
            if not hmac.compare_digest(seal, _mac(key, sub, name, payload)):
                return None
            with contextlib.suppress(OSError):
                os.utime(fd)
            return payload
        except OSError:
            return None
        finally:
            os.close(fd)


def write(sub: Path, name: str, data: bytes, limit: int | None = None) -> None:
    """Store ``data`` as entry ``name`` in ``sub`` atomically (``0600``), sealed, then prune.

    Data above ``limit`` bytes (when given) is not stored. Failures are ignored: the
    entry is simply not cached.
    """
    key = _key()
    if key is None or "/" in name or name in ("", ".", ".."):
        return
    if limit is not None and len(data) > limit:
        return
    sealed = _MAGIC + _mac(key, sub, name, data) + data
    with _open_sub(sub) as sub_fd:
        if sub_fd is None:
            return
        tmp = f".tmp-{secrets.token_hex(8)}"
        try:
            fd = os.open(
                tmp,
                os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC,
                0o600,
                dir_fd=sub_fd,
            )
            try:
                view = memoryview(sealed)
                while view:
                    view = view[os.write(fd, view) :]
            finally:
                os.close(fd)
            os.replace(tmp, name, src_dir_fd=sub_fd, dst_dir_fd=sub_fd)
            tmp = ""
        except OSError:
            return
        finally:
            if tmp:
                with contextlib.suppress(OSError):
                    os.unlink(tmp, dir_fd=sub_fd)
    # Listing the folder costs a few milliseconds: prune on the first write of a run and
    # every PRUNE_EVERY writes after it, so one run exceeds the bounds by at most that.
    count = _writes[sub] = _writes.get(sub, 0) + 1
    if count % PRUNE_EVERY == 1 or PRUNE_EVERY == 1:
        prune(sub)


def read_value(name: str, key: str, limit: int) -> Any:
    """A value stored by :func:`write_value` in cache folder ``name``, or None (a miss).

    Only plain values (marshal: no code runs to read them); the caller checks their shape.
    """
    sub = folder(name)
    data = read(sub, key, limit) if sub is not None else None
    if data is None:
        return None
    try:
        return marshal.loads(data)  # noqa: S302 - sealed by this user's tfgen; shape checked
    except (EOFError, ValueError, TypeError, MemoryError, RecursionError):
        return None


def write_value(name: str, key: str, value: Any, limit: int) -> None:
    """Store a plain value (marshal) in cache folder ``name``; one it cannot write is not."""
    sub = folder(name)
    if sub is None:
        return
    try:
        data = marshal.dumps(value)
    except ValueError:
        return
    write(sub, key, data, limit)


def prune(sub: Path, max_entries: int = MAX_ENTRIES, max_bytes: int = MAX_BYTES) -> None:
    """Drop the oldest entries of ``sub`` while it holds more than the bounds allow.

    Only regular files are counted and removed, through a checked descriptor of the
    folder (a folder swapped for a link is left alone); anything else is left alone.
    Errors are ignored.
    """
    with _open_sub(sub) as sub_fd:
        if sub_fd is not None:
            _prune_fd(sub_fd, max_entries, max_bytes)


def _prune_fd(sub_fd: int, max_entries: int, max_bytes: int) -> None:
    entries: list[tuple[int, int, str]] = []
    try:
        with os.scandir(sub_fd) as listing:
            for entry in listing:
                with contextlib.suppress(OSError):
                    info = entry.stat(follow_symlinks=False)
                    if stat.S_ISREG(info.st_mode):
                        entries.append((info.st_mtime_ns, info.st_size, entry.name))
    except OSError:
        return
    total = sum(size for _, size, _ in entries)
    if len(entries) <= max_entries and total <= max_bytes:
        return
    keep_entries, keep_bytes = int(max_entries * _PRUNE_TO), int(max_bytes * _PRUNE_TO)
    entries.sort()
    count = len(entries)
    for _, size, entry_name in entries:
        if count <= keep_entries and total <= keep_bytes:
            break
        with contextlib.suppress(OSError):
            os.unlink(entry_name, dir_fd=sub_fd)
            count -= 1
            total -= size
