"""The bucket ``tfgen bootstrap`` creates is the backend an environment then uses, in moto.

A new project (``tfgen init``) with an emulated environment: bootstrap its state bucket,
apply the bootstrap module, then render the environment, ``terraform init`` against that very
bucket (``-backend-config=backend.hcl``), apply and destroy. Its state must land in the
bucket at the backend's key, and hold nothing after the destroy.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner

from generator.cli.app import cli
from generator.project import load_project
from generator.verify.rules import parse_hcl
from tests.conftest import write_tree
from tests.moto_server import FAKE_CREDENTIALS, aws_subprocess_env, running_moto_server
from tests.tfhelpers import requires_terraform, run_terraform, terraform_env

STATE_BUCKET = "tfgen-bootstrapped-state"
# Provider 5.100 waits about a minute of fixed S3 consistency delays after creating a
# lifecycle configuration (tests/commands/test_bootstrap.py): every other resource applies.
SLOW = "aws_s3_bucket_lifecycle_configuration"
LOCAL_ENV = """
    endpoint: ${env:AWS_ENDPOINT_URL}
    tags:
      Environment: local
    backend:
      bucket: ${env:LOCAL_STATE_BUCKET}
    bucket:
      force_destroy: true
"""


def _terraform(args: list[str], folder: Path, env: dict[str, str]) -> str:
    result = run_terraform([*args, "-input=false"], folder, env)
    assert result.returncode == 0, (
        f"terraform {args[0]} in {folder}:\n{result.stdout}{result.stderr}"
    )
    return result.stdout


def _targets(module: Path) -> list[str]:
    """``-target=`` for every resource the rendered module declares, but the slow one."""
    found = [
        "-target=" + ".".join(label.strip('"') for label in (kind, name))
        for path in sorted(module.glob("*.tf"))
        for entry in parse_hcl(path.name, path.read_text(encoding="utf-8")).get("resource", [])
        for kind, named in entry.items()
        for name in named
        if kind.strip('"') != SLOW and not name.startswith("__")
    ]
    assert "-target=aws_s3_bucket.state" in found, found
    return found


def _tfgen(runner: CliRunner, args: list[str], env: dict[str, str]) -> str:
    result = runner.invoke(cli, args, env=env)
    assert result.exit_code == 0, result.stderr
    return result.stderr


@requires_terraform
@pytest.mark.e2e
def test_an_environment_inits_applies_and_destroys_against_its_bootstrapped_bucket(
    tmp_path: Path, runner: CliRunner
) -> None:
    root = tmp_path / "site"
    _tfgen(runner, ["init", str(root)], {})
    write_tree(root, {"environments/local.yaml": LOCAL_ENV})
    plugin_cache = tmp_path / "plugin-cache"
    plugin_cache.mkdir()
    with running_moto_server(tmp_path / "moto") as server:
        env = aws_subprocess_env(
            terraform_env(tmp_path, TF_PLUGIN_CACHE_DIR=str(plugin_cache)),
            AWS_ENDPOINT_URL=server.url,
            LOCAL_STATE_BUCKET=STATE_BUCKET,
        )
        bootstrap = _tfgen(runner, ["bootstrap", "local", "--project-dir", str(root)], env)
        assert "has no policy denying requests without TLS" in bootstrap
        module = root / "out" / "_bootstrap" / STATE_BUCKET
        _terraform(["init"], module, env)
        _terraform(["apply", "-auto-approve", *_targets(module)], module, env)

        _tfgen(runner, ["render", "local", "--project-dir", str(root)], env)
        out = root / "out" / "local"
        _terraform(["init", "-backend-config=backend.hcl"], out, env)
        _terraform(["apply", "-auto-approve"], out, env)
        assert not (out / "terraform.tfstate").exists()  # the state is remote, not here

        config = load_project(root).load_environment("local", environ=env).config
        assert config.backend.bucket == STATE_BUCKET
        s3: Any = boto3.client(
            "s3",
            endpoint_url=server.url,
            region_name=config.backend.region,
            aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )

        def state() -> dict[str, Any]:
            body = s3.get_object(Bucket=STATE_BUCKET, Key=config.backend.key)["Body"].read()
            loaded: dict[str, Any] = json.loads(body)
            return loaded

        applied = {(r["type"], r["name"]) for r in state()["resources"]}
        assert ("aws_s3_bucket", "data") in applied
        data_bucket = f"{config.project}-local-data"
        assert data_bucket in [b["Name"] for b in s3.list_buckets()["Buckets"]]

        _terraform(["destroy", "-auto-approve"], out, env)
        assert state()["resources"] == []
        assert data_bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
        assert STATE_BUCKET in [b["Name"] for b in s3.list_buckets()["Buckets"]]
