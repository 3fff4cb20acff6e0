"""The plan gate: deletes and replaces refused (with what forces them), the rest passes."""

# ruff: noqa: E501 - one hostile case a line

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from generator.adopt.plangate import gate, read_plan
from generator.errors import ConfigError


def change(address: str, *actions: str, **extra: Any) -> dict[str, Any]:
    return {"address": address, "change": {"actions": list(actions), **extra}}


PLAN = {
    "format_version": "1.2",
    "resource_changes": [
        change("aws_vpc.main", "no-op", previous_address="aws_vpc.vpc"),
        change("aws_flow_log.main", "create"),
        change("aws_ecs_service.main", "update"),
        change("aws_db_instance.main", "delete", "create", replace_paths=[["identifier"]]),
        change("aws_lb.main", "create", "delete", replace_paths=[["name"], ["tags", "Name"]]),
        change("aws_sqs_queue.old", "delete"),
    ],
}


def test_deletes_and_replaces_are_named_with_what_forces_them() -> None:
    result = gate(PLAN)
    assert [str(d) for d in result.refused] == [
        "aws_db_instance.main: would replace (forced by identifier)",
        "aws_lb.main: would replace (forced by name, tags.Name)",
        "aws_sqs_queue.old: would delete",
    ]
    assert result.changes == 5  # the move is a no-op


def test_an_allowance_lets_one_address_through() -> None:
    result = gate(PLAN, allow={"aws_sqs_queue.old"})
    assert [d.address for d in result.refused] == ["aws_db_instance.main", "aws_lb.main"]
    assert [d.address for d in result.deletions if d.allowed] == ["aws_sqs_queue.old"]


def test_moves_imports_creates_and_updates_pass() -> None:
    plan = {
        "format_version": "1.2",
        "resource_changes": [
            change("aws_vpc.main", "no-op", previous_address="aws_vpc.vpc"),
            change("aws_subnet.a[0]", "no-op", importing={"id": "subnet-1"}),
            change("aws_flow_log.main", "create"),
        ],
    }
    assert gate(plan).refused == ()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"not json", r"^plan\.json: not `terraform show -json PLANFILE` output: not JSON$"),
        (b"[]", r"^plan\.json: not `terraform show -json PLANFILE` output: not an object$"),
        (b'{"format_version": "0.1"}', r"^plan\.json: not `terraform show -json PLANFILE` output \(no format_version 1\.x\)$"),
        (b'{"format_version": "1.2", "resource_changes": {}}', r"^plan\.json: resource_changes is not a list$"),
        (b"[" * 100000, r"^plan\.json: not `terraform show -json PLANFILE` output: not JSON$"),
    ],
)  # fmt: skip
def test_a_file_that_is_not_a_plan_is_one_located_error(
    tmp_path: Path, data: bytes, message: str
) -> None:
    path = tmp_path / "plan.json"
    path.write_bytes(data)
    with pytest.raises(ConfigError, match=message):
        read_plan(path, "plan.json")


def test_a_real_plan_shape_reads(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(PLAN))
    assert read_plan(path, "plan.json")["format_version"] == "1.2"
