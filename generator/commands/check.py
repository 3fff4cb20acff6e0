"""Drift: compare a fresh in-memory render with what is in out/<env>/ (tfgen check and diff).

``out/<env>/`` is read as strictly as render writes it: through a folder descriptor opened
without following links; a link at a generated name, or a FIFO, device, socket or folder in
place of a generated file, is an error (exit 1) and is never opened; every file is read
with a bound (:data:`generator.output.atomic.FILE_LIMIT` bytes).

check owns the whole Terraform surface of the folder: a ``*.tf``, ``*.tf.json``,
``*.tfvars`` or ``*.tfvars.json`` that tfgen did not write is drift too. ``.terraform/``,
the lock file, state files and other files are ignored.
"""

from __future__ import annotations

import dataclasses
import difflib
import shlex
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from generator.errors import DriftError, OutputError, Problem, TfgenError, merge_errors
from generator.output.safeio import (
    FILE_LIMIT,
    MANIFEST,
    NotAFileError,
    plain_name,
    read_regular,
    refuse_link,
    scan_folder,
    sha256_hex,
)
from generator.output.writer import FOREIGN as FOREIGN_TERRAFORM
from generator.output.writer import read_manifest, recover_output, terraform_file
from generator.pipeline import Rendered, RunOptions, render_selection, render_words

_NO_NEWLINE = "\\ No newline at end of file\n"
_DEV_NULL = "/dev/null"
# The files Terraform reads from a folder (override files end the same way).


class FileState(Enum):
    """How one generated file on disk differs from a fresh render."""

    EDITED = (
        "differs from a fresh render: edited by hand (its SHA-256 is not the one tfgen wrote); "
        "move the change into the environment files or templates/"
    )
    STALE = (
        "differs from a fresh render: stale (it is what tfgen wrote, but the input changed since)"
    )
    MISSING = "is missing: it has not been rendered yet"
    EXTRA = "was generated earlier but is no longer rendered; render would remove it"
    UNTRACKED = (
        f"differs from a fresh render, and tfgen did not write it (it is not in {MANIFEST}); "
        "move it away, or render with --force to replace it"
    )
    FOREIGN = FOREIGN_TERRAFORM  # render refuses the same files with the same words
    SUPERSEDED = (
        "belongs to the one root module an earlier render wrote here, before the stack had "
        "components (render leaves it: it still holds that state's configuration); move its "
        "resources into the components (tfgen adopt --import), retire it with the forget "
        "file, then delete it"
    )


# Drift that render does not undo: the message of each says what does.
_NOT_RENDERS_TO_FIX = (FileState.FOREIGN, FileState.SUPERSEDED)


@dataclass(frozen=True)
class FileDrift:
    """One generated file that a render would change."""

    name: str
    display: str
    state: FileState
    diff: str


@dataclass(frozen=True)
class EnvironmentDrift:
    """One checked environment and the generated files that differ (empty when in sync)."""

    name: str
    display: str
    files: tuple[FileDrift, ...]
    rerun: str = ""  # the render command that brings it in sync, as it can be run from here
    component: str | None = None  # the component, for a stack with components


@dataclass(frozen=True)
class DriftReport:
    """Every environment checked, and the errors of those that could not be rendered."""

    environments: tuple[EnvironmentDrift, ...]
    errors: tuple[TfgenError, ...]

    @property
    def diff(self) -> str:
        """The unified diff of every drifted file, environments in order."""
        return "".join(f.diff for env in self.environments for f in env.files)

    def failure(self, *, drift_is_error: bool) -> TfgenError | None:
        """The error the run ends with: render failures, plus drift when it counts as one.

        Args:
            drift_is_error: True for ``check`` (drift exits 4), False for ``diff`` (only
                Terraform tfgen did not write exits 4, as render refuses it).

        Returns:
            One error, or None when the run succeeded. Its exit code is the highest of
            the environments that could not be rendered (1 or 3) if there are any, else
            4 for drift.
        """
        drift = [
            DriftError(
                *(Problem(f.state.value, path=f.display) for f in env.files),
                # A file tfgen did not write stays after a render: its message has the fix.
                *(
                    [Problem(f"run: {env.rerun or 'tfgen render ' + env.name}", path=env.display)]
                    if any(f.state not in _NOT_RENDERS_TO_FIX for f in env.files)
                    else []
                ),
            )
            for env in self.environments
            if env.files and drift_is_error
        ]
        if not drift_is_error:
            # diff shows what render would do, and render refuses Terraform it did not write
            # (exit 4): that file has no diff to show, so its error says so.
            foreign = [
                Problem(f.state.value, path=f.display)
                for env in self.environments
                for f in env.files
                if f.state is FileState.FOREIGN
            ]
            drift = [DriftError(*foreign)] if foreign else []
        failure = merge_errors([*self.errors, *drift])
        if failure is not None and self.errors and drift:
            # An environment that cannot be rendered outranks drift: CI must never read a
            # broken input as "only drift".
            failure.exit_code = max(e.exit_code for e in self.errors)
        return failure


def compare_output(rendered: Rendered) -> EnvironmentDrift:
    """Compare one rendered set with the Terraform surface of its output folder.

    tfgen owns the files it renders now and those its manifest says it wrote last
    time; any other ``*.tf``, ``*.tf.json``, ``*.tfvars`` or ``*.tfvars.json`` is drift
    as well (:attr:`FileState.FOREIGN`). Everything else (``.terraform/``, the lock file,
    state files, files a user added) is ignored.

    Args:
        rendered: the environment, rendered and verified in memory.

    Returns:
        The files that differ, each with a unified diff from disk to the render.

    Raises:
        OutputError: out/<env> or a generated name is a link, something other than a
            regular file is in place of a generated file, a file is over the read bound,
            the manifest is unreadable or not tfgen's, or an interrupted write cannot be
            recovered.
    """
    directory, shown = rendered.out_dir, rendered.display
    refuse_link(directory, shown)
    # Finish or undo a write that was killed half-way first, as every render does.
    recover_output(directory, display=shown)
    entries = scan_folder(directory, shown)
    if entries is None:
        entries = {}
    manifest = read_manifest(directory, display=shown) if entries else {}
    problems: list[Problem] = []
    drifted: list[FileDrift] = []
    owned = {*rendered.files, *(n for n in manifest if plain_name(n))}
    for name in sorted(owned):
        display = f"{shown}/{name}"
        expected = rendered.files.get(name)
        mode = entries.get(name)
        if mode is not None and not stat.S_ISREG(mode):
            if expected is not None:
                problems.append(Problem(_in_the_way(mode), display))
            continue  # a name no longer rendered is the user's now (render carries it over)
        data = None if mode is None else _read(directory, name, display, problems)
        if data is not None and expected is not None and data == expected.encode("utf-8"):
            continue
        if data is None and expected is None:
            continue  # listed in the manifest, already gone, and no longer rendered
        # Bytes that are not UTF-8 are shown replaced; the comparison above is exact.
        actual = data.decode("utf-8", errors="replace") if data is not None else None
        state = _state(name, data, expected, manifest)
        drifted.append(FileDrift(name, display, state, unified_diff(actual, expected, display)))
    drifted.extend(
        FileDrift(name, f"{shown}/{name}", FileState.FOREIGN, "")
        for name in sorted(entries)
        if name not in owned and name != MANIFEST and terraform_file(name, entries[name])
    )
    if problems:
        raise OutputError(*problems)
    drifted.sort(key=lambda f: f.name)
    return EnvironmentDrift(rendered.name, shown, tuple(drifted), component=rendered.component)


def _state(
    name: str, data: bytes | None, expected: str | None, manifest: Mapping[str, str]
) -> FileState:
    """Which kind of drift one differing file is, from the manifest's hash of it."""
    if expected is None:
        return FileState.EXTRA
    if data is None:
        return FileState.MISSING
    recorded = manifest.get(name)
    if recorded is None:
        return FileState.UNTRACKED
    return FileState.STALE if sha256_hex(data) == recorded else FileState.EDITED


def _in_the_way(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "is a symbolic link; tfgen never reads or writes through links; remove it"
    kinds = {
        stat.S_ISDIR: "a folder",
        stat.S_ISFIFO: "a FIFO",
        stat.S_ISCHR: "a character device",
        stat.S_ISBLK: "a block device",
        stat.S_ISSOCK: "a socket",
    }
    kind = next((k for test, k in kinds.items() if test(mode)), "not a regular file")
    return f"is in the way of a generated file ({kind}, not opened); move it away"


def _read(directory: Path, name: str, display: str, problems: list[Problem]) -> bytes | None:
    """The bytes of one generated file, bounded and never through a link (None: not there)."""
    try:
        return read_regular(directory / name, limit=FILE_LIMIT)
    except NotAFileError as err:
        problems.append(Problem(f"{err}; move it away", display))
    except OSError as err:
        problems.append(Problem(f"cannot read it: {err.strerror or err}", display))
    return None


def unified_diff(before: str | None, after: str | None, display: str) -> str:
    """A git-style unified diff of one file; None on either side means the file is absent."""
    old = (before or "").splitlines(keepends=True)
    new = (after or "").splitlines(keepends=True)
    lines = difflib.unified_diff(
        old,
        new,
        fromfile=f"a/{display}" if before is not None else _DEV_NULL,
        tofile=f"b/{display}" if after is not None else _DEV_NULL,
    )
    return "".join(line if line.endswith("\n") else f"{line}\n{_NO_NEWLINE}" for line in lines)


def render_command(options: RunOptions, name: str) -> str:
    """The ``tfgen render`` that writes this environment, runnable from the current folder.

    The environment's own name (without the suffix), then ``--suffix``, ``--set``,
    ``--project-dir`` and ``--out`` as this run had them.
    """
    suffix = options.suffix
    base = name.removesuffix(f"-{suffix}") if suffix else name
    words = ["tfgen", "render", *render_words(base, suffix, options.overrides)]
    if Path(options.project_dir).resolve() != Path.cwd().resolve():
        words += ["--project-dir", str(options.project_dir)]
    if options.out_dir is not None:
        words += ["--out", str(options.out_dir)]
    return shlex.join(words)


def check_output(options: RunOptions) -> DriftReport:
    """Render environments in memory (fully verified) and compare them with ``out/``.

    Args:
        options: the environments to check and how (``force`` and ``write`` are not
            read: nothing is written).

    Returns:
        The drift of every environment that rendered, and the errors of the others
        (including environments that share a state key).

    Raises:
        ConfigError: the selection itself is wrong (``--all`` found nothing, bad suffix).
    """
    run = render_selection(options)
    compared: list[EnvironmentDrift] = []
    errors = list(run.errors)
    for rendered in run.rendered:
        try:
            drift = compare_output(rendered)
            compared.append(dataclasses.replace(drift, rerun=render_command(options, drift.name)))
        except TfgenError as err:
            errors.append(err)
    for folder, shown in _environment_folders(run.rendered).items():
        try:
            superseded = superseded_root(folder, shown)
        except TfgenError as err:
            errors.append(err)
            continue
        if superseded is not None:
            compared.append(superseded)
    return DriftReport(environments=tuple(compared), errors=tuple(errors))


def _environment_folders(rendered: Iterable[Rendered]) -> dict[Path, str]:
    """``out/<env>`` of each environment rendered as components, and how messages name it."""
    return {
        unit.out_dir.parent: unit.display.rpartition("/")[0]
        for unit in rendered
        if unit.component is not None
    }


def superseded_roots(rendered: Iterable[Rendered]) -> list[EnvironmentDrift]:
    """The one-root renders left beside the components of ``rendered``, for render's warning.

    Best effort: a folder or manifest tfgen cannot trust is left to ``check``, which
    reports it as an error.
    """
    found: list[EnvironmentDrift] = []
    for folder, shown in _environment_folders(rendered).items():
        try:
            superseded = superseded_root(folder, shown)
        except TfgenError:
            continue
        if superseded is not None:
            found.append(superseded)
    return found


def superseded_root(folder: Path, shown: str) -> EnvironmentDrift | None:
    """The files of a one-root render left in ``out/<env>`` after the stack got components.

    Raises:
        OutputError: the folder or its manifest is a link or not tfgen's.
    """
    refuse_link(folder, shown)
    manifest = read_manifest(folder, display=shown)
    present = [n for n in sorted(manifest) if plain_name(n) and (folder / n).is_file()]
    if not present:
        return None
    files = tuple(FileDrift(n, f"{shown}/{n}", FileState.SUPERSEDED, "") for n in present)
    return EnvironmentDrift(folder.name, shown, files)
