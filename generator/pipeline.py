"""generate(): load -> validate -> render -> verify -> write, for one or more environments.

Several environments render in worker processes (verification included); only picklable,
typed data crosses back. Before anything is written, every pair of environments in the
run is checked for a shared state ``(bucket, key)`` (see :mod:`generator.verify.statekeys`).

NOTE: over 400 lines: the run's options, its results, the selection and the worker
transport (what crosses a process boundary, and how) are one job, a run; the worker half
cannot live apart without importing this module back.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import shlex
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from generator.adopt.blocks import ADOPT_OUTPUT, Adoption, foreign_addresses, render_adoption
from generator.adopt.rendered import declared_resources
from generator.components.wire import AddedFile, component_key, render_components
from generator.engine.references import did_you_mean
from generator.engine.render import render_environment
from generator.engine.stack import Stack
from generator.errors import (
    EXIT_INPUT,
    EXIT_USAGE,
    ConfigError,
    MultiError,
    Problem,
    RenderError,
    StoppedError,
    TfgenError,
    merge_errors,
    traceback_text,
)
from generator.inputs.environment import Override
from generator.layout import ENV_NAME_RE, ENVIRONMENTS_DIR, OUT_DIR
from generator.output.writer import OutputSet, WriteResult, write_outputs
from generator.project import LoadedEnvironment, Project, load_project
from generator.verify.rules import verify_rendered
from generator.verify.statekeys import StateKeyOrigin, StateRef, state_key_collisions

if TYPE_CHECKING:
    import concurrent.futures
    import multiprocessing.context

# Seconds of rendering below which starting worker processes costs more than it saves.
_POOL_BREAK_EVEN = 0.25
SUFFIX_OPTION = "--suffix"
# Lowercase letters, digits and single hyphens; starts and ends with a letter or digit.
_SUFFIX_RE = re.compile(r"^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9]))*$")
_ENV_NAME_MAX = 32

# Called in the parent process as each environment finishes: (done, total, name).
ProgressFn = Callable[[int, int, str], None]


@dataclass(frozen=True)
class Rendered:
    """One environment (or one component of it) rendered and verified, not yet written.

    For a component, ``loaded.config`` carries the component's state key and ``out_dir``
    is ``<out>/<env>/<component>``.
    """

    loaded: LoadedEnvironment
    files: dict[str, str]
    out_dir: Path
    display: str
    component: str | None = None

    @property
    def name(self) -> str:
        """The environment's name (with its suffix, for an ephemeral environment)."""
        return self.loaded.config.name


@dataclass(frozen=True)
class RunOptions:
    """What one run of ``generate`` or ``drift.check_output`` covers, and how it runs.

    Attributes:
        project_dir: the project root (``environments/``, ``templates/``).
        environments: environment names to render.
        all_environments: every environment of the project instead.
        out_dir: the output root; ``<project_dir>/out`` when None.
        overrides: ``--set`` values applied to every environment.
        environ: variables for ``${env:...}``; ``os.environ`` when None.
        suffix: render ephemeral copies named ``<env>-<suffix>``.
        workers: worker processes; None picks one per CPU core (at most one per
            environment), 1 renders in this process.
        progress: called in this process as each environment finishes rendering.
        force: overwrite generated files that were edited by hand.
        write: False renders and verifies only (``validate``).
        components: only these components of each environment (a stack with
            components); every component when empty.
    """

    project_dir: Path
    environments: Sequence[str] = ()
    all_environments: bool = False
    out_dir: Path | None = None
    overrides: Sequence[Override] = ()
    environ: Mapping[str, str] | None = None
    suffix: str | None = None
    workers: int | None = None
    progress: ProgressFn | None = None
    force: bool = False
    write: bool = True
    components: Sequence[str] = ()

    @property
    def out_root(self) -> Path:
        """The output root: ``out_dir``, or ``<project_dir>/out``."""
        return self.out_dir if self.out_dir is not None else self.project_dir / OUT_DIR


@dataclass(frozen=True)
class EnvironmentResult:
    """What ``generate`` did for one environment: rendered (and written), or failed."""

    name: str
    display: str
    rendered: Rendered | None = None
    written: WriteResult | None = None
    component: str | None = None
    error: TfgenError | None = None
    trace: str | None = None  # the traceback where the error was raised (shown by --debug)


@dataclass(frozen=True)
class Report:
    """Every environment of a run, in the order given, with its outcome.

    ``render_run`` fills ``rendered`` or ``error`` of each result; ``generate`` adds what
    it wrote (or the error writing it).
    """

    results: tuple[EnvironmentResult, ...]

    @property
    def failed(self) -> tuple[EnvironmentResult, ...]:
        """The environments that failed."""
        return tuple(r for r in self.results if r.error is not None)

    @property
    def rendered(self) -> tuple[Rendered, ...]:
        """The environments rendered and verified (not failed), in run order."""
        return tuple(r.rendered for r in self.results if r.error is None and r.rendered)

    @property
    def errors(self) -> tuple[TfgenError, ...]:
        """One error per environment that failed, in run order."""
        return tuple(r.error for r in self.results if r.error is not None)

    def failure(self) -> TfgenError | None:
        """The error the run ends with (the highest exit code wins), or None."""
        return merge_errors(self.errors)


@dataclass(frozen=True)
class _Task:
    project_dir: Path
    name: str
    out_root: Path
    overrides: tuple[Override, ...]
    environ: Mapping[str, str] | None
    suffix: str | None
    components: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Failure:
    """A TfgenError in a form that survives pickling (its __init__ takes Problems)."""

    kind: type[TfgenError]
    problems: tuple[Problem, ...]
    exit_code: int
    trace: str | None = None

    def rebuild(self) -> TfgenError:
        kind = TfgenError if issubclass(self.kind, MultiError) else self.kind
        err = kind(*self.problems)
        err.exit_code = self.exit_code
        return err


@dataclass(frozen=True)
class _Outcome:
    rendered: tuple[Rendered, ...]
    bases: tuple[StateRef, ...]
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
    project: Project,
    name: str,
    *,
    out_root: Path,
    overrides: Sequence[Override] = (),
    environ: Mapping[str, str] | None = None,
    suffix: str | None = None,
) -> Rendered:
    """Load, render and verify one environment in memory (nothing is written).

    For a stack with components, see :func:`render_units`; this renders a stack without.
    """
    (rendered,) = render_units(
        project, name, out_root=out_root, overrides=overrides, environ=environ, suffix=suffix
    )
    return rendered


def render_words(name: str, suffix: str | None, overrides: Sequence[Override]) -> list[str]:
    """``tfgen render``'s arguments for environment ``name``: ``--suffix``, then each ``--set``."""
    words = [name]
    if suffix:
        words += ["--suffix", suffix]
    for override in overrides:
        words += ["--set", override.argument]
    return words


def rerun_arguments(
    root: Path, name: str, suffix: str | None, overrides: Sequence[Override], out_root: Path
) -> str:
    """The arguments of ``tfgen render`` that render this output again, run from the project.

    What each file's header says: the environment, ``--suffix``, each ``--set``, and
    ``--out`` when it is not the project's ``out/`` (relative to the project when inside it,
    so that a committed output does not name a machine's folder). The same arguments give
    the same header, however ``--out`` was spelled, so ``check`` compares like with like.
    """
    words = render_words(name, suffix, overrides)
    out = Path(os.path.abspath(out_root))  # noqa: PTH100 - no symlinks resolved: as named
    base = Path(os.path.abspath(root))  # noqa: PTH100
    if out != base / OUT_DIR:
        words += ["--out", str(out.relative_to(base)) if out.is_relative_to(base) else str(out)]
    return shlex.join(words)


def render_units(
    project: Project,
    name: str,
    *,
    out_root: Path,
    overrides: Sequence[Override] = (),
    environ: Mapping[str, str] | None = None,
    suffix: str | None = None,
    components: Sequence[str] = (),
    adoption: bool = True,
) -> tuple[Rendered, ...]:
    """Load, render and verify one environment: one unit, or one per component (in order).

    With ``adoption`` (and no ``suffix``), the project's ``adopt/<env>.yaml`` is rendered
    into ``adopt.tf``: beside the stack's files, or into each component its section names.

    Raises:
        TfgenError: the environment, a template, verification or the wiring of its
            components fails; nothing of the environment is kept.
    """
    if suffix is not None:
        project.environment_file(name)
        check_suffix(project.root, name, suffix)
    loaded = project.load_environment(name, overrides=overrides, environ=environ, suffix=suffix)
    display = output_display(out_root, project.root, loaded.config.name)
    out_dir = out_root / loaded.config.name
    rerun = rerun_arguments(project.root, name, suffix, overrides, out_root)
    if project.graph is None:
        files = render_environment(project.stack, loaded.config, source=loaded.source, rerun=rerun)
        # An ephemeral copy has a state of its own: the adoption's imports are never its own.
        if suffix is None and adoption:
            _add_adoption(project, name, files, rerun)
        verify_rendered(files, loaded.config, out_prefix=display)
        return (Rendered(loaded=loaded, files=files, out_dir=out_dir, display=display),)
    found = render_components(
        project.stack,
        project.graph,
        loaded.config,
        source=loaded.source,
        out_prefix=display,
        only=components,
        added=_component_adoption(project, name, rerun) if suffix is None and adoption else None,
        rerun=rerun,
    )
    return tuple(
        Rendered(
            loaded=LoadedEnvironment(
                config=c.config, source=loaded.source, key_origin=loaded.key_origin
            ),
            files=c.files,
            out_dir=out_dir / c.name,
            display=c.display,
            component=c.name,
        )
        for c in found
    )


def _add_adoption(project: Project, name: str, files: dict[str, str], rerun: str) -> None:
    """Render the project's ``adopt/<env>.yaml`` beside the stack's files, as ``adopt.tf``.

    Raises:
        ConfigError: the adoption file is unreadable or not what ``tfgen adopt`` writes.
        RenderError: the stack renders a file of that name itself.
    """
    adopted = project.load_adoption(name)
    if adopted is None or adopted.adoption.empty:
        return
    if ADOPT_OUTPUT in files:
        msg = f"the stack renders {ADOPT_OUTPUT}, the file tfgen keeps for this adoption"
        raise RenderError.at(msg, path=adopted.source)
    command = f"tfgen render {rerun}"
    files[ADOPT_OUTPUT] = render_adoption(adopted.adoption, source=adopted.source, command=command)


def _component_adoption(
    project: Project, name: str, rerun: str
) -> dict[str, tuple[AddedFile, ...]]:
    """Each section of the project's ``adopt/<env>.yaml``, as the component's ``adopt.tf``.

    Each is verified with its component's files, then its addresses are checked against
    the resources the component declares (an address of another component is exit 1 at
    its line in the adoption file).

    Raises:
        ConfigError: the adoption file is unreadable or not what ``tfgen adopt`` writes.
    """
    adopted = project.load_adoption(name)
    if adopted is None:
        return {}
    found: dict[str, tuple[AddedFile, ...]] = {}
    for component, section in adopted.components.items():
        if section.empty:
            continue

        def check(
            parsed: Mapping[str, Mapping[str, object]],
            component: str = component,
            section: Adoption = section,
        ) -> None:
            resources = declared_resources(parsed)
            problems = foreign_addresses(
                component, section, resources, source=adopted.source, lines=adopted.lines
            )
            if problems:
                raise ConfigError(*problems)

        text = render_adoption(section, source=adopted.source, command=f"tfgen render {rerun}")
        found[component] = (AddedFile(ADOPT_OUTPUT, text, adopted.source, check),)
    return found


def check_components(project: Project, components: Sequence[str]) -> None:
    """Refuse ``--component`` names the stack does not declare (exit 2).

    Raises:
        ConfigError: a stack without components, or an unknown name (with a did-you-mean).
    """
    if not components:
        return
    known = project.graph.components if project.graph is not None else ()
    for name in components:
        if name in known:
            continue
        listed = ", ".join(known) or "none: the stack declares no components"
        msg = f"unknown component {name!r}{did_you_mean(name, known)} (components: {listed})"
        err = ConfigError.at(msg, key="--component")
        err.exit_code = EXIT_USAGE
        raise err


def select_environments(
    project: Project, environments: Sequence[str], *, all_environments: bool
) -> list[str]:
    """The environments a run covers: the names given, or every one with ``all_environments``.

    Raises:
        ConfigError: ``--all`` found no environment files.
    """
    if not all_environments:
        return list(dict.fromkeys(environments))
    names = project.environment_names()
    if not names:
        msg = "no environments found (expected <name>.yaml files)"
        raise ConfigError.at(msg, path=f"{ENVIRONMENTS_DIR}/")
    return names


def render_run(project: Project, options: RunOptions, names: Sequence[str]) -> Report:
    """Render and verify ``names`` (in parallel when worthwhile), then check state keys.

    Args:
        project: the loaded project.
        options: the run (``environments`` and ``all_environments`` are not read here).
        names: the environments to render, in the order results are wanted.

    Returns:
        One result per environment, in run order: rendered, or failed with its error (a
        shared state key fails both environments).
    """
    suffix = options.suffix
    if suffix is not None:
        check_suffix_format(suffix)
    out_root = options.out_root
    check_components(project, options.components)
    tasks = [
        _Task(
            project.root,
            n,
            out_root,
            tuple(options.overrides),
            options.environ,
            suffix,
            tuple(options.components),
        )
        for n in dict.fromkeys(names)
    ]
    outcomes = _execute(tasks, _worker_count(options.workers, len(tasks)), options.progress)
    full = [f"{t.name}-{suffix}" if suffix is not None else t.name for t in tasks]
    rendered = [r for o in outcomes for r in o.rendered]
    bases = [b for o in outcomes for b in o.bases]
    collisions = state_key_collisions(
        [
            _state_ref(project.stack, r.loaded, r.component, r.loaded.config.backend.key)
            for r in rendered
        ],
        bases if suffix is not None else [],
    )
    results: list[EnvironmentResult] = []
    for name, outcome in zip(full, outcomes, strict=True):
        if outcome.failure is not None:
            display = output_display(out_root, project.root, name)
            error, trace = outcome.failure.rebuild(), outcome.failure.trace
            results.append(EnvironmentResult(name, display, error=error, trace=trace))
            continue
        for item in outcome.rendered:
            shared = collisions.get(item.name)
            results.append(
                EnvironmentResult(
                    item.name, item.display, item, error=shared, component=item.component
                )
            )
    return Report(results=tuple(results))


def render_selection(options: RunOptions) -> Report:
    """Load the project, select the environments (names or ``--all``), :func:`render_run` them.

    The shared first half of ``generate`` (render, validate) and ``check_output``
    (check, diff). A broken stack (schema, rules, derived values) fails the run once,
    here, before any environment is read.

    Raises:
        ConfigError: the stack or the selection itself is wrong (``--all`` found
            nothing, bad suffix).
    """
    with stop_on_signals():
        project = load_project(options.project_dir)
        names = select_environments(
            project, options.environments, all_environments=options.all_environments
        )
        return render_run(project, options, names)


def generate(options: RunOptions) -> Report:
    """Render, verify and (unless ``options.write`` is False) write each environment.

    Every environment is rendered and verified before any is written; one that
    fails does not stop the others, and nothing is written for it.

    Args:
        options: what to render and how (see :class:`RunOptions`).

    Returns:
        One result per environment, in the order given: rendered (and written), or
        failed with its error. ``Report.failure()`` is the error the run ends with.

    Raises:
        ConfigError: the selection itself is wrong (``--all`` found nothing, bad suffix).
    """
    with stop_on_signals():
        return _generate(options)


def _generate(options: RunOptions) -> Report:
    run = render_selection(options)
    if not options.write:
        return run
    results: list[EnvironmentResult] = []
    # The root modules of one environment (its components) are written together: each is
    # checked before any is written, so a folder that refuses the write (a link, a hand
    # edit) leaves the whole environment as it was.
    for _name, group in itertools.groupby(run.results, key=lambda r: r.name):
        units = list(group)
        if any(r.error is not None or r.rendered is None for r in units):
            results.extend(units)
            continue
        sets = [
            OutputSet(r.rendered.out_dir, r.rendered.files, r.rendered.display)
            for r in units
            if r.rendered
        ]
        try:
            written = write_outputs(sets, force=options.force)
        except TfgenError as err:
            trace = traceback_text(err)
            results.extend(replace(r, error=err, trace=trace) for r in units)
            continue
        results.extend(replace(r, written=w) for r, w in zip(units, written, strict=True))
    return Report(results=tuple(results))


# --------------------------------------------------------------------------- workers


def _state_ref(
    stack: Stack, loaded: LoadedEnvironment, component: str | None, key: str
) -> StateRef:
    """Where a root module keeps its state (``key``), and the line that sets that key.

    A component's key is set by its ``key`` template in stack.yaml when it has one, else
    derived from the environment's ``backend.key``.
    """
    backend = loaded.config.backend
    name = loaded.config.name
    declared = next((c for c in stack.components if c.name == component), None)
    if declared is not None and declared.key is not None:
        at = StateKeyOrigin(declared.file, declared.key_line, f"components.{declared.name}.key")
    else:
        path, line = loaded.key_origin or (loaded.source, None)
        at = StateKeyOrigin(path or loaded.source, line, "backend.key")
    return StateRef(name, loaded.source, backend.bucket, key, component, at)


def _worker_count(requested: int | None, tasks: int) -> int:
    if requested is not None:
        return max(1, min(requested, tasks))
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cores or 1, tasks))


def _run_task(task: _Task) -> _Outcome:
    """Render and verify one environment; never raises a TfgenError (it travels as data)."""
    bases: list[StateRef] = []
    try:
        # Forked workers inherit the run's loaded stack: load_stack's cache answers.
        project = load_project(task.project_dir)
        rendered = render_units(
            project,
            task.name,
            out_root=task.out_root,
            overrides=task.overrides,
            environ=task.environ,
            suffix=task.suffix,
            components=task.components,
        )
        if task.suffix is not None:
            # The base environment's state, so that an ephemeral copy never shares it.
            loaded = project.load_environment(
                task.name, overrides=task.overrides, environ=task.environ
            )
            if project.graph is None:
                key = loaded.config.backend.key
                bases.append(_state_ref(project.stack, loaded, None, key))
            bases.extend(
                _state_ref(project.stack, loaded, c.name, component_key(loaded.config, c))
                for c in project.stack.components
            )
    except TfgenError as err:
        failure = _Failure(type(err), err.problems, err.exit_code, traceback_text(err))
        return _Outcome((), (), failure)
    return _Outcome(rendered, tuple(bases), None)


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
    # Imported here: a run of one environment (most runs) needs no worker processes.
    from concurrent.futures import Future, ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    # The first environment renders here: it warms the parser and template caches,
    # which forked workers then inherit instead of each building their own. When the rest
    # would take less time than starting workers (caches warm, few environments), the
    # rest renders here too.
    started = time.perf_counter()
    finished(0, _run_task(tasks[0]))
    if (time.perf_counter() - started) * (total - 1) < _POOL_BREAK_EVEN:
        for index in range(1, total):
            finished(index, _run_task(tasks[index]))
        return [outcomes[i] for i in range(total)]
    pool = ProcessPoolExecutor(
        max_workers=workers, mp_context=_mp_context(), initializer=_worker_started
    )
    try:
        # Workers start on submit: the stop signals wait (blocked) until each is forked, so
        # no worker ever runs the main process's handler; the initializer unblocks them.
        with _signals_blocked():
            futures: dict[Future[_Outcome], int] = {
                pool.submit(_run_task, task): index
                for index, task in enumerate(tasks)
                if index != 0
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
                outcome = _Outcome((), (), _Failure(RenderError, (problem,), EXIT_INPUT))
            finished(index, outcome)
    except BaseException:
        # A signal (or any failure here): no worker outlives the run. A second signal
        # waits until they are stopped, then ends the run the same way.
        with _signals_blocked():
            _stop_workers(pool)
        raise
    pool.shutdown(wait=True)
    return [outcomes[i] for i in range(total)]


def _mp_context() -> multiprocessing.context.BaseContext:
    # NOTE: fork shares the warmed caches; where fork is unavailable or unsafe (macOS,
    # Windows) the platform default is used and each worker warms its own.
    import multiprocessing

    if sys.platform == "linux":
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context()


def _stop_workers(pool: concurrent.futures.ProcessPoolExecutor) -> None:
    """End every worker of ``pool`` now (SIGTERM, then SIGKILL) and wait for each."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    manager = getattr(pool, "_executor_manager_thread", None)  # shutdown forgets it
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        with contextlib.suppress(OSError, ValueError):
            process.terminate()
    for process in processes:
        with contextlib.suppress(OSError, ValueError, AssertionError):
            process.join(_WORKER_GRACE)
            if process.is_alive():
                process.kill()
                process.join(_WORKER_GRACE)
    # The pool's manager thread sees its workers gone and closes its wake-up pipe. Wait for
    # it: at exit, Python's own hook writes to that pipe unlocked, and a close racing that
    # write prints an OSError traceback (EBADF) after tfgen's one line.
    if manager is not None:
        manager.join(_WORKER_GRACE)


def _worker_started() -> None:
    """In each worker: die quietly with the run, never print a traceback for a signal.

    A fork inherits the main process's handlers (which raise StoppedError): a worker
    ignores SIGINT (the terminal sends it to the whole group; the main process stops the
    workers itself), takes SIGTERM and SIGHUP as plain termination, and asks Linux to
    end it if the main process dies without stopping it.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for signum in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
        if signum is not None:
            signal.signal(signum, signal.SIG_DFL)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
    if sys.platform == "linux":
        with contextlib.suppress(OSError, AttributeError):
            import ctypes

            pr_set_pdeathsig = 1
            ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


# The signals that stop a run: the main process stops its workers, prints one line, exits.
_STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)
_WORKER_GRACE = 2.0  # seconds a worker has to end after SIGTERM before SIGKILL


@contextlib.contextmanager
def _signals_blocked() -> Iterator[None]:
    """Hold the stop signals back (a fork inherits the mask); delivered when unblocked."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """While running, SIGINT, SIGTERM and SIGHUP raise :class:`StoppedError` in the main thread.

    The error unwinds the run: workers are stopped, nothing is half-written (each
    environment's swap is atomic), and the CLI prints one line and exits ``128 + signal``
    (130 for SIGINT, 143 for SIGTERM). Outside the main thread, or nested, nothing changes.
    """
    if threading.current_thread() is not threading.main_thread() or _stopping:
        yield
        return

    def stop(signum: int, frame: FrameType | None) -> None:
        del frame
        name = signal.Signals(signum).name
        msg = f"stopped by {name}: workers stopped, each out/<env> holds its old or new files"
        raise StoppedError(signum, Problem(msg))

    previous = {signum: signal.signal(signum, stop) for signum in _STOP_SIGNALS}
    _stopping.append(True)
    try:
        yield
    finally:
        _stopping.pop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)


_stopping: list[bool] = []
