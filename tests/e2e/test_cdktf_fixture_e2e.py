"""The CDKTF catalog-api fixture (tests/fixtures/cdktf_catalog): what tfgen adopt is tested on.

``cdk.tf.json`` is plain Terraform JSON, synthesized by ``make cdktf-fixture`` (neither cdktf
nor node is needed here). The offline tests below check that ``expected_moves.json`` covers
every resource of it once, that the environment keeps every deployed name, and that every
target is a resource exactly one component of tfgen's render declares. The end-to-end move
of the deployed app into catalog-api's three components is
``tests/e2e/test_cdktf_import_e2e.py``; :func:`deploy_cdktf_app` applies the app into moto
for it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import boto3
import hcl2
import yaml

from tests.conftest import ROOT
from tests.e2e.test_e2e import (
    Clock,
    create_bucket,
    failed,
    s3_client,
    terraform,
    tfgen,
)
from tests.moto_server import FAKE_CREDENTIALS, aws_subprocess_env
from tests.tfhelpers import terraform_env

FIXTURE = ROOT / "tests" / "fixtures" / "cdktf_catalog"
SUFFIX = "e2e"
ENV = "e2e"  # environment.yaml is copied as environments/e2e.yaml
REGION = "eu-west-1"
STATE_BUCKET = "tap-cdktf-state"
STATE_KEY = f"{SUFFIX}/TapStack{SUFFIX}.tfstate"
BUDGET = float(os.environ.get("TFGEN_CDKTF_E2E_BUDGET", "420"))
_INDEX = re.compile(r"^(?P<base>[^\[]+)(?:\[(?P<index>.+)\])?$")


def expected() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURE / "expected_moves.json").read_text("utf-8"))
    return data


def cdktf_addresses() -> set[str]:
    """Every managed resource address that cdk.tf.json declares."""
    doc = json.loads((FIXTURE / "cdk.tf.json").read_text("utf-8"))
    return {f"{kind}.{name}" for kind, group in doc["resource"].items() for name in group}


def render_fixture(project: Path, environ: dict[str, str]) -> Path:
    """tfgen's render of environment.yaml (as environments/e2e.yaml) in a copy of this repo."""
    project.mkdir(parents=True)
    for name in ("environments", "templates"):
        shutil.copytree(ROOT / name, project / name)
    shutil.copy(FIXTURE / "environment.yaml", project / "environments" / f"{ENV}.yaml")
    result = tfgen(["render", ENV, "--project-dir", str(project)], environ)
    assert result.returncode == 0, failed(result, "tfgen render")
    return project / "out" / ENV


def rendered_resources(out: Path) -> dict[str, tuple[str, str | None]]:
    """``type.name`` -> (its component, "count", "for_each" or None), for every resource.

    Raises:
        AssertionError: two components render the same address.
    """
    found: dict[str, tuple[str, str | None]] = {}
    for path in sorted(out.glob("*/*.tf")):
        doc = hcl2.loads(path.read_text("utf-8"))
        for block in doc.get("resource", []):
            for kind, named in block.items():
                for name, body in named.items():
                    repeat = next((k for k in ("count", "for_each") if k in body), None)
                    address = f"{kind.strip(chr(34))}.{name.strip(chr(34))}"
                    assert address not in found, f"{address} in two components"
                    found[address] = (path.parent.name, repeat)
    return found


def backend_hcl(url: str) -> str:
    return (
        f'bucket = "{STATE_BUCKET}"\nregion = "{REGION}"\nuse_lockfile = true\n'
        f'endpoints = {{ s3 = "{url}" }}\nuse_path_style = true\n'
        "skip_credentials_validation = true\nskip_requesting_account_id = true\n"
        "skip_metadata_api_check = true\n"
    )


def client(service: str, url: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )


def assert_seed_names_exist(url: str) -> None:
    """The objects the CDKTF app created are in moto under the seed's names."""
    cluster = f"catalog-api-cluster-{SUFFIX}"
    ecs = client("ecs", url)
    (found,) = ecs.describe_clusters(clusters=[cluster])["clusters"]
    assert found["status"] == "ACTIVE"
    services = ecs.describe_services(cluster=cluster, services=[f"catalog-api-service-{SUFFIX}"])
    assert [s["serviceName"] for s in services["services"]] == [f"catalog-api-service-{SUFFIX}"]
    family = ecs.describe_task_definition(taskDefinition=f"catalog-api-task-{SUFFIX}")
    assert family["taskDefinition"]["family"] == f"catalog-api-task-{SUFFIX}"
    assert client("secretsmanager", url).describe_secret(SecretId=f"db-secret-{SUFFIX}")["Name"]
    logs = client("logs", url).describe_log_groups(logGroupNamePrefix="/aws/ecs/")
    assert {g["logGroupName"] for g in logs["logGroups"]} == {
        f"/aws/ecs/catalog-api-{SUFFIX}",
        f"/aws/ecs/catalog-api-exec-{SUFFIX}",
    }
    rds = client("rds", url).describe_db_instances(DBInstanceIdentifier=f"catalog-api-db-{SUFFIX}")
    assert rds["DBInstances"][0]["DBSubnetGroup"]["DBSubnetGroupName"] == (
        f"catalog-api-db-subnets-{SUFFIX}"
    )
    elbv2 = client("elbv2", url)
    assert elbv2.describe_load_balancers(Names=[f"catalog-api-alb-{SUFFIX}"])["LoadBalancers"]
    assert elbv2.describe_target_groups(Names=[f"catalog-api-tg-{SUFFIX}"])["TargetGroups"]
    iam = client("iam", url)
    for role in ("execution-role", "task-role", "flow-logs-role", "rds-monitoring"):
        assert iam.get_role(RoleName=f"catalog-api-{role}-{SUFFIX}")["Role"]
    topics = client("sns", url).list_topics()["Topics"]
    assert any(t["TopicArn"].endswith(f":catalog-api-alarms-{SUFFIX}") for t in topics)


def state_addresses(show: dict[str, Any]) -> set[str]:
    """Managed resource addresses of ``terraform show -json`` (root module only: CDKTF's)."""
    resources = show.get("values", {}).get("root_module", {}).get("resources", [])
    return {r["address"] for r in resources if r["mode"] == "managed"}


# --------------------------------------------------------------------------- offline


def test_expected_moves_cover_every_cdktf_resource_once() -> None:
    data = expected()
    sources = set(data["moves"]) | set(data["removed"])
    assert not set(data["moves"]) & set(data["removed"])
    assert sources == cdktf_addresses()
    targets = list(data["moves"].values())
    assert len(targets) == len(set(targets)), "two CDKTF objects move to one tfgen address"


def test_cdktf_addresses_are_plain_ids_at_the_top_and_hashed_when_nested() -> None:
    doc = json.loads((FIXTURE / "cdk.tf.json").read_text("utf-8"))
    for kind, group in doc["resource"].items():
        for name, body in group.items():
            path = body["//"]["metadata"]["path"].split("/")
            assert body["//"]["metadata"]["uniqueId"] == name
            if len(path) == 2:  # TapStack<suffix>/<id>
                assert name == path[1], f"{kind}.{name}"
            else:
                assert re.fullmatch("_".join(path[1:]) + "_[0-9A-F]{8}", name), f"{kind}.{name}"


def test_environment_keeps_the_names_the_cdktf_app_deployed() -> None:
    """Each names.* key of environment.yaml is the CDKTF value of the attribute it keeps."""
    mapping = yaml.safe_load((ROOT / "templates" / "stack.yaml").read_text("utf-8"))
    names = yaml.safe_load((FIXTURE / "environment.yaml").read_text("utf-8"))["names"]
    doc = json.loads((FIXTURE / "cdk.tf.json").read_text("utf-8"))
    sources = {target: source for source, target in expected()["moves"].items()}
    checked = set()
    for spec, key in mapping["adopt"]["names"].items():
        address, attribute = spec.rsplit(".", 1)
        kept = names.get(key.removeprefix("names."))
        if kept is None:
            continue
        kind, name = sources[address].split(".", 1)
        assert doc["resource"][kind][name][attribute] == kept, spec
        checked.add(key)
    assert checked == {f"names.{k}" for k in names}, (
        "a names key stack.yaml adopt.names does not map"
    )


def test_expected_moves_target_resources_tfgen_renders(tmp_path: Path) -> None:
    out = render_fixture(tmp_path / "project", aws_subprocess_env())
    rendered = rendered_resources(out)
    components = set()
    for source, target in expected()["moves"].items():
        match = _INDEX.match(target)
        assert match, target
        base, index = match["base"], match["index"]
        assert base in rendered, f"{source} -> {target}: tfgen renders no {base}"
        component, repeat = rendered[base]
        components.add(component)
        if index is None:
            assert repeat is None, f"{target} needs an index ({repeat})"
        else:
            want = "for_each" if index.startswith('"') else "count"
            assert repeat == want, f"{target}: {base} uses {repeat}"
    assert components == {"network", "data", "app"}


def component_of(out: Path) -> dict[str, str]:
    """The component of every resource tfgen renders (``aws_vpc.main`` -> ``network``)."""
    return {address: c for address, (c, _) in rendered_resources(out).items()}


# --------------------------------------------------------------------------- end to end


def deploy_cdktf_app(clock: Clock, tmp_path: Path, url: str) -> tuple[Path, dict[str, str]]:
    """Apply the committed cdk.tf.json into the emulator at ``url``, state at the CDKTF key.

    Returns:
        The app's working directory and the environment terraform runs with there.
    """
    plugin_cache = tmp_path / "plugin-cache"
    plugin_cache.mkdir()
    create_bucket(s3_client(url, REGION), STATE_BUCKET, REGION)
    env = aws_subprocess_env(
        terraform_env(tmp_path, TF_PLUGIN_CACHE_DIR=str(plugin_cache)), AWS_REGION=REGION
    )
    backend = tmp_path / "backend.hcl"
    backend.write_text(backend_hcl(url), encoding="utf-8")
    app = tmp_path / "cdktf"
    app.mkdir()
    shutil.copy(FIXTURE / "cdk.tf.json", app / "cdk.tf.json")
    result = terraform(clock, "init", ["init", f"-backend-config={backend}"], app, env)
    assert result.returncode == 0, failed(result, "terraform init (cdktf)")
    apply = ["apply", "-auto-approve", f"-var=endpoint={url}"]
    result = terraform(clock, "apply", apply, app, env)
    assert result.returncode == 0, failed(result, "terraform apply (cdktf)")
    return app, env
