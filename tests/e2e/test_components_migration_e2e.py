"""End to end: one deployed state moved into components against moto, nothing deleted or replaced.

A single root (its own addresses, as CDKTF or an older tfgen would name them) is applied into
moto. ``tfgen adopt local --state <terraform show -json>`` matches it against every component
of the stack at once and writes import blocks per component and one forget file. Then, wave
by wave (``tfgen list --json``): init, plan (imports and in-place updates only; ``tfgen gate``
passes), apply. The old root, given only the forget file, plans nothing but ``forget`` and
ends with an empty state; a second plan of each component is empty. Run alone with
``.venv/bin/python -m pytest -m e2e tests/e2e/test_components_migration_e2e.py``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.adopt.test_components_adopt import NAMED
from tests.components.conftest import COMPONENT_STACK
from tests.conftest import write_tree
from tests.e2e.test_components_waves_e2e import EMULATED
from tests.e2e.test_e2e import Clock, create_bucket, failed, s3_client, terraform, tfgen
from tests.moto_server import aws_subprocess_env, running_moto_server
from tests.tfhelpers import requires_terraform, terraform_env

BUDGET = float(os.environ.get("TFGEN_MIGRATION_E2E_BUDGET", "600"))
REGION = "eu-west-1"
STATE_BUCKET = "tfgen-migration-e2e-state"

# The single root as it was deployed: other addresses than the components render.
OLD_ROOT = """
terraform {
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100"
    }
  }
}

provider "aws" {
  region                      = "eu-west-1"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  s3_use_path_style           = true
  endpoints {
    ec2            = "@URL@"
    iam            = "@URL@"
    s3             = "@URL@"
    secretsmanager = "@URL@"
    sts            = "@URL@"
  }
}

resource "aws_vpc" "vpc" {
  cidr_block = "10.99.0.0/16"
}

resource "aws_security_group" "db_sg" {
  name   = "acme-db"
  vpc_id = aws_vpc.vpc.id
}

resource "aws_secretsmanager_secret" "secret" {
  name = "db"
}

resource "aws_security_group" "app_sg" {
  name   = "acme-app"
  vpc_id = aws_vpc.vpc.id
  tags = {
    Secret = aws_secretsmanager_secret.secret.arn
  }
}
"""
MOVES = {
    "aws_vpc.vpc": ("network", "aws_vpc.main"),
    "aws_security_group.db_sg": ("data", "aws_security_group.db"),
    "aws_secretsmanager_secret.secret": ("data", "aws_secretsmanager_secret.db"),
    "aws_security_group.app_sg": ("app", "aws_security_group.app"),
}


def plan_changes(
    clock: Clock, step: str, root: Path, env: dict[str, str]
) -> tuple[list[dict[str, Any]], Path]:
    """Plan ``root`` into tfplan; its resource changes, and the plan's JSON file."""
    result = terraform(clock, f"plan {step}", ["plan", "-input=false", "-out=tfplan"], root, env)
    assert result.returncode == 0, failed(result, f"terraform plan ({step})")
    result = terraform(clock, f"show {step}", ["show", "-json", "tfplan"], root, env)
    assert result.returncode == 0, failed(result, f"terraform show ({step})")
    path = root / "plan.json"
    path.write_text(result.stdout, encoding="utf-8")
    found: list[dict[str, Any]] = json.loads(result.stdout).get("resource_changes", [])
    return found, path


def destructive(changes: list[dict[str, Any]]) -> list[str]:
    return [c["address"] for c in changes if "delete" in c["change"]["actions"]]


@pytest.mark.e2e
@requires_terraform
def test_a_single_state_moves_into_components_by_import_and_the_old_root_forgets(
    tmp_path: Path,
) -> None:
    clock = Clock(BUDGET, tmp_path)
    plugin_cache = tmp_path / "plugin-cache"
    plugin_cache.mkdir()
    env = aws_subprocess_env(
        terraform_env(tmp_path, TF_PLUGIN_CACHE_DIR=str(plugin_cache)), AWS_REGION=REGION
    )
    with running_moto_server(tmp_path / "moto") as server:
        old = tmp_path / "old-root"
        old.mkdir()
        (old / "main.tf").write_text(OLD_ROOT.replace("@URL@", server.url), encoding="utf-8")
        for step, args in (
            ("init old", ["init", "-input=false"]),
            ("apply old", ["apply", "-input=false", "-auto-approve"]),
        ):
            result = terraform(clock, step, args, old, env)
            assert result.returncode == 0, failed(result, f"terraform {step}")
        result = terraform(clock, "show old", ["show", "-json"], old, env)
        assert result.returncode == 0, failed(result, "terraform show -json (old root)")
        state = tmp_path / "old.json"
        state.write_text(result.stdout, encoding="utf-8")

        project = tmp_path / "project"
        write_tree(project, {**COMPONENT_STACK, **EMULATED, **NAMED})
        environ = aws_subprocess_env(
            AWS_ENDPOINT_URL=server.url, TFGEN_LOCAL_STATE_BUCKET=STATE_BUCKET
        )
        at = ["--project-dir", str(project)]
        adopt = tfgen([*at, "adopt", "local", "--state", str(state)], environ)
        assert adopt.returncode == 0, failed(adopt, "tfgen adopt")
        assert "(--import implied)" in adopt.stderr
        sections = yaml.safe_load((project / "adopt" / "local.yaml").read_text("utf-8"))
        imported = {
            (name, item["to"])
            for name, section in sections["components"].items()
            for item in section["import"]
        }
        assert imported == set(MOVES.values())
        rendered = tfgen([*at, "render", "local"], environ)
        assert rendered.returncode == 0, failed(rendered, "tfgen render local")
        listed = tfgen([*at, "list", "--json"], environ)
        (local,) = [row for row in json.loads(listed.stdout) if row["name"] == "local"]
        folders = {c["name"]: project / c["dir"] for c in local["components"]}

        create_bucket(s3_client(server.url, REGION), STATE_BUCKET, REGION)
        for wave in local["waves"]:
            for name in wave:
                folder = folders[name]
                init = ["init", "-input=false", "-backend-config=backend.hcl"]
                result = terraform(clock, f"init {name}", init, folder, env)
                assert result.returncode == 0, failed(result, f"terraform init {name}")
                changes, plan = plan_changes(clock, name, folder, env)
                importing = sorted(c["address"] for c in changes if c["change"].get("importing"))
                assert importing == sorted(a for c, a in MOVES.values() if c == name)
                assert destructive(changes) == []
                assert [c["address"] for c in changes if "create" in c["change"]["actions"]] == []
                gate = tfgen(["gate", str(plan)], environ)
                assert gate.returncode == 0, failed(gate, f"tfgen gate {name}")
                apply = ["apply", "-input=false", "tfplan"]
                result = terraform(clock, f"apply {name}", apply, folder, env)
                assert result.returncode == 0, failed(result, f"terraform apply {name}")

        # The old root is retired: only its provider and the forget file tfgen wrote.
        forget = (project / "adopt" / "local.forget.tf").read_text("utf-8")
        head = OLD_ROOT.replace("@URL@", server.url).split('resource "', 1)[0]
        (old / "main.tf").write_text(head + "\n" + forget, encoding="utf-8")
        changes, plan = plan_changes(clock, "old", old, env)
        assert {c["address"]: c["change"]["actions"] for c in changes} == {
            a: ["forget"] for a in MOVES
        }
        gate = tfgen(["gate", str(plan)], environ)
        assert gate.returncode == 0, failed(gate, "tfgen gate (old root)")
        result = terraform(clock, "apply old forget", ["apply", "-input=false", "tfplan"], old, env)
        assert result.returncode == 0, failed(result, "terraform apply (old root)")
        result = terraform(clock, "list old", ["state", "list"], old, env)
        assert result.stdout.split() == []

        for name, folder in folders.items():
            plan = ["plan", "-input=false", "-detailed-exitcode"]
            result = terraform(clock, f"replan {name}", plan, folder, env)
            assert result.returncode == 0, failed(result, f"second plan of {name} is not empty")
    print(f"\nmigration e2e timings: {clock.summary()}")
