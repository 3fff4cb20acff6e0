"""Benchmark components: render --all and list --json of N environments x 3 components.

The shipped catalog-api stack is three components (network, data, app) wired by eleven
outputs; the synthetic environments are those of ``benchmarks/synth.py``. Prints the
figures; targets (issue 17): ``render --all`` of 100 environments x 3 components, caches
warm, at most 5 s; ``list --json`` at most 0.5 s.

Run: ``.venv/bin/python benchmarks/components.py [--count 100] [--rounds 5]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synth import make_project

ROOT = Path(__file__).resolve().parent.parent


def timed(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    """Wall seconds of one run; a failure stops the benchmark with its output."""
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    took = time.perf_counter() - started
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-4000:])
        msg = f"{' '.join(argv)} exited {done.returncode}"
        raise SystemExit(msg)
    return took


def main() -> int:
    """Build the project, warm the caches, print the medians."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    tfgen = [sys.executable, "-m", "generator"]
    with tempfile.TemporaryDirectory(prefix="tfgen-bench-components-") as tmp:
        work = Path(tmp)
        project = work / "project"
        make_project(ROOT, project, args.count)
        env = {
            **os.environ,
            "XDG_CACHE_HOME": str(work / "cache"),
            "TERRAFORM_STATE_BUCKET": "bench-tfstate",
        }
        env.pop("TFGEN_NO_CACHE", None)
        render = [*tfgen, "--project-dir", str(project), "render", "--all"]
        listing = [*tfgen, "--project-dir", str(project), "list", "--json"]
        first = timed(render, project, env)
        timed(render, project, env)  # warm-up: every cache filled
        renders = [timed(render, project, env) for _ in range(args.rounds)]
        timed(listing, project, env)
        lists = [timed(listing, project, env) for _ in range(args.rounds)]
        folders = sum(1 for p in (project / "out").glob("*/*") if p.is_dir())
    print(f"environments: {args.count}; component folders written: {folders}")
    print(f"render --all, first run (caches empty): {first:.3f} s")
    print(
        f"render --all, caches warm: median {statistics.median(renders):.3f} s "
        f"(min {min(renders):.3f}, max {max(renders):.3f}; target 5 s)"
    )
    print(
        f"list --json: median {statistics.median(lists):.3f} s "
        f"(min {min(lists):.3f}, max {max(lists):.3f}; target 0.5 s)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
