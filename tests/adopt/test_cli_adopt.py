"""tfgen adopt and tfgen gate through the CLI, on a small inline stack."""

# ruff: noqa: E501 - state fixtures and messages read best whole

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from generator.cli.app import cli
from tests.adopt.helpers import raw_resource, raw_state, write_json
from tests.conftest import ENGINE_STACK, write_tree
from tests.outtree import snapshot

LB = """
resource "aws_lb" "public" {
  name    = "acme-{{ env.name }}"
  subnets = []
}
resource "aws_sqs_queue" "jobs" {
  name = "acme-{{ env.name }}-jobs"
}
"""


def make_project(tmp_path: Path) -> Path:
    root = tmp_path / "p"
    write_tree(root, {**ENGINE_STACK, "templates/lb.tf.j2": LB})
    return root


def old_state(tmp_path: Path) -> Path:
    state = raw_state(
        [
            raw_resource("aws_vpc", "main", {"id": "vpc-1", "cidr_block": "10.10.0.0/16"}),
            raw_resource("aws_lb", "main", {"id": "arn:lb", "arn": "arn:lb", "name": "acme-dev"}),
            raw_resource(
                "aws_sqs_queue",
                "jobs",
                {
                    "id": "https://q/acme-dev-jobs",
                    "url": "https://q/acme-dev-jobs",
                    "name": "acme-dev-jobs",
                },
            ),
            raw_resource("aws_sns_topic", "legacy", {"arn": "arn:sns:legacy", "name": "legacy"}),
        ]
    )
    return write_json(tmp_path / "old.tfstate", state)


def tfgen(root: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--project-dir", str(root), *args])
    return result.exit_code, result.stderr


def test_a_renamed_resource_gets_moved_blocks_rendered_into_every_later_render(
    tmp_path: Path,
) -> None:
    root = make_project(tmp_path)
    code, err = tfgen(root, "adopt", "dev", "--state", str(old_state(tmp_path)))
    assert code == 0, err
    assert (
        "adopt dev: 1 moved, 2 already in place, 1 forgotten (not destroyed), 0 to be created"
        in err
    )
    assert "  moved   aws_lb.main -> aws_lb.public  (by name)" in err
    assert "  removed aws_sns_topic.legacy  (forgotten; the next apply destroys nothing)" in err
    assert "wrote adopt/dev.yaml" in err
    code, err = tfgen(root, "render", "dev")
    assert code == 0, err
    text = (root / "out" / "dev" / "adopt.tf").read_text()
    assert "moved {\n  from = aws_lb.main\n  to   = aws_lb.public\n}\n" in text
    assert (
        "removed {\n  from = aws_sns_topic.legacy\n\n  lifecycle {\n    destroy = false\n" in text
    )
    assert tfgen(root, "check", "dev")[0] == 0
    (root / "adopt" / "dev.yaml").unlink()  # deleting the file removes the blocks
    assert tfgen(root, "check", "dev")[0] == 4
    assert tfgen(root, "render", "dev")[0] == 0
    assert not (root / "out" / "dev" / "adopt.tf").exists()


def test_import_mode_writes_import_blocks_and_the_old_roots_removed_blocks(tmp_path: Path) -> None:
    root = make_project(tmp_path)
    code, err = tfgen(root, "adopt", "dev", "--state", str(old_state(tmp_path)), "--import")
    assert code == 0, err
    data = (root / "adopt" / "dev.yaml").read_text()
    assert '  - to: "aws_lb.public"\n    id: "arn:lb"\n' in data
    assert '  - to: "aws_sqs_queue.jobs"\n    id: "https://q/acme-dev-jobs"\n' in data
    forget = (root / "adopt" / "dev.forget.tf").read_text()
    assert "removed {\n  from = aws_lb.main\n" in forget
    assert "aws_sns_topic.legacy" not in forget  # it stays with the old root


def test_a_pin_settles_a_tie(tmp_path: Path) -> None:
    root = make_project(tmp_path)
    state = raw_state(
        [
            raw_resource("aws_sqs_queue", "a", {"url": "u1", "name": "acme-dev-jobs"}),
            raw_resource("aws_sqs_queue", "b", {"url": "u2", "name": "acme-dev-jobs"}),
        ]
    )
    path = write_json(tmp_path / "s.json", state)
    code, err = tfgen(root, "adopt", "dev", "--state", str(path))
    assert code == 1
    assert err.splitlines()[0] == (
        f"error: {path}: aws_sqs_queue.jobs: a tie between aws_sqs_queue.a and aws_sqs_queue.b "
        "(both match on name); pin one by hand in the adoption file (pin: {old: new})"
    )
    assert not (root / "adopt").exists()
    write_tree(root, {"adopt/dev.yaml": 'pin:\n  "aws_sqs_queue.b": "aws_sqs_queue.jobs"\n'})
    code, err = tfgen(root, "adopt", "dev", "--state", str(path))
    assert code == 0, err
    assert "  moved   aws_sqs_queue.b -> aws_sqs_queue.jobs  (by pin)" in err
    assert '"aws_sqs_queue.b": "aws_sqs_queue.jobs"' in (root / "adopt" / "dev.yaml").read_text()


def test_a_hostile_state_changes_nothing(tmp_path: Path) -> None:
    root = make_project(tmp_path)
    assert tfgen(root, "render", "dev")[0] == 0
    before = snapshot(root)
    bad = tmp_path / "bad.json"
    bad.write_text('{"version": 4, "resources": [{"type": "aws_vpc", "name": "x", "instances": [')
    code, err = tfgen(root, "adopt", "dev", "--state", str(bad))
    assert code == 1
    assert err.splitlines() == [f"error: {bad}:1: truncated at line 1, column 77: Expecting value"]
    assert snapshot(root) == before


def test_an_unknown_import_type_is_named_and_nothing_is_written(tmp_path: Path) -> None:
    root = make_project(tmp_path)
    write_tree(
        root,
        {"templates/fn.tf.j2": 'resource "aws_lambda_function" "f" {\n  function_name = "fn"\n}\n'},
    )
    state = raw_state(
        [raw_resource("aws_lambda_function", "f", {"id": "fn", "function_name": "fn"})]
    )
    path = write_json(tmp_path / "s.json", state)
    code, err = tfgen(root, "adopt", "dev", "--state", str(path), "--import")
    assert code == 1
    assert (
        "aws_lambda_function.f (aws_lambda_function): tfgen does not know how aws_lambda_function is imported"
        in err
    )
    assert not (root / "adopt").exists()


def test_gate_exit_codes(tmp_path: Path) -> None:
    plan = {
        "format_version": "1.2",
        "resource_changes": [
            {"address": "aws_vpc.main", "change": {"actions": ["no-op"]}},
            {
                "address": "aws_lb.main",
                "change": {"actions": ["delete", "create"], "replace_paths": [["name"]]},
            },
        ],
    }
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))
    code, err = tfgen(tmp_path, "gate", str(path))
    assert code == 3
    assert err.splitlines() == [f"error: {path}: aws_lb.main: would replace (forced by name)"]
    code, err = tfgen(tmp_path, "gate", str(path), "--allow", "aws_lb.main")
    assert code == 0
    assert err.splitlines()[-1] == f"{path}: passes (1 change(s), nothing deleted)"
    path.write_text("[")
    assert tfgen(tmp_path, "gate", str(path))[0] == 1
