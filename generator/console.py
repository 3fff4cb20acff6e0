"""Terminal output of the CLI: a progress line, per-environment reports and coloured diffs."""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO

import click

# Shown only when a run takes longer than this (seconds), and only on a terminal.
PROGRESS_DELAY = 0.5


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
    """``failed: <first problem>`` (and how many more), for a report line."""
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return f"failed: {problems[0]}{more}" if problems else "failed"


def echo_outcomes(outcomes: Sequence[Outcome], states: Sequence[str], *, failed: int = 0) -> None:
    """Print one line per environment on stderr, then a summary when there are several.

    Args:
        outcomes: the lines, in run order.
        states: every state a line may be counted under, in the summary's order
            (``("written", "up to date", "failed")``); the last one counts failures.
        failed: environments that failed without a line of their own.
    """
    for outcome in outcomes:
        click.echo(f"{outcome.where}: {outcome.text}", err=True)
    total = len(outcomes) + failed
    if total > 1:
        counts = Counter(o.state for o in outcomes)
        counts[states[-1]] += failed
        parts = ", ".join(f"{counts[s]} {s}" for s in states)
        click.echo(f"{total} environments: {parts}", err=True)
