"""Terminal output of the CLI: a progress line, per-environment reports and coloured diffs."""

from __future__ import annotations

import os
import shlex
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

import click

from generator.errors import Problem

if TYPE_CHECKING:
    from generator.commands.adopt import AdoptReport
    from generator.commands.bootstrap import BootstrapReport
    from generator.commands.check import EnvironmentDrift
    from generator.pipeline import RunOptions

# Shown only when a run takes longer than this (seconds), and only on a terminal.
PROGRESS_DELAY = 0.5


def path_from_here(path: Path) -> str:
    """``path`` as it is named from the current folder: relative inside it, else absolute.

    A hint printed with it works as printed from where the command ran, whatever
    ``--project-dir`` or ``--out`` were.
    """
    full = path.resolve()
    try:
        return full.relative_to(Path.cwd().resolve()).as_posix() or "."
    except ValueError:
        return str(full)


def chdir_word(path: Path) -> str:
    """The ``-chdir=`` of terraform for ``path``, valid from the current folder, shell-quoted."""
    return shlex.quote(f"-chdir={path_from_here(path)}")


class Progress:
    """``[done/total] name`` on one terminal line, shown once a run takes a moment."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._start = time.monotonic()
        self._shown = False

    def __call__(self, done: int, total: int, name: str) -> None:
        """Report that ``name`` finished, the ``done``-th of ``total``."""
        if not self._shown and time.monotonic() - self._start < PROGRESS_DELAY:
            return
        self._shown = True
        self._stream.write(f"\r\x1b[K[{done}/{total}] {name}")
        self._stream.flush()

    def close(self) -> None:
        """Clear the line, if anything was shown."""
        if self._shown:
            self._stream.write("\r\x1b[K")
            self._stream.flush()


@contextmanager
def progress_line() -> Iterator[Progress | None]:
    """A progress display on a terminal's stderr, cleared at the end; None elsewhere."""
    progress = Progress(sys.stderr) if sys.stderr.isatty() else None
    try:
        yield progress
    finally:
        if progress is not None:
            progress.close()


def want_colour(stream: IO[str], environ: Mapping[str, str]) -> bool:
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


def echo_diff(text: str) -> None:
    """Print a diff on stdout, coloured when :func:`want_colour` says so."""
    if not text:
        return
    if want_colour(sys.stdout, os.environ):
        text = colour_diff(text)
    click.echo(text, nl=False, color=True)


@dataclass(frozen=True)
class Outcome:
    """One line of a run's report: ``<where>: <text>``, counted under ``state``."""

    where: str
    state: str
    text: str


def echo_problems(problems: Iterable[object]) -> None:
    """Print each problem as ``error: <problem>`` on stderr."""
    for problem in problems:
        click.echo(f"error: {problem}", err=True)


def failed_text(problems: Sequence[object]) -> str:
    """``failed: <where the first problem is>`` (and how many more), for a report line.

    The report prints every problem in full above its lines, so a located problem is named
    here by its place only (``environments/staging.yaml:7: network.vpc_cidr``): a failure
    shared by the components of one environment is said in full once.
    """
    if not problems:
        return "failed"
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    first = problems[0]
    shown = first.place if isinstance(first, Problem) and first.path else str(first)
    return f"failed: {shown}{more}"


def echo_outcomes(
    outcomes: Sequence[Outcome],
    states: Sequence[str],
    *,
    failed: int = 0,
    noun: str = "environments",
) -> None:
    """Print one line per environment on stderr, then a summary when there are several.

    Args:
        outcomes: the lines, in run order.
        states: every state a line may be counted under, in the summary's order
            (``("written", "up to date", "failed")``); the last one counts failures.
        failed: environments that failed without a line of their own.
        noun: what the summary counts (``root modules`` when components are listed).
    """
    for outcome in outcomes:
        click.echo(f"{outcome.where}: {outcome.text}", err=True)
    total = len(outcomes) + failed
    if total > 1:
        counts = Counter(o.state for o in outcomes)
        counts[states[-1]] += failed
        parts = ", ".join(f"{counts[s]} {s}" for s in states)
        click.echo(f"{total} {noun}: {parts}", err=True)


def echo_report(
    outcomes: Sequence[Outcome],
    states: Sequence[str],
    failures: Sequence[tuple[Sequence[object], int, str | None]],
    *,
    debug: bool = False,
    noun: str = "environments",
) -> int | None:
    """A run's report on stderr: errors first, then one line per environment and a summary.

    A run of one environment that failed prints only its error lines.

    Args:
        outcomes: one line per environment, in run order.
        states: the summary's states (see :func:`echo_outcomes`).
        failures: ``(problems, exit code, traceback text)`` of each failed environment.
        debug: print each failure's traceback too.
        noun: what the summary counts (see :func:`echo_outcomes`).

    Returns:
        The exit code the run ends with (the highest failure's), or None when none failed.
    """
    seen: set[str] = set()
    for problems, _code, trace in failures:
        if debug and trace:
            click.echo(trace, err=True, nl=False)
        # A problem of a whole environment (a shared state) fails each of its components:
        # it is said once.
        fresh = [p for p in problems if str(p) not in seen]
        seen.update(str(p) for p in fresh)
        echo_problems(fresh)
    if len(outcomes) > 1 or not failures:
        echo_outcomes(outcomes, states, noun=noun)
    return max((code for _problems, code, _trace in failures), default=None)


def echo_bootstrap(
    report: BootstrapReport,
    failures: Sequence[tuple[Sequence[object], int, str | None]],
    *,
    asked: Sequence[str],
    debug: bool = False,
) -> int | None:
    """Report a bootstrap run on stderr: errors, notes, one line per bucket, next steps.

    Args:
        report: what bootstrap rendered.
        failures: as for :func:`echo_report`.
        asked: the environments named on the command line (empty for ``--all``); a
            note names the other environments of each of their buckets.
        debug: print each failure's traceback too.

    Returns:
        The exit code the run ends with, or None when nothing failed.
    """
    for problems, _code, trace in failures:
        if debug and trace:
            click.echo(trace, err=True, nl=False)
        echo_problems(problems)
    done = [m for m in report.modules if m.error is None]
    for module in done:
        others = [n for n in module.names if n not in asked]
        if asked and others:
            click.echo(
                f"note: state bucket {module.bucket} also holds the state of "
                f"{', '.join(others)}; {module.display} is their bootstrap module too",
                err=True,
            )
        for note in module.notes:
            click.echo(f"note: {note}", err=True)
        for old in module.old_states:
            click.echo(
                f"note: {old} is the local state of this bucket's earlier module; "
                f"move it into {module.display}/ before terraform apply",
                err=True,
            )
    for module in done:
        written = module.written
        changed = len(written.written) + len(written.removed) if written else 0
        state = f"{changed} file(s) changed" if changed else "up to date"
        click.echo(f"{module.display}: {state} (state of {', '.join(module.names)})", err=True)
    for module in done:
        chdir = chdir_word(module.folder)
        click.echo(f"next: terraform {chdir} init && terraform {chdir} apply", err=True)
    return max((code for _problems, code, _trace in failures), default=None)


def echo_adopt(report: AdoptReport, options: RunOptions) -> None:
    """What ``tfgen adopt`` decided, on stderr: every block, every rename, the next steps."""
    from generator.commands.check import render_command

    matching, adoption = report.matching, report.adoption
    importing = bool(adoption.imports or report.components)
    moves = [m for m in matching.matches if m.old != m.new] if not importing else []
    kept = len(matching.matches) - len(moves)
    counts = [
        f"{len(adoption.imports)} imported" if importing else f"{len(moves)} moved",
        f"{kept} already in place" if kept and not importing else "",
        f"{len(adoption.removed)} forgotten (not destroyed)" if adoption.removed else "",
        f"{len(matching.created)} to be created",
        f"{len(matching.unmatched)} left in the old state" if importing else "",
    ]
    click.echo(f"adopt {report.environment}: " + ", ".join(c for c in counts if c), err=True)
    if report.implied_import:
        click.echo(
            "note: each component has a state of its own, so objects move by import "
            "(--import implied)",
            err=True,
        )
    for item in moves:
        click.echo(f"  moved   {item.old} -> {item.new}  (by {', '.join(item.by)})", err=True)
    for imported in adoption.imports:
        click.echo(f"  import  {imported.to}  (id {imported.id})", err=True)
    for address in adoption.removed:
        click.echo(f"  removed {address}  (forgotten; the next apply destroys nothing)", err=True)
    for obj in matching.unmatched if importing else ():
        click.echo(
            f"  stays   {obj.address}  (nothing renders it: left in the old state)", err=True
        )
    for resource in report.partial:
        click.echo(
            f"  check   {resource}: some of its instances are claimed and some are not; "
            "pin or remove the rest by hand",
            err=True,
        )
    for created in matching.created:
        click.echo(f"  create  {created.address}", err=True)
    for rename in report.renames:
        keep = (
            f"set {rename.key}: {rename.deployed} in the environment to keep it"
            if rename.key
            else "the stack names no environment key for it"
        )
        click.echo(
            f"warning: {rename.new}: {rename.attribute} {rename.deployed!r} would become "
            f"{rename.rendered!r}, which replaces it; {keep}",
            err=True,
        )
    click.echo(f"wrote {report.written}", err=True)
    if report.forget:
        click.echo(
            f"wrote {report.forget}: copy it into the old root so that its next apply forgets "
            "what moved (or run terraform state rm there for each of its from addresses)",
            err=True,
        )
    render = render_command(options, report.environment)
    chdir = chdir_word(options.out_root / report.environment)
    if report.components:
        component = chdir_word(options.out_root / report.environment / "COMPONENT")
        order = " -> ".join(", ".join(wave) for wave in report.waves)
        click.echo(
            f"next: {render}, then wave by wave ({order}), for each COMPONENT: "
            f"terraform {component} plan -out=adopt.plan, terraform {component} show -json "
            "adopt.plan > adopt-plan.json, and tfgen gate adopt-plan.json",
            err=True,
        )
        return
    click.echo(
        f"next: {render}, then terraform {chdir} plan -out=adopt.plan, "
        f"terraform {chdir} show -json adopt.plan > adopt-plan.json, "
        "and tfgen gate adopt-plan.json",
        err=True,
    )


def echo_superseded(roots: Sequence[EnvironmentDrift]) -> None:
    """Warn of one-root renders left in ``out/<env>`` beside its components (render leaves them)."""
    for root in roots:
        click.echo(
            f"warning: {root.display}: {len(root.files)} file(s) of the one root module rendered "
            "here before the stack had components are still there; move its resources into the "
            "components (tfgen adopt), retire it with the forget file, then delete them "
            "(tfgen check lists them)",
            err=True,
        )
