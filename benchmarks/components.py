"""Benchmark components: render --all and list --json of N environments x 3 components.

The shipped catalog-api templates are split into three components (network, data, app)
in a temporary copy, with a small wiring template per component so that data reads the
network's outputs and app reads both (five references); the synthetic environments are
those of ``benchmarks/synth.py``. Prints the figures; targets (issue 17): ``render --all``
of 100 environments x 3 components, caches warm, at most 5 s; ``list --json`` at most 0.5 s.

Run: ``.venv/bin/python benchmarks/components.py [--count 100] [--rounds 5]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synth import make_project

ROOT = Path(__file__).resolve().parent.parent
SHARED = ["backend.hcl.j2", "versions.tf.j2", "providers.tf.j2", "main.tf.j2"]
COMPONENTS = {
    "network": [*SHARED, "network.tf.j2", "bench_network.tf.j2"],
    "data": [*SHARED, "kms.tf.j2", "database.tf.j2", "bench_data.tf.j2"],
    "app": [
        *SHARED,
        "providers_edge.tf.j2",
        "access_logs.tf.j2",
        "alarms.tf.j2",
        "alb.tf.j2",
        "autoscaling.tf.j2",
        "cdn.tf.j2",
        "ecs.tf.j2",
        "iam.tf.j2",
        "security_groups.tf.j2",
        "waf.tf.j2",
        "outputs.tf.j2",
        "bench_app.tf.j2",
    ],
}
WIRING = {
    "bench_network.tf.j2": (
        'output "vpc_id" {\n  value = aws_vpc.main.id\n}\n\n'
        'output "private_subnet_ids" {\n  value = aws_subnet.private[*].id\n}\n'
    ),
    "bench_data.tf.j2": (
        'resource "aws_ssm_parameter" "bench_vpc" {\n'
        '  name  = "/bench/{{ env.name }}/vpc"\n  type  = "String"\n'
        "  value = {{ component.network.vpc_id }}\n}\n\n"
        'output "bench_db_secret_arn" {\n  value = aws_kms_key.main.arn\n}\n'
    ),
    "bench_app.tf.j2": (
        'resource "aws_ssm_parameter" "bench_wiring" {\n'
        '  name  = "/bench/{{ env.name }}/wiring"\n  type  = "StringList"\n'
        '  value = join(",", concat([{{ component.network.vpc_id }}, '
        "{{ component.data.bench_db_secret_arn }}], "
        "{{ component.network.private_subnet_ids }}))\n}\n"
    ),
}


def model_project(dest: Path) -> Path:
    """A copy of the shipped project whose stack declares the three components."""
    shutil.copytree(ROOT / "templates", dest / "templates")
    shutil.copytree(ROOT / "environments", dest / "environments")
    for name, text in WIRING.items():
        (dest / "templates" / name).write_text(text, encoding="utf-8")
    lines = ["", "components:"]
    for name, templates in COMPONENTS.items():
        lines += [f"  {name}:", f"    templates: [{', '.join(templates)}]"]
    with (dest / "templates" / "stack.yaml").open("a", encoding="utf-8") as stack:
        stack.write("\n".join(lines) + "\n")
    return dest


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
        model = model_project(work / "model")
        project = work / "project"
        make_project(model, project, args.count)
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
