"""Benchmark tfgen on this machine and write benchmarks/RESULTS.md.

Run with ``make bench`` (or ``.venv/bin/python benchmarks/run.py``). Not part of the test
suite. Measures, in one run:

1. cold CLI processes: ``tfgen render prod`` (fresh output folder, and again when up to
   date), ``tfgen --help`` (and ``tfgen list`` when the CLI has it), next to
   ``python -c pass`` and ``python -c "import jinja2, yaml, click"``: wall time and peak
   RSS per child (``os.wait4``), over repeated interleaved rounds;
2. in-process cost per environment, split into load+validate, render, verify, write,
   first run and warm (stages.py, in fresh interpreters);
3. ``tfgen render --all`` over 10, 100 and 500 synthetic environments in a temporary
   project (synth.py), with the per-environment cost and the scaling with cores.

Where a target is missed, RESULTS.md says by how much and where the time goes
(``-X importtime`` grouped by package, the stage split, cProfile top functions).
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
HEAVY = ("jinja2", "lark", "hcl2", "pydantic", "yaml")
PACKAGES = ("jinja2", "python-hcl2", "lark", "pydantic", "pydantic-core", "click", "PyYAML")

# Targets from issue 7 (2 cores).
TARGET_RENDER_WALL = 0.4
TARGET_RENDER_RSS_MIB = 100.0
TARGET_ALL_100 = 10.0
TARGET_HELP = 0.15


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


def child_env() -> dict[str, str]:
    """The environment of every measured child: ours, plus the state bucket prod reads."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPROFILEIMPORTTIME", "PYTHONDONTWRITEBYTECODE", "PYTHONSTARTUP")
    }
    env.setdefault("TERRAFORM_STATE_BUCKET", STATE_BUCKET)
    # Measure the code of this checkout even when the venv's editable install points elsewhere.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


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
    """One measured command; ``argv`` is built per run (a fresh output folder each time)."""

    label: str
    argv: Callable[[int], list[str]]
    samples: list[Sample] = field(default_factory=list)


def cold_cli(features: Features, repeat: int, work: Path, env: dict[str, str]) -> list[Case]:
    """Interleaved rounds of every command, after two unrecorded warm-up rounds."""
    tfgen = tfgen_argv()
    uptodate = work / "uptodate"
    cases = [
        Case("python -c pass", lambda _: [PYTHON, "-c", "pass"]),
        Case(
            'python -c "import jinja2, yaml, click"',
            lambda _: [PYTHON, "-c", "import jinja2, yaml, click"],
        ),
        Case(
            'python -c "import jinja2, yaml, click, pydantic, hcl2"',
            lambda _: [PYTHON, "-c", "import jinja2, yaml, click, pydantic, hcl2"],
        ),
        Case("tfgen --help", lambda _: [*tfgen, "--help"]),
    ]
    if features.list_command:
        cases.append(Case("tfgen list", lambda _: [*tfgen, "list"]))
    cases += [
        Case(
            "tfgen render prod (fresh out/)",
            lambda i: [*tfgen, "render", "prod", "--out", str(work / f"fresh-{i}")],
        ),
        Case(
            "tfgen render prod (up to date)",
            lambda _: [*tfgen, "render", "prod", "--out", str(uptodate)],
        ),
    ]
    for i in range(-2, repeat):
        for case in cases:
            sample = run_child(case.argv(i), cwd=ROOT, env=env)
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
        "from generator.cli import main\n"
        "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
    ) + report
    commands = {"import generator.cli": None, "tfgen --help": ["--help"]}
    commands["tfgen render --help"] = ["render", "--help"]
    if features.list_command:
        commands["tfgen list"] = ["list"]
    found: dict[str, list[str]] = {}
    for label, args in commands.items():
        if args is None:
            argv = [PYTHON, "-c", "import sys, generator.cli\n" + report]
        else:
            argv = [PYTHON, "-c", probe, *args]
        proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
        last = proc.stderr.strip().splitlines()[-1:] or [""]
        found[label] = [m for m in last[0].split(",") if m]
    return found


def import_profile(env: dict[str, str], work: Path, runs: int) -> dict[str, Any]:
    """``-X importtime`` of a cold ``tfgen render prod``, grouped by top-level package."""
    code = "import sys\nfrom generator.cli import main\nmain(sys.argv[1:])"
    per_group: dict[str, list[float]] = defaultdict(list)
    per_module: dict[str, list[float]] = defaultdict(list)
    totals: list[float] = []
    stdlib = sys.stdlib_module_names
    for i in range(runs):
        argv = [PYTHON, "-X", "importtime", "-c", code]
        argv += ["render", "prod", "--out", str(work / f"importtime-{i}")]
        proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
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


# Runs per way of rendering, by project size: the big sizes only take the default way once,
# so that the whole benchmark stays within a few minutes on 2 cores.
FULL_REPS = {10: 3, 100: 1}
QUICK_REPS = {10: 1, 100: 1}
ALL_WAYS_UP_TO = 10  # sizes up to this also run --jobs 1 and --jobs <cores>
SINGLE_UP_TO = 100  # sizes up to this also run --jobs 1 (the scaling reference)
CHECK_UP_TO = 10  # sizes up to this also run `check --all` after the render


def render_all(
    features: Features,
    sizes: Sequence[int],
    reps: dict[int, int],
    work: Path,
    env: dict[str, str],
    base: str | None,
) -> tuple[list[AllRun], str, list[str]]:
    """Render every environment of synthetic projects of each size, several ways."""
    tfgen = tfgen_argv()
    cores = len(os.sched_getaffinity(0))
    runs: list[AllRun] = []
    notes: list[str] = []
    base_name = ""
    for size in sizes:
        project = work / f"project-{size}"
        names, base_name = make_project(ROOT, project, size, base=base)
        out = project / "out"
        ways: list[tuple[str, list[str] | None]] = []
        if features.render_all:
            ways.append(("tfgen render --all", [*tfgen, "render", "--all"]))
            j = features.jobs_option
            if j and size <= SINGLE_UP_TO:
                ways.append((f"tfgen render --all {j} 1", [*tfgen, "render", "--all", j, "1"]))
            if j and size <= ALL_WAYS_UP_TO:
                ways.append(
                    (f"tfgen render --all {j} {cores}", [*tfgen, "render", "--all", j, str(cores)])
                )
        else:
            ways.append(("tfgen render <every env> (no --all yet)", [*tfgen, "render", *names]))
        if not features.jobs_option and size <= SINGLE_UP_TO:
            ways.append(("in-process generate(), one process", None))
        for label, argv in ways:
            run = AllRun(label, size, [])
            for _ in range(reps.get(size, 1)):
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
            runs.append(AllRun("tfgen check --all (after a render)", size, [sample]))
            if sample.rc != 0:
                notes.append(f"check --all at {size} exited {sample.rc}: {sample.stderr[-300:]}")
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
    commit = (
        subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        or "unknown"
    )
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=10, help="rounds of cold CLI runs")
    parser.add_argument("--sizes", default="10,100,500", help="synthetic project sizes")
    parser.add_argument("--warm", type=int, default=10, help="warm in-process iterations")
    parser.add_argument("--base-env", default=None, help="environment the synthetic ones copy")
    parser.add_argument("--quick", action="store_true", help="fewer repeats (smoke run)")
    parser.add_argument("--output", type=Path, default=HERE / "RESULTS.md")
    args = parser.parse_args()
    repeat = 3 if args.quick else args.repeat
    warm = 5 if args.quick else args.warm
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    reps = QUICK_REPS if args.quick else FULL_REPS
    env = child_env()
    started = time.perf_counter()
    load_before = os.getloadavg()

    def say(text: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f}s] {text}", file=sys.stderr, flush=True)

    features = detect_features(env)
    say(
        f"CLI commands: {features.commands}; render --all: {features.render_all}; "
        f"jobs option: {features.jobs_option}"
    )
    with tempfile.TemporaryDirectory(prefix="tfgen-bench-") as tmp:
        work = Path(tmp)
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
        say(f"cold CLI, {repeat} rounds")
        cases = cold_cli(features, repeat, work / "cold", env)
        say("imports of light commands")
        heavy = heavy_imports(features, env)
        say("-X importtime")
        imports = import_profile(env, work / "imports", 5 if not args.quick else 2)
        say("in-process stages")
        from generator.config import list_environments

        shipped = list_environments(ROOT)
        envs = ["prod", *[e for e in shipped if e != "prod"]] if "prod" in shipped else shipped
        stage_runs = [
            run_json(
                [
                    PYTHON,
                    str(HERE / "stages.py"),
                    "stages",
                    "--envs",
                    ",".join(envs),
                    "--warm",
                    str(warm if i == 0 else 1),
                    "--out",
                    str(work / f"stages-{i}"),
                ],
                cwd=ROOT,
                env=env,
            )
            for i in range(5 if not args.quick else 2)
        ]
        say("cProfile")
        profile = run_json(
            [
                PYTHON,
                str(HERE / "stages.py"),
                "profile",
                "--envs",
                "prod",
                "--warm",
                "5",
                "--out",
                str(work / "profile"),
            ],
            cwd=ROOT,
            env=env,
        )
        say(f"render --all over {sizes}")
        all_runs, base_name, all_notes = render_all(
            features, sizes, reps, work / "all", env, args.base_env
        )
    elapsed = time.perf_counter() - started
    load_after = os.getloadavg()

    # ------------------------------------------------------------------ write the report
    by = {c.label: c for c in cases}
    render_case = by["tfgen render prod (fresh out/)"]
    render_wall = spread([s.wall for s in render_case.samples])
    render_rss = max(s.rss_kib for s in render_case.samples)
    help_wall = spread([s.wall for s in by["tfgen --help"].samples])
    all100 = [r for r in all_runs if r.size == 100 and r.label.startswith("tfgen render")]
    best100 = min(all100, key=lambda r: statistics.median(s.wall for s in r.samples), default=None)
    all100_wall = statistics.median(s.wall for s in best100.samples) if best100 else None
    all100_cpu = statistics.median(s.cpu for s in best100.samples) if best100 else 0.0

    out: list[str] = [
        "# tfgen benchmarks",
        "",
        "Generated by `make bench` (`.venv/bin/python benchmarks/run.py`); do not edit by hand.",
        f"Whole benchmark: {elapsed:.0f} s. Load average before {load_before[0]:.2f}, "
        f"after {load_after[0]:.2f} (other work on the machine inflates every figure).",
        "",
    ]
    if load_before[0] > 0.5 * len(os.sched_getaffinity(0)):
        out += [
            "**The machine was busy while this ran**: wall times are inflated and spread "
            "widely; *median CPU* and *min* are the better guides. Re-run on an idle machine.",
            "",
        ]
    out += [
        "## Machine",
        "",
        *machine(),
        "",
        "## Targets",
        "",
    ]
    rows = [
        [
            "cold `tfgen render prod` median wall",
            secs(TARGET_RENDER_WALL),
            secs(render_wall["median"]),
            secs(statistics.median(x.cpu for x in render_case.samples)),
            verdict(render_wall["median"], TARGET_RENDER_WALL, secs),
        ],
        [
            "cold `tfgen render prod` peak RSS",
            f"{TARGET_RENDER_RSS_MIB:.0f} MiB",
            mib(render_rss),
            "",
            verdict(render_rss / 1024, TARGET_RENDER_RSS_MIB, lambda v: f"{v:.1f} MiB"),
        ],
        [
            "`tfgen --help` median wall",
            secs(TARGET_HELP),
            secs(help_wall["median"]),
            secs(statistics.median(x.cpu for x in by["tfgen --help"].samples)),
            verdict(help_wall["median"], TARGET_HELP, secs),
        ],
    ]
    if all100_wall is not None:
        label = "`tfgen render --all`" if features.render_all else "render of every env"
        rows.append(
            [
                f"{label}, 100 environments",
                secs(TARGET_ALL_100),
                secs(all100_wall),
                secs(all100_cpu),
                verdict(all100_wall, TARGET_ALL_100, secs),
            ]
        )
    out += table(["what", "target", "measured", "CPU (all processes)", "verdict"], rows)
    first_med = {
        k: statistics.median(r["first"][k] for r in stage_runs if k in r["first"])
        for k in stage_runs[0]["first"]
    }
    imports_inproc = {
        k: statistics.median(r["imports"][k] for r in stage_runs) for k in stage_runs[0]["imports"]
    }
    interp = spread([s.wall for s in by["python -c pass"].samples])["median"]
    parser_load = statistics.median(parser_loads)
    misses: list[str] = []
    if render_wall["median"] > TARGET_RENDER_WALL:
        parts = [f"interpreter start {ms(interp)}"]
        parts += [f"import {k} {ms(v)}" for k, v in imports_inproc.items()]
        setup = first_med.get("verify: import hcl2 + load parser", 0.0)
        parts.append(
            f"first verify's import of hcl2+lark and load of the Lark parser {ms(setup)} "
            f"(of which the parser load from its cache is about {ms(parser_load)})"
        )
        parts += [
            f"first {k} {ms(first_med[k])}"
            for k in ("load+validate", "render", "verify", "write (fresh folder)")
            if k in first_med
        ]
        kib = stage_runs[0]["first"].get("bytes", 0) / 1024
        if kib and "verify" in first_med:
            parts.append(
                f"verify parses {kib:.0f} KiB of HCL at {first_med['verify'] * 1000 / kib:.1f} "
                "ms per KiB"
            )
        misses.append(
            "- Cold `tfgen render prod` is over its target; where the time goes (medians, "
            "details below): " + "; ".join(parts) + ". The largest import groups under "
            "`-X importtime`: "
            + ", ".join(f"{g} {ms(v)}" for g, v in list(imports["groups"].items())[:6])
            + "."
        )
    if render_rss / 1024 > TARGET_RENDER_RSS_MIB:
        misses.append(
            f"- Peak RSS is over its target; `python -c pass` alone peaks at "
            f"{mib(max(s.rss_kib for s in by['python -c pass'].samples))}."
        )
    if help_wall["median"] > TARGET_HELP:
        misses.append(
            f"- `tfgen --help` is over its target; interpreter start is {ms(interp)}, heavy "
            f"modules it imports: {', '.join(heavy.get('tfgen --help', [])) or 'none'}."
        )
    if all100_wall is not None and all100_wall > TARGET_ALL_100:
        synthetic = stage_runs[0]["warm"].get(base_name, {})
        split = ", ".join(
            f"{k} {ms(synthetic[k]['median'])}"
            for k in ("load+validate", "render", "verify", "write (fresh folder)")
            if k in synthetic
        )
        misses.append(
            "- Rendering 100 environments is over its target. One environment like the "
            f"synthetic ones (`{base_name}`, warm, in process): {split or 'not measured'}. "
            "See section 3 for the scaling and the profile for the top functions."
        )
    if misses:
        out += ["", "Misses, and where the time goes:", "", *misses]
    out += [
        "",
        f"## 1. Cold CLI processes ({repeat} interleaved rounds after 2 warm-up rounds)",
        "",
        "Wall time from `Popen` to `os.wait4`; peak RSS is `ru_maxrss` of that child. "
        "`render prod` runs with `TERRAFORM_STATE_BUCKET` set, verification included; "
        "*fresh* writes into a new output folder each run, *up to date* re-renders a "
        "folder that already holds the same output.",
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
        f"{', '.join(HEAVY)}; `tfgen list` may import yaml and pydantic):",
        "",
    ]
    for label, mods in heavy.items():
        out.append(f"- `{label}`: {', '.join(mods) if mods else 'none'}")
    out += [
        "",
        "### Where a cold `tfgen render prod` spends its time",
        "",
        f"`python -X importtime`, median of runs: imports total {secs(imports['total'])} "
        "(importtime itself inflates this a little). Self time grouped by top-level package:",
        "",
    ]
    out += table(
        ["package", "import self time"],
        [[g, ms(v)] for g, v in list(imports["groups"].items())[:14]],
    )
    first = stage_runs[0]["first"]
    budget = [
        ["interpreter start (`python -c pass`)", ms(interp)],
        *[[f"import {k}", ms(v)] for k, v in imports_inproc.items()],
        *[
            [f"first {k}", ms(v)]
            for k, v in first_med.items()
            if k not in ("files", "bytes", "write (up to date)")
        ],
    ]
    accounted = interp + sum(imports_inproc.values())
    accounted += sum(
        v for k, v in first_med.items() if k not in ("files", "bytes", "write (up to date)")
    )
    budget.append(["sum of the above (the rest: click, CLI, process exit)", ms(accounted)])
    budget.append(["measured cold `tfgen render prod` (median)", ms(render_wall["median"])])
    out += [
        "",
        "Budget of one cold render, from in-process timings (medians of "
        f"{len(stage_runs)} fresh interpreters):",
        "",
    ]
    out += table(["step", "time"], budget)
    out += [
        "",
        "python-hcl2's Lark parser (loaded on the first verify):",
        "",
        f"- cache file `{parser_info['cache_file']}` "
        f"({'present' if parser_info['cache_exists_after'] else 'ABSENT'}, "
        f"{parser_info['cache_bytes'] / 1024:.0f} KiB; folder "
        + (
            "writable)"
            if parser_info["cache_dir_writable"]
            else "NOT writable: every run rebuilds)"
        ),
        (
            f"- the cache did not exist: this run's first load built and wrote it in "
            f"{secs(parser_info['load'])} (python-hcl2 writes it on first use)"
            if not parser_info["cache_existed"]
            else "- the cache existed before this run"
        ),
        f"- load from the cache: median {ms(parser_load)} "
        f"over {len(parser_loads)} fresh interpreters; build without the cache: {secs(no_cache)}",
        f"- import of hcl2 (and lark): {ms(parser_info['import_hcl2'])}",
        f"- verify parses with: {parser_info.get('verify_parse', 'unknown')}",
        "",
        f"Jinja templates ({templates[0]['templates']} files, partials included): compiling all "
        f"of them {ms(statistics.median(t['compile'] for t in templates))}; loading them from "
        f"the bytecode cache (`{templates[0]['cache_dir']}`) "
        f"{ms(statistics.median(t['load'] for t in templates[1:]))} (medians of fresh "
        "interpreters; the first run on a machine, or after a template changes, compiles).",
        "",
        "## 2. In-process cost per environment",
        "",
        "`generator.config.load_environment`, `generator.render.render_environment`, "
        "`generator.verify.verify_rendered`, `generator.writer.write_output`, timed with "
        f"`time.perf_counter`. First run: the first environment (`{stage_runs[0]['first_env']}`) "
        f"in a fresh interpreter (median of {len(stage_runs)}); it loads the compiled templates "
        "from Jinja's bytecode cache and python-hcl2's parser from its cache, as every run "
        "after the first on a machine does. Warm: median [IQR] of "
        f"{warm} iterations after that.",
        "",
    ]
    stage_keys = [k for k in first if k not in ("files", "bytes")]
    header = ["environment", "files / bytes", *stage_keys, "total"]
    rows = []
    row = [
        f"{stage_runs[0]['first_env']} (first run)",
        f"{first['files']:.0f} / {first['bytes']:.0f}",
    ]
    row += [ms(first_med[k]) for k in stage_keys]
    row.append(ms(sum(first_med[k] for k in stage_keys if k != "write (up to date)")))
    rows.append(row)
    for name, stats in stage_runs[0]["warm"].items():
        row = [f"{name} (warm)", f"{stats['files']['median']:.0f} / {stats['bytes']['median']:.0f}"]
        for k in stage_keys:
            if k in stats:
                s = stats[k]
                row.append(f"{ms(s['median'])} [{s['q1'] * 1000:.1f}-{s['q3'] * 1000:.1f}]")
            else:
                row.append("-")
        total = sum(stats[k]["median"] for k in stage_keys if k in stats and "up to date" not in k)
        row.append(ms(total))
        rows.append(row)
    out += table(header, rows)
    out += ["", "Totals leave out *write (up to date)*, the alternative to a fresh write.", ""]

    out += [
        "## 3. Rendering many environments",
        "",
        f"Synthetic projects: `templates/` and `environments/_*.yaml` copied, plus N copies of "
        f"`{base_name}.yaml` with distinct names, VPC CIDR blocks and state keys "
        "(benchmarks/synth.py). The output folder is removed before every run.",
        "",
    ]
    if not features.render_all:
        out += [
            "**`tfgen render --all` does not exist yet**: every environment is named on the "
            "command line instead (`tfgen render bench-0001 … bench-N`), which runs the same "
            "pipeline sequentially in one process.",
            "",
        ]
    if not features.jobs_option:
        out += [
            "The CLI has no jobs option, so scaling with cores cannot be measured from the "
            "CLI; the reference is in-process sequential `generate()` in one fresh process "
            "(its wall includes interpreter start and imports; *internal* is `generate()` alone).",
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
            jn = [r for r in all_runs if r.size == size and r.label.endswith(f" {cores}")]
            if j1 and jn:
                a = statistics.median(s.wall for s in j1[0].samples)
                b = statistics.median(s.wall for s in jn[0].samples)
                out.append(f"- {size} environments: speed-up with {cores} jobs {a / b:.2f}x")
    out += [f"- note: {n}" for n in all_notes]
    out += [
        "",
        "## Profile (cProfile, in process, after imports)",
        "",
        f"`{profile['env']}`: first render+verify+write {ms(profile['first_total'])} of profiled "
        f"time; {profile['warm_runs']} warm runs {ms(profile['warm_total'])} "
        f"({ms(profile['warm_total'] / profile['warm_runs'])} each). cProfile slows code "
        "down; read the shares, not the absolute times.",
        "",
    ]
    for key, title in (
        ("first_cumtime", "First run, by cumulative time"),
        ("first_tottime", "First run, by own time"),
        ("warm_tottime", "Warm runs, by own time"),
    ):
        out += [f"{title}:", ""]
        out += table(
            ["function", "calls", "own", "cumulative"],
            [
                [f"`{r['function']}`", str(r["calls"]), ms(r["tottime"]), ms(r["cumtime"])]
                for r in profile[key][:12]
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
