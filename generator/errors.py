"""The TfgenError hierarchy: every user-facing failure, with its location and exit code."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

# A dotted key as a path of its parts (``("backend", "bucket")``), and a locator: the file
# and line where a key path's value was set (a missing key: its nearest parent).
KeyPath = tuple[str, ...]
Locate = Callable[[KeyPath], tuple[str | None, int | None]]

EXIT_INPUT = 1
EXIT_USAGE = 2
EXIT_VERIFY = 3
EXIT_DRIFT = 4


@dataclass(frozen=True)
class Problem:
    """One problem at one place: ``path:line: key: message``."""

    message: str
    path: str | None = None
    line: int | None = None
    key: str | None = None

    @property
    def place(self) -> str:
        """``path:line: key`` (what of it is known), without the message."""
        where = ""
        if self.path:
            where = self.path if self.line is None else f"{self.path}:{self.line}"
        return ": ".join(part for part in (where, self.key or "") if part)

    def __str__(self) -> str:
        place = self.place
        return f"{place}: {self.message}" if place else self.message


class TfgenError(Exception):
    """Base of every error tfgen reports to a user; ``exit_code`` says how the CLI exits."""

    exit_code = EXIT_INPUT

    def __init__(self, *problems: Problem) -> None:
        if not problems:
            msg = "a TfgenError needs at least one Problem"
            raise ValueError(msg)
        self.problems: tuple[Problem, ...] = problems
        super().__init__(str(self))

    @classmethod
    def at(
        cls,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        key: str | None = None,
    ) -> TfgenError:
        """Build an error with a single problem."""
        return cls(Problem(message, path=path, line=line, key=key))

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)


class ConfigError(TfgenError):
    """An environment file, layer, variable or ``--set`` value is invalid (exit 1)."""


class RenderError(TfgenError):
    """A template failed to render: syntax error, undefined variable, misused filter (exit 1)."""


class OutputError(TfgenError):
    """The output directory cannot be written safely (exit 1)."""


class VerifyError(TfgenError):
    """Rendered output failed verification; nothing was written (exit 3)."""

    exit_code = EXIT_VERIFY


class DriftError(TfgenError):
    """``tfgen check`` found output that differs from a fresh render (exit 4)."""

    exit_code = EXIT_DRIFT


class StoppedError(BaseException):
    """The run was stopped by a signal (SIGINT, SIGTERM, SIGHUP); exits ``128 + signal``.

    A BaseException, as KeyboardInterrupt is: no ``except TfgenError`` or ``except
    Exception`` on the way (an environment's failure, a template's contained error) may
    take it for one failure among others and carry on; the CLI maps it on its own.
    """

    def __init__(self, signum: int, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problems: tuple[Problem, ...] = (problem,)
        self.exit_code = 128 + signum


class MultiError(TfgenError):
    """Several environments failed; the exit code is the highest of theirs."""

    def __init__(self, errors: Sequence[TfgenError]) -> None:
        self.errors = tuple(errors)
        problems: list[Problem] = [p for e in errors for p in e.problems]
        super().__init__(*problems)
        self.exit_code = max((e.exit_code for e in errors), default=EXIT_INPUT)


def merge_errors(errors: Iterable[TfgenError]) -> TfgenError | None:
    """Collapse a list of errors into one (or None when there are none)."""
    errs = list(errors)
    if not errs:
        return None
    if len(errs) == 1:
        return errs[0]
    return MultiError(errs)


def traceback_text(err: BaseException) -> str | None:
    """Where ``err`` was raised, as text (what ``--debug`` shows), or None without a traceback.

    It is text so that it survives the trip back from a worker process.
    """
    if err.__traceback__ is None:
        return None
    import traceback  # here: only a failure needs it

    return "".join(traceback.format_exception(err))
