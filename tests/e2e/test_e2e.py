"""End to end: render `local`, then real terraform init/plan/apply/destroy against moto_server.

catalog-api is three components (network, data, app), each a root module with its state in
the S3 backend its backend.hcl names, served by the emulator. They are applied in the waves
``tfgen list --json`` gives, each plan afterwards is empty, the app reads the network's and
the data's outputs through the rendered remote state, and destroy in reverse leaves no
resource in any state. Run alone with ``.venv/bin/python -m pytest -m e2e
tests/e2e/test_e2e.py``. The whole flow must fit in E2E_BUDGET seconds.
With TFGEN_E2E_ENDPOINT set (LocalStack: http://localhost:4566) the flow runs against that
endpoint instead of a moto_server of its own; its buckets then get a unique suffix.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import hcl2
import pytest
from botocore.exceptions import ClientError

from generator.verify.rules import decode_hcl_string, parse_hcl
from tests.conftest import ROOT
from tests.moto_server import (
    FAKE_CREDENTIALS,
    MotoServerError,
    aws_subprocess_env,
    running_moto_server,
)
from tests.outtree import contents
from tests.tfhelpers import requires_terraform, terraform_bin, terraform_env

ENV = "local"
# A bucket name no other file uses, so the test proves the state goes where backend.hcl says.
STATE_BUCKET = "tfgen-e2e-state"
# local.yaml's default bucket: created too, and must stay empty.
DECOY_BUCKET = "catalog-tfstate-local"
COMPONENT_KEYS = {c: f"catalog/local/{c}/terraform.tfstate" for c in ("network", "data", "app")}
# The budget for the whole run on this 2-core machine: about twice what CI measures (400 s
# beside the other suites), so only a hang (e.g. a provider retrying forever) fails it.
E2E_BUDGET = float(os.environ.get("TFGEN_E2E_BUDGET", "900"))
# An emulator that is already running (LocalStack...); unset: the test starts moto_server.
EXTERNAL_ENDPOINT = os.environ.get("TFGEN_E2E_ENDPOINT", "").strip().rstrip("/")
_CREATED = re.compile(r"^  # (\S+) will be created$", re.MULTILINE)

# What the applied state must hold, by the part of the stack it belongs to.
REQUIRED_TYPES: dict[str, set[str]] = {
    "network": {
        "aws_vpc",
        "aws_subnet",
        "aws_internet_gateway",
        "aws_eip",
        "aws_nat_gateway",
        "aws_route_table",
        "aws_route_table_association",
        "aws_flow_log",
    },
    "security groups": {"aws_security_group", "aws_security_group_rule"},
    "load balancer": {"aws_lb", "aws_lb_listener", "aws_lb_target_group"},
    "ECS": {"aws_ecs_cluster", "aws_ecs_task_definition", "aws_ecs_service"},
    "RDS": {"aws_db_instance", "aws_db_subnet_group"},
    "IAM": {"aws_iam_role", "aws_iam_role_policy"},
    "log groups": {"aws_cloudwatch_log_group"},
    "alarms": {"aws_cloudwatch_metric_alarm", "aws_sns_topic"},
}


# --------------------------------------------------------------------------- helpers


@dataclass
class Clock:
    """Times each step, enforces one deadline for the whole run, and says where logs go."""

    budget: float
    log_dir: Path
    start: float = field(default_factory=time.monotonic)
    steps: dict[str, float] = field(default_factory=dict)

    def remaining(self, step: str) -> float:
        left = self.budget - (time.monotonic() - self.start)
        if left <= 0:
            pytest.fail(f"the e2e budget of {self.budget:.0f}s ran out before {step}")
        return left

    def record(self, step: str, began: float) -> None:
        self.steps[step] = round(time.monotonic() - began, 1)

    def summary(self) -> str:
        total = round(time.monotonic() - self.start, 1)
        return ", ".join(f"{k} {v}s" for k, v in self.steps.items()) + f"; total {total}s"


def _stop_group(process: subprocess.Popen[str]) -> None:
    """Stop a terraform we started and its provider plugins: its own process group, by id."""
    for sig, wait in ((signal.SIGINT, 20.0), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        return


def terraform(
    clock: Clock, step: str, args: Sequence[str], cwd: Path, env: Mapping[str, str]
) -> subprocess.CompletedProcess[str]:
    """Run one terraform command within the remaining budget; never leave it running."""
    binary = terraform_bin()
    assert binary is not None
    timeout = clock.remaining(step)
    began = time.monotonic()
    process = subprocess.Popen(
        [binary, f"-chdir={cwd}", *args, "-no-color"],
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own group, so a timeout stops the provider plugins too
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _stop_group(process)
        stdout, stderr = process.communicate()
        pytest.fail(
            f"terraform {step} did not finish within the e2e budget ({clock.summary()})\n"
            f"{stdout[-3000:]}\n{stderr[-3000:]}"
        )
    finally:
        if process.poll() is None:
            _stop_group(process)
    clock.record(step, began)
    # Kept for a look after a failure (the moto_server log is in moto/ beside it).
    log = clock.log_dir / f"terraform-{step}.log"
    log.write_text(f"{stdout}\n--- stderr\n{stderr}", encoding="utf-8")
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def tfgen(args: Sequence[str], environ: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """Run the tfgen CLI as a user would, in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "generator", *args],
        env=dict(environ),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def copy_project(dest: Path) -> Path:
    """A copy of this repository's environments/ and templates/ under ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("environments", "templates"):
        shutil.copytree(ROOT / name, dest / name)
    return dest


def read_backend(out: Path) -> dict[str, str]:
    """The rendered backend.hcl's string settings, read with python-hcl2 itself."""
    doc = hcl2.loads((out / "backend.hcl").read_text(encoding="utf-8"))
    return {k: decode_hcl_string(doc[k]) for k in ("bucket", "key", "region")}


def s3_client(url: str, region: str) -> Any:
    """A boto3 S3 client for the emulator, with fake credentials passed explicitly."""
    return boto3.client(
        "s3",
        endpoint_url=url,
        region_name=region,
        aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )


def create_bucket(s3: Any, bucket: str, region: str) -> None:
    if region == "us-east-1":
        s3.create_bucket(Bucket=bucket)
    else:
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})


def object_keys(s3: Any, bucket: str) -> list[str]:
    listing = s3.list_objects_v2(Bucket=bucket)
    return sorted(o["Key"] for o in listing.get("Contents", []))


def object_exists(s3: Any, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
            return False
        raise
    return True


def read_state(s3: Any, bucket: str, key: str) -> dict[str, Any]:
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    state: dict[str, Any] = json.loads(body)
    return state


def managed_instances(state: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Address -> attributes of every managed resource instance in a state document."""
    found: dict[str, dict[str, Any]] = {}
    for res in state.get("resources", []):
        if res.get("mode") != "managed":
            continue
        module = f"{res['module']}." if res.get("module") else ""
        base = f"{module}{res['type']}.{res['name']}"
        for inst in res.get("instances", []):
            if "index_key" not in inst:
                index = ""
            elif isinstance(inst["index_key"], int):
                index = f"[{inst['index_key']}]"
            else:
                index = f"[{json.dumps(inst['index_key'])}]"
            found[base + index] = inst.get("attributes", {})
    return found


def resource_type(address: str) -> str:
    """``module.x.aws_vpc.main[0]`` -> ``aws_vpc``."""
    return re.sub(r"\[.*\]$", "", address).split(".")[-2]


def of_type(instances: Mapping[str, dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [attrs for address, attrs in instances.items() if resource_type(address) == kind]


def assert_task_role_reads_the_database_secret(instances: Mapping[str, dict[str, Any]]) -> None:
    """The service's task role has an inline policy that reads the database's secret."""
    (task_definition,) = of_type(instances, "aws_ecs_task_definition")
    (database,) = of_type(instances, "aws_db_instance")
    secret_arns = {s["secret_arn"] for s in database.get("master_user_secret") or []}
    assert secret_arns, "the database has no managed master user secret"
    roles = [
        r
        for r in of_type(instances, "aws_iam_role")
        if r["arn"] == task_definition["task_role_arn"]
    ]
    assert len(roles) == 1, "the task definition's task role is not in the state"
    granted: set[str] = set()
    for policy in of_type(instances, "aws_iam_role_policy"):
        if policy["role"] != roles[0]["name"]:
            continue
        for statement in json.loads(policy["policy"])["Statement"]:
            actions = statement["Action"]
            resources = statement["Resource"]
            actions = [actions] if isinstance(actions, str) else actions
            resources = [resources] if isinstance(resources, str) else resources
            if statement["Effect"] == "Allow" and "secretsmanager:GetSecretValue" in actions:
                granted.update(resources)
    assert secret_arns <= granted, f"the task role may read {sorted(granted)}, not {secret_arns}"


def failed(result: subprocess.CompletedProcess[str], what: str) -> str:
    return (
        f"{what} exited {result.returncode}\n"
        f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    )


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[str]:
    """The emulator's URL: TFGEN_E2E_ENDPOINT, or a moto_server started for this test."""
    if EXTERNAL_ENDPOINT:
        yield EXTERNAL_ENDPOINT
        return
    with running_moto_server(tmp_path / "moto") as server:
        yield server.url


# --------------------------------------------------------------------------- the flow


@pytest.mark.e2e
@requires_terraform
def test_local_applies_wave_by_wave_and_destroys_in_reverse(
    tmp_path: Path, emulator: str, record_property: Any
) -> None:
    clock = Clock(E2E_BUDGET, tmp_path)
    # A shared, long-lived emulator may hold buckets from earlier runs: use fresh names there.
    suffix = f"-{uuid.uuid4().hex[:8]}" if EXTERNAL_ENDPOINT else ""
    state_bucket = STATE_BUCKET + suffix
    project = copy_project(tmp_path / "project")
    plugin_cache = tmp_path / "plugin-cache"
    plugin_cache.mkdir()

    # Render with the emulator's address, through the CLI, as a user would; the waves and
    # folders come from `tfgen list --json`, as CI reads them.
    render_env = aws_subprocess_env(
        AWS_ENDPOINT_URL=emulator, TFGEN_LOCAL_STATE_BUCKET=state_bucket
    )
    began = time.monotonic()
    result = tfgen(["render", ENV, "--project-dir", str(project)], render_env)
    clock.record("render", began)
    assert result.returncode == 0, failed(result, "tfgen render")
    listed = tfgen(["list", "--json", "--project-dir", str(project)], render_env)
    assert listed.returncode == 0, failed(listed, "tfgen list --json")
    (local,) = [row for row in json.loads(listed.stdout) if row["name"] == ENV]
    assert local["waves"] == [["network"], ["data"], ["app"]]
    folders = {c["name"]: project / c["dir"] for c in local["components"]}
    for name, folder in folders.items():
        backend = read_backend(folder)
        assert backend["bucket"] == state_bucket
        assert backend["key"] == COMPONENT_KEYS[name]
    providers = parse_hcl(
        "providers.tf", (folders["app"] / "providers.tf").read_text(encoding="utf-8")
    )
    endpoints = providers["provider"][0]['"aws"']["endpoints"][0]
    assert {k: decode_hcl_string(v) for k, v in endpoints.items() if not k.startswith("__")}
    assert all(
        decode_hcl_string(v) == emulator for k, v in endpoints.items() if not k.startswith("__")
    )

    region = read_backend(folders["network"])["region"]
    s3 = s3_client(emulator, region)
    create_bucket(s3, state_bucket, region)
    if not EXTERNAL_ENDPOINT:
        create_bucket(s3, DECOY_BUCKET, region)
    env = aws_subprocess_env(
        terraform_env(tmp_path, TF_PLUGIN_CACHE_DIR=str(plugin_cache)), AWS_REGION=region
    )
    for name, folder in folders.items():
        init = ["init", "-input=false", "-backend-config=backend.hcl"]
        result = terraform(clock, f"init {name}", init, folder, env)
        assert result.returncode == 0, failed(result, f"terraform init {name}")

    # A consumer planned before its producer is applied fails in Terraform: no mock value.
    early = terraform(clock, "plan app early", ["plan", "-input=false"], folders["app"], env)
    assert early.returncode == 1, failed(early, "plan of app before network and data")

    planned: dict[str, set[str]] = {}
    for wave in local["waves"]:
        for name in wave:
            plan = ["plan", "-input=false", "-detailed-exitcode", "-out=tfplan"]
            result = terraform(clock, f"plan {name}", plan, folders[name], env)
            assert result.returncode == 2, failed(result, f"terraform plan {name}")
            planned[name] = set(_CREATED.findall(result.stdout))
            assert planned[name], f"the plan of {name} creates nothing"
            apply = ["apply", "-input=false", "-auto-approve", "tfplan"]
            result = terraform(clock, f"apply {name}", apply, folders[name], env)
            assert result.returncode == 0, failed(result, f"terraform apply {name}")

    # Each state is at exactly its rendered bucket and key, and nowhere else.
    assert object_keys(s3, state_bucket) == sorted(COMPONENT_KEYS.values())
    if not EXTERNAL_ENDPOINT:
        assert object_keys(s3, DECOY_BUCKET) == []
    states = {
        name: managed_instances(read_state(s3, state_bucket, COMPONENT_KEYS[name]))
        for name in folders
    }
    for name, applied in states.items():
        assert set(applied) == planned[name], name
    everything = {a: attrs for applied in states.values() for a, attrs in applied.items()}
    types = {resource_type(a) for a in everything}
    for part, required in REQUIRED_TYPES.items():
        assert required <= types, f"{part}: {sorted(required - types)} not in the states"
    assert {resource_type(a) for a in states["data"]} >= {"aws_db_instance"}
    assert {resource_type(a) for a in states["network"]} >= {"aws_vpc", "aws_security_group"}
    assert not {resource_type(a) for a in states["app"]} & {"aws_vpc", "aws_db_instance"}
    assert_task_role_reads_the_database_secret(everything)
    assert_app_reads_network_and_data(states)

    for name, folder in folders.items():
        result = terraform(clock, f"replan {name}", ["plan", "-detailed-exitcode"], folder, env)
        assert result.returncode == 0, failed(result, f"second plan of {name} (no changes)")
        assert "No changes." in result.stdout

    for wave in reversed(local["waves"]):
        for name in wave:
            destroy = ["destroy", "-auto-approve"]
            result = terraform(clock, f"destroy {name}", destroy, folders[name], env)
            assert result.returncode == 0, failed(result, f"terraform destroy {name}")
    for name, key in COMPONENT_KEYS.items():
        assert managed_instances(read_state(s3, state_bucket, key)) == {}, name
        assert not object_exists(s3, state_bucket, key + ".tflock")
    assert object_keys(s3, state_bucket) == sorted(COMPONENT_KEYS.values())

    summary = clock.summary()
    record_property("timings", summary)
    record_property("resources", ",".join(sorted(everything)))
    print(f"\ne2e timings: {summary}\ne2e resources ({len(everything)}): {sorted(everything)}")


def assert_app_reads_network_and_data(states: Mapping[str, Mapping[str, dict[str, Any]]]) -> None:
    """What the app applied came from the network's and data's states, by remote state."""
    network, data, app = states["network"], states["data"], states["app"]
    private = {attrs["id"] for a, attrs in network.items() if a.startswith("aws_subnet.private")}
    public = {attrs["id"] for a, attrs in network.items() if a.startswith("aws_subnet.public")}
    (service,) = of_type(app, "aws_ecs_service")
    (config,) = service["network_configuration"]
    assert set(config["subnets"]) == private
    assert set(config["security_groups"]) == {network["aws_security_group.tasks"]["id"]}
    (balancer,) = of_type(app, "aws_lb")
    assert set(balancer["subnets"]) == public
    assert set(balancer["security_groups"]) == {network["aws_security_group.alb"]["id"]}
    (group,) = of_type(app, "aws_lb_target_group")
    assert group["vpc_id"] == network["aws_vpc.main"]["id"]
    (database,) = of_type(data, "aws_db_instance")
    assert database["vpc_security_group_ids"] == [network["aws_security_group.db"]["id"]]
    (task,) = of_type(app, "aws_ecs_task_definition")
    (container,) = json.loads(task["container_definitions"])
    variables = {e["name"]: e["value"] for e in container["environment"]}
    assert variables["DB_HOST"] == database["address"]
    assert variables["DB_NAME"] == database["db_name"]


# --------------------------------------------------------------------------- empty bucket


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("override", "variables"),
    [
        pytest.param("backend.bucket=", {}, id="empty"),
        pytest.param("backend.bucket=   ", {}, id="whitespace"),
        pytest.param(
            "backend.bucket=${env:TFGEN_E2E_BUCKET}", {"TFGEN_E2E_BUCKET": " "}, id="variable"
        ),
    ],
)
def test_empty_bucket_exits_1_and_leaves_out_local_unchanged(
    tmp_path: Path, override: str, variables: dict[str, str]
) -> None:
    project = copy_project(tmp_path / "project")
    out = project / "out" / ENV
    environ = aws_subprocess_env()
    first = tfgen(["render", ENV, "--project-dir", str(project)], environ)
    assert first.returncode == 0, failed(first, "tfgen render")
    before = contents(out)
    assert {f"{c}/backend.hcl" for c in COMPONENT_KEYS} <= set(before)

    result = tfgen(
        ["render", ENV, "--project-dir", str(project), "--set", override], environ | variables
    )
    assert result.returncode == 1, failed(result, "tfgen render with an empty bucket")
    assert "backend.bucket" in result.stderr
    assert "Traceback" not in result.stderr
    assert contents(out) == before
    # Terraform never ran: nothing but tfgen's own files is in the folder.
    assert not (out / ".terraform").exists()


# --------------------------------------------------------------------------- the server helper


def test_moto_server_answers_and_is_stopped_by_pid(tmp_path: Path) -> None:
    with running_moto_server(tmp_path) as server:
        s3 = s3_client(server.url, "eu-west-1")
        create_bucket(s3, "probe-bucket", "eu-west-1")
        assert "probe-bucket" in {b["Name"] for b in s3.list_buckets()["Buckets"]}
        server.reset()
        assert s3.list_buckets()["Buckets"] == []
        pid = server.pid
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_moto_server_is_stopped_when_the_test_body_fails(tmp_path: Path) -> None:
    pid = None
    with pytest.raises(RuntimeError, match="boom"), running_moto_server(tmp_path) as server:
        pid = server.pid
        msg = "boom"
        raise RuntimeError(msg)
    assert pid is not None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_a_server_that_never_answers_times_out_and_is_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[int] = []
    real_popen = subprocess.Popen

    def silent(port: int) -> list[str]:
        return [sys.executable, "-c", "import signal; signal.pause()"]

    def recording_popen(*args: Any, **kwargs: Any) -> Any:
        process = real_popen(*args, **kwargs)
        started.append(process.pid)
        return process

    monkeypatch.setattr("tests.moto_server.moto_server_command", silent)
    monkeypatch.setattr("tests.moto_server.subprocess.Popen", recording_popen)
    with (
        pytest.raises(MotoServerError, match="did not answer"),
        running_moto_server(tmp_path, start_timeout=1.0),
    ):
        pytest.fail("the server must not be reported as started")
    assert len(started) == 1
    with pytest.raises(ProcessLookupError):
        os.kill(started[0], 0)


def test_a_server_that_exits_at_start_is_retried_then_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crashing(port: int) -> list[str]:
        return [sys.executable, "-c", "import sys; print('bind failed'); sys.exit(3)"]

    monkeypatch.setattr("tests.moto_server.moto_server_command", crashing)
    with (
        pytest.raises(MotoServerError, match="exited with code 3") as info,
        running_moto_server(tmp_path, attempts=2),
    ):
        pytest.fail("the server must not be reported as started")
    assert str(info.value).count("exited with code 3") == 2
    assert "bind failed" in str(info.value)
