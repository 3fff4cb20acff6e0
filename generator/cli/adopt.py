"""tfgen adopt and tfgen gate: take deployed state over, and refuse a plan that deletes."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from generator.cli.console import echo_adopt
from generator.cli.options import (
    EXIT_MEANINGS,
    USAGE_ONLY,
    complete_environments,
    epilog,
    global_options,
)
from generator.cli.runner import run, selection


@click.command(
    short_help="Take a deployed state over: write adopt/<env>.yaml (moved/import/removed).",
    epilog=epilog(
        {
            0: "success: adopt/<env>.yaml written",
            1: "input error: a bad state file, a tie between candidates, an import id\n"
            "     tfgen cannot build, or an environment that does not load; nothing written",
            2: EXIT_MEANINGS[2],
            3: EXIT_MEANINGS[3],
        },
        "terraform -chdir=old state pull > prod.tfstate && tfgen adopt prod --state prod.tfstate",
        "tfgen adopt prod --state prod.tfstate --import",
    ),
)
@click.argument("environment", shell_complete=complete_environments)
@click.option(
    "--state",
    "state_path",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="`terraform state pull` or `terraform show -json` output of the deployed state.",
)
@click.option(
    "--import",
    "imports",
    is_flag=True,
    help="The render has a state key of its own: import blocks (removed ones for the old root).",
)
@global_options
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
@click.pass_context
def adopt(
    ctx: click.Context, /, environment: str, state_path: Path, imports: bool, **params: Any
) -> None:
    """Match ENVIRONMENT's render against a deployed state; write adopt/<env>.yaml.

    Offline, no credentials. Same state key: moved blocks, and removed blocks (destroy =
    false) for objects nothing in the render claims. With --import: import blocks with
    each type's import id, and adopt/<env>.forget.tf for the old root. Every later render
    turns adopt/<env>.yaml into out/<env>/adopt.tf; prove it with tfgen gate.
    """
    params.update(environments=(environment,), all_environments=False)
    options = selection(ctx, params)
    from generator.commands.adopt import adopt as run_adopt

    def action() -> int | None:
        run_options = options()
        report = run_adopt(run_options, state_path, imports=imports)
        echo_adopt(report, run_options)
        return None

    run(ctx, action)


@click.command(
    short_help="Exit 3 when a saved plan deletes or replaces anything.",
    epilog=epilog(
        {
            0: "the plan deletes and replaces nothing (or only what --allow names)",
            1: "the file is not `terraform show -json PLANFILE` output",
            2: USAGE_ONLY,
            3: "the plan deletes or replaces an address; each is named with what forces it",
        },
        "terraform -chdir=out/prod plan -out=tf.plan && "
        "terraform -chdir=out/prod show -json tf.plan > plan.json && tfgen gate plan.json",
    ),
)
@click.argument("plan", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--allow",
    multiple=True,
    metavar="ADDRESS",
    help="An address that may be deleted or replaced (repeatable).",
)
@global_options
@click.pass_context
def gate(ctx: click.Context, /, plan: Path, allow: Sequence[str]) -> None:
    """Read PLAN (terraform show -json PLANFILE) and exit 3 if it deletes or replaces anything."""
    from generator.commands.adopt import check_plan

    def action() -> int | None:
        result = check_plan(plan, allow=frozenset(allow), base=Path.cwd())
        for deletion in result.deletions:  # only allowed ones are left here
            click.echo(f"allowed: {deletion}", err=True)
        click.echo(f"{plan}: passes ({result.changes} change(s), nothing deleted)", err=True)
        return None

    run(ctx, action)
