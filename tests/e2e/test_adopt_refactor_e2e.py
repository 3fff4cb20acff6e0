"""A tfgen-to-tfgen refactor, proven by Terraform against moto: a renamed resource moves.

A small inline stack (two SNS topics) is applied into moto with its state in
the rendered S3 backend. The stack then renames ``aws_sns_topic.main`` to
``aws_sns_topic.public`` and drops the topic. ``tfgen adopt`` against the pulled state
writes a moved block and a removed block; ``terraform plan`` shows the move and nothing
deleted, ``tfgen gate`` passes it, apply, and a second plan is empty; the forgotten topic
still exists in the emulator.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.conftest import ENGINE_STACK, write_tree
from tests.e2e.test_e2e import create_bucket, failed, tfgen
from tests.moto_server import FAKE_CREDENTIALS, aws_subprocess_env, running_moto_server
from tests.tfhelpers import requires_terraform, run_terraform, terraform_bin, terraform_env

REGION = "eu-west-1"
STATE_BUCKET = "acme-refactor-state"

PROVIDERS = """
provider "aws" {
  region                      = {{ env.region | hcl }}
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_requesting_account_id  = true

  endpoints {
    sns = {{ env.endpoint | hcl }}
    sts = {{ env.endpoint | hcl }}
  }
}
"""
BACKEND = """
{{ {"bucket": env.backend.bucket, "key": env.backend.key, "region": env.backend.region,
    "encrypt": true, "use_lockfile": true} | hcl_attrs }}
endpoints = {
  s3 = {{ env.endpoint | hcl }}
}
use_path_style              = true
skip_credentials_validation = true
skip_requesting_account_id  = true
skip_metadata_api_check     = true
"""
BEFORE = """
resource "aws_sns_topic" "main" {
  name = "acme-{{ env.name }}-jobs"
}

resource "aws_sns_topic" "alarms" {
  name = "acme-{{ env.name }}-alarms"
}
"""
AFTER = """
resource "aws_sns_topic" "public" {
  name = "acme-{{ env.name }}-jobs"
}
"""


def make_project(root: Path, endpoint: str, resources: str) -> Path:
    files = {k: v for k, v in ENGINE_STACK.items() if k != "templates/main.tf.j2"}
    files.update(
        {
            "templates/backend.hcl.j2": BACKEND,
            "templates/providers.tf.j2": PROVIDERS,
            "templates/main.tf.j2": resources,
            "environments/dev.yaml": f"endpoint: {endpoint}\nbackend:\n  bucket: {STATE_BUCKET}\n"
            "network:\n  vpc_cidr: 10.10.0.0/16\n",
        }
    )
    write_tree(root, files)
    return root


def run(
    out: Path, env: dict[str, str], command: str, *args: str
) -> subprocess.CompletedProcess[str]:
    """``terraform -chdir=out COMMAND -no-color -input=false ARGS`` (a plan file stays last)."""
    binary = terraform_bin()
    assert binary is not None
    result = subprocess.run(
        [binary, f"-chdir={out}", command, "-no-color", "-input=false", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode in (0, 2), failed(result, f"terraform {command} {' '.join(args)}")
    return result


def plan_json(out: Path, env: dict[str, str]) -> dict[str, Any]:
    run(out, env, "plan", "-out=tf.plan")
    shown = run_terraform(["show", "-json", "tf.plan"], out, env)
    assert shown.returncode == 0, failed(shown, "terraform show")
    (out / "plan.json").write_text(shown.stdout)
    return dict(json.loads(shown.stdout))


def actions(plan: dict[str, Any]) -> dict[str, list[str]]:
    return {c["address"]: c["change"]["actions"] for c in plan.get("resource_changes", [])}


@pytest.mark.e2e
@requires_terraform
def test_a_renamed_resource_moves_and_nothing_is_destroyed(tmp_path: Path) -> None:
    with running_moto_server(tmp_path / "moto") as server:
        s3 = boto3.client(
            "s3",
            endpoint_url=server.url,
            region_name=REGION,
            aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )
        create_bucket(s3, STATE_BUCKET, REGION)
        env = aws_subprocess_env(terraform_env(tmp_path))
        root = make_project(tmp_path / "p", server.url, BEFORE)
        out = root / "out" / "dev"
        render = tfgen(["render", "dev", "--project-dir", str(root)], aws_subprocess_env())
        assert render.returncode == 0, failed(render, "tfgen render")
        run(out, env, "init", "-backend-config=backend.hcl")
        run(out, env, "apply", "-auto-approve")
        pulled = run_terraform(["state", "pull"], out, env)
        (tmp_path / "before.tfstate").write_text(pulled.stdout)

        # The refactor: the queue is renamed, the topic leaves the stack.
        (root / "templates" / "main.tf.j2").write_text(AFTER)
        adopt = tfgen(
            [
                "adopt",
                "dev",
                "--state",
                str(tmp_path / "before.tfstate"),
                "--project-dir",
                str(root),
            ],
            aws_subprocess_env(),
        )
        assert adopt.returncode == 0, failed(adopt, "tfgen adopt")
        assert "  moved   aws_sns_topic.main -> aws_sns_topic.public  (by name)" in adopt.stderr
        assert "  removed aws_sns_topic.alarms" in adopt.stderr
        render = tfgen(["render", "dev", "--project-dir", str(root)], aws_subprocess_env())
        assert render.returncode == 0, failed(render, "tfgen render")
        plan = plan_json(out, env)
        # The move is a no-op at its new address; the topic is forgotten, not deleted.
        assert actions(plan) == {
            "aws_sns_topic.public": ["no-op"],
            "aws_sns_topic.alarms": ["forget"],
        }
        moved = {c["address"]: c.get("previous_address") for c in plan["resource_changes"]}
        assert moved["aws_sns_topic.public"] == "aws_sns_topic.main"
        gate = tfgen(["gate", str(out / "plan.json")], aws_subprocess_env())
        assert gate.returncode == 0, failed(gate, "tfgen gate")
        run(out, env, "apply", "tf.plan")
        again = run(out, env, "plan", "-detailed-exitcode")
        assert again.returncode == 0, again.stdout

        # The forgotten topic still exists: removed { destroy = false } destroyed nothing.
        sns = boto3.client(
            "sns",
            endpoint_url=server.url,
            region_name=REGION,
            aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )
        topics = [t["TopicArn"] for t in sns.list_topics()["Topics"]]
        assert any(arn.endswith(":acme-dev-alarms") for arn in topics), topics
