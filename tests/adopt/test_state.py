"""Reading a deployed state: both formats, sensitive attributes dropped, hostile files refused."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from generator.adopt.state import MAX_STATE_BYTES, read_state
from generator.errors import ConfigError
from tests.adopt.helpers import raw_resource, raw_state, show_json, show_resource, write_json


def test_a_raw_state_is_read_instance_by_instance(tmp_path: Path) -> None:
    state = raw_state(
        [
            raw_resource("aws_vpc", "vpc", {"id": "vpc-1", "cidr_block": "10.0.0.0/16"}),
            raw_resource(
                "aws_subnet",
                "private",
                {"index_key": 0, "attributes": {"id": "subnet-0"}},
                {"index_key": 1, "attributes": {"id": "subnet-1"}},
            ),
            raw_resource("aws_iam_role", "r", {"index_key": "api", "attributes": {"name": "x"}}),
            {"mode": "data", "type": "aws_caller_identity", "name": "me", "instances": []},
            raw_resource("aws_sqs_queue", "q", {"id": "u"}, module="module.events"),
        ]
    )
    found = read_state(write_json(tmp_path / "s.json", state), "s.json")
    assert found.format == "raw-state"
    assert [o.address for o in found.objects] == [
        "aws_vpc.vpc",
        "aws_subnet.private[0]",
        "aws_subnet.private[1]",
        'aws_iam_role.r["api"]',
        "module.events.aws_sqs_queue.q",
    ]
    assert found.objects[1].resource == "aws_subnet.private"
    assert found.objects[4].module == "module.events"


def test_show_json_is_read_with_child_modules(tmp_path: Path) -> None:
    data = show_json([show_resource("aws_vpc", "vpc", {"id": "vpc-1"})])
    data["values"]["root_module"]["child_modules"] = [
        {
            "address": "module.net",
            "resources": [
                {**show_resource("aws_subnet", "a", {"id": "s"}, index=0), "address": "x"}
            ],
        }
    ]
    found = read_state(write_json(tmp_path / "s.json", data), "s.json")
    assert found.format == "show-json"
    assert [o.address for o in found.objects] == ["aws_vpc.vpc", "module.net.aws_subnet.a[0]"]


def test_sensitive_attributes_are_dropped_in_both_formats(tmp_path: Path) -> None:
    raw = raw_state(
        [
            raw_resource(
                "aws_db_instance",
                "db",
                {
                    "attributes": {"identifier": "db-1", "password": "hunter2"},
                    "sensitive_attributes": [[{"type": "get_attr", "value": "password"}]],
                },
            )
        ]
    )
    shown = show_json(
        [
            show_resource(
                "aws_db_instance",
                "db",
                {"identifier": "db-1", "password": "hunter2"},
                sensitive={"password": True},
            )
        ]
    )
    for name, data in (("raw.json", raw), ("show.json", shown)):
        (obj,) = read_state(write_json(tmp_path / name, data), name).objects
        assert obj.attributes == {"identifier": "db-1"}


def test_show_json_marks_that_mark_nothing_keep_the_attribute(tmp_path: Path) -> None:
    # terraform show -json mirrors each value's shape in sensitive_values: a list or an
    # object whose marks are all false hides nothing (a security group rule's cidr_blocks).
    shown = show_json(
        [
            show_resource(
                "aws_security_group_rule",
                "r",
                {"cidr_blocks": ["0.0.0.0/0"], "tags": {"a": "1"}, "secret": {"k": ["x"]}},
                sensitive={"cidr_blocks": [False], "tags": {}, "secret": {"k": [True]}},
            )
        ]
    )
    (obj,) = read_state(write_json(tmp_path / "s.json", shown), "s.json").objects
    assert obj.attributes == {"cidr_blocks": ["0.0.0.0/0"], "tags": {"a": "1"}}


def test_an_empty_show_json_has_no_objects(tmp_path: Path) -> None:
    data = {"format_version": "1.0", "terraform_version": "1.11.4"}
    assert read_state(write_json(tmp_path / "s.json", data), "s.json").objects == ()


HOSTILE = [
    ("not-json", b"this is not json", r"^s\.json:1: not valid JSON at line 1, column 1"),
    ("truncated", b'{"version": 4, "resources": [', r"^s\.json:1: truncated at line 1"),
    ("not-utf8", b"\xff\xfe{}", r"^s\.json: not UTF-8 \(byte 0\)$"),
    ("a-list", b"[]", r"^s\.json: not a Terraform state: the top level is not an object$"),
    ("no-known-keys", b'{"a": 1}', r"^s\.json: not a Terraform state: expected"),
    (
        "raw-version-3",
        b'{"version": 3, "resources": []}',
        r"^s\.json: unknown state version 3 \(tfgen reads version 4\)$",
    ),
    (
        "show-format-2",
        b'{"format_version": "2.0", "values": {}}',
        r"^s\.json: unknown `terraform show -json` format_version '2\.0'",
    ),
    (
        "wrong-shape",
        b'{"version": 4, "resources": [{"type": 1, "name": "x", "instances": []}]}',
        r"^s\.json: not of the shape Terraform writes \(TypeError: expected a string, got int\)$",
    ),
    (
        "negative-index",
        b'{"version": 4, "resources": [{"type": "a", "name": "b", '
        b'"instances": [{"index_key": -1, "attributes": {}}]}]}',
        r"^s\.json: not of the shape Terraform writes \(ValueError: an instance key",
    ),
    ("deep", b"[" * 200 + b"]" * 200, r"^s\.json: nested deeper than 128 levels$"),
]


@pytest.mark.parametrize(("case", "data", "message"), HOSTILE, ids=[c[0] for c in HOSTILE])
def test_a_hostile_state_file_is_one_located_error(
    tmp_path: Path, case: str, data: bytes, message: str
) -> None:
    path = tmp_path / "s.json"
    path.write_bytes(data)
    with pytest.raises(ConfigError) as caught:
        read_state(path, "s.json")
    assert len(caught.value.problems) == 1
    assert re.search(message, str(caught.value)), (case, str(caught.value))


def test_a_huge_state_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    with path.open("wb") as handle:
        handle.truncate(MAX_STATE_BYTES + 1)  # sparse: no disk, no time
    with pytest.raises(ConfigError, match=r"^s\.json: file is larger than 268435456 bytes"):
        read_state(path, "s.json")


def test_a_fifo_in_place_of_the_state_never_hangs(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    os.mkfifo(path)
    with pytest.raises(ConfigError, match=r"^s\.json: not a regular file \(a FIFO\)"):
        read_state(path, "s.json")
