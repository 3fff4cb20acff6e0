"""The matcher: evidence, ties refused, pins, count and for_each instances, by type, renames."""

from __future__ import annotations

from generator.adopt.match import BY_PIN, BY_TYPE, match
from generator.adopt.rendered import RenderedInstance, rendered_instances
from generator.adopt.state import StateObject
from generator.verify.rules import parse_hcl


def obj(address: str, **attributes: object) -> StateObject:
    resource, _, key = address.partition("[")
    kind, name = resource.rsplit(".", 2)[-2:]
    index: int | str | None = None
    if key:
        raw = key.rstrip("]")
        index = int(raw) if raw.isdigit() else raw.strip('"')
    return StateObject(address, resource, kind, name, index, "", attributes)


def rendered(text: str) -> list[RenderedInstance]:
    return rendered_instances({"main.tf": parse_hcl("main.tf", text)})


def test_count_instances_match_cdktf_flattened_ids_by_their_literal_identity() -> None:
    render = rendered(
        """
resource "aws_subnet" "private" {
  count      = 2
  cidr_block = ["10.0.0.0/20", "10.0.16.0/20"][count.index]
  tags       = { Name = "app-private" }
}
resource "aws_vpc" "main" {
  cidr_block = "10.0.0.0/16"
  tags       = { Name = "app" }
}
"""
    )
    assert [r.address for r in render] == [
        "aws_subnet.private[0]",
        "aws_subnet.private[1]",
        "aws_vpc.main",
    ]
    state = [
        obj("aws_vpc.vpc", cidr_block="10.0.0.0/16", tags={"Name": "app"}),
        obj("aws_subnet.private_0", tags={"Name": "app-private"}),
        obj("aws_subnet.private_1", tags={"Name": "app-private"}),
    ]
    found = match(render, state)
    assert [(m.old, m.new, m.by) for m in found.matches] == [
        ("aws_vpc.vpc", "aws_vpc.main", ("cidr_block", "tags.Name"))
    ]
    # Two subnets share everything the render shows: a tie, refused, naming both.
    assert {(t.subject, t.candidates, t.shared) for t in found.ties} == {
        (
            "aws_subnet.private[0]",
            ("aws_subnet.private_0", "aws_subnet.private_1"),
            ("tags.Name",),
        ),
        (
            "aws_subnet.private[1]",
            ("aws_subnet.private_0", "aws_subnet.private_1"),
            ("tags.Name",),
        ),
    }


def test_pins_override_the_matcher_and_can_leave_an_object_alone() -> None:
    render = rendered(
        """
resource "aws_subnet" "private" {
  count = 2
  tags  = { Name = "app-private" }
}
"""
    )
    state = [
        obj("aws_subnet.private_0", tags={"Name": "app-private"}),
        obj("aws_subnet.private_1", tags={"Name": "app-private"}),
        obj("aws_subnet.legacy", tags={"Name": "app-private"}),
    ]
    pins = {
        "aws_subnet.private_0": "aws_subnet.private[0]",
        "aws_subnet.private_1": "aws_subnet.private[1]",
        "aws_subnet.legacy": None,
    }
    found = match(render, state, pins=pins)
    assert [(m.old, m.new, m.by) for m in found.matches] == [
        ("aws_subnet.private_0", "aws_subnet.private[0]", (BY_PIN,)),
        ("aws_subnet.private_1", "aws_subnet.private[1]", (BY_PIN,)),
    ]
    assert found.ties == ()
    assert found.unmatched == ()  # the pinned-away object is neither matched nor removed


def test_for_each_instances_and_names() -> None:
    render = rendered(
        """
resource "aws_cloudwatch_log_group" "db" {
  for_each = toset(["postgresql", "upgrade"])
  name     = "x"
}
resource "aws_iam_role" "r" {
  for_each = { api = 1, worker = 2 }
}
"""
    )
    assert [r.address for r in render] == [
        'aws_cloudwatch_log_group.db["postgresql"]',
        'aws_cloudwatch_log_group.db["upgrade"]',
        'aws_iam_role.r["api"]',
        'aws_iam_role.r["worker"]',
    ]


def test_the_only_one_of_each_type_pairs_by_type_and_renames_are_named() -> None:
    render = rendered(
        """
resource "aws_ecs_cluster" "main" {
  name = "catalog-api-e2e"
}
resource "aws_sns_topic" "alarms" {
  name = "alarms"
}
"""
    )
    state = [
        obj("aws_ecs_cluster.cluster", name="catalog-api-cluster-e2e"),
        obj("aws_secretsmanager_secret.db_secret", name="db-secret-e2e"),
    ]
    names = {"aws_ecs_cluster.main.name": "names.ecs_cluster"}
    found = match(render, state, names=names)
    assert [(m.old, m.new, m.by) for m in found.matches] == [
        ("aws_ecs_cluster.cluster", "aws_ecs_cluster.main", (BY_TYPE,))
    ]
    assert [(r.new, r.attribute, r.deployed, r.rendered, r.key) for r in found.renames] == [
        (
            "aws_ecs_cluster.main",
            "name",
            "catalog-api-cluster-e2e",
            "catalog-api-e2e",
            "names.ecs_cluster",
        )
    ]
    assert [o.address for o in found.unmatched] == ["aws_secretsmanager_secret.db_secret"]
    assert [r.address for r in found.created] == ["aws_sns_topic.alarms"]


def test_the_same_address_is_evidence_for_a_tfgen_to_tfgen_refactor() -> None:
    render = rendered(
        """
resource "aws_lb" "public" {
  name = "app"
}
resource "aws_lb" "internal" {
  name = "app-internal"
}
"""
    )
    state = [obj("aws_lb.main", name="app"), obj("aws_lb.internal", name="app-internal")]
    found = match(render, state)
    assert [(m.old, m.new, m.by) for m in found.matches] == [
        ("aws_lb.internal", "aws_lb.internal", ("address", "name")),
        ("aws_lb.main", "aws_lb.public", ("name",)),
    ]


def test_an_object_two_instances_want_equally_is_a_tie_from_the_state_side() -> None:
    render = rendered(
        """
resource "aws_sqs_queue" "a" {
  name = "q"
}
resource "aws_sqs_queue" "b" {
  name = "q"
}
"""
    )
    found = match(render, [obj("aws_sqs_queue.old", name="q")])
    assert found.matches == ()
    assert [(t.subject, t.candidates, t.in_state) for t in found.ties] == [
        ("aws_sqs_queue.old", ("aws_sqs_queue.a", "aws_sqs_queue.b"), True)
    ]


def test_a_count_that_is_an_expression_is_not_expanded() -> None:
    (item,) = rendered('resource "aws_eip" "nat" {\n  count = length(var.x)\n}\n')
    assert (item.address, item.expanded) == ("aws_eip.nat", False)
    found = match([item], [obj("aws_eip.nat_0")])
    assert found.matches == ()
    assert found.created == ()  # unknown instances are neither matched nor created


def test_per_instance_values_and_references_through_matched_instances() -> None:
    render = rendered(
        """
resource "aws_subnet" "private" {
  count      = 2
  cidr_block = ["10.99.128.0/19", "10.99.160.0/19"][count.index]
  tags = {
    Name = format("%s-private-%s", "app", ["eu-west-1a", "eu-west-1b"][count.index])
  }
}
resource "aws_route_table_association" "private" {
  count          = 2
  subnet_id      = aws_subnet.private[count.index].id
  route_table_id = aws_route_table.private.id
}
resource "aws_route_table" "private" {
  tags = { Name = "app-private" }
}
"""
    )
    state = [
        obj("aws_subnet.private_1", id="subnet-b", cidr_block="10.99.160.0/19"),
        obj("aws_subnet.private_0", id="subnet-a", cidr_block="10.99.128.0/19"),
        obj("aws_route_table.rt", id="rtb-1", tags={"Name": "app-private"}),
        obj("aws_route_table_association.a_0", subnet_id="subnet-a", route_table_id="rtb-1"),
        obj("aws_route_table_association.a_1", subnet_id="subnet-b", route_table_id="rtb-1"),
    ]
    found = match(render, state)
    assert [(m.old, m.new, m.by) for m in found.matches] == [
        ("aws_route_table.rt", "aws_route_table.private", ("tags.Name",)),
        (
            "aws_route_table_association.a_0",
            "aws_route_table_association.private[0]",
            ("route_table_id", "subnet_id"),
        ),
        (
            "aws_route_table_association.a_1",
            "aws_route_table_association.private[1]",
            ("route_table_id", "subnet_id"),
        ),
        ("aws_subnet.private_0", "aws_subnet.private[0]", ("cidr_block",)),
        ("aws_subnet.private_1", "aws_subnet.private[1]", ("cidr_block",)),
    ]
    assert found.ties == found.unmatched == found.created == ()
