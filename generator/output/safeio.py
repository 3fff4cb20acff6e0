"""Safe reading of out/: bounded regular files never through a link, folder scans, hashes, names.

Everything tfgen reads back from ``out/`` may come from a pull request: a link, a FIFO, a
device or a huge file in place of a generated file. These helpers are the one way the
output rooms and ``check`` read it.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import stat
from pathlib import Path

from generator.errors import OutputError

# Names tfgen keeps for itself, in out/ and in out/<env>/; no rendered file may use them.
RESERVED_PREFIX = ".tfgen"
# Terraform's own names in out/<env>/ (.terraform/, .terraform.lock.hcl): never tfgen's either.
TERRAFORM_PREFIX = ".terraform"
MANIFEST = f"{RESERVED_PREFIX}-manifest.json"
# The largest file tfgen reads back from out/<env>/ (a generated file, a manifest).
FILE_LIMIT = 16 * 1024 * 1024
# How deep any JSON tfgen reads back may nest.
JSON_DEPTH_LIMIT = 32
_NAME_MAX = 255
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_HEX = frozenset("0123456789abcdef")
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_JSON_BRACKETS = re.compile(r"[\[\]{}]")


def plain_name(name: object) -> bool:
    r"""A name tfgen may write, compare or delete in out/<env>/: one plain path component.

    Not empty, not ``.`` or ``..``, no ``/``, ``\\``, NUL or other control character, at most
    255 bytes, and not starting with ``.tfgen`` (tfgen's own files) or ``.terraform``
    (Terraform's).
    """
    if not isinstance(name, str) or name in ("", ".", ".."):
        return False
    if any(c in "/\\" or ord(c) < 0x20 or ord(c) == 0x7F for c in name):
        return False
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:  # a lone surrogate
        return False
    return size <= _NAME_MAX and not name.startswith((RESERVED_PREFIX, TERRAFORM_PREFIX))


def load_json(raw: bytes) -> object:
    """Parse JSON read back from disk, refusing deep nesting before the parser recurses.

    Raises:
        ValueError: not UTF-8, not JSON, or nested deeper than :data:`JSON_DEPTH_LIMIT`.
    """
    text = raw.decode("utf-8")
    depth = deepest = 0
    for bracket in _JSON_BRACKETS.findall(_JSON_STRING.sub("", text)):
        depth += 1 if bracket in "[{" else -1
        deepest = max(deepest, depth)
    if deepest > JSON_DEPTH_LIMIT:
        msg = f"nested deeper than {JSON_DEPTH_LIMIT} levels"
        raise ValueError(msg)
    try:
        return json.loads(text)
    except RecursionError as err:  # belt and braces: the scan above should have refused it
        msg = "nested too deeply"
        raise ValueError(msg) from err


def sha256_hex(data: bytes) -> str:
    """The hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256_text(text: str) -> str:
    """The hex SHA-256 of ``text`` encoded as UTF-8 (what tfgen writes)."""
    return sha256_hex(text.encode("utf-8"))


def is_sha256_hex(value: object) -> bool:
    """Whether ``value`` is a hex SHA-256 as tfgen records them (64 lowercase hex digits)."""
    return isinstance(value, str) and len(value) == 64 and set(value) <= _HEX


class NotAFileError(OSError):
    """A path that tfgen reads is a link, a folder, a device or too large, not a plain file."""


def read_regular(
    path: Path | str,
    *,
    dir_fd: int | None = None,
    limit: int = FILE_LIMIT,
    dev: int | None = None,
) -> bytes | None:
    """The bytes of a regular file, never through a link; None when nothing is there.

    Opened with ``O_NOFOLLOW | O_NONBLOCK`` (a FIFO never blocks the open) and checked with
    ``fstat`` before anything is read; at most ``limit + 1`` bytes are ever read.

    Args:
        path: the file, or its name in the folder ``dir_fd``.
        dir_fd: a folder descriptor ``path`` is relative to.
        limit: the most bytes the file may hold.
        dev: when given, the device the file must be on.

    Raises:
        NotAFileError: a link, not a regular file, on another device, or over ``limit``.
        OSError: it cannot be read.
    """
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
    try:
        fd = os.open(path, flags, dir_fd=dir_fd)
    except FileNotFoundError:
        return None
    except OSError as err:
        if err.errno == errno.ELOOP:
            msg = "is a symbolic link; tfgen never follows links"
            raise NotAFileError(msg) from err
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            msg = "is not a regular file"
            raise NotAFileError(msg)
        if dev is not None and info.st_dev != dev:
            msg = "is on another filesystem"
            raise NotAFileError(msg)
        chunks: list[bytes] = []
        size = 0
        while size <= limit and (chunk := os.read(fd, min(1 << 16, limit + 1 - size))):
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            msg = f"is larger than {limit} bytes, more than tfgen reads back"
            raise NotAFileError(msg)
        return b"".join(chunks)
    finally:
        os.close(fd)


def refuse_link(directory: Path, display: str) -> None:
    """out/<env> must be a real folder (or absent), never a link.

    Raises:
        OutputError: a link, not a folder, or unreadable.
    """
    try:
        info = directory.lstat()
    except FileNotFoundError:
        return
    except OSError as err:
        msg = f"cannot read the output folder: {err.strerror or err}"
        raise OutputError.at(msg, path=display) from err
    if stat.S_ISLNK(info.st_mode):
        msg = "is a symbolic link; tfgen never reads or writes through links"
        raise OutputError.at(msg, path=display)
    if not stat.S_ISDIR(info.st_mode):
        msg = "exists and is not a directory"
        raise OutputError.at(msg, path=display)


def scan_folder(directory: Path, display: str) -> dict[str, int] | None:
    """Entry name -> ``st_mode`` of a folder, through a descriptor that follows no link.

    Returns:
        None when the folder does not exist.

    Raises:
        OutputError: a link, not a folder, or unreadable.
    """
    try:
        fd = os.open(directory, DIR_FLAGS)
    except FileNotFoundError:
        return None
    except OSError as err:
        why = (
            "is a symbolic link or not a folder"
            if err.errno in (errno.ELOOP, errno.ENOTDIR)
            else None
        )
        msg = why or f"cannot read the output folder: {err.strerror or err}"
        raise OutputError.at(msg, path=display) from err
    try:
        with os.scandir(fd) as found:
            return {e.name: e.stat(follow_symlinks=False).st_mode for e in found}
    finally:
        os.close(fd)


def write_new(path: Path, data: bytes) -> None:
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


def replace_file(path: Path, data: bytes) -> None:
    """Write ``path`` whole or not at all: a new file beside it, fsynced, renamed over it.

    The folder must be a real folder (never a link); the temporary file is created
    without following links and never over an existing one.

    Raises:
        OSError: the folder is a link or cannot be written.
    """
    folder = path.parent
    info = folder.lstat()
    if not stat.S_ISDIR(info.st_mode):
        raise NotADirectoryError(errno.ENOTDIR, "not a folder (or a link)", str(folder))
    temporary = folder / f"{RESERVED_PREFIX}-{path.name}.{os.getpid()}.tmp"
    write_new(temporary, data)
    try:
        temporary.replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
