"""Snapshots of output folders for tests that promise "nothing changed" or "old set or new set"."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from generator.output.safeio import MANIFEST
from generator.output.writer import read_manifest

# One entry of a snapshot: ("file", bytes, mtime_ns, inode), ("dir", inode), ("link", target),
# ("large", size, mtime_ns, inode) or ("special", kind, rdev, inode) (neither is opened).
Entry = tuple[object, ...]
# A regular file above this is recorded without being read (a sparse multi-GiB input).
LARGE = 1 << 20


def snapshot(root: Path) -> dict[str, Entry]:
    """Every entry under ``root`` (links not followed) with its bytes, mtime and inode.

    Two equal snapshots mean byte-identical trees in which no file was rewritten, even
    with the same bytes. Folders are compared by inode, not mtime: moving an entry out
    and back changes a folder's mtime but nothing a user sees. Nothing but a regular file
    of at most :data:`LARGE` bytes is ever opened: FIFOs, sockets and devices are recorded
    by kind and device number, larger files by size, mtime and inode.
    """
    found: dict[str, Entry] = {}
    if not os.path.lexists(root):
        return found
    for path in sorted([root, *root.rglob("*")]):
        rel = path.relative_to(root).as_posix()
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode):
            found[rel] = ("link", str(path.readlink()))
        elif stat.S_ISDIR(info.st_mode):
            found[rel] = ("dir", info.st_ino)
        elif not stat.S_ISREG(info.st_mode):
            found[rel] = ("special", stat.S_IFMT(info.st_mode), info.st_rdev, info.st_ino)
        elif info.st_size > LARGE:
            found[rel] = ("large", info.st_size, info.st_mtime_ns, info.st_ino)
        else:
            found[rel] = ("file", path.read_bytes(), info.st_mtime_ns, info.st_ino)
    return found


def contents(root: Path) -> dict[str, object]:
    """Like :func:`snapshot` but content only: file bytes, link targets, folder names."""
    return {
        rel: entry[1] if entry[0] == "file" else entry[0:2] if entry[0] == "link" else entry[0]
        for rel, entry in snapshot(root).items()
    }


def generated_set(directory: Path) -> dict[str, bytes]:
    """The generated files of an output folder: its manifest and every file it lists."""
    names = [*read_manifest(directory), MANIFEST]
    return {n: (directory / n).read_bytes() for n in names if (directory / n).is_file()}
