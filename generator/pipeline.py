"""generate(): load -> validate -> render -> verify -> write, for one or more environments."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from generator.config import LoadedEnvironment, Override, load_environment
from generator.errors import TfgenError, merge_errors
from generator.render import TEMPLATES_DIR, render_environment
from generator.verify import verify_rendered
from generator.writer import WriteResult, write_output

OUT_DIR = "out"


@dataclass(frozen=True)
class Rendered:
    """One environment rendered and verified in memory, not yet written."""

    loaded: LoadedEnvironment
    files: dict[str, str]
    out_dir: Path
    display: str

    @property
    def name(self) -> str:
        """The environment's name (with its suffix, for an ephemeral environment)."""
        return self.loaded.config.name


@dataclass(frozen=True)
class EnvironmentResult:
    """What ``generate`` did for one environment."""

    rendered: Rendered
    written: WriteResult | None


def output_display(out_root: Path, project_dir: Path, name: str) -> str:
    """How an output folder is named in messages: relative to the project when inside it."""
    try:
        base = out_root.resolve().relative_to(project_dir.resolve()).as_posix()
    except ValueError:
        base = str(out_root)
    return f"{base}/{name}" if base not in ("", ".") else name


def render_verified(
    project_dir: Path,
    name: str,
    *,
    out_root: Path,
    overrides: Sequence[Override] = (),
    environ: Mapping[str, str] | None = None,
    suffix: str | None = None,
) -> Rendered:
    """Load, render and verify one environment in memory (nothing is written)."""
    loaded = load_environment(
        project_dir, name, overrides=overrides, environ=environ, suffix=suffix
    )
    files = render_environment(loaded.config, project_dir / TEMPLATES_DIR, source=loaded.source)
    display = output_display(out_root, project_dir, loaded.config.name)
    verify_rendered(files, loaded.config, out_prefix=display)
    return Rendered(
        loaded=loaded, files=files, out_dir=out_root / loaded.config.name, display=display
    )


def generate(
    *,
    project_dir: Path,
    environments: Sequence[str],
    out_dir: Path | None = None,
    overrides: Sequence[Override] = (),
    environ: Mapping[str, str] | None = None,
    suffix: str | None = None,
    write: bool = True,
    force: bool = False,
) -> list[EnvironmentResult]:
    """Render, verify and (unless ``write`` is False) write each environment.

    Every environment is rendered and verified before any is written; one that
    fails does not stop the others, and nothing is written for it.

    Args:
        project_dir: the project root (``environments/``, ``templates/``).
        environments: environment names to render.
        out_dir: the output root; ``<project_dir>/out`` when None.
        overrides: ``--set`` values applied to every environment.
        environ: variables for ``${env:...}``; ``os.environ`` when None.
        suffix: render ephemeral copies named ``<env>-<suffix>``.
        write: False renders and verifies only.
        force: overwrite generated files that were edited by hand.

    Returns:
        One result per environment that succeeded, in the order given.

    Raises:
        TfgenError: every failure, one problem per line; when several environments
            fail the exit code is the highest of theirs.
    """
    out_root = out_dir if out_dir is not None else project_dir / OUT_DIR
    rendered: list[Rendered] = []
    errors: list[TfgenError] = []
    for name in dict.fromkeys(environments):
        try:
            rendered.append(
                render_verified(
                    project_dir,
                    name,
                    out_root=out_root,
                    overrides=overrides,
                    environ=environ,
                    suffix=suffix,
                )
            )
        except TfgenError as err:
            errors.append(err)
    results: list[EnvironmentResult] = []
    for item in rendered:
        try:
            written = (
                write_output(item.out_dir, item.files, display=item.display, force=force)
                if write
                else None
            )
        except TfgenError as err:
            errors.append(err)
            continue
        results.append(EnvironmentResult(rendered=item, written=written))
    failure = merge_errors(errors)
    if failure is not None:
        raise failure
    return results
