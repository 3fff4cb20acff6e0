"""The ``terraform import`` id of a deployed object, read from its state attributes.

Each resource type has its own id (the "Import" section of each AWS provider page): often
the ``id`` attribute, but ``aws_ecs_service`` is ``cluster/service``,
``aws_route_table_association`` ``subnet_id/route_table_id``, ``aws_security_group_rule`` a
composite of its fields, ``aws_db_instance`` its ``identifier`` (its ``id`` is the resource
id since provider 5.0). Every type that the
shipped stacks render is covered; any other type is named as unknown, never guessed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

Attributes = Mapping[str, Any]


class ImportIdError(ValueError):
    """No import id can be built: an unknown type, or an attribute it needs is missing."""


def _attr(name: str) -> Callable[[Attributes], str]:
    def read(attributes: Attributes) -> str:
        return _text(attributes, name)

    return read


def _text(attributes: Attributes, name: str) -> str:
    value = attributes.get(name)
    if not isinstance(value, str) or not value:
        msg = f"its state has no {name}"
        raise ImportIdError(msg)
    return value


def _joined(separator: str, *names: str) -> Callable[[Attributes], str]:
    def read(attributes: Attributes) -> str:
        return separator.join(_text(attributes, n) for n in names)

    return read


def _last(arn_or_name: str) -> str:
    return arn_or_name.rsplit("/", 1)[-1]


def _ecs_service(attributes: Attributes) -> str:
    return f"{_last(_text(attributes, 'cluster'))}/{_text(attributes, 'name')}"


def _route_table_association(attributes: Attributes) -> str:
    target = attributes.get("subnet_id") or attributes.get("gateway_id")
    if not isinstance(target, str) or not target:
        msg = "its state has neither subnet_id nor gateway_id"
        raise ImportIdError(msg)
    return f"{target}/{_text(attributes, 'route_table_id')}"


def _security_group_rule(attributes: Attributes) -> str:
    parts = [
        _text(attributes, "security_group_id"),
        _text(attributes, "type"),
        _text(attributes, "protocol"),
        str(attributes.get("from_port")),
        str(attributes.get("to_port")),
    ]
    sources: list[str] = []
    if attributes.get("self"):
        sources.append("self")
    source_group = attributes.get("source_security_group_id")
    if isinstance(source_group, str) and source_group:
        sources.append(source_group)
    for name in ("cidr_blocks", "ipv6_cidr_blocks", "prefix_list_ids"):
        found = attributes.get(name) or []
        sources.extend(str(v) for v in found if isinstance(v, str))
    if not sources:
        msg = "its state names no source (self, security group, CIDR or prefix list)"
        raise ImportIdError(msg)
    return "_".join(parts + sources)


def _appautoscaling_target(attributes: Attributes) -> str:
    return "/".join(
        _text(attributes, n) for n in ("service_namespace", "resource_id", "scalable_dimension")
    )


def _appautoscaling_policy(attributes: Attributes) -> str:
    return "/".join(
        _text(attributes, n)
        for n in ("service_namespace", "resource_id", "scalable_dimension", "name")
    )


def _wafv2_web_acl(attributes: Attributes) -> str:
    return "/".join(_text(attributes, n) for n in ("id", "name", "scope"))


def _event_target(attributes: Attributes) -> str:
    bus = attributes.get("event_bus_name")
    rule, target = _text(attributes, "rule"), _text(attributes, "target_id")
    if isinstance(bus, str) and bus and bus != "default":
        return f"{bus}/{rule}/{target}"
    return f"{rule}/{target}"


_ID = _attr("id")
IMPORT_IDS: dict[str, Callable[[Attributes], str]] = {
    "aws_appautoscaling_policy": _appautoscaling_policy,
    "aws_appautoscaling_target": _appautoscaling_target,
    "aws_cloudfront_cache_policy": _ID,
    "aws_cloudfront_distribution": _ID,
    "aws_cloudfront_response_headers_policy": _ID,
    "aws_cloudwatch_event_rule": _ID,
    "aws_cloudwatch_event_target": _event_target,
    "aws_cloudwatch_log_delivery": _ID,
    "aws_cloudwatch_log_delivery_destination": _attr("name"),
    "aws_cloudwatch_log_delivery_source": _attr("name"),
    "aws_cloudwatch_log_group": _attr("name"),
    "aws_cloudwatch_metric_alarm": _attr("alarm_name"),
    "aws_db_instance": _attr("identifier"),
    "aws_db_parameter_group": _attr("name"),
    "aws_db_subnet_group": _attr("name"),
    "aws_default_security_group": _ID,
    "aws_dynamodb_table": _attr("name"),
    "aws_ecs_cluster": _attr("name"),
    "aws_ecs_service": _ecs_service,
    "aws_ecs_task_definition": _attr("arn"),
    "aws_eip": _ID,
    "aws_flow_log": _ID,
    "aws_iam_role": _attr("name"),
    "aws_iam_role_policy": _ID,  # role_name:policy_name
    "aws_iam_role_policy_attachment": _joined("/", "role", "policy_arn"),
    "aws_internet_gateway": _ID,
    "aws_kms_alias": _attr("name"),
    "aws_kms_key": _ID,
    "aws_lb": _attr("arn"),
    "aws_lb_listener": _attr("arn"),
    "aws_lb_target_group": _attr("arn"),
    "aws_nat_gateway": _ID,
    "aws_route_table": _ID,
    "aws_route_table_association": _route_table_association,
    "aws_s3_bucket": _attr("bucket"),
    "aws_s3_bucket_lifecycle_configuration": _ID,
    "aws_s3_bucket_logging": _ID,
    "aws_s3_bucket_notification": _ID,
    "aws_s3_bucket_ownership_controls": _ID,
    "aws_s3_bucket_policy": _ID,
    "aws_s3_bucket_public_access_block": _ID,
    "aws_s3_bucket_server_side_encryption_configuration": _ID,
    "aws_s3_bucket_versioning": _ID,
    "aws_secretsmanager_secret": _attr("arn"),
    "aws_security_group": _ID,
    "aws_security_group_rule": _security_group_rule,
    "aws_sns_topic": _attr("arn"),
    "aws_sns_topic_subscription": _attr("arn"),
    "aws_sqs_queue": _attr("url"),
    "aws_subnet": _ID,
    "aws_vpc": _ID,
    "aws_wafv2_web_acl": _wafv2_web_acl,
    "aws_wafv2_web_acl_association": _joined(",", "web_acl_arn", "resource_arn"),
    "aws_wafv2_web_acl_logging_configuration": _attr("resource_arn"),
}


def import_id(kind: str, attributes: Attributes) -> str:
    """The import id of an object of type ``kind``.

    Raises:
        ImportIdError: the type is unknown to tfgen, or the state lacks what its id needs.
    """
    rule = IMPORT_IDS.get(kind)
    if rule is None:
        msg = f"tfgen does not know how {kind} is imported (say its id by hand with a pin)"
        raise ImportIdError(msg)
    return rule(attributes)
