"""The user-private cache folder: where it is, whether it may be used, bounded entries in it.

Every cache of tfgen lives under one folder, ``$XDG_CACHE_HOME/tfgen`` (``~/.cache/tfgen``
when the variable is unset or not an absolute path), one subfolder per cache. The folder is
created ``0700`` and used only while it is a real folder (not a symbolic link) owned by the
user and not writable by group or others; otherwise every cache is off for the run, which
is never an error. ``TFGEN_NO_CACHE=1`` turns every cache off.

Entries are files read back as untrusted bytes: opened without following links, refused
unless regular, owned by the user and within a size bound; the caller validates what it
loads. A subfolder is kept within :data:`MAX_ENTRIES` files and :data:`MAX_BYTES` bytes,
the oldest (by modification time, renewed on every hit) pruned first, on the first write
of a run and every :data:`PRUNE_EVERY` writes after it. Nothing here raises:
a cache that cannot be read or written is a miss.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

NO_CACHE_VARIABLE = "TFGEN_NO_CACHE"
FOLDER_NAME = "tfgen"
MAX_ENTRIES = 20_000
MAX_BYTES = 128 * 1024 * 1024
# Pruning goes below the bounds by this fraction, so it does not run on every write.
_PRUNE_TO = 0.9
PRUNE_EVERY = 64
_writes: dict[Path, int] = {}
_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0)
_OPEN_FLAGS |= getattr(os, "O_CLOEXEC", 0)


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


def folder(name: str) -> Path | None:
    """The subfolder ``name`` of the cache folder, created if needed, or None (cache off).

    None when caches are disabled, when a folder cannot be created, or when the cache
    folder or the subfolder is not a private folder of the user (see :func:`private`).
    """
    if not enabled():
        return None
    try:
        top = root()
    except RuntimeError:  # no home folder to be found
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


def read(sub: Path, name: str, limit: int) -> bytes | None:
    """The bytes of entry ``name`` in ``sub``, or None when it is absent or not trustworthy.

    The entry must be a regular file (a link is not followed), owned by the user, of at
    most ``limit`` bytes. A hit renews its modification time, so pruning drops the
    entries used least recently.
    """
    try:
        fd = os.open(sub / name, _OPEN_FLAGS)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid() or info.st_size > limit:
            return None
        data = os.read(fd, limit + 1)
        if len(data) != info.st_size:
            return None
        with contextlib.suppress(OSError):
            os.utime(fd)
        return data
    except OSError:
        return None
    finally:
        os.close(fd)


def write(sub: Path, name: str, data: bytes) -> None:
    """Store ``data`` as entry ``name`` in ``sub`` atomically (``0600``), then prune.

    Failures are ignored: the entry is simply not cached.
    """
    tmp: Path | None = None
    try:
        import tempfile  # here: only a cache miss writes

        fd, tmp_name = tempfile.mkstemp(prefix=".tmp-", dir=sub)  # 0600, O_EXCL
        tmp = Path(tmp_name)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        tmp.replace(sub / name)
        tmp = None
    except OSError:
        return
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                tmp.unlink()
    # Listing the folder costs a few milliseconds: prune on the first write of a run and
    # every PRUNE_EVERY writes after it, so one run exceeds the bounds by at most that.
    count = _writes[sub] = _writes.get(sub, 0) + 1
    if count % PRUNE_EVERY == 1 or PRUNE_EVERY == 1:
        prune(sub)


def prune(sub: Path, max_entries: int = MAX_ENTRIES, max_bytes: int = MAX_BYTES) -> None:
    """Drop the oldest entries of ``sub`` while it holds more than the bounds allow.

    Only regular files are counted and removed; anything else in the folder is left
    alone. Errors are ignored.
    """
    entries: list[tuple[int, int, str]] = []
    try:
        with os.scandir(sub) as listing:
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
            (sub / entry_name).unlink()
            count -= 1
            total -= size
