"""End to end for the event-pipeline example: render `local`, then real terraform against moto.

init -backend-config=backend.hcl, apply, plan -detailed-exitcode (nothing to change),
destroy; the state lives at exactly the bucket and key backend.hcl names. Run alone with
``.venv/bin/python -m pytest -m e2e tests/e2e/test_example_e2e.py``. The run fails past
EXAMPLE_E2E_BUDGET seconds (``TFGEN_EXAMPLE_E2E_BUDGET``).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.conftest import ROOT
from tests.e2e.test_e2e import (
    Clock,
    create_bucket,
    failed,
    managed_instances,
    object_exists,
    object_keys,
    of_type,
    read_backend,
    read_state,
    resource_type,
    s3_client,
    terraform,
    tfgen,
)
from tests.moto_server import FAKE_CREDENTIALS, aws_subprocess_env, running_moto_server
from tests.tfhelpers import requires_terraform, terraform_env

EXAMPLE = ROOT / "examples" / "event-pipeline"
ENV = "local"
# A bucket no file names, so the test proves the state goes where backend.hcl says.
STATE_BUCKET = "tfgen-example-e2e-state"
# local.yaml's default bucket: created too, and must stay empty.
DECOY_BUCKET = "events-tfstate-local"
STATE_KEY = "events/local/terraform.tfstate"
# Measured here: about 2 minutes on an idle 2-core machine, most of it the AWS provider's
# fixed consistency waits (SQS queue attributes, KMS key policy, S3 lifecycle).
EXAMPLE_E2E_BUDGET = float(os.environ.get("TFGEN_EXAMPLE_E2E_BUDGET", "300"))

# What the applied state must hold, by the part of the pipeline it belongs to.
REQUIRED_TYPES: dict[str, set[str]] = {
    "ingest bucket": {
        "aws_s3_bucket",
        "aws_s3_bucket_ownership_controls",
        "aws_s3_bucket_versioning",
        "aws_s3_bucket_server_side_encryption_configuration",
        "aws_s3_bucket_public_access_block",
        "aws_s3_bucket_policy",
        "aws_s3_bucket_lifecycle_configuration",
        "aws_s3_bucket_notification",
    },
    "EventBridge": {"aws_cloudwatch_event_rule", "aws_cloudwatch_event_target"},
    "queues": {"aws_sqs_queue"},
    "table": {"aws_dynamodb_table"},
    "consumer": {"aws_iam_role", "aws_iam_role_policy", "aws_cloudwatch_log_group"},
    "alarms": {"aws_sns_topic", "aws_cloudwatch_metric_alarm"},
    "key": {"aws_kms_key", "aws_kms_alias"},
}


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[str]:
    """A moto_server for this test, stopped by its pid when the test ends."""
    with running_moto_server(tmp_path / "moto") as server:
        yield server.url


def copy_example(dest: Path) -> Path:
    dest.mkdir(parents=True)
    for name in ("environments", "templates"):
        shutil.copytree(EXAMPLE / name, dest / name)
    return dest


def statements(policy: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = json.loads(policy)["Statement"]
    return found


def as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


def assert_the_pipeline_is_wired(instances: Mapping[str, dict[str, Any]]) -> None:
    """Bucket -> rule -> queue (with its dead-letter queue) -> consumer -> table."""
    queues = {q["name"]: q for q in of_type(instances, "aws_sqs_queue")}
    assert set(queues) == {"events-local-events", "events-local-events-dlq"}
    (key,) = of_type(instances, "aws_kms_key")
    assert key["enable_key_rotation"] is True
    for queue in queues.values():
        assert queue["kms_master_key_id"] == key["arn"]
        # EventBridge may send for the one rule; nobody may use the queue without TLS.
        sids = {s["Sid"] for s in statements(queue["policy"])}
        assert sids == {"EventBridgeRuleSends", "DenyInsecureTransport"}

    (rule,) = of_type(instances, "aws_cloudwatch_event_rule")
    pattern = json.loads(rule["event_pattern"])
    (bucket,) = of_type(instances, "aws_s3_bucket")
    assert pattern["detail"]["bucket"]["name"] == [bucket["bucket"]]
    (target,) = of_type(instances, "aws_cloudwatch_event_target")
    assert target["arn"] == queues["events-local-events"]["arn"]
    assert target["dead_letter_config"][0]["arn"] == queues["events-local-events-dlq"]["arn"]

    (table,) = of_type(instances, "aws_dynamodb_table")
    assert table["point_in_time_recovery"][0]["enabled"] is True
    assert table["server_side_encryption"][0]["kms_key_arn"] == key["arn"]

    # The consumer's policy names its resources: no wildcard action or resource.
    (policy,) = of_type(instances, "aws_iam_role_policy")
    granted: dict[str, set[str]] = {}
    for statement in statements(policy["policy"]):
        assert statement["Effect"] == "Allow"
        for action in as_list(statement["Action"]):
            assert "*" not in action, action
            granted.setdefault(action, set()).update(as_list(statement["Resource"]))
    assert granted["sqs:ReceiveMessage"] == {queues["events-local-events"]["arn"]}
    assert granted["dynamodb:PutItem"] == {table["arn"]}
    assert granted["s3:GetObject"] == {f"{bucket['arn']}/incoming/*"}
    assert granted["kms:Decrypt"] == {key["arn"]}


def client(service: str, url: str, region: str) -> Any:
    """A boto3 client for the emulator, with fake credentials passed explicitly."""
    return boto3.client(
        service,
        endpoint_url=url,
        region_name=region,
        aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )


def assert_object_events_under_the_prefix_reach_the_queue(
    url: str, region: str, instances: Mapping[str, dict[str, Any]]
) -> None:
    """The rule's pattern and target, and the queue's policy, carry an S3 event to the queue.

    moto cannot emit S3's EventBridge notifications (local.yaml turns them off), so the
    events S3 would send are put on the default bus directly; moto delivers them at once.
    """
    (bucket,) = of_type(instances, "aws_s3_bucket")
    queue = next(q for q in of_type(instances, "aws_sqs_queue") if q["name"].endswith("-events"))
    events = client("events", url, region)
    for key in ("incoming/order-1.json", "elsewhere/order-2.json"):
        detail = {"bucket": {"name": bucket["bucket"]}, "object": {"key": key}}
        answer = events.put_events(
            Entries=[
                {
                    "Source": "aws.s3",
                    "DetailType": "Object Created",
                    "Detail": json.dumps(detail),
                }
            ]
        )
        assert answer["FailedEntryCount"] == 0, answer
    sqs = client("sqs", url, region)
    received = sqs.receive_message(
        QueueUrl=queue["url"], MaxNumberOfMessages=10, WaitTimeSeconds=2
    ).get("Messages", [])
    keys = [json.loads(m["Body"])["detail"]["object"]["key"] for m in received]
    assert keys == ["incoming/order-1.json"], keys


@pytest.mark.e2e
@requires_terraform
def test_the_example_applies_and_destroys_with_state_in_the_rendered_backend(
    tmp_path: Path, emulator: str, record_property: Any
) -> None:
    clock = Clock(EXAMPLE_E2E_BUDGET, tmp_path)
    project = copy_example(tmp_path / "project")
    out = project / "out" / ENV
    plugin_cache = tmp_path / "plugin-cache"
    plugin_cache.mkdir()

    render_env = aws_subprocess_env(
        AWS_ENDPOINT_URL=emulator, TFGEN_LOCAL_STATE_BUCKET=STATE_BUCKET
    )
    began = time.monotonic()
    result = tfgen(["--project-dir", str(project), "render", ENV], render_env)
    clock.record("render", began)
    assert result.returncode == 0, failed(result, "tfgen render")
    backend = read_backend(out)
    assert backend == {"bucket": STATE_BUCKET, "key": STATE_KEY, "region": "eu-west-1"}

    s3 = s3_client(emulator, backend["region"])
    create_bucket(s3, backend["bucket"], backend["region"])
    create_bucket(s3, DECOY_BUCKET, backend["region"])
    env = aws_subprocess_env(
        terraform_env(tmp_path, TF_PLUGIN_CACHE_DIR=str(plugin_cache)),
        AWS_REGION=backend["region"],
    )

    result = terraform(clock, "init", ["init", "-backend-config=backend.hcl"], out, env)
    assert result.returncode == 0, failed(result, "terraform init")

    result = terraform(clock, "apply", ["apply", "-auto-approve"], out, env)
    assert result.returncode == 0, failed(result, "terraform apply")

    # The state is at exactly the rendered bucket and key, and nowhere else.
    assert object_keys(s3, backend["bucket"]) == [backend["key"]]
    assert object_keys(s3, DECOY_BUCKET) == []
    applied = managed_instances(read_state(s3, backend["bucket"], backend["key"]))
    assert len(applied) >= 10, sorted(applied)
    types = {resource_type(a) for a in applied}
    for part, required in REQUIRED_TYPES.items():
        assert required <= types, f"{part}: {sorted(required - types)} not in the state"
    assert_the_pipeline_is_wired(applied)
    assert_object_events_under_the_prefix_reach_the_queue(emulator, backend["region"], applied)

    result = terraform(clock, "replan", ["plan", "-detailed-exitcode"], out, env)
    assert result.returncode == 0, failed(result, "second terraform plan (expected no changes)")
    assert "No changes." in result.stdout

    result = terraform(clock, "destroy", ["destroy", "-auto-approve"], out, env)
    assert result.returncode == 0, failed(result, "terraform destroy")
    assert managed_instances(read_state(s3, backend["bucket"], backend["key"])) == {}
    assert not object_exists(s3, backend["bucket"], backend["key"] + ".tflock")
    assert object_keys(s3, backend["bucket"]) == [backend["key"]]

    summary = clock.summary()
    record_property("timings", summary)
    print(f"\nexample e2e timings: {summary}\nresources ({len(applied)}): {sorted(applied)}")
