"""Write a verified, rendered set into out/<env>/: the whole new set or the old one, never mixed.

tfgen records what it wrote in ``out/<env>/.tfgen-manifest.json`` (one SHA-256 per file).
A render refuses to overwrite or remove a generated file edited by hand, or a file in the
way that tfgen did not write, unless ``--force``. Links are never followed or written through.
The folders of an environment with components are written by :func:`write_outputs`: all of
them are checked before any changes.

The new set is built in a staging folder beside ``out/<env>`` and swapped in with one
``renameat2(RENAME_EXCHANGE)``; :mod:`generator.output.atomic` has the mechanism. The guarantee,
for an exception, an ``OSError`` (``ENOSPC``...) or a SIGKILL at any point of a write:

- At every instant the generated files in ``out/<env>/`` (the manifest and the files it
  lists) are exactly the old set or exactly the new set. Stale files (listed by the old
  manifest, no longer rendered) disappear together with the old set.
- A file tfgen did not generate (``.terraform/``, ``.terraform.lock.hcl``, anything a user
  put there) is never opened for writing, truncated or deleted; non-folders are carried to
  the new folder as hard links and never leave ``out/<env>/``. A folder is moved into the
  staging folder just before the swap; a crash in that instant leaves it there, named in
  a journal, and the next write, or :func:`recover_output` (``tfgen check``), moves it
  back first. If the user recreated it in the meantime, both copies are kept and tfgen stops
  with an error that names them.
- An error before the swap is rolled back at once: nothing in ``out/<env>/`` differs, byte
  for byte. A failure while cleaning up after the swap is left for the next run to finish;
  the new set is already in place. When a write returns, files and folders are fsynced.

Where ``renameat2`` or ``RENAME_EXCHANGE`` is missing (not Linux, or a filesystem without it),
tfgen falls back to a journaled per-file replace: nothing changes before the journal is
written, but a crash after it can leave a mix of old and new files until the next write or
:func:`recover_output` rolls the journal forward.

Nothing read back from ``out/`` is trusted (it may come from a pull request): a manifest
or generated file over 16 MiB, a manifest nested deeper than 32 brackets or of any other
shape than tfgen's, a name in it that is not a plain file name (or is tfgen's or Terraform's
own, ``.tfgen*``, ``.terraform*``), a journal or staging folder that is a link, on another
filesystem, or does not record the staging folder's inode: each is an :class:`OutputError`
naming the path, and nothing is deleted. Recovery deletes only files whose SHA-256 is the
one recorded for them (see :mod:`generator.output.atomic`). A failed write never leaves anything
that blocks the next run: folder modes are applied once the folder is filled, and a
read-only leftover is made writable before it is emptied.

Limits: writes into one output root are serialised by an ``flock`` on it; a program writing
into ``out/<env>/`` during a render (a running ``terraform``) is not covered; after a swap,
``out/<env>/`` is a new folder, so a shell sitting in it must ``cd .`` to see the new files;
``out/<env>/`` must be on the same filesystem as ``out/``.
"""

from __future__ import annotations

import json
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generator.errors import DriftError, OutputError, Problem
from generator.output.atomic import OutputFolder, locked, prepare, recover, replace_generated
from generator.output.safeio import (
    FILE_LIMIT,
    MANIFEST,
    RESERVED_PREFIX,
    NotAFileError,
    is_sha256_hex,
    load_json,
    plain_name,
    read_regular,
    scan_folder,
    sha256_hex,
    sha256_text,
)


@dataclass(frozen=True)
class WriteResult:
    """What a write changed in one output folder."""

    directory: Path
    written: tuple[str, ...]
    removed: tuple[str, ...]
    unchanged: tuple[str, ...]


def manifest_text(files: Mapping[str, str]) -> str:
    """The manifest recorded beside a rendered set: one content hash per generated file."""
    body = {"generator": "tfgen", "files": {n: sha256_text(t) for n, t in sorted(files.items())}}
    return json.dumps(body, indent=2, sort_keys=True) + "\n"


def read_manifest(directory: Path, *, display: str | None = None) -> dict[str, str]:
    """The files tfgen wrote last time into ``directory``, with their SHA-256.

    Args:
        directory: the output folder, ``out/<env>``.
        display: how the folder is named in messages (default: the path).

    Returns:
        File name -> hex SHA-256; empty when there is no manifest.

    Raises:
        OutputError: the manifest is a link or not a file, over
            :data:`generator.output.atomic.FILE_LIMIT` bytes, cannot be read, nested deeper than
            :data:`generator.output.atomic.JSON_DEPTH_LIMIT`, or not exactly tfgen's format with
            plain file names (then only ``render --force`` rewrites the folder).
    """
    where = f"{display or directory}/{MANIFEST}"
    try:
        raw = read_regular(directory / MANIFEST, limit=FILE_LIMIT)
    except NotAFileError as err:
        raise OutputError.at(str(err), path=where) from err
    except OSError as err:
        msg = f"cannot read the manifest: {err.strerror or err}"
        raise OutputError.at(msg, path=where) from err
    if raw is None:
        return {}
    try:
        data = load_json(raw)
    except ValueError as err:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        msg = (
            f"the manifest is not valid JSON ({err}); re-run render with --force to rewrite "
            "the folder"
        )
        raise OutputError.at(msg, path=where) from err
    files = data.get("files") if isinstance(data, dict) else None
    if (
        not isinstance(data, dict)
        or set(data) != {"generator", "files"}
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
    txn = OutputFolder(directory, display)
    if not txn.root.is_dir() or txn.root.is_symlink():
        return
    try:
        with locked(txn):
            recover(txn)
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
    (result,) = write_outputs([OutputSet(directory, files, display)], force=force)
    return result


@dataclass(frozen=True)
class OutputSet:
    """One output folder to write: ``out/<env>`` or ``out/<env>/<component>``."""

    directory: Path
    files: Mapping[str, str]
    display: str


def write_outputs(sets: Sequence[OutputSet], *, force: bool = False) -> list[WriteResult]:
    """Write several output folders of one output root: every one is checked before any.

    The components of an environment are written together: a folder that cannot be
    written safely (a link, a hand edit, a file tfgen did not write) fails the call before
    any folder changes. Each folder is then replaced as :func:`write_output` does; a crash
    between two folders leaves each of them old or new.

    Raises:
        OutputError: a folder cannot be written safely (its error, the others' untouched);
            a DriftError for foreign Terraform files.
    """
    txns = [OutputFolder(s.directory, s.display) for s in sets]
    if len({t.root for t in txns}) > 1:
        msg = "folders of one write must share their output root"
        raise ValueError(msg)
    for item, txn in zip(sets, txns, strict=True):
        _check_names(item.files, item.display)
        prepare(txn)
    current = txns[0]  # the folder an OSError is about
    try:
        with locked(current):
            for txn in txns:
                current = txn
                recover(txn)
            plans: list[_Plan] = []
            for item, txn in zip(sets, txns, strict=True):
                current = txn
                plans.append(_plan(txn, item.files, force=force))
            results: list[WriteResult] = []
            for txn, plan in zip(txns, plans, strict=True):
                current = txn
                results.append(_apply(txn, plan))
            return results
    except OSError as err:
        raise current.error(err) from err


# --------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class _Plan:
    """What a write of one folder will do, decided (and checked) before anything changes."""

    entries: dict[str, int] | None
    encoded: dict[str, bytes]
    replaced: dict[str, str]
    changed: tuple[str, ...]
    stale: tuple[str, ...]
    unchanged: tuple[str, ...]
    needed: bool


def _plan(txn: OutputFolder, files: Mapping[str, str], *, force: bool) -> _Plan:
    target = txn.target
    entries = scan_folder(target, txn.display)
    previous = _previous_manifest(txn, force=force)
    present = entries or {}
    disk = _read_disk(
        txn, [n for n in {*files, *previous, MANIFEST} if n in present and stat.S_ISREG(present[n])]
    )
    _check_entries(txn, entries, previous, files, disk, force=force)
    if not force:  # --force after a broken manifest cannot tell foreign from generated
        _refuse_foreign(txn, present, previous, files)
    new_manifest = manifest_text(files)
    generated = {**files, MANIFEST: new_manifest}
    encoded = {n: t.encode("utf-8") for n, t in generated.items()}
    stale = tuple(sorted(n for n in previous if n not in files and n in disk))
    changed = tuple(sorted(n for n in files if disk.get(n) != encoded[n]))
    unchanged = tuple(n for n in sorted(files) if n not in changed)
    needed = bool(changed or stale or disk.get(MANIFEST) != encoded[MANIFEST])
    # Regular files that the new set replaces or that are stale go away with the old set;
    # everything else is carried over.
    replaced = {
        n: sha256_hex(data) for n in (*generated, *stale) if (data := disk.get(n)) is not None
    }
    return _Plan(entries, encoded, replaced, changed, stale, unchanged, needed)


def _apply(txn: OutputFolder, plan: _Plan) -> WriteResult:
    if not plan.needed:
        return WriteResult(txn.target, (), (), plan.unchanged)
    replace_generated(
        txn,
        plan.encoded,
        entries=plan.entries,
        replaced=plan.replaced,
        changed=[*plan.changed, MANIFEST],
        stale=list(plan.stale),
    )
    return WriteResult(txn.target, plan.changed, plan.stale, plan.unchanged)


# What Terraform reads from out/<env>: check calls any such file tfgen did not write drift.
TERRAFORM_SUFFIXES = (".tf", ".tf.json", ".tfvars", ".tfvars.json")
FOREIGN = (
    f"is Terraform that tfgen did not write (it is not in {MANIFEST} and not rendered "
    "now); move it into templates/ or delete it"
)


def terraform_file(name: str, mode: int) -> bool:
    """A file Terraform would read from the folder (it ignores dotfiles, ``#x#`` and ``x~``)."""
    if stat.S_ISDIR(mode) or name.startswith(".") or name.endswith("~"):
        return False
    if name.startswith("#") and name.endswith("#"):
        return False
    return name.endswith(TERRAFORM_SUFFIXES)


def _refuse_foreign(
    txn: OutputFolder, present: Mapping[str, int], previous: Mapping[str, str], files: Any
) -> None:
    """Refuse, as drift (exit 4), Terraform in out/<env> that tfgen neither wrote nor renders.

    ``check`` calls such a file drift; a render that left it and said "up to date" would
    disagree, and Terraform would read it with the rendered files.
    """
    foreign = sorted(
        n for n, mode in present.items() if terraform_file(n, mode) and n not in {*files, *previous}
    )
    if foreign:
        raise DriftError(*(Problem(FOREIGN, path=f"{txn.display}/{n}") for n in foreign))


def _read_disk(txn: OutputFolder, names: list[str]) -> dict[str, bytes | None]:
    """The bytes of the regular files at ``names`` in out/<env> (bounded, never via a link)."""
    disk: dict[str, bytes | None] = {}
    problems: list[Problem] = []
    for name in names:
        try:
            disk[name] = read_regular(txn.target / name, limit=FILE_LIMIT)
        except NotAFileError as err:
            problems.append(Problem(f"{err}; move it away", f"{txn.display}/{name}"))
    if problems:
        raise OutputError(*problems)
    return disk


def _check_names(files: Mapping[str, str], display: str) -> None:
    bad = [n for n in files if not plain_name(n)]
    if bad:
        msg = (
            f"refusing to write {', '.join(map(repr, sorted(bad)))}: a generated file has a "
            f"plain name that does not start with {RESERVED_PREFIX!r} or '.terraform'"
        )
        raise OutputError.at(msg, path=display)


def _valid_entry(name: Any, digest: Any) -> bool:
    return plain_name(name) and is_sha256_hex(digest)


def _previous_manifest(txn: OutputFolder, *, force: bool) -> dict[str, str]:
    try:
        return read_manifest(txn.target, display=txn.display)
    except OutputError:
        if force:
            return {}
        raise


def _check_entries(
    txn: OutputFolder,
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
        elif sha256_hex(data) != previous[name]:
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
