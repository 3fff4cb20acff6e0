"""In-process measurements, run by run.py in a fresh interpreter; prints one JSON object.

Modes:
  stages      per-stage cost (load+validate, render, verify, write), first run and warm
  profile     cProfile of the first and of warm in-process renders: top functions
  parser      python-hcl2's Lark parser: import, load from its cache, build without cache
  templates   Jinja: compile every template, and load it from the bytecode cache
  sequential  generate() over every environment of a project, in this one process

Every mode uses tfgen's caches under ``$XDG_CACHE_HOME/tfgen`` as it finds them: run.py
passes its own folder, warm, or a fresh empty one for the cold figures.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import statistics
import sys
import sysconfig
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _now() -> float:
    return time.perf_counter()


def _timed(func: Callable[[], Any]) -> tuple[float, Any]:
    start = _now()
    value = func()
    return _now() - start, value


def _spread(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    q1, _, q3 = statistics.quantiles(ordered, n=4) if len(ordered) > 1 else (ordered * 3)
    return {
        "median": statistics.median(ordered),
        "min": ordered[0],
        "max": ordered[-1],
        "q1": q1,
        "q3": q3,
        "n": len(ordered),
    }


def mode_stages(project: Path, envs: list[str], warm: int, out_root: Path) -> dict[str, Any]:
    """First-run and warm cost of each stage; imports are timed on their own."""
    imports: dict[str, float] = {}
    start = _now()
    from generator.project import load_project

    imports["generator.project (yaml, the engine core, the stack)"] = _now() - start
    start = _now()
    from generator.components.wire import render_components
    from generator.engine.render import render_environment

    imports["generator.engine.render (jinja2, filters)"] = _now() - start
    start = _now()
    from generator.output.writer import write_output
    from generator.verify.rules import verify_rendered

    imports["generator.verify.rules + generator.output.writer"] = _now() - start
    start = _now()
    import generator.cli.app
    import generator.pipeline  # noqa: F401 - what a CLI run imports besides the stages

    imports["generator.pipeline + generator.cli.app (click, multiprocessing, the rest)"] = (
        _now() - start
    )

    environ = dict(os.environ)

    def one(name: str, target: Path, timings: dict[str, list[float]]) -> None:
        dt, loaded = _timed(lambda: load_project(project).load_environment(name, environ=environ))
        timings["load+validate"].append(dt)
        config = loaded.config
        loaded_project = load_project(project)
        stack, graph = loaded_project.stack, loaded_project.graph
        prefix = f"out/{name}"
        if graph is None:
            dt, files = _timed(lambda: render_environment(stack, config, source=loaded.source))
            units = {"": (config, files)}
        else:
            # A stack with components renders, verifies and wires them in one step (the
            # "render" figure); "verify" below verifies each component's files once more.
            dt, found = _timed(
                lambda: render_components(
                    stack, graph, config, source=loaded.source, out_prefix=prefix
                )
            )
            units = {c.name: (c.config, c.files) for c in found}
        timings["render"].append(dt)
        # python-hcl2 is imported (and its Lark parser loaded) lazily, on the first parse-cache
        # miss only: a first verify with a warm cache imports neither, a cold one pays both.
        timings["verify"].append(
            sum(
                _timed(
                    lambda c=c, f=f, u=u: verify_rendered(
                        f, c, out_prefix=prefix + (f"/{u}" if u else "")
                    )
                )[0]
                for u, (c, f) in units.items()
            )
        )
        for key in ("write (fresh folder)", "write (up to date)"):
            timings[key].append(
                sum(
                    _timed(
                        lambda u=u, f=f: write_output(
                            target / u, f, display=f"out/{target.name}{'/' if u else ''}{u}"
                        )
                    )[0]
                    for u, (_, f) in units.items()
                )
            )
        every = [f for _, f in units.values()]
        timings["files"].append(float(sum(len(f) for f in every)))
        timings["bytes"].append(
            float(sum(len(t.encode("utf-8")) for f in every for t in f.values()))
        )

    first: dict[str, list[float]] = _empty()
    one(envs[0], out_root / f"first-{envs[0]}", first)
    first_imported_hcl2 = "hcl2" in sys.modules
    per_env: dict[str, dict[str, dict[str, float]]] = {}
    for name in envs:
        timings = _empty()
        for i in range(warm):
            one(name, out_root / f"warm-{name}-{i}", timings)
        per_env[name] = {k: _spread(v) for k, v in timings.items() if v}
    return {
        "imports": imports,
        "first_env": envs[0],
        "first": {k: v[0] for k, v in first.items() if v},
        "first_imported_hcl2": first_imported_hcl2,
        "warm": per_env,
    }


def _empty() -> dict[str, list[float]]:
    keys = (
        "load+validate",
        "render",
        "verify",
        "write (fresh folder)",
        "write (up to date)",
        "files",
        "bytes",
    )
    return {k: [] for k in keys}


def _short(filename: str) -> str:
    for base in (sysconfig.get_paths()["purelib"], str(ROOT), sysconfig.get_paths()["stdlib"]):
        if filename.startswith(base):
            return filename[len(base) :].lstrip("/")
    return filename


def _top(prof: cProfile.Profile, key: str, limit: int) -> list[dict[str, Any]]:
    stats = pstats.Stats(prof)
    rows = []
    for (filename, line, func), (_cc, calls, tottime, cumtime, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        rows.append(
            {
                "function": f"{_short(filename)}:{line}({func})",
                "calls": calls,
                "tottime": tottime,
                "cumtime": cumtime,
            }
        )
    rows.sort(key=lambda r: r[key], reverse=True)
    return rows[:limit]


def mode_profile(project: Path, env: str, warm: int, out_root: Path, limit: int) -> dict[str, Any]:
    """cProfile of one first in-process render (after imports) and of ``warm`` warm ones."""
    from generator.output.writer import write_output
    from generator.pipeline import render_units
    from generator.project import load_project

    def once(target: Path) -> None:
        # Load, render and verify (every component, wired, for a stack with components).
        for unit in render_units(load_project(project), env, out_root=target):
            write_output(unit.out_dir, unit.files, display=unit.display)

    first = cProfile.Profile()
    first.runcall(once, out_root / "profile-first")
    warm_prof = cProfile.Profile()
    warm_prof.enable()
    for i in range(warm):
        once(out_root / f"profile-warm-{i}")
    warm_prof.disable()
    return {
        "env": env,
        "warm_runs": warm,
        "first_total": pstats.Stats(first).total_tt,  # type: ignore[attr-defined]
        "warm_total": pstats.Stats(warm_prof).total_tt,  # type: ignore[attr-defined]
        "first_cumtime": _top(first, "cumtime", limit),
        "first_tottime": _top(first, "tottime", limit),
        "warm_cumtime": _top(warm_prof, "cumtime", limit),
        "warm_tottime": _top(warm_prof, "tottime", limit),
    }


def mode_parser(no_cache: bool) -> dict[str, Any]:
    """How long python-hcl2's parser takes to import and to load (cached and not)."""
    result: dict[str, Any] = {}
    start = _now()
    import hcl2.parser

    result["import_hcl2"] = _now() - start
    cache = Path(hcl2.parser.PARSER_FILE)
    result["cache_file"] = str(cache)
    result["cache_existed"] = cache.is_file()
    result["cache_dir_writable"] = os.access(cache.parent, os.W_OK)
    start = _now()
    hcl2.parser.parser()
    result["load"] = _now() - start
    result["cache_exists_after"] = cache.is_file()
    result["cache_bytes"] = cache.stat().st_size if cache.is_file() else 0
    import hcl2

    from generator.verify import hclparse as _hclparse

    fast = getattr(_hclparse, "_hcl_loads", None)
    result["verify_parse"] = (
        "python-hcl2's parser without position propagation, rule methods bound once"
        if fast is not None and fast() is not hcl2.loads
        else "plain hcl2.loads"
    )
    if no_cache:
        from hcl2.postlexer import PostLexer
        from lark import Lark

        start = _now()
        Lark.open(
            "hcl2.lark",
            parser="lalr",
            rel_to=hcl2.parser.__file__,
            propagate_positions=True,
            postlex=PostLexer(),
        )
        result["build_without_cache"] = _now() - start
    return result


def mode_templates(project: Path) -> dict[str, Any]:
    """Compiling every template without a bytecode cache, and loading it as a run does."""
    from generator.engine.sandbox import make_env
    from generator.layout import TEMPLATES_DIR

    env = make_env(project / TEMPLATES_DIR)
    names = env.list_templates(filter_func=lambda n: n.endswith(".j2"))
    plain = env.overlay(bytecode_cache=None, cache_size=1000)
    start = _now()
    for name in names:
        plain.get_template(name)
    compiled = _now() - start
    start = _now()
    for name in names:
        env.get_template(name)
    loaded = _now() - start
    cache = env.bytecode_cache
    return {
        "templates": len(names),
        "compile": compiled,
        "load": loaded,
        "cache_dir": getattr(cache, "directory", None),
    }


def mode_sequential(project: Path, out_root: Path) -> dict[str, Any]:
    """generate() over every environment of ``project`` in this single process."""
    start = _now()
    from generator.inputs.environment import list_environments
    from generator.pipeline import RunOptions, generate

    imported = _now()
    names = list_environments(project)
    generate(RunOptions(project_dir=project, environments=names, out_dir=out_root))
    done = _now()
    return {"count": len(names), "import": imported - start, "generate": done - imported}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("mode", choices=("stages", "profile", "parser", "templates", "sequential"))
    parser.add_argument("--project", type=Path, default=ROOT)
    parser.add_argument("--envs", default="prod")
    parser.add_argument("--warm", type=int, default=20)
    parser.add_argument("--out", type=Path, required=False)
    parser.add_argument("--limit", type=int, default=15)
    parser.add_argument("--no-cache", action="store_true")
    args = parser.parse_args()
    out = args.out
    result: dict[str, Any]
    if args.mode == "stages":
        result = mode_stages(args.project, args.envs.split(","), args.warm, out)
    elif args.mode == "profile":
        result = mode_profile(args.project, args.envs.split(",")[0], args.warm, out, args.limit)
    elif args.mode == "parser":
        result = mode_parser(args.no_cache)
    elif args.mode == "templates":
        result = mode_templates(args.project)
    else:
        result = mode_sequential(args.project, out)
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
