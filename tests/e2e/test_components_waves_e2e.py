"""End to end for components against moto: apply wave by wave, read through remote state.

The inline three-component stack (network, data, app) with an emulated provider: a consumer
planned before its producer is applied fails in Terraform (tfgen fills in no mock value);
applied in the waves ``tfgen list --json`` gives, every plan afterwards is empty, the app
reads the network's and data's outputs through the rendered remote state, and destroy in
the reversed waves leaves every state without managed resources. Run alone with
``.venv/bin/python -m pytest -m e2e tests/components/test_waves_e2e.py``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.components.conftest import COMPONENT_STACK
from tests.conftest import write_tree
from tests.e2e.test_e2e import (
    Clock,
    create_bucket,
    failed,
    managed_instances,
    object_keys,
    read_state,
    s3_client,
    terraform,
    tfgen,
)
from tests.moto_server import aws_subprocess_env, running_moto_server
from tests.tfhelpers import requires_terraform, terraform_env

STATE_BUCKET = "tfgen-components-e2e-state"
BUDGET = float(os.environ.get("TFGEN_COMPONENTS_E2E_BUDGET", "600"))
EMULATED = {
    "templates/providers.tf.j2": """
        provider "aws" {
          region = {{ env.region | hcl }}
        {% if env.endpoint %}
        {{ {"skip_credentials_validation": true, "skip_metadata_api_check": true,
            "s3_use_path_style": true} | hcl_attrs(indent=2) }}

          endpoints {
        {{ dict.fromkeys(["ec2", "iam", "s3", "secretsmanager", "sts"], env.endpoint)
           | hcl_attrs(indent=4) }}
          }
        {% endif %}
        }
    """,
    "templates/backend.hcl.j2": """
        {{ {"bucket": env.backend.bucket, "key": env.backend.key,
            "region": env.backend.region, "encrypt": true, "use_lockfile": true}
           | hcl_attrs }}
        {% if env.endpoint %}
        {{ {"endpoints": {"s3": env.endpoint}, "use_path_style": true,
            "skip_credentials_validation": true, "skip_requesting_account_id": true,
            "skip_metadata_api_check": true} | hcl_attrs }}
        {% endif %}
    """,
    "templates/stack.yaml": """
        components:
          network:
            templates: [backend.hcl.j2, versions.tf.j2, providers.tf.j2, network.tf.j2]
          data:
            templates: [backend.hcl.j2, versions.tf.j2, providers.tf.j2, data.tf.j2]
          app:
            templates: [backend.hcl.j2, versions.tf.j2, providers.tf.j2, app.tf.j2]
    """,
    "environments/local.yaml": """
        endpoint: ${env:AWS_ENDPOINT_URL}
        backend:
          bucket: ${env:TFGEN_LOCAL_STATE_BUCKET}
        network:
          vpc_cidr: 10.99.0.0/16
    """,
}


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[str]:
    """A moto_server for this test, stopped by its pid when the test ends."""
    with running_moto_server(tmp_path / "moto") as server:
        yield server.url


@pytest.mark.e2e
@requires_terraform
def test_components_apply_by_waves_and_destroy_in_reverse(tmp_path: Path, emulator: str) -> None:
    clock = Clock(BUDGET, tmp_path)
    project = tmp_path / "project"
    write_tree(project, {**COMPONENT_STACK, **EMULATED})
    environ = aws_subprocess_env(AWS_ENDPOINT_URL=emulator, TFGEN_LOCAL_STATE_BUCKET=STATE_BUCKET)
    listed = tfgen(["--project-dir", str(project), "list", "--json"], environ)
    assert listed.returncode == 0, failed(listed, "tfgen list --json")
    (local,) = [row for row in json.loads(listed.stdout) if row["name"] == "local"]
    assert local["waves"] == [["network"], ["data"], ["app"]]
    rendered = tfgen(["--project-dir", str(project), "render", "local"], environ)
    assert rendered.returncode == 0, failed(rendered, "tfgen render local")

    s3 = s3_client(emulator, "eu-west-1")
    create_bucket(s3, STATE_BUCKET, "eu-west-1")
    plugin_cache = tmp_path / "plugin-cache"
    plugin_cache.mkdir()
    env = aws_subprocess_env(
        terraform_env(tmp_path, TF_PLUGIN_CACHE_DIR=str(plugin_cache)), AWS_REGION="eu-west-1"
    )
    folders = {c["name"]: project / c["dir"] for c in local["components"]}
    for name, folder in folders.items():
        init = ["init", "-input=false", "-backend-config=backend.hcl"]
        proc = terraform(clock, f"init {name}", init, folder, env)
        assert proc.returncode == 0, failed(proc, f"terraform init {name}")

    # A consumer planned before its producer is applied fails; no mock value fills the gap.
    early = terraform(clock, "plan data early", ["plan", "-input=false"], folders["data"], env)
    assert early.returncode == 1, failed(early, "plan of data before network is applied")

    for wave in local["waves"]:
        for name in wave:
            apply = ["apply", "-input=false", "-auto-approve"]
            proc = terraform(clock, f"apply {name}", apply, folders[name], env)
            assert proc.returncode == 0, failed(proc, f"terraform apply {name}")
    for name, folder in folders.items():
        plan = ["plan", "-input=false", "-detailed-exitcode"]
        proc = terraform(clock, f"plan {name}", plan, folder, env)
        assert proc.returncode == 0, failed(proc, f"second plan of {name} is not empty")

    states = {
        c["name"]: managed_instances(read_state(s3, STATE_BUCKET, c["key"]))
        for c in local["components"]
    }
    vpc_id = states["network"]["aws_vpc.main"]["id"]
    secret_arn = states["data"]["aws_secretsmanager_secret.db"]["arn"]
    assert states["data"]["aws_security_group.db"]["vpc_id"] == vpc_id
    app = states["app"]["aws_security_group.app"]
    assert app["vpc_id"] == vpc_id
    assert app["tags"] == {"Secret": secret_arn}
    assert object_keys(s3, STATE_BUCKET) == sorted(c["key"] for c in local["components"])

    for wave in reversed(local["waves"]):
        for name in wave:
            destroy = ["destroy", "-input=false", "-auto-approve"]
            proc = terraform(clock, f"destroy {name}", destroy, folders[name], env)
            assert proc.returncode == 0, failed(proc, f"terraform destroy {name}")
    for component in local["components"]:
        assert managed_instances(read_state(s3, STATE_BUCKET, component["key"])) == {}
