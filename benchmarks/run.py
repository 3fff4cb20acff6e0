"""Benchmark tfgen on this machine against the targets of issue 12; write benchmarks/RESULTS.md.

Run with ``make bench`` (or ``.venv/bin/python benchmarks/run.py``; ``--quick`` for a smoke
run). Not part of the test suite. Measures, in one run:

1. CLI processes, over repeated interleaved rounds: ``tfgen render prod`` up to date with
   tfgen's caches warm, into a fresh output folder, and with every tfgen cache empty (a
   fresh empty ``XDG_CACHE_HOME`` per run; python-hcl2's own grammar cache present), and
   with ``--no-cache``; ``tfgen check --all`` on the shipped environments; ``tfgen --help``
   and ``tfgen list``; the same ``render prod`` from an installed wheel in a temporary venv;
   next to ``python -c pass``: wall time and peak RSS per child (``os.wait4``);
2. in-process cost per environment, split into load+validate, render, verify, write,
   first run and warm, caches warm and empty (stages.py, in fresh interpreters);
3. ``tfgen render --all`` over 10, 100 and 500 synthetic environments in a temporary
   project (synth.py): a first run, then runs with tfgen's caches warm.

Every child gets a benchmark-private cache folder (``XDG_CACHE_HOME`` in the work folder),
so the user's own cache is neither read nor changed. Where a target is missed, RESULTS.md
says by how much and where the time goes (``-X importtime`` grouped by package, the stage
split, cProfile top functions).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from synth import make_project  # noqa: E402

PYTHON = sys.executable
STATE_BUCKET = "example-tfstate-prod"
HEAVY = ("jinja2", "lark", "hcl2", "jsonschema_rs", "yaml")
PACKAGES = ("jinja2", "python-hcl2", "lark", "jsonschema-rs", "click", "PyYAML")

# Targets from issue 12 (this 2-core machine), in seconds and MiB.
TARGET_RENDER_WARM = 0.2  # render prod, nothing changed since the last render, caches warm
TARGET_RENDER_COLD = 0.4  # render prod, every tfgen cache empty
TARGET_CHECK_ALL = 0.5  # check --all on the shipped environments, caches warm
TARGET_ALL = {100: 5.0, 500: 25.0}  # render --all over N synthetic environments
TARGET_HELP = 0.1
TARGET_RENDER_RSS_MIB = 80.0
# CDKTF for the same stack on this machine (issue 12): a constant, not measured here.
CDKTF_SECONDS = 21.2
# Environment variables that would change what a child measures.
DROPPED_VARIABLES = (
    "PYTHONPROFILEIMPORTTIME",
    "PYTHONDONTWRITEBYTECODE",
    "PYTHONSTARTUP",
    "TFGEN_NO_CACHE",
    "XDG_CACHE_HOME",
)


# --------------------------------------------------------------------------- processes


@dataclass
class Sample:
    """One finished child process."""

    wall: float
    rss_kib: int
    cpu: float
    rc: int
    stderr: str


def run_child(argv: Sequence[str], *, cwd: Path, env: dict[str, str]) -> Sample:
    """Run ``argv`` to completion; wall time, and peak RSS and CPU from ``os.wait4``."""
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        text = err.read().decode("utf-8", "replace")
    return Sample(
        wall=wall,
        rss_kib=usage.ru_maxrss,  # KiB on Linux; includes waited-for grandchildren
        cpu=usage.ru_utime + usage.ru_stime,
        rc=proc.returncode,
        stderr=text,
    )


def run_json(argv: Sequence[str], *, cwd: Path, env: dict[str, str]) -> dict[str, Any]:
    """Run a helper that prints one JSON object; raise with its stderr when it fails."""
    proc = subprocess.run(list(argv), cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        msg = f"{' '.join(argv)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}"
        raise RuntimeError(msg)
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def spread(values: Sequence[float]) -> dict[str, float]:
    """Median, min, max and quartiles of ``values``."""
    ordered = sorted(values)
    if len(ordered) > 1:
        q1, _, q3 = statistics.quantiles(ordered, n=4)
    else:
        q1 = q3 = ordered[0]
    return {
        "median": statistics.median(ordered),
        "min": ordered[0],
        "max": ordered[-1],
        "q1": q1,
        "q3": q3,
    }


def child_env(cache_home: Path, *, pythonpath: bool) -> dict[str, str]:
    """The environment of every measured child: ours, the state bucket prod reads, a cache.

    Args:
        cache_home: the ``XDG_CACHE_HOME`` of the child (tfgen's caches under ``tfgen/``).
        pythonpath: put this checkout first on ``PYTHONPATH`` (when the venv's editable
            install points elsewhere); without it the child runs what the venv installed.
    """
    env = {k: v for k, v in os.environ.items() if k not in DROPPED_VARIABLES}
    env.setdefault("TERRAFORM_STATE_BUCKET", STATE_BUCKET)
    env["XDG_CACHE_HOME"] = str(cache_home)
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def with_cache(env: dict[str, str], cache_home: Path) -> dict[str, str]:
    """``env`` with another ``XDG_CACHE_HOME``."""
    return {**env, "XDG_CACHE_HOME": str(cache_home)}


def installed_here(work: Path) -> bool:
    """Whether the venv's ``generator`` (editable install) is this checkout's."""
    env = {k: v for k, v in os.environ.items() if k not in (*DROPPED_VARIABLES, "PYTHONPATH")}
    proc = subprocess.run(
        [PYTHON, "-c", "import generator; print(generator.__file__)"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    found = Path(proc.stdout.strip()).resolve().parent if proc.returncode == 0 else None
    return found == ROOT / "generator"


def tfgen_argv() -> list[str]:
    """The installed console script (what users run), else ``python -m generator``."""
    script = Path(PYTHON).with_name("tfgen")
    return [str(script)] if script.is_file() else [PYTHON, "-m", "generator"]


# --------------------------------------------------------------------------- CLI features


@dataclass
class Features:
    """What the CLI under test offers (other work may add commands while this is written)."""

    commands: list[str]
    render_all: bool
    jobs_option: str | None
    check_all: bool
    list_command: bool


def detect_features(env: dict[str, str]) -> Features:
    """Read ``tfgen --help``, ``tfgen render --help`` and ``tfgen check --help``."""

    def helptext(*args: str) -> str:
        proc = subprocess.run(
            [*tfgen_argv(), *args, "--help"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        return proc.stdout if proc.returncode == 0 else ""

    top = helptext()
    commands: list[str] = []
    in_commands = False
    for line in top.splitlines():
        if line.strip().lower() == "commands:":
            in_commands = True
            continue
        if in_commands:
            if not line.strip():
                break  # the command list ends at the first blank line
            match = re.match(r"^  ([a-z][\w-]*)(\s{2,}|$)", line)
            if match:
                commands.append(match.group(1))
    render = helptext("render")
    jobs = None
    if re.search(r"--jobs\b", render):
        jobs = "--jobs"
    elif re.search(r"(^|\s)-j\b", render):
        jobs = "-j"
    check = helptext("check") if "check" in commands else ""
    return Features(
        commands=commands,
        render_all=bool(re.search(r"--all\b", render)),
        jobs_option=jobs,
        check_all=bool(re.search(r"--all\b", check)),
        list_command="list" in commands,
    )


# --------------------------------------------------------------------------- section 1


@dataclass
class Case:
    """One measured command; ``argv`` (and ``env``) are built per run."""

    label: str
    argv: Callable[[int], list[str]]
    env: Callable[[int], dict[str, str]] | None = None
    samples: list[Sample] = field(default_factory=list)


PASS = "python -c pass"  # noqa: S105 (a label, not a password)
HELP = "tfgen --help"
RENDER_WARM = "tfgen render prod (up to date, caches warm)"
RENDER_FRESH = "tfgen render prod (fresh out/, caches warm)"
RENDER_COLD = "tfgen render prod (fresh out/, every tfgen cache empty)"
RENDER_NO_CACHE = "tfgen --no-cache render prod (fresh out/)"
CHECK_ALL = "tfgen check --all (shipped environments, caches warm)"
CHECK_ALL_ONE = "tfgen check --all --jobs 1 (shipped environments, caches warm)"
WHEEL_WARM = "wheel: tfgen render prod (up to date, caches warm)"
WHEEL_COLD = "wheel: tfgen render prod (fresh out/, every tfgen cache empty)"
RENDER_CASES = (RENDER_WARM, RENDER_FRESH, RENDER_COLD, RENDER_NO_CACHE, WHEEL_WARM, WHEEL_COLD)
# Copied into the wheel's build folder: everything but local state.
SOURCE_IGNORE = shutil.ignore_patterns(
    ".git", ".venv*", "build", "dist", "out", "*.egg-info", "__pycache__", ".*_cache"
)


@dataclass
class Wheel:
    """tfgen's wheel installed, with its dependencies, into a temporary venv."""

    tfgen: Path | None
    note: str
    seconds: float


def install_wheel(work: Path, timeout: float = 300.0) -> Wheel:
    """Build the wheel from a copy of this checkout and install it into a new venv.

    The copy keeps ``build/`` and ``*.egg-info`` out of the checkout. The dependencies come
    from pip's configured index and the machine's pip cache; any failure or a step over
    ``timeout`` seconds skips the comparison, with the reason in the note.
    """
    start = time.perf_counter()
    source, wheels, venv = work / "wheel-src", work / "wheels", work / "wheel-venv"
    shutil.copytree(ROOT, source, ignore=SOURCE_IGNORE)
    python = venv / "bin" / "python"
    wheel = [PYTHON, "-m", "pip", "wheel", "-q", "--no-deps", str(source), "-w", str(wheels)]
    note = _step("build the wheel", wheel, work, timeout) or _step(
        "create the venv", [PYTHON, "-m", "venv", str(venv)], work, timeout
    )
    built = sorted(wheels.glob("tfgen-*.whl"))
    if not note and not built:
        note = "skipped: pip wheel wrote no tfgen wheel"
    if not note:
        install = [str(python), "-m", "pip", "install", "-q", str(built[0])]
        note = _step("install the wheel and its dependencies", install, work, timeout)
    if not note:
        # python-hcl2's own grammar cache, beside the package, as a user's install has it.
        note = _step(
            "build python-hcl2's grammar cache", [str(python), "-c", PRIME_GRAMMAR], work, timeout
        )
    if note:
        return Wheel(None, note, time.perf_counter() - start)
    seconds = time.perf_counter() - start
    return Wheel(venv / "bin" / "tfgen", f"{built[0].name}, built and installed", seconds)


PRIME_GRAMMAR = "import hcl2.parser; hcl2.parser.parser()"


def _step(what: str, argv: list[str], cwd: Path, timeout: float) -> str:
    """Run one setup step; an empty string, or why it failed."""
    env = {k: v for k, v in os.environ.items() if k not in (*DROPPED_VARIABLES, "PYTHONPATH")}
    try:
        proc = subprocess.run(
            argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return f"skipped: could not {what} within {timeout:.0f} s"
    if proc.returncode != 0:
        tail = " ".join(proc.stderr.strip().splitlines()[-2:])[-300:]
        return f"skipped: could not {what} (exit {proc.returncode}: {tail})"
    return ""


def cold_cli(
    features: Features, repeat: int, work: Path, env: dict[str, str], wheel: Wheel
) -> list[Case]:
    """Interleaved rounds of every command, after two unrecorded warm-up rounds.

    The warm-up rounds fill the benchmark's cache folder and write the *up to date* output
    folders; every *cache empty* run gets a new, empty ``XDG_CACHE_HOME`` of its own.
    """
    tfgen = tfgen_argv()
    work.mkdir(parents=True, exist_ok=True)

    def empty_cache(tag: str, base: dict[str, str]) -> Callable[[int], dict[str, str]]:
        return lambda i: with_cache(base, work / f"empty-cache-{tag}-{i}")

    def render(out: str, *, cli: Sequence[str] = tfgen, extra: Sequence[str] = ()) -> Any:
        return lambda i: [*cli, *extra, "render", "prod", "--out", str(work / out.format(i=i))]

    cases = [
        Case(PASS, lambda _: [PYTHON, "-c", "pass"]),
        Case(
            'python -c "import jinja2, yaml, click"',
            lambda _: [PYTHON, "-c", "import jinja2, yaml, click"],
        ),
        Case(
            'python -c "import jinja2, yaml, click, jsonschema_rs, hcl2"',
            lambda _: [PYTHON, "-c", "import jinja2, yaml, click, jsonschema_rs, hcl2"],
        ),
        Case(HELP, lambda _: [*tfgen, "--help"]),
    ]
    if features.list_command:
        cases.append(Case("tfgen list", lambda _: [*tfgen, "list"]))
    cases += [
        Case(RENDER_WARM, render("uptodate")),
        Case(RENDER_FRESH, render("fresh-{i}")),
        Case(RENDER_COLD, render("cold-{i}"), empty_cache("editable", env)),
        Case(RENDER_NO_CACHE, render("nocache-{i}", extra=["--no-cache"])),
    ]
    if features.check_all:
        checked = work / "checked"
        sample = run_child([*tfgen, "render", "--all", "--out", str(checked)], cwd=ROOT, env=env)
        if sample.rc != 0:
            msg = f"tfgen render --all (before check --all) exited {sample.rc}:\n"
            raise RuntimeError(msg + sample.stderr[-2000:])
        check = [*tfgen, "check", "--all", "--out", str(checked)]
        cases.append(Case(CHECK_ALL, lambda _: check))
        if features.jobs_option:
            one = [*check, features.jobs_option, "1"]
            cases.append(Case(CHECK_ALL_ONE, lambda _: one))
    if wheel.tfgen is not None:
        # The wheel's own code: no checkout on PYTHONPATH (the console script's folder is
        # sys.path[0], so the checkout in the working directory is not imported either).
        plain = {k: v for k, v in env.items() if k != "PYTHONPATH"}
        cli = [str(wheel.tfgen)]
        cases += [
            Case(WHEEL_WARM, render("wheel-uptodate", cli=cli), lambda _: plain),
            Case(WHEEL_COLD, render("wheel-cold-{i}", cli=cli), empty_cache("wheel", plain)),
        ]
    for i in range(-2, repeat):
        for case in cases:
            child = case.env(i) if case.env else env
            sample = run_child(case.argv(i), cwd=ROOT, env=child)
            if sample.rc != 0:
                msg = f"{case.label} exited {sample.rc}:\n{sample.stderr[-2000:]}"
                raise RuntimeError(msg)
            if i >= 0:
                case.samples.append(sample)
    written = sorted(p.name for p in (work / "fresh-0").iterdir())
    if not written:
        msg = "tfgen render prod wrote nothing"
        raise RuntimeError(msg)
    return cases


def heavy_imports(features: Features, env: dict[str, str]) -> dict[str, list[str]]:
    """Which heavy modules each light command imports (it should import none of them)."""
    report = f"print(','.join(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)\n"
    probe = (
        "import sys\n"
        "from generator.cli.app import main\n"
        "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
    ) + report
    commands = {"import generator.cli.app": None, "tfgen --help": ["--help"]}
    commands["tfgen render --help"] = ["render", "--help"]
    if features.list_command:
        commands["tfgen list"] = ["list"]
    found: dict[str, list[str]] = {}
    for label, args in commands.items():
        if args is None:
            argv = [PYTHON, "-c", "import sys, generator.cli.app\n" + report]
        else:
            argv = [PYTHON, "-c", probe, *args]
        proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
        last = proc.stderr.strip().splitlines()[-1:] or [""]
        found[label] = [m for m in last[0].split(",") if m]
    return found


def import_profile(
    env: dict[str, str], work: Path, runs: int, *, empty_cache: bool = False
) -> dict[str, Any]:
    """``-X importtime`` of a ``tfgen render prod`` process, grouped by top-level package.

    With ``empty_cache`` every run gets a new, empty cache folder (python-hcl2 is then
    imported for the parse misses); otherwise the benchmark's warm one.
    """
    code = "import sys\nfrom generator.cli.app import main\nmain(sys.argv[1:])"
    per_group: dict[str, list[float]] = defaultdict(list)
    per_module: dict[str, list[float]] = defaultdict(list)
    totals: list[float] = []
    stdlib = sys.stdlib_module_names
    for i in range(runs):
        argv = [PYTHON, "-X", "importtime", "-c", code]
        argv += ["render", "prod", "--out", str(work / f"importtime-{i}")]
        run_env = with_cache(env, work / f"cache-{i}") if empty_cache else env
        proc = subprocess.run(
            argv, cwd=ROOT, env=run_env, capture_output=True, text=True, check=False
        )
        groups: dict[str, float] = defaultdict(float)
        total = 0.0
        for line in proc.stderr.splitlines():
            match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
            if not match:
                continue
            self_us, cum_us, indent, module = match.groups()
            top = module.split(".")[0]
            group = f"{top} (stdlib)" if top in stdlib else top
            if top.startswith("__editable__"):
                group = "editable-install finder"
            groups[group] += int(self_us) / 1e6
            if len(indent) == 1:  # a top-level import: its cumulative time counts once
                total += int(cum_us) / 1e6
                per_module[module].append(int(cum_us) / 1e6)
        totals.append(total)
        for group, value in groups.items():
            per_group[group].append(value)
    grouped = {g: statistics.median(v + [0.0] * (runs - len(v))) for g, v in per_group.items()}
    stdlib_total = sum(v for g, v in grouped.items() if g.endswith("(stdlib)"))
    rows = {g: v for g, v in grouped.items() if not g.endswith("(stdlib)")}
    rows["standard library (all modules)"] = stdlib_total
    return {
        "total": statistics.median(totals),
        "groups": dict(sorted(rows.items(), key=lambda kv: -kv[1])),
        "top_level": {
            m: statistics.median(v)
            for m, v in sorted(per_module.items(), key=lambda kv: -max(kv[1]))
        },
    }


# --------------------------------------------------------------------------- section 3


@dataclass
class AllRun:
    """One way of rendering every synthetic environment, at one size."""

    label: str
    size: int
    samples: list[Sample]
    internal: list[float] = field(default_factory=list)


# Runs per way of rendering, by project size: the big sizes only take the default way once
# or twice, so that the whole benchmark stays within a few minutes on 2 cores.
FULL_REPS = {10: 3, 100: 3, 500: 2}
QUICK_REPS = {10: 1, 100: 1, 500: 1}
ALL_WAYS_UP_TO = 10  # sizes up to this also run --jobs 1 and --jobs <cores>
SINGLE_UP_TO = 100  # sizes up to this also run --jobs 1 (the scaling reference)
CHECK_UP_TO = 100  # sizes up to this also run `check --all` after the render
ALL_FIRST = "tfgen render --all, first run (no parse-cache entry for per-environment files)"
ALL_WARM = "tfgen render --all (caches warm)"


def cache_entries(env: dict[str, str], sub: str) -> int:
    """How many entries the benchmark's cache folder ``sub`` holds."""
    folder = Path(env["XDG_CACHE_HOME"]) / "tfgen" / sub
    return sum(1 for _ in folder.iterdir()) if folder.is_dir() else 0


def render_all(
    features: Features,
    sizes: Sequence[int],
    reps: dict[int, int],
    work: Path,
    env: dict[str, str],
    base: str | None,
) -> tuple[list[AllRun], str, list[str]]:
    """Render every environment of synthetic projects of each size, several ways.

    Every run starts from an empty output folder and uses the benchmark's cache folder,
    warm from section 1 (compiled templates and stack expressions, parse entries for the
    files every environment shares). The first run of a size also parses each environment's
    own files (those naming its VPC block, tags or state key) and caches them; the runs
    after it are the warm figures the targets are read from.
    """
    from generator.cache import MAX_ENTRIES

    tfgen = tfgen_argv()
    cores = len(os.sched_getaffinity(0))
    runs: list[AllRun] = []
    notes: list[str] = []
    base_name = ""
    for size in sizes:
        project = work / f"project-{size}"
        names, base_name = make_project(ROOT, project, size, base=base)
        out = project / "out"
        ways: list[tuple[str, list[str] | None, int]] = []
        if features.render_all:
            every = [*tfgen, "render", "--all"]
            ways += [(ALL_FIRST, every, 1), (ALL_WARM, every, reps.get(size, 1))]
            j = features.jobs_option
            if j and size <= SINGLE_UP_TO:
                ways.append((f"{ALL_WARM} {j} 1", [*every, j, "1"], 1))
            if j and size <= ALL_WAYS_UP_TO:
                ways.append((f"{ALL_WARM} {j} {cores}", [*every, j, str(cores)], 1))
        else:
            every = [*tfgen, "render", *names]
            ways.append(("tfgen render <every env> (no --all yet)", every, reps.get(size, 1)))
        if not features.jobs_option and size <= SINGLE_UP_TO:
            ways.append(("in-process generate(), one process", None, reps.get(size, 1)))
        for label, argv, count in ways:
            run = AllRun(label, size, [])
            for _ in range(count):
                shutil.rmtree(out, ignore_errors=True)
                if argv is None:
                    start = time.perf_counter()
                    seq_argv = [PYTHON, str(HERE / "stages.py"), "sequential"]
                    seq_argv += ["--project", str(project), "--out", str(out)]
                    seq = run_json(seq_argv, cwd=project, env=env)
                    wall = time.perf_counter() - start
                    run.samples.append(Sample(wall, 0, 0.0, 0, ""))
                    run.internal.append(seq["generate"])
                    continue
                sample = run_child(argv, cwd=project, env=env)
                if sample.rc != 0:
                    msg = (
                        f"{label} over {size} synthetic environments (copies of "
                        f"{base_name}.yaml made by benchmarks/synth.py) exited {sample.rc}:\n"
                    )
                    raise RuntimeError(msg + sample.stderr[-2000:])
                run.samples.append(sample)
            written = sum(1 for d in out.iterdir() if d.is_dir()) if out.is_dir() else 0
            if written != size:
                notes.append(f"{label} at {size}: {written} output folders, expected {size}")
            runs.append(run)
        if features.check_all and size <= CHECK_UP_TO:
            sample = run_child([*tfgen, "check", "--all"], cwd=project, env=env)
            runs.append(AllRun("tfgen check --all (after a render, caches warm)", size, [sample]))
            if sample.rc != 0:
                notes.append(f"check --all at {size} exited {sample.rc}: {sample.stderr[-300:]}")
        notes.append(
            f"after {size} environments the parse cache holds {cache_entries(env, 'parse')} "
            f"entries (bounded at {MAX_ENTRIES}: past that, the oldest are pruned)"
        )
        shutil.rmtree(project, ignore_errors=True)
    return runs, base_name, notes


# --------------------------------------------------------------------------- report


def ms(seconds: float) -> str:
    """Seconds as milliseconds with one decimal."""
    return f"{seconds * 1000:.1f} ms"


def secs(seconds: float) -> str:
    """Seconds with three decimals."""
    return f"{seconds:.3f} s"


def mib(kib: float) -> str:
    """KiB as MiB with one decimal."""
    return f"{kib / 1024:.1f} MiB"


def machine() -> list[str]:
    """CPU, cores, Python, packages, commit, load: the context every figure needs."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = []
    for name in PACKAGES:
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{name} (not installed)")

    def git(*args: str) -> str:
        proc = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        return proc.stdout.strip() if proc.returncode == 0 else ""

    commit = git("describe", "--always") or "unknown"
    # Changes to the files tested, not to the report this run rewrites.
    if git("status", "--porcelain", "--", ".", ":(exclude)benchmarks/RESULTS.md"):
        commit += " plus uncommitted changes"
    mem = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return [
        f"- Date: {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- CPU: {model}; nproc {os.cpu_count()}, usable {len(os.sched_getaffinity(0))}; "
        f"memory {mem}",
        f"- OS: {platform.platform()}",
        f"- Python: {platform.python_version()} ({platform.python_implementation()}), `{PYTHON}`",
        f"- Packages: {', '.join(versions)}",
        f"- tfgen commit: `{commit}`",
    ]


def verdict(value: float, target: float, unit: Callable[[float], str]) -> str:
    """``met`` or ``MISSED by X (Y %)``."""
    if value <= target:
        return f"met ({unit(target - value)} to spare)"
    over = value - target
    return f"**MISSED** by {unit(over)} ({over / target * 100:.0f} % over)"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def stages_runs(
    envs: Sequence[str], runs: int, warm: int, work: Path, env: dict[str, str], *, empty: bool
) -> list[dict[str, Any]]:
    """stages.py in ``runs`` fresh interpreters; ``empty``: each with an empty cache folder."""
    results = []
    for i in range(runs):
        tag = "empty" if empty else "warm"
        argv = [PYTHON, str(HERE / "stages.py"), "stages", "--envs", ",".join(envs)]
        argv += ["--warm", str(warm if i == 0 else 1), "--out", str(work / f"stages-{tag}-{i}")]
        run_env = with_cache(env, work / f"stages-cache-{i}") if empty else env
        results.append(run_json(argv, cwd=ROOT, env=run_env))
    return results


def profile_run(work: Path, env: dict[str, str], tag: str) -> dict[str, Any]:
    """stages.py's cProfile of render prod in process, with the cache folder of ``env``."""
    argv = [PYTHON, str(HERE / "stages.py"), "profile", "--envs", "prod", "--warm", "5"]
    return run_json([*argv, "--out", str(work / f"profile-{tag}")], cwd=ROOT, env=env)


STAGES = ("load+validate", "render", "verify", "write (fresh folder)", "write (up to date)")


def first_medians(runs: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Median over fresh interpreters of each first-run stage."""
    keys = runs[0]["first"]
    return {k: statistics.median(r["first"][k] for r in runs if k in r["first"]) for k in keys}


def import_medians(runs: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Median over fresh interpreters of each timed import."""
    return {k: statistics.median(r["imports"][k] for r in runs) for k in runs[0]["imports"]}


def budget_rows(
    runs: Sequence[dict[str, Any]], interp: float, measured: float, write: str
) -> list[list[str]]:
    """Where one render prod process goes, from the in-process timings of ``runs``."""
    first = first_medians(runs)
    imports = import_medians(runs)
    stages = [k for k in STAGES if k in first and (not k.startswith("write") or k == write)]
    rows = [["interpreter start (`python -c pass`)", ms(interp)]]
    rows += [[f"import {k}", ms(v)] for k, v in imports.items()]
    rows += [[f"first {k}", ms(first[k])] for k in stages]
    accounted = interp + sum(imports.values()) + sum(first[k] for k in stages)
    rows.append(["sum of the above (the rest: click, the CLI, process exit)", ms(accounted)])
    rows.append(["measured process (median)", ms(measured)])
    return rows


def budget_text(runs: Sequence[dict[str, Any]], interp: float, write: str) -> str:
    """:func:`budget_rows` as one sentence."""
    rows = budget_rows(runs, interp, 0.0, write)[:-2]
    text = "; ".join(f"{what} {value}" for what, value in rows)
    if runs[0].get("first_imported_hcl2"):
        text += " (the first verify imported python-hcl2 and loaded its parser: a parse miss)"
    else:
        text += " (every parse was a cache hit: python-hcl2 was not imported)"
    return text


def top_functions(profile: dict[str, Any], key: str, count: int = 5) -> str:
    """The ``count`` heaviest functions of one profile table, as text."""
    return ", ".join(
        f"`{r['function']}` {ms(r['tottime'])} own / {ms(r['cumtime'])} cumulative"
        for r in profile[key][:count]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=10, help="rounds of CLI runs")
    parser.add_argument("--sizes", default="10,100,500", help="synthetic project sizes")
    parser.add_argument("--warm", type=int, default=10, help="warm in-process iterations")
    parser.add_argument("--base-env", default=None, help="environment the synthetic ones copy")
    parser.add_argument("--quick", action="store_true", help="fewer repeats (smoke run)")
    parser.add_argument("--no-wheel", action="store_true", help="skip the installed wheel")
    parser.add_argument("--output", type=Path, default=HERE / "RESULTS.md")
    args = parser.parse_args()
    repeat = 3 if args.quick else args.repeat
    warm = 5 if args.quick else args.warm
    fresh_runs = 2 if args.quick else 5
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    reps = QUICK_REPS if args.quick else FULL_REPS
    started = time.perf_counter()
    load_before = os.getloadavg()

    def say(text: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f}s] {text}", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="tfgen-bench-") as tmp:
        work = Path(tmp)
        here = installed_here(work)
        env = child_env(work / "cache", pythonpath=not here)
        features = detect_features(env)
        say(
            f"CLI commands: {features.commands}; render --all: {features.render_all}; "
            f"jobs option: {features.jobs_option}; editable install is this checkout: {here}"
        )
        if args.no_wheel:
            wheel = Wheel(None, "skipped: --no-wheel", 0.0)
        else:
            say("installed wheel, in a temporary venv")
            wheel = install_wheel(work)
        say(f"wheel: {wheel.note} ({wheel.seconds:.0f} s)")
        say("lark parser cache")
        parser_info = run_json([PYTHON, str(HERE / "stages.py"), "parser"], cwd=ROOT, env=env)
        parser_loads = [] if not parser_info["cache_existed"] else [parser_info["load"]]
        parser_loads += [
            run_json([PYTHON, str(HERE / "stages.py"), "parser"], cwd=ROOT, env=env)["load"]
            for _ in range(4)
        ]
        no_cache = run_json(
            [PYTHON, str(HERE / "stages.py"), "parser", "--no-cache"], cwd=ROOT, env=env
        )["build_without_cache"]
        templates = [
            run_json([PYTHON, str(HERE / "stages.py"), "templates"], cwd=ROOT, env=env)
            for _ in range(3)
        ]
        say(f"CLI processes, {repeat} rounds")
        cases = cold_cli(features, repeat, work / "cli", env, wheel)
        say("imports of light commands")
        heavy = heavy_imports(features, env)
        say("-X importtime")
        imports = import_profile(env, work / "imports", fresh_runs)
        imports_empty = import_profile(env, work / "imports-empty", fresh_runs, empty_cache=True)
        say("in-process stages")
        from generator.inputs.environment import list_environments

        shipped = list_environments(ROOT)
        envs = ["prod", *[e for e in shipped if e != "prod"]] if "prod" in shipped else shipped
        stage_runs = stages_runs(envs, fresh_runs, warm, work, env, empty=False)
        stage_empty = stages_runs(["prod"], fresh_runs, 1, work, env, empty=True)
        say("cProfile")
        profile = profile_run(work, env, "warm")
        profile_empty = profile_run(work, with_cache(env, work / "profile-cache"), "empty")
        say(f"render --all over {sizes}")
        all_runs, base_name, all_notes = render_all(
            features, sizes, reps, work / "all", env, args.base_env
        )
    elapsed = time.perf_counter() - started
    load_after = os.getloadavg()

    # ------------------------------------------------------------------ write the report
    by = {c.label: c for c in cases}

    def median_wall(label: str) -> float | None:
        case = by.get(label)
        return statistics.median(s.wall for s in case.samples) if case else None

    def median_cpu(label: str) -> float | None:
        case = by.get(label)
        return statistics.median(s.cpu for s in case.samples) if case else None

    interp = median_wall(PASS) or 0.0
    warm_wall = median_wall(RENDER_WARM) or 0.0
    cold_wall = median_wall(RENDER_COLD) or 0.0
    check_wall = median_wall(CHECK_ALL)
    help_wall = median_wall(HELP) or 0.0
    render_rss = max(s.rss_kib for label in RENDER_CASES[:4] for s in by[label].samples)
    rss_label = max(RENDER_CASES[:4], key=lambda label: max(s.rss_kib for s in by[label].samples))

    def all_wall(size: int) -> tuple[float | None, float]:
        found = [r for r in all_runs if r.size == size and r.label == ALL_WARM]
        if not found:
            return None, 0.0
        samples = found[0].samples
        return (
            statistics.median(s.wall for s in samples),
            statistics.median(s.cpu for s in samples),
        )

    out: list[str] = [
        "# tfgen benchmarks",
        "",
        "Generated by `make bench` (`.venv/bin/python benchmarks/run.py`); do not edit by hand.",
        f"Whole benchmark: {elapsed:.0f} s. Load average before {load_before[0]:.2f}, "
        f"after {load_after[0]:.2f} (other work on the machine inflates every figure).",
        "",
    ]
    if args.quick:
        out += [
            f"**A `--quick` run** ({repeat} rounds per CLI command, {fresh_runs} fresh "
            "interpreters per in-process figure, one run per way of rendering many "
            "environments): a smoke test of the benchmark, not figures of record. "
            "Run `make bench` for those.",
            "",
        ]
    if load_before[0] > 0.5 * len(os.sched_getaffinity(0)):
        out += [
            "**The machine was busy while this ran**: wall times are inflated and spread "
            "widely; *median CPU* and *min* are the better guides. Re-run on an idle machine.",
            "",
        ]
    install = (
        "editable install of this checkout (`pip install -e`), as `make bench` makes it"
        if here
        else f"the venv's install is not this checkout: children run `{ROOT}` via PYTHONPATH"
    )
    out += [
        "## Machine",
        "",
        *machine(),
        f"- tfgen under test: {install}; `{' '.join(tfgen_argv())}`",
        "- Caches: every child gets `XDG_CACHE_HOME` in the benchmark's temporary folder (the "
        "user's own cache is neither read nor changed). *Caches warm*: that folder, filled by "
        "two unrecorded warm-up rounds; *every tfgen cache empty*: a new, empty "
        "`XDG_CACHE_HOME` per run. python-hcl2's own grammar cache "
        "(`site-packages/hcl2/.lark_cache.bin`, not a tfgen cache) is present in both.",
        "",
        "## Targets (issue 12)",
        "",
        f"Reference points: `python -c pass` takes {secs(interp)} here (interpreter start, "
        f"nothing imported); CDKTF takes {CDKTF_SECONDS:.1f} s for the same stack on this "
        "machine (issue 12; a constant, not measured by this script).",
        "",
    ]

    def row(what: str, target: float, value: float | None, cpu: float | None) -> list[str]:
        if value is None:
            return [what, secs(target), "not measured", "", "", "", "-"]
        return [
            what,
            secs(target),
            secs(value),
            secs(cpu) if cpu else "",
            ms(value - interp),
            f"{CDKTF_SECONDS / value:.0f}x",
            verdict(value, target, secs),
        ]

    rows = [
        row(
            "`tfgen render prod`, nothing changed since the last render, caches warm (median)",
            TARGET_RENDER_WARM,
            warm_wall,
            median_cpu(RENDER_WARM),
        ),
        row(
            "`tfgen render prod`, every tfgen cache empty (median)",
            TARGET_RENDER_COLD,
            cold_wall,
            median_cpu(RENDER_COLD),
        ),
        row(
            f"`tfgen check --all`, the {len(shipped)} shipped environments, caches warm (median)",
            TARGET_CHECK_ALL,
            check_wall,
            median_cpu(CHECK_ALL),
        ),
    ]
    for size, target in TARGET_ALL.items():
        wall, cpu = all_wall(size)
        label = f"`tfgen render --all`, {size} synthetic environments, caches warm (median)"
        line = row(label, target, wall, cpu)
        line[5] = "-"  # CDKTF's figure is for one stack
        rows.append(line)
    rows.append(row("`tfgen --help` (median)", TARGET_HELP, help_wall, median_cpu(HELP)))
    rows.append(
        [
            f"peak RSS of `tfgen render prod` (max of every run; {rss_label.split('(')[1][:-1]})",
            f"{TARGET_RENDER_RSS_MIB:.0f} MiB",
            mib(render_rss),
            "",
            f"`python -c pass`: {mib(max(s.rss_kib for s in by[PASS].samples))}",
            "",
            verdict(render_rss / 1024, TARGET_RENDER_RSS_MIB, lambda v: f"{v:.1f} MiB"),
        ]
    )
    out += table(
        [
            "what",
            "target",
            "measured",
            "CPU",
            "beyond `python -c pass`",
            f"CDKTF {CDKTF_SECONDS:.1f} s / this",
            "verdict",
        ],
        rows,
    )
    others = [
        f"- `tfgen render prod` into a fresh output folder, caches warm: "
        f"{secs(median_wall(RENDER_FRESH) or 0.0)}; with `--no-cache`: "
        f"{secs(median_wall(RENDER_NO_CACHE) or 0.0)}.",
    ]
    if (one_job := median_wall(CHECK_ALL_ONE)) is not None:
        others.append(f"- `tfgen check --all --jobs 1`, caches warm: {secs(one_job)}.")
    for size in TARGET_ALL:
        first = [r for r in all_runs if r.size == size and r.label == ALL_FIRST]
        if first:
            others.append(
                f"- `tfgen render --all` over {size} environments, first run (each "
                "environment's own files parsed and cached): "
                f"{secs(statistics.median(s.wall for s in first[0].samples))}."
            )
    if wheel.tfgen is not None:
        ww, wc = median_wall(WHEEL_WARM) or 0.0, median_wall(WHEEL_COLD) or 0.0
        others.append(
            f"- Installed wheel ({wheel.note}, {wheel.seconds:.0f} s) against the editable "
            f"install, `tfgen render prod`: caches warm {secs(ww)} vs {secs(warm_wall)} "
            f"(wheel {ms(ww - warm_wall)}), every cache empty {secs(wc)} vs {secs(cold_wall)} "
            f"(wheel {ms(wc - cold_wall)}). Under `-X importtime` the editable-install finder "
            f"itself takes {ms(imports['groups'].get('editable-install finder', 0.0))}."
        )
    else:
        others.append(f"- Installed wheel against the editable install: {wheel.note}.")
    out += ["", "Other figures (no target):", "", *others]

    misses: list[str] = []
    groups = ", ".join(f"{g} {ms(v)}" for g, v in list(imports["groups"].items())[:6])
    groups_empty = ", ".join(f"{g} {ms(v)}" for g, v in list(imports_empty["groups"].items())[:6])
    if warm_wall > TARGET_RENDER_WARM:
        misses.append(
            f"- `render prod` with warm caches is over its target by "
            f"{ms(warm_wall - TARGET_RENDER_WARM)}. In-process budget (medians of "
            f"{len(stage_runs)} fresh interpreters, caches warm): "
            + budget_text(stage_runs, interp, "write (up to date)")
            + f". Largest import groups under `-X importtime`: {groups}. Heaviest functions "
            f"of the first in-process run (cProfile, own time): "
            + top_functions(profile, "first_tottime")
            + "."
        )
    if cold_wall > TARGET_RENDER_COLD:
        misses.append(
            f"- `render prod` with every tfgen cache empty is over its target by "
            f"{ms(cold_wall - TARGET_RENDER_COLD)}. In-process budget (medians of "
            f"{len(stage_empty)} fresh interpreters, each with an empty cache folder): "
            + budget_text(stage_empty, interp, "write (fresh folder)")
            + ". python-hcl2's parser loads from its own cache in "
            f"{ms(statistics.median(parser_loads))} (import of hcl2 and lark "
            f"{ms(parser_info['import_hcl2'])}). Largest import "
            f"groups under `-X importtime`, empty cache: {groups_empty}. Heaviest functions "
            "(cProfile, own time): " + top_functions(profile_empty, "first_tottime") + "."
        )
    if check_wall is not None and check_wall > TARGET_CHECK_ALL:
        warm_envs = stage_runs[0]["warm"]
        per_env = ", ".join(
            f"{name} {ms(sum(st[k]['median'] for k in STAGES[:3] if k in st))}"
            for name, st in warm_envs.items()
        )
        misses.append(
            f"- `check --all` is over its target by {ms(check_wall - TARGET_CHECK_ALL)}. It "
            f"renders and verifies all {len(shipped)} environments and compares them with "
            f"out/; warm in-process load+validate+render+verify per environment: {per_env}; "
            "interpreter and imports as for `render prod` (above); CPU "
            f"{secs(median_cpu(CHECK_ALL) or 0.0)} for the wall above (worker processes "
            "start and import the engine again)"
            + (
                f"; with one job (no worker processes): {secs(one_wall)}."
                if (one_wall := median_wall(CHECK_ALL_ONE)) is not None
                else "."
            )
        )
    from generator.cache import MAX_ENTRIES as max_entries

    for size, target in TARGET_ALL.items():
        wall, cpu = all_wall(size)
        if wall is not None and wall > target:
            synthetic = stage_runs[0]["warm"].get(base_name, {})
            split = ", ".join(
                f"{k} {ms(synthetic[k]['median'])}" for k in STAGES[:4] if k in synthetic
            )
            files = synthetic.get("files", {}).get("median", 0.0)
            needed = int(files * size)
            bound = ""
            if needed > max_entries:
                bound = (
                    f" Its {size} environments need about {needed} parse-cache entries "
                    f"({files:.0f} files each, every one naming its environment) but the "
                    f"parse cache keeps {max_entries}: least recently used goes first, so "
                    "a run over them all evicts each entry before it is read again and "
                    "the *warm* run parses (and writes) nearly every file anew."
                )
            misses.append(
                f"- `render --all` over {size} environments is over its target by "
                f"{secs(wall - target)} ({ms(wall / size)} per environment, CPU {secs(cpu)}, "
                f"CPU/wall {cpu / wall:.2f}). One environment like the synthetic ones "
                f"(`{base_name}`, warm, in process): {split or 'not measured'}; its first "
                "run, when every file is a parse miss, is in section 3." + bound
            )
    if render_rss / 1024 > TARGET_RENDER_RSS_MIB:
        misses.append(
            f"- Peak RSS is over its target; `python -c pass` alone peaks at "
            f"{mib(max(s.rss_kib for s in by[PASS].samples))}."
        )
    if help_wall > TARGET_HELP:
        misses.append(
            f"- `tfgen --help` is over its target by {ms(help_wall - TARGET_HELP)}; interpreter "
            f"start is {ms(interp)}, heavy modules it imports: "
            f"{', '.join(heavy.get('tfgen --help', [])) or 'none'}."
        )
    if misses:
        out += ["", "Misses, and where the time goes:", "", *misses]
    else:
        out += ["", "Every target holds."]
    out += [
        "",
        f"## 1. CLI processes ({repeat} interleaved rounds after 2 warm-up rounds)",
        "",
        "Wall time from `Popen` to `os.wait4`; peak RSS is `ru_maxrss` of that child. "
        "`render prod` runs with `TERRAFORM_STATE_BUCKET` set, verification included; "
        "*fresh out/* writes into a new output folder each run, *up to date* re-renders a "
        "folder that already holds the same output. *wheel* rows run tfgen installed from "
        "its wheel in a temporary venv.",
        "",
    ]
    rows = []
    for case in cases:
        w = spread([s.wall for s in case.samples])
        rss = [s.rss_kib for s in case.samples]
        cpu = statistics.median(s.cpu for s in case.samples)
        rows.append(
            [
                case.label,
                secs(w["median"]),
                f"{secs(w['q1'])} - {secs(w['q3'])}",
                f"{secs(w['min'])} - {secs(w['max'])}",
                secs(cpu),
                mib(statistics.median(rss)),
                mib(max(rss)),
            ]
        )
    out += table(
        ["command", "median wall", "IQR", "min - max", "median CPU", "median RSS", "max RSS"],
        rows,
    )
    out += [
        "",
        "Heavy modules imported by light commands (should be none of "
        f"{', '.join(HEAVY)}; `tfgen list` may import yaml and jsonschema_rs):",
        "",
    ]
    for label, mods in heavy.items():
        out.append(f"- `{label}`: {', '.join(mods) if mods else 'none'}")
    for title, prof in (
        ("caches warm", imports),
        ("every tfgen cache empty", imports_empty),
    ):
        out += [
            "",
            f"### Imports of a `tfgen render prod` process, {title}",
            "",
            f"`python -X importtime`, median of {fresh_runs} runs: imports total "
            f"{secs(prof['total'])} (importtime itself inflates this a little). Self time "
            "grouped by top-level package:",
            "",
        ]
        out += table(
            ["package", "import self time"],
            [[g, ms(v)] for g, v in list(prof["groups"].items())[:14]],
        )
    for title, runs, measured, write in (
        ("caches warm, nothing changed", stage_runs, warm_wall, "write (up to date)"),
        ("every tfgen cache empty", stage_empty, cold_wall, "write (fresh folder)"),
    ):
        out += [
            "",
            f"### Budget of one `tfgen render prod`, {title}",
            "",
            f"From in-process timings (medians of {len(runs)} fresh interpreters; "
            + (
                "the first verify imported python-hcl2: a parse-cache miss"
                if runs[0].get("first_imported_hcl2")
                else "every parse a cache hit, python-hcl2 not imported"
            )
            + "):",
            "",
        ]
        out += table(["step", "time"], budget_rows(runs, interp, measured, write))
    out += [
        "",
        "python-hcl2's Lark parser (loaded on the first parse-cache miss):",
        "",
        f"- its own cache file `{parser_info['cache_file']}` "
        f"({'present' if parser_info['cache_exists_after'] else 'ABSENT'}, "
        f"{parser_info['cache_bytes'] / 1024:.0f} KiB; folder "
        + (
            "writable)"
            if parser_info["cache_dir_writable"]
            else "NOT writable: tfgen keeps it in its cache folder, grammar/)"
        ),
        (
            f"- the cache did not exist: this run's first load built and wrote it in "
            f"{secs(parser_info['load'])} (python-hcl2 writes it on first use)"
            if not parser_info["cache_existed"]
            else "- the cache existed before this run"
        ),
        f"- load from the cache: median {ms(statistics.median(parser_loads))} "
        f"over {len(parser_loads)} fresh interpreters; build without the cache: {secs(no_cache)}",
        f"- import of hcl2 (and lark): {ms(parser_info['import_hcl2'])}",
        f"- verify parses with: {parser_info.get('verify_parse', 'unknown')}",
        "",
        f"Jinja templates ({templates[0]['templates']} files, partials included): compiling all "
        f"of them {ms(statistics.median(t['compile'] for t in templates))}; loading them from "
        f"tfgen's bytecode cache (`$XDG_CACHE_HOME/tfgen/jinja`) "
        f"{ms(statistics.median(t['load'] for t in templates[1:]))} (medians of fresh "
        "interpreters; the first run on a machine, or after a template changes, compiles).",
        "",
        "## 2. In-process cost per environment",
        "",
        "`Project.load_environment`, `generator.engine.render.render_environment`, "
        "`generator.verify.rules.verify_rendered`, `generator.output.writer.write_output`, "
        "timed with "
        f"`time.perf_counter`. First run: the first environment (`{stage_runs[0]['first_env']}`) "
        f"in a fresh interpreter (median of {len(stage_runs)}), caches warm, and again with an "
        "empty cache folder. Warm: median [IQR] of "
        f"{warm} iterations after that, in the same interpreter.",
        "",
    ]
    first = stage_runs[0]["first"]
    stage_keys = [k for k in STAGES if k in first]
    header = ["environment", "files / bytes", *stage_keys, "total"]
    rows = []
    for title, runs in (("first run, caches warm", stage_runs), ("first run, empty", stage_empty)):
        med = first_medians(runs)
        line = [
            f"{runs[0]['first_env']} ({title})",
            f"{med['files']:.0f} / {med['bytes']:.0f}",
        ]
        line += [ms(med[k]) for k in stage_keys]
        line.append(ms(sum(med[k] for k in stage_keys if k != "write (up to date)")))
        rows.append(line)
    for name, stats in stage_runs[0]["warm"].items():
        line = [
            f"{name} (warm)",
            f"{stats['files']['median']:.0f} / {stats['bytes']['median']:.0f}",
        ]
        for k in stage_keys:
            if k in stats:
                st = stats[k]
                line.append(f"{ms(st['median'])} [{st['q1'] * 1000:.1f}-{st['q3'] * 1000:.1f}]")
            else:
                line.append("-")
        total = sum(stats[k]["median"] for k in stage_keys if k in stats and "up to date" not in k)
        line.append(ms(total))
        rows.append(line)
    out += table(header, rows)
    out += ["", "Totals leave out *write (up to date)*, the alternative to a fresh write.", ""]

    out += [
        "## 3. Rendering many environments",
        "",
        f"Synthetic projects: `templates/` and `environments/_*.yaml` copied, plus N copies of "
        f"`{base_name}.yaml` with distinct names, VPC CIDR blocks and state keys "
        "(benchmarks/synth.py). The output folder is removed before every run. Caches: the "
        "benchmark's folder, warm from section 1; the *first run* of a size also parses and "
        "caches the files that differ per environment, the *caches warm* runs after it are "
        "the figures of the targets.",
        "",
    ]
    if not features.render_all:
        out += [
            "**`tfgen render --all` does not exist**: every environment is named on the "
            "command line instead (`tfgen render bench-0001 … bench-N`).",
            "",
        ]
    rows = []
    for run in all_runs:
        w = spread([s.wall for s in run.samples])
        per = w["median"] / run.size
        cpu = statistics.median(s.cpu for s in run.samples)
        util = f"{cpu / w['median']:.2f}" if cpu else "-"
        peak = mib(max(s.rss_kib for s in run.samples)) if run.samples[0].rss_kib else "-"
        internal = ms(statistics.median(run.internal) / run.size) if run.internal else "-"
        rows.append(
            [
                run.label,
                str(run.size),
                str(len(run.samples)),
                secs(w["median"]),
                f"{secs(w['min'])} - {secs(w['max'])}",
                ms(per),
                internal,
                secs(cpu) if cpu else "-",
                util,
                peak,
            ]
        )
    out += table(
        [
            "how",
            "envs",
            "runs",
            "median wall",
            "min - max",
            "per env",
            "per env (internal)",
            "CPU (all processes)",
            "CPU / wall",
            "peak RSS",
        ],
        rows,
    )
    marginal: list[str] = []
    labels = dict.fromkeys(r.label for r in all_runs)
    for label in labels:
        points = {
            r.size: spread([s.wall for s in r.samples])["median"]
            for r in all_runs
            if r.label == label
        }
        if len(points) >= 2:
            lo, hi = min(points), max(points)
            marginal.append(
                f"- {label}: marginal cost per extra environment "
                f"{ms((points[hi] - points[lo]) / (hi - lo))} (from {lo} to {hi})"
            )
    out += ["", *marginal]
    if features.jobs_option:
        cores = len(os.sched_getaffinity(0))
        for size in sizes:
            j1 = [r for r in all_runs if r.size == size and r.label.endswith(" 1")]
            warm_runs = [r for r in all_runs if r.size == size and r.label == ALL_WARM]
            if j1 and warm_runs:
                a = statistics.median(s.wall for s in j1[0].samples)
                b = statistics.median(s.wall for s in warm_runs[0].samples)
                out.append(
                    f"- {size} environments: speed-up of the default jobs ({cores} cores) "
                    f"over one job {a / b:.2f}x"
                )
    out += [f"- note: {n}" for n in all_notes]
    for title, prof in (("caches warm", profile), ("every tfgen cache empty", profile_empty)):
        out += [
            "",
            f"## Profile (cProfile, in process, after imports), {title}",
            "",
            f"`{prof['env']}`: first render+verify+write {ms(prof['first_total'])} of profiled "
            f"time; {prof['warm_runs']} warm runs {ms(prof['warm_total'])} "
            f"({ms(prof['warm_total'] / prof['warm_runs'])} each). cProfile slows code "
            "down; read the shares, not the absolute times.",
            "",
        ]
        keys = [("first_cumtime", "First run, by cumulative time")]
        keys.append(("first_tottime", "First run, by own time"))
        if title == "caches warm":
            keys.append(("warm_tottime", "Warm runs, by own time"))
        for key, subtitle in keys:
            out += [f"{subtitle}:", ""]
            out += table(
                ["function", "calls", "own", "cumulative"],
                [
                    [f"`{r['function']}`", str(r["calls"]), ms(r["tottime"]), ms(r["cumtime"])]
                    for r in prof[key][:12]
                ],
            )
            out.append("")
    args.output.write_text("\n".join(out) + "\n", encoding="utf-8")
    say(f"wrote {args.output}")
    return 0


def run() -> int:
    """main(), but a failed measurement leaves the previous RESULTS.md untouched."""
    try:
        return main()
    except RuntimeError as err:
        print(f"benchmark aborted, RESULTS.md left unchanged: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(run())
