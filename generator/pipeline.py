"""generate(): load -> validate -> render -> verify -> write, for one or more environments.

Several environments render in worker processes (verification included); only picklable,
typed data crosses back. Before anything is written, every pair of environments in the
run is checked for a shared state ``(bucket, key)`` (see :mod:`generator.statekeys`).
"""

from __future__ import annotations

import multiprocessing
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

from generator.config import (
    ENVIRONMENTS_DIR,
    LoadedEnvironment,
    Override,
    check_environment_name,
    list_environments,
    load_environment,
)
from generator.constraints import ENV_NAME_RE
from generator.errors import (
    EXIT_INPUT,
    ConfigError,
    MultiError,
    Problem,
    RenderError,
    TfgenError,
    merge_errors,
)
from generator.render import TEMPLATES_DIR, render_environment
from generator.stack import load_stack
from generator.statekeys import StateRef, state_key_collisions
from generator.verify import verify_rendered
from generator.writer import WriteResult, write_output

OUT_DIR = "out"
SUFFIX_OPTION = "--suffix"
# Lowercase letters, digits and single hyphens; starts and ends with a letter or digit.
_SUFFIX_RE = re.compile(r"^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9]))*$")
_ENV_NAME_MAX = 32

# Called in the parent process as each environment finishes: (done, total, name).
ProgressFn = Callable[[int, int, str], None]


@dataclass(frozen=True)
class Rendered:
    """One environment rendered and verified in memory, not yet written."""

    loaded: LoadedEnvironment
    files: dict[str, str]
    out_dir: Path
    display: str

    @property
    def name(self) -> str:
        """The environment's name (with its suffix, for an ephemeral environment)."""
        return self.loaded.config.name


@dataclass(frozen=True)
class EnvironmentResult:
    """What ``generate`` did for one environment."""

    rendered: Rendered
    written: WriteResult | None


@dataclass(frozen=True)
class Run:
    """The outcome of rendering and verifying a set of environments in memory."""

    rendered: tuple[Rendered, ...]
    errors: tuple[TfgenError, ...]


@dataclass(frozen=True)
class _Task:
    project_dir: Path
    name: str
    out_root: Path
    overrides: tuple[Override, ...]
    environ: Mapping[str, str] | None
    suffix: str | None


@dataclass(frozen=True)
class _Failure:
    """A TfgenError in a form that survives pickling (its __init__ takes Problems)."""

    kind: type[TfgenError]
    problems: tuple[Problem, ...]
    exit_code: int

    def rebuild(self) -> TfgenError:
        kind = TfgenError if issubclass(self.kind, MultiError) else self.kind
        err = kind(*self.problems)
        err.exit_code = self.exit_code
        return err


@dataclass(frozen=True)
class _Outcome:
    rendered: Rendered | None
    base: StateRef | None
    failure: _Failure | None


def output_display(out_root: Path, project_dir: Path, name: str) -> str:
    """How an output folder is named in messages: relative to the project when inside it."""
    try:
        base = out_root.resolve().relative_to(project_dir.resolve()).as_posix()
    except ValueError:
        base = str(out_root)
    return f"{base}/{name}" if base not in ("", ".") else name


def check_suffix_format(suffix: str) -> None:
    """Refuse a malformed ``--suffix``.

    Raises:
        ConfigError: the suffix is not lowercase letters, digits and single hyphens.
    """
    if not _SUFFIX_RE.fullmatch(suffix):
        msg = (
            f"invalid suffix {suffix!r}: use lowercase letters, digits and single hyphens, "
            "starting and ending with a letter or digit"
        )
        raise ConfigError.at(msg, key=SUFFIX_OPTION)


def check_suffix(project_dir: Path, name: str, suffix: str) -> None:
    """Refuse a ``--suffix`` that is malformed, too long, or names an existing environment.

    Raises:
        ConfigError: naming the option and the rule broken.
    """
    check_suffix_format(suffix)
    full = f"{name}-{suffix}"
    if len(full) > _ENV_NAME_MAX or not ENV_NAME_RE.fullmatch(full):
        msg = (
            f"suffix {suffix!r} makes the environment name {full!r} {len(full)} characters "
            f"long; an environment name has at most {_ENV_NAME_MAX}"
        )
        raise ConfigError.at(msg, key=SUFFIX_OPTION)
    if (project_dir / ENVIRONMENTS_DIR / f"{full}.yaml").exists():
        msg = (
            f"{name} with suffix {suffix!r} would be named {full!r}, which is an environment "
            "of its own; its output would be overwritten. Choose another suffix"
        )
        raise ConfigError.at(msg, path=f"{ENVIRONMENTS_DIR}/{full}.yaml", key=SUFFIX_OPTION)


def render_verified(
    project_dir: Path,
    name: str,
    *,
    out_root: Path,
    overrides: Sequence[Override] = (),
    environ: Mapping[str, str] | None = None,
    suffix: str | None = None,
) -> Rendered:
    """Load, render and verify one environment in memory (nothing is written)."""
    if suffix is not None:
        check_environment_name(project_dir, name)
        check_suffix(project_dir, name, suffix)
    loaded = load_environment(
        project_dir, name, overrides=overrides, environ=environ, suffix=suffix
    )
    files = render_environment(loaded.config, project_dir / TEMPLATES_DIR, source=loaded.source)
    display = output_display(out_root, project_dir, loaded.config.name)
    verify_rendered(files, loaded.config, out_prefix=display)
    return Rendered(
        loaded=loaded, files=files, out_dir=out_root / loaded.config.name, display=display
    )


def select_environments(
    project_dir: Path, environments: Sequence[str], *, all_environments: bool
) -> list[str]:
    """The environments a run covers: the names given, or every one with ``all_environments``.

    Raises:
        ConfigError: ``--all`` found no environment files.
    """
    if not all_environments:
        return list(dict.fromkeys(environments))
    names = list_environments(project_dir)
    if not names:
        msg = "no environments found (expected <name>.yaml files)"
        raise ConfigError.at(msg, path=f"{ENVIRONMENTS_DIR}/")
    return names


def render_run(
    *,
    project_dir: Path,
    names: Sequence[str],
    out_root: Path,
    overrides: Sequence[Override] = (),
    environ: Mapping[str, str] | None = None,
    suffix: str | None = None,
    workers: int | None = None,
    progress: ProgressFn | None = None,
) -> Run:
    """Render and verify ``names`` (in parallel when worthwhile), then check state keys.

    Args:
        project_dir: the project root.
        names: the environments to render, in the order results are wanted.
        out_root: the output root (only used to name output folders).
        overrides: ``--set`` values applied to every environment.
        environ: variables for ``${env:...}``; ``os.environ`` when None.
        suffix: render ephemeral copies named ``<env>-<suffix>``.
        workers: worker processes; None picks one per CPU core (at most one per
            environment), 1 renders in this process.
        progress: called in this process as each environment finishes.

    Returns:
        The environments that passed, and one error per environment that did not
        (a shared state key fails both environments).
    """
    if suffix is not None:
        check_suffix_format(suffix)
    # A broken stack (schema, rules, derived values) fails the run once, before any
    # environment is checked.
    load_stack(project_dir / TEMPLATES_DIR)
    tasks = [
        _Task(project_dir, n, out_root, tuple(overrides), environ, suffix)
        for n in dict.fromkeys(names)
    ]
    outcomes = _execute(tasks, _worker_count(workers, len(tasks)), progress)
    rendered = [o.rendered for o in outcomes if o.rendered is not None]
    errors = [o.failure.rebuild() for o in outcomes if o.failure is not None]
    bases = [o.base for o in outcomes if o.base is not None]
    collisions = state_key_collisions(
        [_state_ref(r) for r in rendered], bases if suffix is not None else []
    )
    errors.extend(collisions.values())
    kept = tuple(r for r in rendered if r.name not in collisions)
    return Run(rendered=kept, errors=tuple(errors))


def render_selection(
    *,
    project_dir: Path,
    environments: Sequence[str] = (),
    all_environments: bool = False,
    out_dir: Path | None = None,
    overrides: Sequence[Override] = (),
    environ: Mapping[str, str] | None = None,
    suffix: str | None = None,
    workers: int | None = None,
    progress: ProgressFn | None = None,
) -> Run:
    """Select the environments of a command (names or ``--all``) and :func:`render_run` them.

    The shared first half of ``generate`` (render, validate) and ``drift.check_output``
    (check, diff); ``out_dir`` defaults to ``<project_dir>/out``.
    """
    out_root = out_dir if out_dir is not None else project_dir / OUT_DIR
    names = select_environments(project_dir, environments, all_environments=all_environments)
    return render_run(
        project_dir=project_dir,
        names=names,
        out_root=out_root,
        overrides=overrides,
        environ=environ,
        suffix=suffix,
        workers=workers,
        progress=progress,
    )


def generate(
    *,
    project_dir: Path,
    environments: Sequence[str] = (),
    all_environments: bool = False,
    out_dir: Path | None = None,
    overrides: Sequence[Override] = (),
    environ: Mapping[str, str] | None = None,
    suffix: str | None = None,
    write: bool = True,
    force: bool = False,
    workers: int | None = None,
    progress: ProgressFn | None = None,
) -> list[EnvironmentResult]:
    """Render, verify and (unless ``write`` is False) write each environment.

    Every environment is rendered and verified before any is written; one that
    fails does not stop the others, and nothing is written for it.

    Args:
        project_dir: the project root (``environments/``, ``templates/``).
        environments: environment names to render.
        all_environments: render every environment of the project instead.
        out_dir: the output root; ``<project_dir>/out`` when None.
        overrides: ``--set`` values applied to every environment.
        environ: variables for ``${env:...}``; ``os.environ`` when None.
        suffix: render ephemeral copies named ``<env>-<suffix>``.
        write: False renders and verifies only.
        force: overwrite generated files that were edited by hand.
        workers: worker processes (see :func:`render_run`).
        progress: called as each environment finishes rendering.

    Returns:
        One result per environment that succeeded, in the order given.

    Raises:
        TfgenError: every failure, one problem per line; when several environments
            fail the exit code is the highest of theirs.
    """
    run = render_selection(
        project_dir=project_dir,
        environments=environments,
        all_environments=all_environments,
        out_dir=out_dir,
        overrides=overrides,
        environ=environ,
        suffix=suffix,
        workers=workers,
        progress=progress,
    )
    errors = list(run.errors)
    results: list[EnvironmentResult] = []
    for item in run.rendered:
        try:
            written = (
                write_output(item.out_dir, item.files, display=item.display, force=force)
                if write
                else None
            )
        except TfgenError as err:
            errors.append(err)
            continue
        results.append(EnvironmentResult(rendered=item, written=written))
    failure = merge_errors(errors)
    if failure is not None:
        raise failure
    return results


# --------------------------------------------------------------------------- workers


def _state_ref(rendered: Rendered) -> StateRef:
    backend = rendered.loaded.config.backend
    return StateRef(rendered.name, rendered.loaded.source, backend.bucket, backend.key)


def _worker_count(requested: int | None, tasks: int) -> int:
    if requested is not None:
        return max(1, min(requested, tasks))
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cores or 1, tasks))


def _run_task(task: _Task) -> _Outcome:
    """Render and verify one environment; never raises a TfgenError (it travels as data)."""
    base: StateRef | None = None
    try:
        rendered = render_verified(
            task.project_dir,
            task.name,
            out_root=task.out_root,
            overrides=task.overrides,
            environ=task.environ,
            suffix=task.suffix,
        )
        if task.suffix is not None:
            # The base environment's state, so that an ephemeral copy never shares it.
            loaded = load_environment(
                task.project_dir, task.name, overrides=task.overrides, environ=task.environ
            )
            backend = loaded.config.backend
            base = StateRef(task.name, loaded.source, backend.bucket, backend.key)
    except TfgenError as err:
        return _Outcome(None, None, _Failure(type(err), err.problems, err.exit_code))
    return _Outcome(rendered, base, None)


def _execute(tasks: Sequence[_Task], workers: int, progress: ProgressFn | None) -> list[_Outcome]:
    """Run every task and return the outcomes in task order."""
    total = len(tasks)
    outcomes: dict[int, _Outcome] = {}

    def finished(index: int, outcome: _Outcome) -> None:
        outcomes[index] = outcome
        if progress is not None:
            progress(len(outcomes), total, tasks[index].name)

    if workers <= 1 or total <= 1:
        for index, task in enumerate(tasks):
            finished(index, _run_task(task))
        return [outcomes[i] for i in range(total)]
    # The first environment renders here: it warms the parser and template caches,
    # which forked workers then inherit instead of each building their own.
    finished(0, _run_task(tasks[0]))
    with ProcessPoolExecutor(max_workers=workers, mp_context=_mp_context()) as pool:
        futures: dict[Future[_Outcome], int] = {
            pool.submit(_run_task, task): index for index, task in enumerate(tasks) if index != 0
        }
        for future in as_completed(futures):
            index = futures[future]
            try:
                outcome = future.result()
            except BrokenProcessPool as err:
                # A worker died (killed, out of memory): that environment fails, the run
                # reports it like any other failure instead of a traceback.
                problem = Problem(
                    f"the worker process rendering it died unexpectedly ({err})",
                    path=f"environments/{tasks[index].name}.yaml",
                )
                outcome = _Outcome(None, None, _Failure(RenderError, (problem,), EXIT_INPUT))
            finished(index, outcome)
    return [outcomes[i] for i in range(total)]


def _mp_context() -> multiprocessing.context.BaseContext:
    # NOTE: fork shares the warmed caches; where fork is unavailable or unsafe (macOS,
    # Windows) the platform default is used and each worker warms its own.
    if sys.platform == "linux":
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context()
