"""The tfgen command line: parse arguments, call the pipeline once, map errors to exit codes."""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from generator import __version__
from generator.errors import EXIT_INPUT, TfgenError

F = TypeVar("F", bound=Callable[..., Any])

EXIT_CODES_HELP = """\b
Exit codes:
  0  success
  1  input error: YAML syntax, schema, missing variable, unknown
     environment, template error, unsafe output folder
  2  usage error (bad command line)
  3  rendered output failed verification; nothing was written
  4  drift: out/ differs from a fresh render (tfgen check)
"""


def project_option(func: F) -> F:
    """``--project-dir``: where environments/ and templates/ live."""
    return click.option(
        "--project-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=Path(),
        show_default="current directory",
        help="Project root holding environments/ and templates/.",
    )(func)


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


@click.group(epilog=EXIT_CODES_HELP, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="tfgen")
@click.option("--debug", is_flag=True, help="Show the traceback of an error.")
def cli(debug: bool) -> None:
    """Render environments/<env>.yaml into verified, plain Terraform under out/<env>/."""


@cli.command(epilog=EXIT_CODES_HELP)
@click.argument("environments", nargs=-1, required=True)
@project_option
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Output root (default: <project-dir>/out).",
)
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a value by dotted key, after all files (repeatable).",
)
@click.option("--force", is_flag=True, help="Overwrite generated files edited by hand.")
@click.pass_context
def render(
    ctx: click.Context,
    environments: Sequence[str],
    project_dir: Path,
    out_dir: Path | None,
    sets: Sequence[str],
    force: bool,
) -> None:
    """Render, verify and write ENVIRONMENTS into <out>/<env>/."""
    from generator.config import Override
    from generator.pipeline import generate

    def action() -> None:
        overrides = [Override.parse(s) for s in sets]
        results = generate(
            project_dir=project_dir,
            environments=environments,
            out_dir=out_dir,
            overrides=overrides,
            force=force,
        )
        for result in results:
            written = result.written
            changed = len(written.written) + len(written.removed) if written else 0
            state = f"{changed} file(s) changed" if changed else "up to date"
            click.echo(f"{result.rendered.display}: {state}", err=True)

    _run(ctx, action)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``tfgen`` console script."""
    cli.main(args=list(argv) if argv is not None else sys.argv[1:], prog_name="tfgen")
