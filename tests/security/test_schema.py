"""A hostile schema.json never reaches out, never redeclares an engine key, fails located."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ENGINE_STACK, write_tree
from tests.security.helpers import loopback_listener, run


def stack_with(tmp_path: Path, extra: dict[str, Any]) -> Path:
    """The inline engine stack with ``extra`` merged into its schema's top level."""
    root = tmp_path / "p"
    write_tree(root, ENGINE_STACK)
    schema = json.loads((root / "templates/schema.json").read_text())
    for key, value in extra.items():
        if key == "properties":
            schema["properties"].update(value)
        else:
            schema[key] = value
    (root / "templates/schema.json").write_text(json.dumps(schema, indent=2) + "\n")
    return root


def line_of(project: Path, needle: str) -> int:
    """The last line of schema.json holding ``needle``."""
    text = (project / "templates/schema.json").read_text().splitlines()
    return max(i for i, line in enumerate(text, 1) if needle in line)


@pytest.mark.parametrize(
    "uri",
    ["http://127.0.0.1:{port}/meta", "file:///etc/passwd", "file:///dev/zero", "{fifo}"],
    ids=["loopback", "etc-passwd", "dev-zero", "fifo"],
)
def test_a_schema_keyword_in_a_subschema_is_never_fetched(tmp_path: Path, uri: str) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with loopback_listener() as listener:
        target = uri.format(port=listener.port, fifo=f"file://{fifo}")
        project = stack_with(tmp_path, {"properties": {"x": {"$schema": target, "type": "string"}}})
        started = time.monotonic()
        result = run(project, "validate", "dev")
        assert time.monotonic() - started < 10
    assert listener.accepted == []
    assert result.exit_code == 1
    line = line_of(project, '"$schema": "' + target)
    assert result.first == (
        f"error: templates/schema.json:{line}: properties.x.$schema: $schema must be "
        f"'https://json-schema.org/draft/2020-12/schema' (draft 2020-12), not {target!r}"
    )


@pytest.mark.parametrize("keyword", ["$id", "$vocabulary"])
def test_keywords_naming_a_base_uri_are_refused(tmp_path: Path, keyword: str) -> None:
    with loopback_listener() as listener:
        value: Any = f"http://127.0.0.1:{listener.port}/s"
        if keyword == "$vocabulary":
            value = {value: True}
        project = stack_with(tmp_path, {"$defs": {"a": {keyword: value, "type": "string"}}})
        result = run(project, "validate", "dev")
    assert listener.accepted == []
    assert result.exit_code == 1
    line = line_of(project, f'"{keyword}"')
    assert result.first == (
        f"error: templates/schema.json:{line}: $defs.a.{keyword}: {keyword} is not allowed: "
        "a stack's schema is one local file"
    )


def test_a_remote_ref_in_a_subschema_is_refused_unfetched(tmp_path: Path) -> None:
    with loopback_listener() as listener:
        ref = f"http://127.0.0.1:{listener.port}/s.json"
        project = stack_with(tmp_path, {"properties": {"x": {"$ref": ref}}})
        result = run(project, "validate", "dev")
    assert listener.accepted == []
    assert result.exit_code == 1
    assert result.first.endswith(f"only local references ('#/...') are allowed, not {ref!r}")


@pytest.mark.parametrize(
    ("extra", "where", "key"),
    [
        (
            {"allOf": [{"properties": {"backend": {"type": "object"}}}]},
            '"backend"',
            "allOf.0.properties.backend",
        ),
        (
            {"anyOf": [{"required": ["region"]}, {"type": "object"}]},
            '"required": [',
            "anyOf.0.required.region",
        ),
        (
            {
                "$defs": {"evil": {"properties": {"backend": {"const": {}}}}},
                "allOf": [{"$ref": "#/$defs/evil"}],
            },
            '"$ref"',
            "allOf.0.$ref",
        ),
    ],
    ids=["allOf-properties", "anyOf-required", "allOf-ref"],
)
def test_engine_keys_cannot_be_redeclared_through_combinators(
    tmp_path: Path, extra: dict[str, Any], where: str, key: str
) -> None:
    project = stack_with(tmp_path, extra)
    result = run(project, "validate", "dev")
    assert result.exit_code == 1
    name = "region" if "region" in key else "backend"
    line = line_of(project, where)
    assert result.first.startswith(
        f"error: templates/schema.json:{line}: {key}: {name!r} is an engine key: the engine "
    )


def test_an_uncompilable_pattern_is_reported_at_its_line(tmp_path: Path) -> None:
    project = stack_with(tmp_path, {"properties": {"x": {"type": "string", "pattern": "(["}}})
    result = run(project, "validate", "dev")
    assert result.exit_code == 1
    assert len(result.lines) == 1
    line = line_of(project, '"pattern"')
    assert result.first.startswith(f"error: templates/schema.json:{line}: properties.x.pattern: ")


def test_a_backtracking_pattern_is_a_located_error(tmp_path: Path) -> None:
    project = stack_with(
        tmp_path, {"properties": {"x": {"type": "string", "pattern": "(a*)*\\1b"}}}
    )
    (project / "environments/dev.yaml").write_text(
        "network:\n  vpc_cidr: 10.10.0.0/16\nx: " + "a" * 40 + "!\n"
    )
    result = run(project, "validate", "dev")
    assert result.exit_code == 1
    assert result.lines == [
        "error: environments/dev.yaml:3: x: the pattern takes too long to match "
        "'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!' (it backtracks too much)"
    ]


def test_recursive_ref_with_defaults_is_a_located_error(tmp_path: Path) -> None:
    project = stack_with(
        tmp_path,
        {
            "$defs": {
                "node": {
                    "type": "object",
                    "properties": {"child": {"$ref": "#/$defs/node"}, "n": {"default": 1}},
                }
            },
            "properties": {"tree": {"$ref": "#/$defs/node"}},
        },
    )
    result = run(project, "validate", "dev")
    assert result.exit_code == 1
    assert result.lines == [
        "error: templates/schema.json: defaults nest too deeply (a $ref that contains itself?)"
    ]


def test_a_literal_secret_in_a_schema_default_is_never_written(tmp_path: Path) -> None:
    project = stack_with(
        tmp_path,
        {
            "properties": {
                "database": {
                    "type": "object",
                    "default": {"db_password": "hunter2-literal"},
                }
            }
        },
    )
    result = run(project, "render", "dev")
    assert result.exit_code == 1
    assert result.first.startswith(
        "error: templates/schema.json: database.db_password: a secret may not be written"
    )
    assert not (project / "out").exists()
