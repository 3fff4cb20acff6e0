"""The tfgen command line: parse arguments, call the core once, map errors to exit codes.

Core modules are imported inside the commands, so ``tfgen --help`` and shell completion
never load Jinja, the HCL parser or the schema validator.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from generator import __version__
from generator.cli.console import (
    Outcome,
    echo_bootstrap,
    echo_diff,
    echo_outcomes,
    echo_problems,
    echo_report,
    failed_text,
    progress_line,
)
from generator.cli.options import (
    EXIT_MEANINGS,
    all_option,
    check_output_root,
    check_selection,
    component_option,
    debug_of,
    environments_argument,
    epilog,
    global_options,
    jobs_option,
    out_option,
    project_dir_of,
    set_option,
    suffix_option,
)
from generator.errors import EXIT_INPUT, TfgenError, traceback_text

if TYPE_CHECKING:
    from generator.pipeline import EnvironmentResult, ProgressFn, RunOptions

EXIT_CODES_HELP = epilog(list(EXIT_MEANINGS))
_RENDER_STATES = ("written", "up to date", "failed")
_VALIDATE_STATES = ("valid", "failed")
_CHECK_STATES = ("up to date", "drifted", "failed")


# --------------------------------------------------------------------------- running


def _run(ctx: click.Context, action: Callable[[], None]) -> None:
    """Run ``action``; a TfgenError prints its lines on stderr and exits with its code."""
    try:
        action()
    except TfgenError as err:
        if debug_of(ctx):
            import traceback

            traceback.print_exc()
        echo_problems(err.problems)
        ctx.exit(err.exit_code)
    except OSError as err:  # a filesystem failure outside the core's own checks
        if debug_of(ctx):
            import traceback

            traceback.print_exc()
        click.echo(f"error: {err}", err=True)
        ctx.exit(EXIT_INPUT)


def _run_options(
    ctx: click.Context,
    *,
    environments: Sequence[str] = (),
    all_environments: bool = False,
    out_dir: Path | None = None,
    sets: Sequence[str] = (),
    suffix: str | None = None,
    jobs: int | None = None,
    force: bool = False,
    write: bool = True,
    progress: ProgressFn | None = None,
    components: Sequence[str] = (),
) -> RunOptions:
    """The core's options object from a command's parameters (``--set`` parsed here)."""
    from generator.inputs.environment import Override
    from generator.pipeline import RunOptions

    return RunOptions(
        project_dir=project_dir_of(ctx),
        environments=tuple(environments),
        all_environments=all_environments,
        out_dir=out_dir,
        overrides=tuple(Override.parse(s) for s in sets),
        suffix=suffix,
        workers=jobs,
        force=force,
        write=write,
        progress=progress,
        components=tuple(components),
    )


def _exit_after_report(
    ctx: click.Context,
    lines: Sequence[Outcome],
    states: Sequence[str],
    failed: Sequence[EnvironmentResult],
    *,
    components: bool = False,
) -> None:
    """Print a run's report (see :func:`echo_report`); exit with its highest failure code."""
    code = echo_report(
        lines,
        states,
        [(r.error.problems, r.error.exit_code, r.trace) for r in failed if r.error is not None],
        debug=debug_of(ctx),
        noun="root modules" if components else "environments",
    )
    if code is not None:
        ctx.exit(code)


# --------------------------------------------------------------------------- commands


@click.group(
    epilog=EXIT_CODES_HELP,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(__version__, prog_name="tfgen")
@global_options
def cli() -> None:
    """Render environments/<env>.yaml into verified, plain Terraform under out/<env>/.

    --project-dir, --debug and --no-cache may be given before or after the command name.
    """


@cli.command(
    short_help="Render, verify and write environments into out/<env>/.",
    epilog=epilog(
        [0, 1, 2, 3],
        "tfgen render dev",
        "tfgen render --all --jobs 4",
        "tfgen render dev --suffix pr5706 --set service.desired_count=1",
    ),
)
@environments_argument(required=False)
@all_option
@global_options
@out_option
@set_option
@suffix_option
@jobs_option
@component_option
@click.option("--force", is_flag=True, help="Overwrite generated files edited by hand.")
@click.pass_context
def render(
    ctx: click.Context,
    environments: Sequence[str],
    all_environments: bool,
    out_dir: Path | None,
    sets: Sequence[str],
    suffix: str | None,
    jobs: int | None,
    components: Sequence[str],
    force: bool,
) -> None:
    """Render, verify and write ENVIRONMENTS (or --all) into <out>/<env>/.

    Every environment is rendered and verified before any is written; one that fails
    does not stop the others. Each environment gets one line on stderr, and a run of
    several ends with a summary.
    """
    check_selection(environments, all_environments)
    check_output_root(ctx, out_dir)
    from generator.pipeline import generate

    def action() -> None:
        with progress_line() as progress:
            options = _run_options(
                ctx,
                environments=environments,
                all_environments=all_environments,
                out_dir=out_dir,
                sets=sets,
                suffix=suffix,
                jobs=jobs,
                force=force,
                progress=progress,
                components=components,
            )
            report = generate(options)
        lines: list[Outcome] = []
        for result in report.results:
            if result.error is not None:
                text = failed_text(result.error.problems)
                lines.append(Outcome(result.display, "failed", text))
                continue
            written = result.written
            changed = len(written.written) + len(written.removed) if written else 0
            if changed:
                lines.append(Outcome(result.display, "written", f"{changed} file(s) changed"))
            else:
                lines.append(Outcome(result.display, "up to date", "up to date"))
        nested = any(r.component for r in report.results)
        _exit_after_report(ctx, lines, _RENDER_STATES, report.failed, components=nested)

    _run(ctx, action)


@cli.command(
    short_help="Load, render and verify environments like render, but write nothing.",
    epilog=epilog(
        [0, 1, 2, 3],
        "tfgen validate --all",
        "tfgen validate prod staging --set service.desired_count=4",
    ),
)
@environments_argument(required=False)
@all_option
@global_options
@out_option
@set_option
@suffix_option
@jobs_option
@component_option
@click.pass_context
def validate(
    ctx: click.Context,
    environments: Sequence[str],
    all_environments: bool,
    out_dir: Path | None,
    sets: Sequence[str],
    suffix: str | None,
    jobs: int | None,
    components: Sequence[str],
) -> None:
    """Load, render and verify ENVIRONMENTS (or --all) like render, but write nothing."""
    check_selection(environments, all_environments)
    check_output_root(ctx, out_dir)
    from generator.pipeline import generate

    def action() -> None:
        with progress_line() as progress:
            options = _run_options(
                ctx,
                environments=environments,
                all_environments=all_environments,
                out_dir=out_dir,
                sets=sets,
                suffix=suffix,
                jobs=jobs,
                write=False,
                progress=progress,
                components=components,
            )
            report = generate(options)
        lines: list[Outcome] = []
        for result in report.results:
            shown = result.name if result.component is None else f"{result.name}/{result.component}"
            if result.error is not None:
                lines.append(Outcome(shown, "failed", failed_text(result.error.problems)))
            elif result.rendered is not None:
                count = len(result.rendered.files)
                lines.append(Outcome(shown, "valid", f"valid ({count} files verified)"))
        nested = any(r.component for r in report.results)
        _exit_after_report(ctx, lines, _VALIDATE_STATES, report.failed, components=nested)

    _run(ctx, action)


@cli.command(
    short_help="Exit 4 with a diff when out/<env>/ differs from a fresh render.",
    epilog=epilog([0, 1, 2, 3, 4], "tfgen check --all", "tfgen check prod staging"),
)
@environments_argument(required=False)
@all_option
@global_options
@out_option
@set_option
@suffix_option
@jobs_option
@component_option
@click.pass_context
def check(
    ctx: click.Context,
    environments: Sequence[str],
    all_environments: bool,
    out_dir: Path | None,
    sets: Sequence[str],
    suffix: str | None,
    jobs: int | None,
    components: Sequence[str],
) -> None:
    """Exit 4 with a diff when <out>/<env>/ differs from a fresh render of ENVIRONMENTS.

    Compares the files tfgen generates, and owns every *.tf, *.tf.json, *.tfvars and
    *.tfvars.json: one tfgen did not write is drift too. .terraform/, the lock file,
    state files and other files are ignored. Nothing is written.
    """
    check_selection(environments, all_environments)
    check_output_root(ctx, out_dir)
    from generator.commands.check import check_output

    def action() -> None:
        with progress_line() as progress:
            options = _run_options(
                ctx,
                environments=environments,
                all_environments=all_environments,
                out_dir=out_dir,
                sets=sets,
                suffix=suffix,
                jobs=jobs,
                progress=progress,
                components=components,
            )
            report = check_output(options)
        echo_diff(report.diff)
        lines = [
            Outcome(env.display, "drifted", f"{len(env.files)} file(s) differ")
            if env.files
            else Outcome(env.display, "up to date", "up to date")
            for env in report.environments
        ]
        # Environments that could not be rendered are named by their error lines.
        echo_outcomes(lines, _CHECK_STATES, failed=len(report.errors))
        failure = report.failure(drift_is_error=True)
        if failure is not None:
            raise failure

    _run(ctx, action)


@cli.command(
    short_help="Show what render would change in out/<env>/, as a unified diff.",
    epilog=epilog(
        {
            0: "success (with --exit-code: no differences)",
            1: "with --exit-code: there are differences; or an input error, as render",
            2: EXIT_MEANINGS[2],
            3: EXIT_MEANINGS[3],
        },
        "tfgen diff dev",
        "tfgen diff --all --exit-code",
    ),
)
@environments_argument(required=False)
@all_option
@global_options
@out_option
@set_option
@suffix_option
@component_option
@click.option(
    "--exit-code",
    is_flag=True,
    help="Exit 1 when there are differences and 0 when there are none, as git diff does.",
)
@click.pass_context
def diff(
    ctx: click.Context,
    environments: Sequence[str],
    all_environments: bool,
    out_dir: Path | None,
    sets: Sequence[str],
    suffix: str | None,
    components: Sequence[str],
    exit_code: bool,
) -> None:
    """Show what render would change in <out>/<env>/ of ENVIRONMENTS (or --all), as a diff."""
    check_selection(environments, all_environments)
    check_output_root(ctx, out_dir)
    from generator.commands.check import check_output

    def action() -> None:
        options = _run_options(
            ctx,
            environments=environments,
            all_environments=all_environments,
            out_dir=out_dir,
            sets=sets,
            suffix=suffix,
            components=components,
        )
        report = check_output(options)
        echo_diff(report.diff)
        failure = report.failure(drift_is_error=False)
        if failure is not None:
            raise failure
        if exit_code and report.diff:
            ctx.exit(1)

    _run(ctx, action)


@cli.command(
    "list",
    short_help="List every environment: name, region, state bucket and key.",
    epilog=epilog([0, 1, 2], "tfgen list", "tfgen list --json", "tfgen list --graph"),
)
@global_options
@click.option(
    "--json", "as_json", is_flag=True, help="A JSON array of objects, usable as a CI matrix."
)
@click.option("--graph", is_flag=True, help="The components' graph as Graphviz DOT and Mermaid.")
@click.pass_context
def list_command(
    ctx: click.Context,
    as_json: bool,
    graph: bool,
) -> None:
    """List every environment: name, region, state bucket and key.

    A variable that is not set shows its reference, such as ${env:NAME}. With
    components, --json adds each environment's components, edges and apply waves.
    """
    if as_json and graph:
        msg = "give --json or --graph, not both"
        raise click.UsageError(msg)
    from generator.commands.list import (
        graph_text,
        list_summaries,
        load_graph,
        summaries_json,
        summaries_table,
    )

    def action() -> None:
        components = load_graph(project_dir_of(ctx)) if as_json or graph else None
        if graph:
            if components is None:
                msg = "the stack declares no components: there is no graph to draw"
                raise click.UsageError(msg)
            click.echo(graph_text(components[1]), nl=False)
            return
        summaries = list_summaries(project_dir_of(ctx))
        text = summaries_json(summaries, components) if as_json else summaries_table(summaries)
        click.echo(text, nl=False)

    _run(ctx, action)


@cli.command(
    short_help="Print the JSON Schema of environment files (for editors and CI).",
    epilog=epilog([0, 1, 2], "tfgen schema > .tfgen-schema.json"),
)
@global_options
@click.pass_context
def schema(ctx: click.Context) -> None:
    """Print the JSON Schema of environment files (for editors and CI)."""
    from generator.commands.schema import schema_text
    from generator.project import load_project

    _run(ctx, lambda: click.echo(schema_text(load_project(project_dir_of(ctx)).stack), nl=False))


@cli.command(
    short_help="Render out/_bootstrap/<bucket>/: a module creating a state bucket.",
    epilog=epilog(
        [0, 1, 2, 3],
        "tfgen bootstrap --all",
        "TERRAFORM_STATE_BUCKET=acme-tfstate-prod tfgen bootstrap prod",
    ),
)
@environments_argument(required=False)
@all_option
@global_options
@out_option
@set_option
@click.option("--force", is_flag=True, help="Overwrite generated files edited by hand.")
@click.pass_context
def bootstrap(
    ctx: click.Context,
    environments: Sequence[str],
    all_environments: bool,
    out_dir: Path | None,
    sets: Sequence[str],
    force: bool,
) -> None:
    """Render <out>/_bootstrap/<bucket>/ for the state bucket of ENVIRONMENTS (or --all).

    One module (local state) per distinct state bucket, creating the bucket and its
    lock table; environments sharing a bucket share its module, which lists them.
    """
    check_selection(environments, all_environments)
    check_output_root(ctx, out_dir)
    from generator.commands.bootstrap import render_bootstrap

    def action() -> None:
        options = _run_options(
            ctx,
            environments=environments,
            all_environments=all_environments,
            out_dir=out_dir,
            sets=sets,
            force=force,
        )
        report = render_bootstrap(options)
        errors = [*report.errors, *(m.error for m in report.modules if m.error is not None)]
        failures = [(e.problems, e.exit_code, traceback_text(e)) for e in errors]
        code = echo_bootstrap(report, failures, asked=environments, debug=debug_of(ctx))
        if code is not None:
            ctx.exit(code)

    _run(ctx, action)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``tfgen`` console script."""
    cli.main(args=list(argv) if argv is not None else sys.argv[1:], prog_name="tfgen")


@cli.command(
    name="init",
    short_help="Write a minimal project into a new or empty folder.",
    epilog=epilog(
        {
            0: "success",
            1: "DIRECTORY is a symbolic link, a file or a folder that is not\n"
            "     empty, or cannot be written; nothing is overwritten",
            2: "usage error: bad command line",
        },
        "tfgen init myproject",
    ),
)
@click.argument("directory", type=click.Path(path_type=Path))
@global_options
@click.pass_context
def init_command(ctx: click.Context, directory: Path) -> None:
    """Write a minimal project into a new or empty DIRECTORY.

    environments/ (a shared layer and dev), templates/ (the terraform block, the provider,
    backend.hcl, one S3 bucket and the schema of the stack's keys) and a .gitignore.
    """
    from generator.commands.init import init_project

    def action() -> None:
        result = init_project(directory)
        for name in result.files:
            click.echo(f"{result.directory / name}", err=True)
        click.echo(
            f"next: edit {result.directory / 'environments' / '_defaults.yaml'} "
            f"(project, region, backend.bucket), then: "
            f"tfgen --project-dir {result.directory} render dev",
            err=True,
        )

    _run(ctx, action)
