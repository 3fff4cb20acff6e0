"""Every import id rule, one row per resource type the shipped stacks render."""

# ruff: noqa: E501 - the table below keeps one row per resource type on one line

from __future__ import annotations

import re
from typing import Any

import pytest

from generator.adopt.importids import IMPORT_IDS, ImportIdError, import_id
from tests.conftest import ROOT

ARN = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/x/1"
ROWS: list[tuple[str, dict[str, Any], str]] = [
    ("aws_appautoscaling_policy", {"service_namespace": "ecs", "resource_id": "service/c/s", "scalable_dimension": "ecs:service:DesiredCount", "name": "cpu"}, "ecs/service/c/s/ecs:service:DesiredCount/cpu"),
    ("aws_appautoscaling_target", {"service_namespace": "ecs", "resource_id": "service/c/s", "scalable_dimension": "ecs:service:DesiredCount"}, "ecs/service/c/s/ecs:service:DesiredCount"),
    ("aws_cloudfront_cache_policy", {"id": "cp-1"}, "cp-1"),
    ("aws_cloudfront_distribution", {"id": "E123"}, "E123"),
    ("aws_cloudfront_response_headers_policy", {"id": "rh-1"}, "rh-1"),
    ("aws_cloudwatch_event_rule", {"id": "rule-1"}, "rule-1"),
    ("aws_cloudwatch_event_target", {"rule": "r", "target_id": "t", "event_bus_name": "default"}, "r/t"),
    ("aws_cloudwatch_log_delivery", {"id": "d-1"}, "d-1"),
    ("aws_cloudwatch_log_delivery_destination", {"name": "dest"}, "dest"),
    ("aws_cloudwatch_log_delivery_source", {"name": "src"}, "src"),
    ("aws_cloudwatch_log_group", {"name": "/ecs/app", "id": "/ecs/app"}, "/ecs/app"),
    ("aws_cloudwatch_metric_alarm", {"alarm_name": "cpu-high"}, "cpu-high"),
    ("aws_db_instance", {"identifier": "app-db", "id": "db-ABCDEF"}, "app-db"),
    ("aws_db_parameter_group", {"name": "pg"}, "pg"),
    ("aws_db_subnet_group", {"name": "sg"}, "sg"),
    ("aws_default_security_group", {"id": "sg-1"}, "sg-1"),
    ("aws_dynamodb_table", {"name": "locks"}, "locks"),
    ("aws_ecs_cluster", {"name": "c", "id": "arn:aws:ecs:eu-west-1:1:cluster/c"}, "c"),
    ("aws_ecs_service", {"cluster": "arn:aws:ecs:eu-west-1:1:cluster/c", "name": "s"}, "c/s"),
    ("aws_ecs_task_definition", {"arn": "arn:aws:ecs:eu-west-1:1:task-definition/f:3"}, "arn:aws:ecs:eu-west-1:1:task-definition/f:3"),
    ("aws_eip", {"id": "eipalloc-1"}, "eipalloc-1"),
    ("aws_flow_log", {"id": "fl-1"}, "fl-1"),
    ("aws_iam_role", {"name": "r", "id": "r"}, "r"),
    ("aws_iam_role_policy", {"id": "r:p"}, "r:p"),
    ("aws_internet_gateway", {"id": "igw-1"}, "igw-1"),
    ("aws_kms_alias", {"name": "alias/app"}, "alias/app"),
    ("aws_kms_key", {"id": "k-1"}, "k-1"),
    ("aws_lb", {"arn": ARN}, ARN),
    ("aws_lb_listener", {"arn": ARN + "/l"}, ARN + "/l"),
    ("aws_lb_target_group", {"arn": ARN + "/tg"}, ARN + "/tg"),
    ("aws_nat_gateway", {"id": "nat-1"}, "nat-1"),
    ("aws_route_table", {"id": "rtb-1"}, "rtb-1"),
    ("aws_route_table_association", {"subnet_id": "subnet-1", "route_table_id": "rtb-1"}, "subnet-1/rtb-1"),
    ("aws_s3_bucket", {"bucket": "b"}, "b"),
    ("aws_s3_bucket_lifecycle_configuration", {"id": "b"}, "b"),
    ("aws_s3_bucket_logging", {"id": "b"}, "b"),
    ("aws_s3_bucket_notification", {"id": "b"}, "b"),
    ("aws_s3_bucket_ownership_controls", {"id": "b"}, "b"),
    ("aws_s3_bucket_policy", {"id": "b"}, "b"),
    ("aws_s3_bucket_public_access_block", {"id": "b"}, "b"),
    ("aws_s3_bucket_server_side_encryption_configuration", {"id": "b"}, "b"),
    ("aws_s3_bucket_versioning", {"id": "b"}, "b"),
    ("aws_security_group", {"id": "sg-1"}, "sg-1"),
    ("aws_security_group_rule", {"security_group_id": "sg-1", "type": "ingress", "protocol": "tcp", "from_port": 443, "to_port": 443, "cidr_blocks": ["10.0.0.0/16"]}, "sg-1_ingress_tcp_443_443_10.0.0.0/16"),
    ("aws_sns_topic", {"arn": "arn:aws:sns:eu-west-1:1:t"}, "arn:aws:sns:eu-west-1:1:t"),
    ("aws_sns_topic_subscription", {"arn": "arn:aws:sns:eu-west-1:1:t:s"}, "arn:aws:sns:eu-west-1:1:t:s"),
    ("aws_sqs_queue", {"url": "https://sqs.eu-west-1.amazonaws.com/1/q"}, "https://sqs.eu-west-1.amazonaws.com/1/q"),
    ("aws_subnet", {"id": "subnet-1"}, "subnet-1"),
    ("aws_vpc", {"id": "vpc-1"}, "vpc-1"),
    ("aws_wafv2_web_acl", {"id": "i", "name": "n", "scope": "REGIONAL"}, "i/n/REGIONAL"),
    ("aws_wafv2_web_acl_association", {"web_acl_arn": "a1", "resource_arn": "a2"}, "a1,a2"),
    ("aws_wafv2_web_acl_logging_configuration", {"resource_arn": "a1"}, "a1"),
]  # fmt: skip


@pytest.mark.parametrize(("kind", "attributes", "expected"), ROWS, ids=[r[0] for r in ROWS])
def test_import_id(kind: str, attributes: dict[str, Any], expected: str) -> None:
    assert import_id(kind, attributes) == expected


def test_every_type_the_shipped_stacks_render_has_a_rule() -> None:
    folders = [ROOT / "templates", ROOT / "examples" / "event-pipeline" / "templates"]
    rendered = {
        kind
        for folder in folders
        for path in folder.glob("*.j2")
        for kind in re.findall(r'^resource "([a-z0-9_]+)"', path.read_text(), re.MULTILINE)
    }
    assert rendered - set(IMPORT_IDS) == set()
    assert rendered <= {row[0] for row in ROWS}  # and each is tested above


def test_security_group_rule_sources_self_and_groups() -> None:
    base = {
        "security_group_id": "sg-1",
        "type": "egress",
        "protocol": "-1",
        "from_port": 0,
        "to_port": 0,
    }
    assert import_id("aws_security_group_rule", {**base, "self": True}) == "sg-1_egress_-1_0_0_self"
    assert (
        import_id("aws_security_group_rule", {**base, "source_security_group_id": "sg-2"})
        == "sg-1_egress_-1_0_0_sg-2"
    )
    with pytest.raises(ImportIdError, match="names no source"):
        import_id("aws_security_group_rule", base)


def test_an_unknown_type_or_a_missing_attribute_is_named() -> None:
    with pytest.raises(
        ImportIdError, match=r"^tfgen does not know how aws_lambda_function is imported"
    ):
        import_id("aws_lambda_function", {"id": "f"})
    with pytest.raises(ImportIdError, match=r"^its state has no identifier$"):
        import_id("aws_db_instance", {"id": "db-X"})
