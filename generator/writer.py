"""Write a verified, rendered set into out/<env>/ without ever leaving a half-updated folder."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from generator.errors import OutputError, Problem

MANIFEST = ".tfgen-manifest.json"
STAGING_PREFIX = ".tfgen-staging-"


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


def read_manifest(directory: Path) -> dict[str, str]:
    """The files tfgen wrote last time into ``directory`` and their hashes (empty if none)."""
    path = directory / MANIFEST
    if path.is_symlink() or not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, dict):
        return {}
    return {k: v for k, v in files.items() if isinstance(k, str) and isinstance(v, str)}


def manifest_text(files: Mapping[str, str]) -> str:
    """The manifest recorded beside a rendered set: one content hash per generated file."""
    body = {"generator": "tfgen", "files": {n: sha256(t) for n, t in sorted(files.items())}}
    return json.dumps(body, indent=2, sort_keys=True) + "\n"


def write_output(
    directory: Path, files: Mapping[str, str], *, display: str, force: bool = False
) -> WriteResult:
    """Replace the generated files in ``directory`` with ``files``.

    Files tfgen did not generate (``.terraform/``, the lock file, anything else) are
    never touched. A generated file edited by hand since the last render is not
    overwritten unless ``force``.

    Args:
        directory: the output folder, ``out/<env>``.
        files: output file name -> text, already verified.
        display: how the folder is named in messages.
        force: overwrite generated files that were edited by hand.

    Returns:
        What was written, removed and left unchanged.

    Raises:
        OutputError: the folder cannot be written safely.
    """
    _check_target(directory, display)
    directory.mkdir(parents=True, exist_ok=True)
    previous = read_manifest(directory)
    _check_hand_edits(directory, previous, files, display, force=force)
    current = {n: _read(directory / n) for n in files}
    stale = sorted(n for n in previous if n not in files and (directory / n).is_file())
    changed = sorted(n for n, t in files.items() if current[n] != t)
    new_manifest = manifest_text(files)
    if not changed and not stale and _read(directory / MANIFEST) == new_manifest:
        return WriteResult(directory, (), (), tuple(sorted(files)))
    staging = directory / f"{STAGING_PREFIX}{os.getpid()}"
    try:
        staging.mkdir()
        for name in [*changed, MANIFEST]:
            _write_synced(staging / name, new_manifest if name == MANIFEST else files[name])
        for name in [*changed, MANIFEST]:
            (staging / name).replace(directory / name)
        for name in stale:
            (directory / name).unlink(missing_ok=True)
        _fsync_dir(directory)
    except OSError as err:
        msg = f"cannot write output: {err.strerror or err}"
        raise OutputError.at(msg, path=display) from err
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    unchanged = tuple(n for n in sorted(files) if n not in changed)
    return WriteResult(directory, tuple(changed), tuple(stale), unchanged)


def _check_target(directory: Path, display: str) -> None:
    for parent in [directory, *directory.parents][:2]:
        if parent.is_symlink():
            msg = "is a symbolic link; tfgen does not write through links"
            raise OutputError.at(msg, path=display if parent == directory else str(parent))
    if directory.exists() and not directory.is_dir():
        msg = "exists and is not a directory"
        raise OutputError.at(msg, path=display)
    if directory.parent.exists() and not directory.parent.is_dir():
        msg = "exists and is not a directory"
        raise OutputError.at(msg, path=str(directory.parent))


def _check_hand_edits(
    directory: Path,
    previous: Mapping[str, str],
    files: Mapping[str, str],
    display: str,
    *,
    force: bool,
) -> None:
    problems: list[Problem] = []
    for name in sorted(files):
        target = directory / name
        if target.is_symlink():
            problems.append(
                Problem(
                    "is a symbolic link; tfgen never writes through links", path=f"{display}/{name}"
                )
            )
            continue
        if force or name not in previous or not target.is_file():
            continue
        on_disk = _read(target)
        if on_disk is not None and sha256(on_disk) != previous[name] and on_disk != files[name]:
            problems.append(
                Problem(
                    "was edited by hand since tfgen wrote it; move the change into the "
                    "environment files or templates, or re-run with --force to overwrite it",
                    path=f"{display}/{name}",
                )
            )
    if problems:
        raise OutputError(*problems)


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _write_synced(path: Path, text: str) -> None:
    with path.open("w", encoding="utf-8", newline="\n") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
