"""Shared click options and arguments of the tfgen commands, declared once."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any, TypeVar

import click
from click.shell_completion import CompletionItem

F = TypeVar("F", bound=Callable[..., Any])

# What each exit code means, as every command's help says it (each lists only its own).
EXIT_MEANINGS = {
    0: "success",
    1: "input error: YAML syntax, schema, missing variable, unknown\n"
    "     environment, template error, unsafe output folder, shared state key",
    2: "usage error: bad command line, unsafe --out",
    3: "rendered output failed verification; nothing was written",
    4: "drift: out/ differs from a fresh render (tfgen check)",
}
# Exit 4 from render (and diff, which shows what render would do): it refuses to write
# beside Terraform that it did not write, as check calls that drift.
FOREIGN_MEANING = "out/<env>/ holds Terraform tfgen did not write; nothing was written"
# Exit 2 for a command that writes nothing and takes no --out.
USAGE_ONLY = "usage error: bad command line"
READ_ONLY_CODES = {
    0: EXIT_MEANINGS[0],
    1: "input error: YAML syntax, schema, missing variable, unreadable file",
    2: USAGE_ONLY,
}


def epilog(codes: dict[int, str] | Sequence[int], *examples: str) -> str:
    """A command's help epilog: its examples and its own exit codes, laid out verbatim."""
    meanings = codes if isinstance(codes, dict) else {c: EXIT_MEANINGS[c] for c in codes}
    parts = []
    if examples:
        parts.append("\b\nExamples:\n" + "\n".join(f"  {e}" for e in examples))
    parts.append(
        "\b\nExit codes:\n" + "\n".join(f"  {c}  {m}" for c, m in sorted(meanings.items()))
    )
    return "\n\n".join(parts)


_META = "tfgen.{}"


def _remember(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """Keep a global option's value for the whole run (given before or after the command)."""
    if value is not None and value is not False and param.name:
        ctx.meta[_META.format(param.name)] = value
    return value


def project_option(func: F) -> F:
    """``--project-dir``: where environments/ and templates/ live (before or after the command)."""
    return click.option(
        "--project-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        show_default="current directory",
        expose_value=False,
        callback=_remember,
        help="Project root holding environments/ and templates/.",
    )(func)


def debug_option(func: F) -> F:
    """``--debug``: show the traceback of an error (before or after the command)."""
    return click.option(
        "--debug",
        is_flag=True,
        expose_value=False,
        callback=_remember,
        help="Show the traceback of an error.",
    )(func)


def _no_cache(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """``--no-cache`` is ``TFGEN_NO_CACHE=1`` for this run (the core reads the variable)."""
    if value:
        os.environ["TFGEN_NO_CACHE"] = "1"
    return _remember(ctx, param, value)


def no_cache_option(func: F) -> F:
    """``--no-cache``: read and write no cache (before or after the command)."""
    return click.option(
        "--no-cache",
        is_flag=True,
        expose_value=False,
        callback=_no_cache,
        help="Use no cache (same as TFGEN_NO_CACHE=1).",
    )(func)


def global_options(func: F) -> F:
    """The options every command accepts after its name as well as before it."""
    return project_option(debug_option(no_cache_option(func)))


def project_dir_of(ctx: click.Context) -> Path:
    """The ``--project-dir`` in effect: the last one given, else the current directory."""
    value = ctx.meta.get(_META.format("project_dir"))
    return Path(value) if value is not None else Path()


def debug_of(ctx: click.Context) -> bool:
    """Whether ``--debug`` was given, before or after the command name."""
    return bool(ctx.meta.get(_META.format("debug")))


def complete_environments(
    ctx: click.Context, _param: click.Parameter | None, incomplete: str
) -> list[CompletionItem]:
    """Environment names from ``<project-dir>/environments/`` for shell completion."""
    # A plain glob, not config.list_environments: completion must stay instant.
    folder = project_dir_of(ctx) / "environments"
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


def run_options(
    *, suffix: bool = True, jobs: bool = True, components: bool = False
) -> Callable[[F], F]:
    """The options of every command that runs environments, declared once.

    ENVIRONMENTS, ``--all``, the global options, ``--out`` and ``--set``; ``--suffix``,
    ``--jobs`` and ``--component`` where the command takes them. The command receives
    them as keyword arguments and hands them to the CLI's one builder of run options.
    """
    decorators: list[Callable[[F], F]] = [
        environments_argument(required=False),
        all_option,
        global_options,
        out_option,
        set_option,
    ]
    if suffix:
        decorators.append(suffix_option)
    if jobs:
        decorators.append(jobs_option)
    if components:
        decorators.append(component_option)

    def wrap(func: F) -> F:
        for decorator in reversed(decorators):
            func = decorator(func)
        return func

    return wrap


def force_option(func: F) -> F:
    """``--force``: overwrite generated files edited by hand."""
    return click.option("--force", is_flag=True, help="Overwrite generated files edited by hand.")(
        func
    )


def component_option(func: F) -> F:
    """``--component NAME`` (repeatable): only these components of a stack with components."""
    return click.option(
        "--component",
        "components",
        multiple=True,
        metavar="NAME",
        help="Only this component of each environment (repeatable; default: all).",
    )(func)


def check_selection(environments: Sequence[str], all_environments: bool) -> None:
    """ENVIRONMENTS and ``--all`` exclude each other, and one of them is needed (exit 2)."""
    if environments and all_environments:
        msg = "give environment names or --all, not both"
        raise click.UsageError(msg)
    if not environments and not all_environments:
        msg = "name at least one environment, or use --all"
        raise click.UsageError(msg)


# Output roots that are, or sit inside, the operating system's own folders.
_SYSTEM_TREES = (
    "/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/sbin",
    "/sys", "/usr/bin", "/usr/include", "/usr/lib", "/usr/lib64", "/usr/libexec", "/usr/sbin",
    "/usr/share",
)  # fmt: skip
# Folders that may hold projects, but never are an output root themselves.
_SYSTEM_ROOTS = (
    "/", "/home", "/media", "/mnt", "/opt", "/root", "/run", "/srv", "/usr", "/usr/local",
    "/var", "/tmp",  # noqa: S108 - refused as an output root, never written to
)  # fmt: skip
_MANIFEST = (
    ".tfgen-manifest.json"  # as generator.output.writer.MANIFEST (not imported: stays light)
)


def output_root_problem(project_dir: Path, out_dir: Path) -> str | None:
    """Why ``out_dir`` may not be an output root, or None when it may.

    Refused, after resolving links and ``..``: a system folder (``/``, ``/etc``, ``/usr``,
    ``/home`` itself, the user's home itself...) or anything inside one of the operating
    system's own trees; a folder inside the project's ``templates/`` or ``environments/``,
    the project folder itself, or a folder whose ``<env>`` would be the project or hold it;
    and a folder inside an environment's output folder (a folder holding a tfgen
    manifest, or ``<project-dir>/out/<env>`` of an environment of the project).
    """
    root = out_dir.resolve()
    project = project_dir.resolve()
    roots = {Path(p) for p in _SYSTEM_ROOTS}
    with contextlib.suppress(RuntimeError, KeyError):  # no home directory known
        roots.add(Path.home().resolve())
    if root in roots:
        return f"{root} is a system folder; rendering would write {root / '<env>'}/"
    for tree in map(Path, _SYSTEM_TREES):
        if root.is_relative_to(tree):
            return f"{root} is inside the system folder {tree}"
    for name in ("templates", "environments"):
        if root.is_relative_to(project / name):
            return f"{root} is inside the project's {name}/ folder"
    if root == project:
        return f"{root} is the project itself: output would sit beside templates/ and environments/"
    envs = sorted(
        p.stem for p in (project / "environments").glob("*.yaml") if not p.name.startswith("_")
    )
    for env in envs:
        if project.is_relative_to(root / env):
            return f"{root} would put environment {env!r} at {root / env}, which holds the project"
    for folder in (root, *root.parents):
        if (folder / _MANIFEST).is_file():
            where = "is" if folder == root else f"is inside {folder},"
            return f"{root} {where} the output folder of an environment (it holds {_MANIFEST})"
    out = project / "out"
    if root.is_relative_to(out) and root != out:
        env = root.relative_to(out).parts[0]
        if (project / "environments" / f"{env}.yaml").is_file():
            return f"{root} is inside {out / env}, the output folder of environment {env!r}"
    return None


class OutputRootError(click.UsageError):
    """An unsafe ``--out`` (exit 2), shown as one ``error: --out: ...`` line like any error."""

    def show(self, file: IO[Any] | None = None) -> None:
        """Print the one line on stderr (or ``file``), without click's usage banner."""
        line = f"error: --out: {self.format_message()}"
        click.echo(line, file=file, err=file is None)


def check_output_root(ctx: click.Context, out_dir: Path | None) -> None:
    """Refuse an unsafe ``--out`` (exit 2) before anything runs; see :func:`output_root_problem`."""
    project = project_dir_of(ctx)
    problem = output_root_problem(project, out_dir if out_dir is not None else project / "out")
    if problem is not None:
        msg = f"{problem}; choose another output root"
        raise OutputRootError(msg, ctx=ctx)
