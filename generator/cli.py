"""The tfgen command line: parse arguments, call the core once, map errors to exit codes.

Core modules are imported inside the commands, so ``tfgen --help`` and shell completion
never load Jinja, the HCL parser or the schema validator.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

import click

from generator import __version__
from generator.console import echo_diff, progress_line
from generator.errors import EXIT_INPUT, TfgenError
from generator.options import (
    all_option,
    check_selection,
    complete_environments,
    environments_argument,
    jobs_option,
    out_option,
    project_option,
    set_option,
    suffix_option,
)

EXIT_CODES_HELP = """\b
Exit codes:
  0  success
  1  input error: YAML syntax, schema, missing variable, unknown
     environment, template error, unsafe output folder, shared state key
  2  usage error (bad command line)
  3  rendered output failed verification; nothing was written
  4  drift: out/ differs from a fresh render (tfgen check)
"""


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
    check_selection(environments, all_environments)
    from generator.config import Override
    from generator.pipeline import generate

    def action() -> None:
        with progress_line() as progress:
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
    check_selection(environments, all_environments)
    from generator.config import Override
    from generator.pipeline import generate

    def action() -> None:
        with progress_line() as progress:
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
    check_selection(environments, all_environments)
    from generator.config import Override
    from generator.drift import check_output

    def action() -> None:
        with progress_line() as progress:
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
        echo_diff(report.diff)
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
        echo_diff(report.diff)
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
@project_option
@click.pass_context
def schema(ctx: click.Context, project_dir: Path) -> None:
    """Print the JSON Schema of environment files (for editors and CI)."""
    from generator.jsonschema_export import schema_text

    _run(ctx, lambda: click.echo(schema_text(project_dir), nl=False))


@cli.command(epilog=EXIT_CODES_HELP)
@click.argument("environment", shell_complete=complete_environments)
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
