"""Drift: compare a fresh in-memory render with what is in out/<env>/ (tfgen check and diff)."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from generator.errors import DriftError, Problem, TfgenError, merge_errors
from generator.pipeline import Rendered, RunOptions, render_selection
from generator.writer import MANIFEST, read_manifest, recover_output

_NO_NEWLINE = "\\ No newline at end of file\n"
_DEV_NULL = "/dev/null"


class FileState(Enum):
    """How one generated file on disk differs from a fresh render."""

    CHANGED = "differs from a fresh render (edited by hand, or rendered from older input)"
    MISSING = "is missing: it has not been rendered yet"
    EXTRA = "was generated earlier but is no longer rendered; render would remove it"
    SYMLINK = "is a symbolic link; tfgen never writes through links"


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
            drift_is_error: True for ``check`` (drift exits 4), False for ``diff``.

        Returns:
            One error (the highest exit code wins), or None when the run succeeded.
        """
        errors = list(self.errors)
        if drift_is_error:
            errors.extend(
                DriftError(
                    *(Problem(f.state.value, path=f.display) for f in env.files),
                    Problem(f"run: tfgen render {env.name}", path=env.display),
                )
                for env in self.environments
                if env.files
            )
        return merge_errors(errors)


def compare_output(rendered: Rendered) -> EnvironmentDrift:
    """Compare one rendered set with the files tfgen owns in its output folder.

    tfgen owns the files it renders now and those its manifest says it wrote last
    time; everything else (``.terraform/``, the lock file, files a user added) is
    ignored.

    Args:
        rendered: the environment, rendered and verified in memory.

    Returns:
        The files that differ, each with a unified diff from disk to the render.

    Raises:
        OutputError: the manifest in the folder is unreadable or not tfgen's, or an
            interrupted write cannot be recovered.
    """
    directory = rendered.out_dir
    # Finish or undo a write that was killed half-way first, as every render does.
    recover_output(directory, display=rendered.display)
    owned = set(rendered.files)
    owned.update(n for n in read_manifest(directory, display=rendered.display) if _plain_name(n))
    drifted: list[FileDrift] = []
    for name in sorted(owned):
        display = f"{rendered.display}/{name}"
        path = directory / name
        expected = rendered.files.get(name)
        if path.is_symlink():
            drifted.append(FileDrift(name, display, FileState.SYMLINK, ""))
            continue
        data = _read_bytes(path)
        if data is not None and expected is not None and data == expected.encode("utf-8"):
            continue
        if data is None and expected is None:
            continue  # listed in the manifest, already gone, and no longer rendered
        # Bytes that are not UTF-8 are shown replaced; the comparison above is exact.
        actual = data.decode("utf-8", errors="replace") if data is not None else None
        if expected is None:
            state = FileState.EXTRA
        elif actual is None:
            state = FileState.MISSING
        else:
            state = FileState.CHANGED
        drifted.append(FileDrift(name, display, state, unified_diff(actual, expected, display)))
    return EnvironmentDrift(rendered.name, rendered.display, tuple(drifted))


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
            compared.append(compare_output(rendered))
        except TfgenError as err:
            errors.append(err)
    return DriftReport(environments=tuple(compared), errors=tuple(errors))


def _plain_name(name: str) -> bool:
    """A manifest entry tfgen could have written: a plain file name, never its own files."""
    return (
        name not in ("", ".", "..", MANIFEST)
        and "/" not in name
        and "\\" not in name
        and not name.startswith(".terraform")
    )


def _read_bytes(path: Path) -> bytes | None:
    """The bytes of a file, or None when there is no file there."""
    try:
        return path.read_bytes()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None
