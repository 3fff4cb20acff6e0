"""Benchmark: `tfgen adopt`'s matcher against a 5,000-resource state (target: at most 2 s).


Synthesizes a raw state of N objects under CDKTF-style addresses (flattened count ids, an
8-hex hash suffix) and the render that claims them: named resources matched by name,
counted subnets by per-instance CIDR, and associations only through references to what
matched (the matcher's second round). Times reading the state file and matching, each the
median of a few runs, in this process.

Usage: python benchmarks/adopt_bench.py [--objects 5000] [--runs 5]
"""

# ruff: noqa: E501 - synthetic rows and the report read best on one line

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from generator.adopt.match import match
from generator.adopt.rendered import RenderedInstance
from generator.adopt.state import read_state


def synthesize(objects: int) -> tuple[dict[str, Any], list[RenderedInstance]]:
    """A raw state of ``objects`` objects and the render that claims them all."""
    resources: list[dict[str, Any]] = []
    rendered: list[RenderedInstance] = []
    groups = objects // 4
    for i in range(groups):
        name = f"svc-{i}"
        resources.append(
            _resource("aws_sns_topic", f"topic_{i}_{i:08X}", {"name": name, "arn": f"arn:{name}"})
        )
        rendered.append(
            RenderedInstance(
                f"aws_sns_topic.t{i}",
                f"aws_sns_topic.t{i}",
                "aws_sns_topic",
                f"t{i}",
                None,
                {"name": name},
            )
        )
        resources.append(
            _resource("aws_iam_role", f"role_{i}", {"name": f"role-{i}", "id": f"role-{i}"})
        )
        rendered.append(
            RenderedInstance(
                f"aws_iam_role.r{i}",
                f"aws_iam_role.r{i}",
                "aws_iam_role",
                f"r{i}",
                None,
                {"name": f"role-{i}"},
            )
        )
        cidr = f"10.{i // 256 % 256}.{i % 256}.0/24"
        resources.append(
            _resource("aws_subnet", f"private_{i}", {"id": f"subnet-{i}", "cidr_block": cidr})
        )
        rendered.append(
            RenderedInstance(
                f"aws_subnet.private[{i}]",
                "aws_subnet.private",
                "aws_subnet",
                "private",
                i,
                {"cidr_block": cidr},
            )
        )
        resources.append(
            _resource(
                "aws_route_table_association",
                f"assoc_{i}",
                {"id": f"rtbassoc-{i}", "subnet_id": f"subnet-{i}"},
            )
        )
        rendered.append(
            RenderedInstance(
                f"aws_route_table_association.private[{i}]",
                "aws_route_table_association.private",
                "aws_route_table_association",
                "private",
                i,
                {},
                references={"subnet_id": (f"aws_subnet.private[{i}]", "id")},
            )
        )
    state = {
        "version": 4,
        "terraform_version": "1.11.4",
        "serial": 1,
        "lineage": "x",
        "outputs": {},
        "resources": resources,
    }
    return state, rendered


def _resource(kind: str, name: str, attributes: dict[str, Any]) -> dict[str, Any]:
    return {
        "mode": "managed",
        "type": kind,
        "name": name,
        "provider": 'provider["registry.terraform.io/hashicorp/aws"]',
        "instances": [{"schema_version": 0, "attributes": attributes, "sensitive_attributes": []}],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    state, rendered = synthesize(args.objects)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "state.json"
        path.write_text(json.dumps(state), encoding="utf-8")
        size = path.stat().st_size
        reads, matches = [], []
        for _ in range(args.runs):
            began = time.perf_counter()
            objects = read_state(path, "state.json").objects
            reads.append(time.perf_counter() - began)
            began = time.perf_counter()
            result = match(rendered, objects)
            matches.append(time.perf_counter() - began)
    if len(result.matches) != len(objects) or result.ties or result.unmatched or result.created:
        msg = f"the synthetic render was not matched whole: {result}"
        raise SystemExit(msg)
    read, matched = statistics.median(reads), statistics.median(matches)
    print(f"objects: {len(objects)} ({size / 1e6:.1f} MB of state), all matched, no tie")
    print(f"read state: {read * 1000:.0f} ms (median of {args.runs})")
    print(
        f"match:      {matched * 1000:.0f} ms (median of {args.runs}; two rounds, references resolved)"
    )
    print(f"total:      {(read + matched) * 1000:.0f} ms (target: at most 2000 ms)")


if __name__ == "__main__":
    main()
