"""The tfgen command line: parse arguments, call the core once, map errors to exit codes.

Core modules are imported inside the commands, so ``tfgen --help`` and shell completion
never load Jinja, the HCL parser or pydantic.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, TypeVar

import click
from click.shell_completion import CompletionItem

from generator import __version__
from generator.errors import EXIT_INPUT, TfgenError

F = TypeVar("F", bound=Callable[..., Any])

EXIT_CODES_HELP = """\b
Exit codes:
  0  success
  1  input error: YAML syntax, schema, missing variable, unknown
     environment, template error, unsafe output folder, shared state key
  2  usage error (bad command line)
  3  rendered output failed verification; nothing was written
  4  drift: out/ differs from a fresh render (tfgen check)
"""
# Shown only when a run takes longer than this (seconds), and only on a terminal.
PROGRESS_DELAY = 0.5


# --------------------------------------------------------------------------- options


def project_option(func: F) -> F:
    """``--project-dir``: where environments/ and templates/ live."""
    return click.option(
        "--project-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=Path(),
        show_default="current directory",
        help="Project root holding environments/ and templates/.",
    )(func)


def _complete_environments(
    ctx: click.Context, _param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    # A plain glob, not config.list_environments: completion must stay instant.
    root = ctx.params.get("project_dir") or Path()
    folder = Path(root) / "environments"
    names = sorted(p.stem for p in folder.glob("*.yaml") if not p.name.startswith("_"))
    return [CompletionItem(n) for n in names if n.startswith(incomplete)]


def environments_argument(*, required: bool) -> Callable[[F], F]:
    """The ENVIRONMENTS argument, completed from environments/*.yaml."""
    return click.argument(
        "environments",
        nargs=-1,
        required=required,
        shell_complete=_complete_environments,
    )


def all_option(func: F) -> F:
    """``--all``: every environment of the project, in parallel."""
    return click.option(
        "--all",
        "all_environments",
        is_flag=True,
        help="Every environment in environments/ (not with ENVIRONMENTS).",
    )(func)


def out_option(func: F) -> F:
    """``--out``: the output root."""
    return click.option(
        "--out",
        "out_dir",
        type=click.Path(path_type=Path),
        default=None,
        help="Output root (default: <project-dir>/out).",
    )(func)


def set_option(func: F) -> F:
    """``--set KEY=VALUE`` (repeatable)."""
    return click.option(
        "--set",
        "sets",
        multiple=True,
        metavar="KEY=VALUE",
        help="Override a value by dotted key, after all files (repeatable).",
    )(func)


def suffix_option(func: F) -> F:
    """``--suffix``: an ephemeral copy of each environment, named ``<env>-<suffix>``."""
    return click.option(
        "--suffix",
        default=None,
        metavar="SUFFIX",
        help="Ephemeral copy named <env>-SUFFIX (own state key, own out/ folder), e.g. pr5706.",
    )(func)


def jobs_option(func: F) -> F:
    """``--jobs``: worker processes."""
    return click.option(
        "-j",
        "--jobs",
        type=click.IntRange(min=1),
        default=None,
        help="Worker processes (default: one per CPU core).",
    )(func)


def _selection(environments: Sequence[str], all_environments: bool) -> None:
    if environments and all_environments:
        msg = "give environment names or --all, not both"
        raise click.UsageError(msg)
    if not environments and not all_environments:
        msg = "name at least one environment, or use --all"
        raise click.UsageError(msg)


# --------------------------------------------------------------------------- running


def _run(ctx: click.Context, action: Callable[[], None]) -> None:
    """Run ``action``; a TfgenError prints its lines on stderr and exits with its code."""
    try:
        action()
    except TfgenError as err:
        if ctx.find_root().params.get("debug"):
            traceback.print_exc()
        for problem in err.problems:
            click.echo(f"error: {problem}", err=True)
        ctx.exit(err.exit_code)
    except OSError as err:  # a filesystem failure outside the core's own checks
        if ctx.find_root().params.get("debug"):
            traceback.print_exc()
        click.echo(f"error: {err}", err=True)
        ctx.exit(EXIT_INPUT)


class _Progress:
    """``[done/total] name`` on one terminal line, shown once a run takes a moment."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._start = time.monotonic()
        self._shown = False

    def __call__(self, done: int, total: int, name: str) -> None:
        if not self._shown and time.monotonic() - self._start < PROGRESS_DELAY:
            return
        self._shown = True
        self._stream.write(f"\r\x1b[K[{done}/{total}] {name}")
        self._stream.flush()

    def close(self) -> None:
        if self._shown:
            self._stream.write("\r\x1b[K")
            self._stream.flush()


@contextmanager
def _progress() -> Iterator[_Progress | None]:
    """A progress display on a terminal's stderr, cleared at the end; None elsewhere."""
    progress = _Progress(sys.stderr) if sys.stderr.isatty() else None
    try:
        yield progress
    finally:
        if progress is not None:
            progress.close()


def want_colour(stream: IO[str], environ: dict[str, str] | os._Environ[str]) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org)."""
    return stream.isatty() and not environ.get("NO_COLOR")


def colour_diff(text: str) -> str:
    """Style a unified diff: headers bold, hunks cyan, removals red, additions green."""
    styled: list[str] = []
    for line in text.splitlines(keepends=True):
        body, end = line.rstrip("\n"), line[len(line.rstrip("\n")) :]
        if line.startswith(("--- ", "+++ ")):
            styled.append(click.style(body, bold=True) + end)
        elif line.startswith("@@"):
            styled.append(click.style(body, fg="cyan") + end)
        elif line.startswith("-"):
            styled.append(click.style(body, fg="red") + end)
        elif line.startswith("+"):
            styled.append(click.style(body, fg="green") + end)
        else:
            styled.append(line)
    return "".join(styled)


def _echo_diff(text: str) -> None:
    if not text:
        return
    if want_colour(sys.stdout, os.environ):
        text = colour_diff(text)
    click.echo(text, nl=False, color=True)


# --------------------------------------------------------------------------- commands


@click.group(epilog=EXIT_CODES_HELP, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="tfgen")
@click.option("--debug", is_flag=True, help="Show the traceback of an error.")
def cli(debug: bool) -> None:
    """Render environments/<env>.yaml into verified, plain Terraform under out/<env>/."""


@cli.command(epilog=EXIT_CODES_HELP)
@environments_argument(required=False)
@all_option
@project_option
@out_option
@set_option
@suffix_option
@jobs_option
@click.option("--force", is_flag=True, help="Overwrite generated files edited by hand.")
@click.pass_context
def render(
    ctx: click.Context,
    environments: Sequence[str],
    all_environments: bool,
    project_dir: Path,
    out_dir: Path | None,
    sets: Sequence[str],
    suffix: str | None,
    jobs: int | None,
    force: bool,
) -> None:
    """Render, verify and write ENVIRONMENTS (or --all) into <out>/<env>/."""
    _selection(environments, all_environments)
    from generator.config import Override
    from generator.pipeline import generate

    def action() -> None:
        with _progress() as progress:
            results = generate(
                project_dir=project_dir,
                environments=environments,
                all_environments=all_environments,
                out_dir=out_dir,
                overrides=[Override.parse(s) for s in sets],
                suffix=suffix,
                force=force,
                workers=jobs,
                progress=progress,
            )
        for result in results:
            written = result.written
            changed = len(written.written) + len(written.removed) if written else 0
            state = f"{changed} file(s) changed" if changed else "up to date"
            click.echo(f"{result.rendered.display}: {state}", err=True)

    _run(ctx, action)


@cli.command(epilog=EXIT_CODES_HELP)
@environments_argument(required=False)
@all_option
@project_option
@out_option
@set_option
@suffix_option
@jobs_option
@click.pass_context
def validate(
    ctx: click.Context,
    environments: Sequence[str],
    all_environments: bool,
    project_dir: Path,
    out_dir: Path | None,
    sets: Sequence[str],
    suffix: str | None,
    jobs: int | None,
) -> None:
    """Load, render and verify ENVIRONMENTS (or --all) like render, but write nothing."""
    _selection(environments, all_environments)
    from generator.config import Override
    from generator.pipeline import generate

    def action() -> None:
        with _progress() as progress:
            results = generate(
                project_dir=project_dir,
                environments=environments,
                all_environments=all_environments,
                out_dir=out_dir,
                overrides=[Override.parse(s) for s in sets],
                suffix=suffix,
                write=False,
                workers=jobs,
                progress=progress,
            )
        for result in results:
            count = len(result.rendered.files)
            click.echo(f"{result.rendered.name}: valid ({count} files verified)", err=True)

    _run(ctx, action)


@cli.command(epilog=EXIT_CODES_HELP)
@environments_argument(required=False)
@all_option
@project_option
@out_option
@set_option
@suffix_option
@jobs_option
@click.pass_context
def check(
    ctx: click.Context,
    environments: Sequence[str],
    all_environments: bool,
    project_dir: Path,
    out_dir: Path | None,
    sets: Sequence[str],
    suffix: str | None,
    jobs: int | None,
) -> None:
    """Exit 4 with a diff when <out>/<env>/ differs from a fresh render of ENVIRONMENTS.

    Compares only the files tfgen generates; .terraform/, the lock file and other
    files are ignored. Nothing is written.
    """
    _selection(environments, all_environments)
    from generator.config import Override
    from generator.drift import check_output

    def action() -> None:
        with _progress() as progress:
            report = check_output(
                project_dir=project_dir,
                environments=environments,
                all_environments=all_environments,
                out_dir=out_dir,
                overrides=[Override.parse(s) for s in sets],
                suffix=suffix,
                workers=jobs,
                progress=progress,
            )
        _echo_diff(report.diff)
        for env in report.environments:
            state = f"{len(env.files)} file(s) differ" if env.files else "up to date"
            click.echo(f"{env.display}: {state}", err=True)
        failure = report.failure(drift_is_error=True)
        if failure is not None:
            raise failure

    _run(ctx, action)


@cli.command(epilog=EXIT_CODES_HELP)
@environments_argument(required=True)
@project_option
@out_option
@set_option
@suffix_option
@click.pass_context
def diff(
    ctx: click.Context,
    environments: Sequence[str],
    project_dir: Path,
    out_dir: Path | None,
    sets: Sequence[str],
    suffix: str | None,
) -> None:
    """Show what render would change in <out>/<env>/, as a unified diff (exit 0)."""
    from generator.config import Override
    from generator.drift import check_output

    def action() -> None:
        report = check_output(
            project_dir=project_dir,
            environments=environments,
            out_dir=out_dir,
            overrides=[Override.parse(s) for s in sets],
            suffix=suffix,
        )
        _echo_diff(report.diff)
        failure = report.failure(drift_is_error=False)
        if failure is not None:
            raise failure

    _run(ctx, action)


@cli.command("list", epilog=EXIT_CODES_HELP)
@project_option
@click.option(
    "--json", "as_json", is_flag=True, help="A JSON array of objects, usable as a CI matrix."
)
@click.pass_context
def list_command(ctx: click.Context, project_dir: Path, as_json: bool) -> None:
    """List every environment: name, region, state bucket and key.

    A variable that is not set shows its reference, such as ${env:NAME}.
    """
    from generator.listing import list_summaries, summaries_json, summaries_table

    def action() -> None:
        summaries = list_summaries(project_dir)
        click.echo(summaries_json(summaries) if as_json else summaries_table(summaries), nl=False)

    _run(ctx, action)


@cli.command(epilog=EXIT_CODES_HELP)
@click.pass_context
def schema(ctx: click.Context) -> None:
    """Print the JSON Schema of environment files (for editors and CI)."""
    from generator.jsonschema_export import schema_text

    _run(ctx, lambda: click.echo(schema_text(), nl=False))


@cli.command(epilog=EXIT_CODES_HELP)
@click.argument("environment", shell_complete=_complete_environments)
@project_option
@out_option
@set_option
@click.option("--force", is_flag=True, help="Overwrite generated files edited by hand.")
@click.pass_context
def bootstrap(
    ctx: click.Context,
    environment: str,
    project_dir: Path,
    out_dir: Path | None,
    sets: Sequence[str],
    force: bool,
) -> None:
    """Render <out>/_bootstrap/ENVIRONMENT/: a module (local state) creating its state bucket."""
    from generator.bootstrap import render_bootstrap
    from generator.config import Override

    def action() -> None:
        result = render_bootstrap(
            project_dir=project_dir,
            name=environment,
            out_dir=out_dir,
            overrides=[Override.parse(s) for s in sets],
            force=force,
        )
        written = result.written
        changed = len(written.written) + len(written.removed)
        state = f"{changed} file(s) changed" if changed else "up to date"
        click.echo(f"{result.display}: {state}", err=True)
        click.echo(
            f"next: terraform -chdir={result.display} init && "
            f"terraform -chdir={result.display} apply",
            err=True,
        )

    _run(ctx, action)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``tfgen`` console script."""
    cli.main(args=list(argv) if argv is not None else sys.argv[1:], prog_name="tfgen")
