"""``tfgen init``: write a minimal project (environments/ and a stack) into an empty folder.

The files are package data under ``generator/data/init/``, copied byte for byte but for the
project name (``myproject``), which becomes the folder's (:func:`project_name`). A file
whose package name is ``gitignore`` is written as ``.gitignore`` (a leading dot would hide
it from the wheel's package-data globs). Nothing is ever overwritten: the target must not
exist or be an empty folder, is never a symbolic link, and every file is created with
``O_EXCL | O_NOFOLLOW``. A failure part way removes what this call created.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from generator.errors import OutputError

DATA_PACKAGE = "generator"
DATA_DIR = ("data", "init")
# Package-data names that are written under another name.
RENAMED = {"gitignore": ".gitignore"}
_FILE_MODE = 0o644
_DIR_MODE = 0o755


@dataclass(frozen=True)
class InitResult:
    """What ``init_project`` wrote: the folder and its files, relative and sorted."""

    directory: Path
    files: tuple[str, ...]


# The starter's project name, replaced by the folder's (see project_name).
_PLACEHOLDER = b"myproject"
_PROJECT_MAX = 20


def _starter_files(root: Traversable) -> list[tuple[str, bytes]]:
    """Every file under ``root`` as (relative POSIX path, bytes), sorted by path."""
    found: list[tuple[str, bytes]] = []
    pending: list[tuple[str, Traversable]] = [("", root)]
    while pending:
        prefix, node = pending.pop()
        for child in node.iterdir():
            name = RENAMED.get(child.name, child.name)
            if name == "__pycache__":
                continue
            relative = f"{prefix}{name}"
            if child.is_dir():
                pending.append((relative + "/", child))
            else:
                found.append((relative, child.read_bytes()))
    return sorted(found)


def _check_target(directory: Path) -> bool:
    """Refuse a link, a non-folder or a non-empty folder; True when the folder exists.

    Raises:
        OutputError: ``directory`` cannot receive a new project.
    """
    try:
        info = directory.lstat()
    except FileNotFoundError:
        return False
    except OSError as err:
        msg = f"cannot read it: {err.strerror}"
        raise OutputError.at(msg, path=str(directory)) from err
    if stat.S_ISLNK(info.st_mode):
        msg = "is a symbolic link; tfgen init never follows one (give the real folder)"
        raise OutputError.at(msg, path=str(directory))
    if not stat.S_ISDIR(info.st_mode):
        msg = "exists and is not a folder"
        raise OutputError.at(msg, path=str(directory))
    try:
        entries = sorted(entry.name for entry in directory.iterdir())
    except OSError as err:
        msg = f"cannot list it: {err.strerror}"
        raise OutputError.at(msg, path=str(directory)) from err
    if entries:
        shown = ", ".join(entries[:3]) + (", ..." if len(entries) > 3 else "")
        msg = (
            f"is not empty ({shown}); tfgen init writes only into a new or empty folder "
            "and overwrites nothing"
        )
        raise OutputError.at(msg, path=str(directory))
    return True


def _write_new(path: Path, data: bytes) -> None:
    """Create ``path`` with ``data``; fail if anything (a link included) is already there."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags, _FILE_MODE)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def project_name(folder: str) -> str:
    """The project name a folder gives: lowercase letters, digits and hyphens, 1 to 20.

    ``My Site`` gives ``my-site``; a name with nothing usable gives ``myproject``.
    """
    name = re.sub(r"[^a-z0-9]+", "-", folder.lower())
    name = re.sub(r"^[^a-z]+", "", name)[:_PROJECT_MAX].strip("-")
    return name or _PLACEHOLDER.decode()


def init_project(directory: Path) -> InitResult:
    """Write the starter project into ``directory`` (created when missing), named after it.

    Args:
        directory: a folder that does not exist yet, or an empty one; its parent is
            created when missing.

    Returns:
        The folder and the files written into it.

    Raises:
        OutputError: ``directory`` is a symbolic link, not a folder, not empty, or a file
            cannot be written (then nothing this call created is left behind).
    """
    files = _starter_files(resources.files(DATA_PACKAGE).joinpath(*DATA_DIR))
    project = project_name(directory.resolve().name).encode()
    files = [(rel, data.replace(_PLACEHOLDER, project)) for rel, data in files]
    existed = _check_target(directory)
    created: list[Path] = []
    try:
        if not existed:
            # Missing parents too, each recorded so a failure removes them again.
            missing = [directory]
            while not missing[-1].parent.exists() and missing[-1].parent != missing[-1]:
                missing.append(missing[-1].parent)
            for folder in reversed(missing):
                folder.mkdir(mode=_DIR_MODE)
                created.append(folder)
        folders: set[Path] = set()
        for relative, data in files:
            target = directory
            # The folder was empty: every subfolder is new, and mkdir fails on anything
            # that appeared meanwhile (a link included) instead of following it.
            for part in relative.split("/")[:-1]:
                target = target / part
                if target not in folders:
                    target.mkdir(mode=_DIR_MODE)
                    folders.add(target)
                    created.append(target)
            path = directory / relative
            _write_new(path, data)
            created.append(path)
    except OSError as err:
        _remove(created)
        where = err.filename if isinstance(err.filename, str) else str(directory)
        msg = f"cannot write it: {err.strerror or err}"
        raise OutputError.at(msg, path=where) from err
    return InitResult(directory=directory, files=tuple(relative for relative, _ in files))


def _remove(created: list[Path]) -> None:
    """Undo a partial init: remove what was created, newest first; never raise."""
    for path in reversed(created):
        try:
            if path.is_dir() and not path.is_symlink():
                path.rmdir()
            else:
                path.unlink()
        except OSError:
            continue
