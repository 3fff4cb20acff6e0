"""The tfgen command line: parse arguments, call the core once, map errors to exit codes.

Core modules are imported inside the commands, so ``tfgen --help`` and shell completion
never load Jinja, the HCL parser or the schema validator.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from generator import __version__
from generator.cli.adopt import adopt, gate
from generator.cli.console import (
    Outcome,
    echo_bootstrap,
    echo_diff,
    echo_outcomes,
    echo_superseded,
    failed_text,
    path_from_here,
    progress_line,
)
from generator.cli.options import (
    EXIT_MEANINGS,
    FOREIGN_MEANING,
    READ_ONLY_CODES,
    debug_of,
    epilog,
    force_option,
    global_options,
    project_dir_of,
    run_options,
)
from generator.cli.runner import report_code, run, selection
from generator.errors import traceback_text

if TYPE_CHECKING:
    from generator.pipeline import Report

EXIT_CODES_HELP = epilog(list(EXIT_MEANINGS))
_RENDER_STATES = ("written", "up to date", "failed")
_VALIDATE_STATES = ("valid", "failed")
_CHECK_STATES = ("up to date", "drifted", "failed")


def _nested(report: Report) -> bool:
    """Whether a run's results are components (its summary counts root modules)."""
    return any(r.component for r in report.results)


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
        {**{c: EXIT_MEANINGS[c] for c in (0, 1, 2, 3)}, 4: FOREIGN_MEANING},
        "tfgen render dev",
        "tfgen render --all --jobs 4",
        "tfgen render dev --suffix pr5706 --set service.desired_count=1",
    ),
)
@run_options(components=True)
@force_option
@click.pass_context
def render(ctx: click.Context, /, force: bool, **params: Any) -> None:
    """Render, verify and write ENVIRONMENTS (or --all) into <out>/<env>/.

    Every environment is rendered and verified before any is written; one that fails
    does not stop the others. Each environment gets one line on stderr, and a run of
    several ends with a summary.
    """
    options = selection(ctx, params, force=force)
    from generator.pipeline import generate

    def action() -> int | None:
        with progress_line() as progress:
            report = generate(options(progress))
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
        if _nested(report):
            from generator.commands.check import superseded_roots

            echo_superseded(superseded_roots(report.rendered))
        return report_code(ctx, lines, _RENDER_STATES, report.failed, components=_nested(report))

    run(ctx, action)


@cli.command(
    short_help="Load, render and verify environments like render, but write nothing.",
    epilog=epilog(
        [0, 1, 2, 3],
        "tfgen validate --all",
        "tfgen validate prod staging --set service.desired_count=4",
    ),
)
@run_options(components=True)
@click.pass_context
def validate(ctx: click.Context, /, **params: Any) -> None:
    """Load, render and verify ENVIRONMENTS (or --all) like render, but write nothing."""
    options = selection(ctx, params, write=False)
    from generator.pipeline import generate

    def action() -> int | None:
        with progress_line() as progress:
            report = generate(options(progress))
        lines: list[Outcome] = []
        for result in report.results:
            shown = result.name if result.component is None else f"{result.name}/{result.component}"
            if result.error is not None:
                lines.append(Outcome(shown, "failed", failed_text(result.error.problems)))
            elif result.rendered is not None:
                count = len(result.rendered.files)
                lines.append(Outcome(shown, "valid", f"valid ({count} files verified)"))
        return report_code(ctx, lines, _VALIDATE_STATES, report.failed, components=_nested(report))

    run(ctx, action)


@cli.command(
    short_help="Exit 4 with a diff when out/<env>/ differs from a fresh render.",
    epilog=epilog([0, 1, 2, 3, 4], "tfgen check --all", "tfgen check prod staging"),
)
@run_options(components=True)
@click.pass_context
def check(ctx: click.Context, /, **params: Any) -> None:
    """Exit 4 with a diff when <out>/<env>/ differs from a fresh render of ENVIRONMENTS.

    Compares the files tfgen generates, and owns every *.tf, *.tf.json, *.tfvars and
    *.tfvars.json: one tfgen did not write is drift too. .terraform/, the lock file,
    state files and other files are ignored. Nothing is written.
    """
    options = selection(ctx, params)
    from generator.commands.check import check_output

    def action() -> int | None:
        with progress_line() as progress:
            report = check_output(options(progress))
        echo_diff(report.diff)
        lines = [
            Outcome(env.display, "drifted", f"{len(env.files)} file(s) differ")
            if env.files
            else Outcome(env.display, "up to date", "up to date")
            for env in report.environments
        ]
        # Environments that could not be rendered are named by their error lines.
        nested = any(env.component for env in report.environments)
        noun = "root modules" if nested else "environments"
        echo_outcomes(lines, _CHECK_STATES, failed=len(report.errors), noun=noun)
        failure = report.failure(drift_is_error=True)
        if failure is not None:
            raise failure
        return None

    run(ctx, action)


@cli.command(
    short_help="Show what render would change in out/<env>/, as a unified diff.",
    epilog=epilog(
        {
            0: "success (with --exit-code: no differences)",
            1: "with --exit-code: there are differences; or an input error, as render",
            2: EXIT_MEANINGS[2],
            3: EXIT_MEANINGS[3],
            4: "out/<env>/ holds Terraform tfgen did not write: render would refuse it",
        },
        "tfgen diff dev",
        "tfgen diff --all --exit-code",
    ),
)
@run_options(jobs=False, components=True)
@click.option(
    "--exit-code",
    is_flag=True,
    help="Exit 1 when there are differences and 0 when there are none, as git diff does.",
)
@click.pass_context
def diff(ctx: click.Context, /, exit_code: bool, **params: Any) -> None:
    """Show what render would change in <out>/<env>/ of ENVIRONMENTS (or --all), as a diff."""
    options = selection(ctx, params)
    from generator.commands.check import check_output

    def action() -> int | None:
        report = check_output(options())
        echo_diff(report.diff)
        failure = report.failure(drift_is_error=False)
        if failure is not None:
            raise failure
        return 1 if exit_code and report.diff else None

    run(ctx, action)


@cli.command(
    "list",
    short_help="List every environment: name, region, state bucket and key.",
    epilog=epilog(READ_ONLY_CODES, "tfgen list", "tfgen list --json", "tfgen list --graph"),
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

    run(ctx, action)


@cli.command(
    short_help="Print the JSON Schema of environment files (for editors and CI).",
    epilog=epilog(READ_ONLY_CODES, "tfgen schema > .tfgen-schema.json"),
)
@global_options
@click.pass_context
def schema(ctx: click.Context) -> None:
    """Print the JSON Schema of environment files (for editors and CI)."""
    from generator.commands.schema import schema_text
    from generator.project import load_project

    run(ctx, lambda: click.echo(schema_text(load_project(project_dir_of(ctx)).stack), nl=False))


@cli.command(
    short_help="Render out/_bootstrap/<bucket>/: a module creating a state bucket.",
    epilog=epilog(
        [0, 1, 2, 3],
        "tfgen bootstrap --all",
        "TERRAFORM_STATE_BUCKET=acme-tfstate-prod tfgen bootstrap prod",
    ),
)
@run_options(suffix=False, jobs=False)
@force_option
@click.pass_context
def bootstrap(ctx: click.Context, /, force: bool, **params: Any) -> None:
    """Render <out>/_bootstrap/<bucket>/ for the state bucket of ENVIRONMENTS (or --all).

    One module (local state) per distinct state bucket, creating the bucket and its
    lock table; environments sharing a bucket share its module, which lists them.
    """
    options = selection(ctx, params, force=force)
    from generator.commands.bootstrap import render_bootstrap

    def action() -> int | None:
        report = render_bootstrap(options())
        errors = [*report.errors, *(m.error for m in report.modules if m.error is not None)]
        failures = [(e.problems, e.exit_code, traceback_text(e)) for e in errors]
        asked = tuple(params["environments"])
        return echo_bootstrap(report, failures, asked=asked, debug=debug_of(ctx))

    run(ctx, action)


cli.add_command(adopt)
cli.add_command(gate)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``tfgen`` console script (its memory bounded, see ``memory_ceiling``)."""
    from generator.cli.limits import memory_ceiling

    with memory_ceiling():
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
            f"tfgen --project-dir {shlex.quote(path_from_here(result.directory))} render dev",
            err=True,
        )

    run(ctx, action)
