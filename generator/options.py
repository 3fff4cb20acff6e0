"""Shared click options and arguments of the tfgen commands, declared once."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click
from click.shell_completion import CompletionItem

F = TypeVar("F", bound=Callable[..., Any])


def project_option(func: F) -> F:
    """``--project-dir``: where environments/ and templates/ live."""
    return click.option(
        "--project-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=Path(),
        show_default="current directory",
        help="Project root holding environments/ and templates/.",
    )(func)


def complete_environments(
    ctx: click.Context, _param: click.Parameter | None, incomplete: str
) -> list[CompletionItem]:
    """Environment names from ``<project-dir>/environments/`` for shell completion."""
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
        shell_complete=complete_environments,
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


def check_selection(environments: Sequence[str], all_environments: bool) -> None:
    """ENVIRONMENTS and ``--all`` exclude each other, and one of them is needed (exit 2)."""
    if environments and all_environments:
        msg = "give environment names or --all, not both"
        raise click.UsageError(msg)
    if not environments and not all_environments:
        msg = "name at least one environment, or use --all"
        raise click.UsageError(msg)
