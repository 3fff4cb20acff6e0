"""tfgen schema: the stack's schema merged with the engine's core; every shipped file validates."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
import yaml
from click.testing import CliRunner

from generator.cli.app import cli
from generator.commands.schema import environment_file_schema, schema_text
from generator.project import load_project
from tests.conftest import ROOT

STACK_SCHEMA = ROOT / "templates" / "schema.json"
MODELINE = "# yaml-language-server: $schema=../templates/schema.json"
SHIPPED = sorted((ROOT / "environments").glob("*.yaml"))


# JSON Schema patterns are ECMA-262 (tags use \p{L}): checked with jsonschema-rs, as editors
# and tfgen do, not with Python's re.
def validator() -> Any:
    schema = environment_file_schema(load_project(ROOT).stack)
    jsonschema_rs.meta.validate(schema)
    return jsonschema_rs.validator_for(schema)


def errors_for(doc: Any) -> list[str]:
    return [str(e.message) for e in validator().iter_errors(doc)]


def test_tfgen_schema_prints_the_stacks_own_file_merged_with_the_core(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["schema", "--project-dir", str(ROOT)])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == schema_text(load_project(ROOT).stack)
    printed = json.loads(result.stdout)["properties"]
    stack = json.loads(STACK_SCHEMA.read_text(encoding="utf-8"))["properties"]
    assert set(stack) < set(printed)  # every stack key, from its one file ...
    assert {"project", "region", "tags", "backend", "endpoint", "extends"} <= set(printed)
    assert stack["network"]["properties"]["vpc_cidr"]["description"] in result.stdout


def test_the_stack_schema_editors_read_is_valid_draft_2020_12() -> None:
    jsonschema_rs.meta.validate(json.loads(STACK_SCHEMA.read_text("utf-8")))


def test_schema_is_valid_draft_2020_12() -> None:
    schema = environment_file_schema(load_project(ROOT).stack)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema_rs.meta.validate(schema)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_file_points_at_the_schema_and_validates(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.splitlines()[0] == MODELINE
    assert errors_for(yaml.safe_load(text) or {}) == []


def test_no_key_is_required_anywhere() -> None:
    def walk(node: Any) -> None:
        if isinstance(node, dict):
            assert "required" not in node
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(environment_file_schema(load_project(ROOT).stack))
    assert errors_for({}) == []  # an empty layer is a valid file


def test_name_is_refused_and_extends_is_allowed() -> None:
    assert errors_for({"name": "dev"}) != []
    assert errors_for({"extends": ["_base", "_eu"]}) == []
    assert errors_for({"extends": "_base"}) == []
    assert errors_for({"extends": ["../etc/passwd"]}) != []


@pytest.mark.parametrize(
    "doc",
    [
        {"regoin": "eu-west-1"},  # unknown key
        {"network": {"az_count": "2"}},  # wrong type
        {"network": {"az_count": 9}},  # out of range
        {"backend": {"encrypt": "yes"}},
        {"backend": {"dynamodb_table": "a b"}},  # pattern
        {"tags": {"Owner": "a" * 300}},  # too long
    ],
)
def test_invalid_files_are_rejected(doc: dict[str, Any]) -> None:
    assert errors_for(doc) != []


@pytest.mark.parametrize(
    "doc",
    [
        {"backend": {"bucket": "${env:TERRAFORM_STATE_BUCKET}"}},
        {"backend": {"dynamodb_table": "${env:LOCK_TABLE:-catalog-locks}"}},
        {"tags": {"Owner": "${env:OWNER}"}},
        {"endpoint": "${env:AWS_ENDPOINT_URL:-http://127.0.0.1:5000}"},
    ],
)
def test_env_references_are_accepted_where_strings_are_constrained(doc: dict[str, Any]) -> None:
    assert errors_for(doc) == []


def test_a_reference_is_not_accepted_where_a_number_is_expected() -> None:
    # The model is strict: a reference resolves to a string, which tfgen would refuse too.
    assert errors_for({"network": {"az_count": "${env:AZ_COUNT}"}}) != []
