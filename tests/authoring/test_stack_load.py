"""The stack itself is checked when it loads: its defaults, and the keys its rules blame."""

# ruff: noqa: E501 - one expected message a line

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.engine.test_stack_engine import errors, one_bucket, run

SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["bucket_name"],
    "properties": {
        "bucket_name": {"type": "string", "format": "s3-bucket-name"},
        "site": {
            "type": "object",
            "properties": {
                "max_ttl": {"type": "integer", "minimum": 0, "default": 3600},
                "mode": {"type": "string", "enum": ["a", "b"], "default": "a"},
            },
            "default": {},
        },
    },
}


def schema_with(path: tuple[str, ...], value: object) -> str:
    schema = json.loads(json.dumps(SCHEMA))
    node = schema
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return json.dumps(schema, indent=2) + "\n"


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("properties", "site", "properties", "max_ttl", "default"), "lots",
         r"^error: templates/schema\.json:\d+: properties\.site\.properties\.max_ttl\.default: the default 'lots' is not of the type the schema gives \(integer\)$"),
        (("properties", "site", "properties", "max_ttl", "default"), -5,
         r"^error: templates/schema\.json:\d+: properties\.site\.properties\.max_ttl\.default: the default -5 is below the schema's minimum 0$"),
        (("properties", "site", "properties", "mode", "default"), "c",
         r"^error: templates/schema\.json:\d+: properties\.site\.properties\.mode\.default: the default 'c' is not one of the schema's enum$"),
    ],
)  # fmt: skip
def test_a_wrong_default_is_the_schemas_error_at_its_line(
    tmp_path: Path, path: tuple[str, ...], value: object, message: str
) -> None:
    text = schema_with(path, value)
    root = one_bucket(tmp_path, extra={"templates/schema.json": text})
    result = run(root, "validate", "dev")
    assert result.exit_code == 1
    first = errors(result).splitlines()[0]
    assert re.match(message, first), first
    line = int(first.split(":")[2])
    assert '"default"' in text.splitlines()[line - 1]  # the default's own line


def test_a_sound_default_loads(tmp_path: Path) -> None:
    root = one_bucket(tmp_path, extra={"templates/schema.json": json.dumps(SCHEMA)})
    assert run(root, "validate", "dev").exit_code == 0


def test_a_rule_key_the_schema_does_not_declare_is_refused_at_load(tmp_path: Path) -> None:
    stack = (
        "rules:\n"
        "  - key: site.max_tll\n"
        "    rule: env.site.max_ttl > 0\n"
        "    message: must be positive\n"
    )
    root = one_bucket(
        tmp_path,
        extra={"templates/schema.json": json.dumps(SCHEMA), "templates/stack.yaml": stack},
    )
    result = run(root, "validate", "dev")
    assert result.exit_code == 1
    assert errors(result).splitlines()[0] == (
        "error: templates/stack.yaml:2: rules.0.key: the schema declares no key 'max_tll': "
        "a rule's key names the value it blames"
    )


def test_rule_keys_with_template_parts_or_open_maps_are_not_second_guessed(
    tmp_path: Path,
) -> None:
    stack = (
        "rules:\n"
        "  - key: site.{{ key }}\n"
        "    each: env.site\n"
        "    rule: value is not none\n"
        "    message: set it\n"
        "  - key: tags.Owner\n"
        '    rule: "true"\n'
        "    message: never\n"
    )
    root = one_bucket(
        tmp_path,
        extra={"templates/schema.json": json.dumps(SCHEMA), "templates/stack.yaml": stack},
    )
    result = run(root, "validate", "dev")
    assert result.exit_code == 0, errors(result)


REF_SCHEMA = {
    **SCHEMA,
    "$defs": {
        "site": {
            "type": "object",
            "properties": {"max_ttl": {"type": "integer", "default": 3600}},
            "default": {},
        },
        "wrapped": {"$ref": "#/$defs/site"},
    },
    "properties": {
        "bucket_name": {"type": "string", "format": "s3-bucket-name"},
        "site": {"$ref": "#/$defs/wrapped"},
    },
}


@pytest.mark.parametrize(("key", "unknown"), [("site.max_tll", "max_tll"), ("site.max_ttl", None)])
def test_a_rule_key_declared_through_a_ref_is_followed(
    tmp_path: Path, key: str, unknown: str | None
) -> None:
    # site's properties are declared two $ref hops away: a typo there is still found.
    stack = f"rules:\n  - key: {key}\n    rule: env.site.max_ttl > 0\n    message: positive\n"
    root = one_bucket(
        tmp_path,
        extra={"templates/schema.json": json.dumps(REF_SCHEMA), "templates/stack.yaml": stack},
    )
    result = run(root, "validate", "dev")
    if unknown is None:
        assert result.exit_code == 0, errors(result)
        return
    assert result.exit_code == 1
    assert errors(result).splitlines()[0] == (
        f"error: templates/stack.yaml:2: rules.0.key: the schema declares no key {unknown!r}: "
        "a rule's key names the value it blames"
    )
