"""Read one YAML file safely: strict UTF-8, no duplicate keys, bounded aliases, key line numbers."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from generator.errors import ConfigError, TfgenError
from generator.inputs.yamldoc import MAX_FILE_BYTES, YamlDoc


def load_yaml_file(file: Path, display: str) -> YamlDoc:
    """Load ``file`` as a YAML mapping.

    Args:
        file: the file to read.
        display: how the file is named in errors (relative to the project).

    Returns:
        The mapping and a map from each dotted key path to its 1-based line.

    Raises:
        ConfigError: unreadable, not UTF-8, not YAML, not a mapping, duplicate keys,
            non-string keys or an alias expansion over the limit.
    """
    return parse_yaml_bytes(read_bounded(file, MAX_FILE_BYTES, display), display)


def parse_yaml_bytes(raw: bytes, display: str) -> YamlDoc:
    """Decode (strict UTF-8) and parse the bytes of a YAML file (see :func:`load_yaml_file`)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        msg = f"not valid UTF-8 (byte 0x{raw[err.start]:02x})"
        raise ConfigError.at(msg, path=display, line=line) from err
    return parse_yaml(text, display)


def read_bounded(
    path: Path, limit: int, display: str, *, error: type[TfgenError] = ConfigError
) -> bytes:
    """Read a regular file of at most ``limit`` bytes, reading no more than ``limit + 1``.

    The file is opened without blocking (a FIFO planted in its place cannot hang the
    run) and refused unless it is a regular file; its size is checked from ``fstat``
    before anything is read, so a file of several GiB costs nothing, and a file that
    grows while it is read is caught by the one byte read past the limit.

    Args:
        path: the file to read (a symbolic link to a regular file is followed).
        limit: the largest size accepted, in bytes.
        display: how the file is named in errors (relative to the project).
        error: the TfgenError subclass raised (ConfigError unless the caller says).

    Returns:
        The file's bytes.

    Raises:
        TfgenError: ``error``, when the file cannot be opened, is not a regular file
            (a folder, FIFO, device or socket) or is larger than ``limit``.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as err:
        msg = f"cannot read file: {err.strerror}"
        raise error.at(msg, path=display) from err
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            msg = f"not a regular file ({_file_kind(info.st_mode)}); refusing to read it"
            raise error.at(msg, path=display)
        if info.st_size > limit:
            msg = f"file is larger than {limit} bytes ({info.st_size} bytes); refusing to read it"
            raise error.at(msg, path=display)
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, limit + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as err:
        msg = f"cannot read file: {err.strerror}"
        raise error.at(msg, path=display) from err
    finally:
        os.close(fd)
    if size > limit:
        msg = f"file is larger than {limit} bytes (it grew while being read)"
        raise error.at(msg, path=display)
    return b"".join(chunks)


def _file_kind(mode: int) -> str:
    kinds = (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    )
    return next((name for test, name in kinds if test(mode)), "not a regular file")


def parse_yaml(text: str, display: str) -> YamlDoc:
    """Parse YAML text into a :class:`YamlDoc` (see :func:`load_yaml_file`).

    PyYAML loads here, on the first parse: a run whose files all come from the cache of
    parsed files (:mod:`generator.inputs.environment`) never imports it.
    """
    from generator.inputs.yamlparse import parse_yaml_text

    return parse_yaml_text(text, display)
