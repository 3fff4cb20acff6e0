"""The engine renders any stack: small stacks built inline, never the shipped environments.

A stack is its templates/ folder: schema.json (inputs), stack.yaml (derived values, rules,
not_secret). Each test writes one with ``write_tree`` and runs the CLI, asserting exit codes
and ``file:line: key: message`` locations.
"""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from generator.cli.app import cli
from generator.engine.tffunctions import cidrhost, cidrsubnet, cidrsubnets, regex_groups
from generator.errors import ConfigError
from generator.project import load_project
from tests.conftest import ENGINE_STACK, write_tree
from tests.tfhelpers import requires_terraform, run_terraform, terraform_env

VERSIONS = textwrap.dedent(ENGINE_STACK["templates/versions.tf.j2"]).lstrip("\n")
PROVIDERS = """\
provider "aws" {
  region = {{ env.region | hcl }}
}
"""
BACKEND = """\
{{ {"bucket": env.backend.bucket, "key": env.backend.key, "region": env.backend.region,
    "encrypt": env.backend.encrypt, "use_lockfile": true} | hcl_attrs }}
"""
BUCKET = """\
resource "aws_s3_bucket" "data" {
  bucket = {{ env.bucket_name | hcl }}
  tags   = {{ env.tags | hcl(indent=2) }}
}
"""
DEFAULTS = """\
project: {project}
region: eu-west-1
backend:
  bucket: acme-tfstate
"""


def one_bucket(
    tmp_path: Path, *, project: str = "acme", extra: dict[str, str] | None = None
) -> Path:
    """The project of issue 10: one S3 bucket, its own environments and templates."""
    root = tmp_path / "bucket-project"
    write_tree(
        root,
        {
            "environments/_defaults.yaml": DEFAULTS.format(project=project),
            "environments/dev.yaml": "bucket_name: acme-data-dev\ntags:\n  Environment: dev\n",
            "environments/prod.yaml": "bucket_name: acme-data-prod\n",
            "templates/versions.tf.j2": VERSIONS,
            "templates/providers.tf.j2": PROVIDERS,
            "templates/backend.hcl.j2": BACKEND,
            "templates/bucket.tf.j2": BUCKET,
            **(extra or {}),
        },
    )
    return root


SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["bucket_name"],
    "properties": {
        "bucket_name": {"type": "string", "format": "s3-bucket-name", "description": "the bucket"},
        "versioning": {"type": "boolean", "default": True},
        "lifecycle": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "expire_days": {"type": "integer", "minimum": 1, "maximum": 3650, "default": 90},
                "cidr": {"type": "string", "format": "private-ipv4-cidr", "default": "10.0.0.0/16"},
            },
        },
    },
}


def with_schema(schema: dict[str, Any] | None = None, stack: str | None = None) -> dict[str, str]:
    files = {"templates/schema.json": json.dumps(schema or SCHEMA, indent=2) + "\n"}
    if stack is not None:
        files["templates/stack.yaml"] = stack
    return files


def run(root: Path, *args: str) -> Any:
    return CliRunner().invoke(cli, [*args, "--project-dir", str(root)])


def errors(result: Any) -> str:
    assert "Traceback" not in result.output
    return str(result.stderr)


# --------------------------------------------------------------------------- no schema


def test_a_stack_without_a_schema_renders_any_keys_as_data(tmp_path: Path) -> None:
    root = one_bucket(tmp_path, project="a-long-project-name")  # no load balancer rules here
    result = run(root, "render", "dev")
    assert result.exit_code == 0, result.stderr
    out = (root / "out" / "dev" / "bucket.tf").read_text("utf-8")
    assert 'bucket = "acme-data-dev"' in out
    assert "network" not in errors(result) and "service" not in errors(result)


@requires_terraform
def test_the_one_bucket_project_passes_terraform_validate(tmp_path: Path) -> None:
    root = one_bucket(tmp_path, extra=with_schema())
    assert run(root, "render", "dev").exit_code == 0
    (tmp_path / "tf-data").mkdir()
    env = terraform_env(tmp_path / "tf-data")
    out = root / "out" / "dev"
    run_terraform(["init", "-backend=false", "-input=false"], out, env)
    result = run_terraform(["validate", "-no-color"], out, env)
    assert "Success" in result.stdout


def test_without_a_schema_the_core_is_still_checked(tmp_path: Path) -> None:
    root = one_bucket(tmp_path)
    (root / "environments/dev.yaml").write_text("region: mars-1\nbucket_name: x\n", "utf-8")
    result = run(root, "validate", "dev")
    assert result.exit_code == 1
    assert re.search(
        r"environments/dev\.yaml:1: region: 'mars-1' is not an AWS region", errors(result)
    )


def test_a_key_no_one_set_is_a_located_template_error(tmp_path: Path) -> None:
    root = one_bucket(tmp_path)
    (root / "environments/prod.yaml").write_text("tags: {}\n", "utf-8")
    result = run(root, "validate", "prod")
    assert result.exit_code == 1
    assert re.search(r"templates/bucket\.tf\.j2:2: template error: .*bucket_name", errors(result))


# --------------------------------------------------------------------------- schema


def test_a_mistyped_key_gets_a_did_you_mean_at_its_line(tmp_path: Path) -> None:
    root = one_bucket(tmp_path, extra=with_schema())
    (root / "environments/dev.yaml").write_text("bucket_name: acme-x\nbuckte_nmae: y\n", "utf-8")
    result = run(root, "validate", "dev")
    assert result.exit_code == 1
    assert (
        "environments/dev.yaml:2: buckte_nmae: unknown key; did you mean 'bucket_name'?"
        in errors(result)
    )


@pytest.mark.parametrize(
    ("dev", "message"),
    [
        ("bucket_name: Not_A_Bucket\n", r"dev\.yaml:1: bucket_name: an S3 bucket name uses"),
        (
            "bucket_name: ok-name\nversioning: 'yes'\n",
            r"dev\.yaml:2: versioning: expected a boolean",
        ),
        (
            "bucket_name: ok-name\nlifecycle:\n  expire_days: two\n",
            r"dev\.yaml:3: lifecycle\.expire_days: expected an integer, got 'two'",
        ),
        (
            "bucket_name: ok-name\nlifecycle:\n  expire_days: 0\n",
            r"dev\.yaml:3: lifecycle\.expire_days: must be at least 1, not 0",
        ),
        (
            "bucket_name: ok-name\nlifecycle:\n  cidr: 8.8.8.0/24\n",
            r"dev\.yaml:3: lifecycle\.cidr: 8\.8\.8\.0/24 is not a private",
        ),
        (
            "bucket_name: ok-name\nlifecycle:\n  expire_dyas: 3\n",
            r"dev\.yaml:3: lifecycle\.expire_dyas: unknown key; did you mean "
            r"'lifecycle\.expire_days'",
        ),
    ],
)
def test_schema_errors_are_at_the_value(tmp_path: Path, dev: str, message: str) -> None:
    root = one_bucket(tmp_path, extra=with_schema())
    (root / "environments/dev.yaml").write_text(dev, "utf-8")
    result = run(root, "validate", "dev")
    assert result.exit_code == 1
    assert re.search(message, errors(result)), errors(result)


def test_a_missing_key_is_reported_at_its_parent(tmp_path: Path) -> None:
    root = one_bucket(tmp_path, extra=with_schema())
    (root / "environments/prod.yaml").write_text("tags: {Team: data}\n", "utf-8")
    result = run(root, "validate", "prod")
    assert result.exit_code == 1
    assert "environments/prod.yaml: bucket_name: required key is missing" in errors(result)


def test_a_set_value_is_named_as_set(tmp_path: Path) -> None:
    root = one_bucket(tmp_path, extra=with_schema())
    result = run(root, "validate", "dev", "--set", "lifecycle.expire_days=9999")
    assert result.exit_code == 1
    assert "--set: lifecycle.expire_days: must be at most 3650, not 9999" in errors(result)


def test_schema_defaults_reach_the_templates(tmp_path: Path) -> None:
    root = one_bucket(tmp_path, extra=with_schema())
    config = load_project(root).load_environment("dev").config
    assert config.values["versioning"] is True
    assert config.values["lifecycle"] == {"expire_days": 90, "cidr": "10.0.0.0/16"}


@pytest.mark.parametrize(
    ("schema_text", "message"),
    [
        (
            '{\n  "type": "object",\n  "properties": {\n    "a": {"type": "integr"}\n  }\n}\n',
            r"templates/schema\.json:4: properties\.a\.type: not a valid JSON Schema",
        ),
        (
            '{\n  "properties": {\n    "a": {"$ref": "https://example.com/s.json"}\n  }\n}\n',
            r"templates/schema\.json:3: properties\.a\.\$ref: only local references",
        ),
        (
            '{\n  "properties": {\n    "a": {\n      "format": "s3-buckit-name"\n    }\n  }\n}\n',
            r"templates/schema\.json:4: properties\.a\.format: unknown format 's3-buckit-name'; "
            r"did you mean 's3-bucket-name'\?",
        ),
        (
            '{\n  "properties": {\n    "region": {"type": "string"}\n  }\n}\n',
            r"templates/schema\.json:3: properties\.region: 'region' is an engine key",
        ),
        (
            '{\n  "properties": {},\n  "properties": {}\n}\n',
            r"templates/schema\.json:3: duplicate key 'properties'",
        ),
        ('{\n  "properties": {\n', r"templates/schema\.json:3: JSON syntax error"),
        (
            '{"properties": {"a": {"default": ' + "[" * 70 + "]" * 70 + "}}}",
            r"templates/schema\.json: nested more than 64 levels deep",
        ),
        ('{"properties": ' + "[" * 70, r"templates/schema\.json: nested more than 64 levels deep"),
        (
            '{"$schema": "http://json-schema.org/draft-07/schema#"}',
            r"templates/schema\.json:1: \$schema: \$schema must be .*2020-12",
        ),
    ],
)
def test_a_broken_schema_is_an_error_at_its_own_line(
    tmp_path: Path, schema_text: str, message: str
) -> None:
    root = one_bucket(tmp_path, extra={"templates/schema.json": schema_text})
    result = run(root, "validate", "dev")
    assert result.exit_code == 1
    assert re.search(message, errors(result)), errors(result)


# --------------------------------------------------------------------------- rules, derived

STACK = """\
derived:
  prefix: "env.project ~ '-' ~ env.name"
  full_bucket: "env.prefix ~ '-' ~ env.bucket_name"
  first_block: "env.lifecycle.cidr | cidrsubnet(8, 1)"
rules:
  - key: bucket_name
    rule: "env.full_bucket | length <= 63"
    message: "the bucket name '{{ env.full_bucket }}' has {{ env.full_bucket | length }} characters"
  - key: lifecycle.expire_days
    when: env.versioning
    rule: "env.lifecycle.expire_days >= 30"
    message: >-
      with versioning, keep old versions at least 30 days, not {{ env.lifecycle.expire_days }}
  - key: "tags.{{ key }}"
    each: env.tags
    rule: "value == value | trim"
    message: "the tag {{ key }} has leading or trailing spaces"
"""


def test_derived_values_reach_rules_and_templates(tmp_path: Path) -> None:
    root = one_bucket(tmp_path, extra=with_schema(stack=STACK))
    config = load_project(root).load_environment("dev").config
    assert config.values["prefix"] == "acme-dev"
    assert config.values["full_bucket"] == "acme-dev-acme-data-dev"
    assert config.values["first_block"] == "10.0.1.0/24"


@pytest.mark.parametrize(
    ("dev", "message"),
    [
        (
            "bucket_name: okay\nlifecycle:\n  expire_days: 7\n",
            r"environments/dev\.yaml:3: lifecycle\.expire_days: with versioning, keep old versions "
            r"at least 30 days, not 7",
        ),
        (
            "bucket_name: okay\ntags:\n  Team: ' data'\n",
            r"environments/dev\.yaml:3: tags\.Team: the tag Team has leading or trailing spaces",
        ),
        (
            f"bucket_name: {'b' * 60}\n",
            r"environments/dev\.yaml:1: bucket_name: the bucket name 'acme-dev-b+' has 69 "
            r"characters",
        ),
    ],
)
def test_a_rule_blames_its_key_at_the_values_line(tmp_path: Path, dev: str, message: str) -> None:
    root = one_bucket(tmp_path, extra=with_schema(stack=STACK))
    (root / "environments/dev.yaml").write_text(dev, "utf-8")
    result = run(root, "validate", "dev")
    assert result.exit_code == 1
    assert re.search(message, errors(result)), errors(result)


def test_a_rule_is_skipped_when_its_guard_is_false(tmp_path: Path) -> None:
    root = one_bucket(tmp_path, extra=with_schema(stack=STACK))
    (root / "environments/dev.yaml").write_text(
        "bucket_name: okay\nversioning: false\nlifecycle:\n  expire_days: 7\n", "utf-8"
    )
    assert run(root, "validate", "dev").exit_code == 0


@pytest.mark.parametrize(
    ("stack", "message"),
    [
        (
            "rules:\n  - key: a\n    rule: 'env.x >'\n    message: m\n",
            r"templates/stack\.yaml:3: rules\.0\.rule: expression syntax error",
        ),
        (
            "rules:\n  - key: a\n    rule: 'true'\n",
            r"templates/stack\.yaml:2: rules\.0: a rule needs 'message'",
        ),
        (
            "derived:\n  bucket_name: \"'x'\"\n",
            r"templates/stack\.yaml:2: derived\.bucket_name: 'bucket_name' is an input key",
        ),
        (
            "derived:\n  a: \"env.x.__class__\"\n  b: '(1'\n",
            r"templates/stack\.yaml:3: derived\.b: expression syntax error",
        ),
        ("rulez: []\n", r"templates/stack\.yaml:1: rulez: unknown key"),
        (
            "rules:\n  - key: a\n    rule: 'true'\n    message: '{{ oops'\n",
            r"templates/stack\.yaml:4: rules\.0\.message: template syntax error",
        ),
    ],
)
def test_a_broken_stack_file_is_an_error_at_its_own_line(
    tmp_path: Path, stack: str, message: str
) -> None:
    root = one_bucket(tmp_path, extra=with_schema(stack=stack))
    result = run(root, "validate", "dev", "prod")
    assert result.exit_code == 1
    assert re.search(message, errors(result)), errors(result)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("1 // 0", r"derived\.boom: cannot be evaluated: ZeroDivisionError"),
        ("env.bucket_name.__class__.__mro__", r"derived\.boom: .*unsafe"),
        ("env.nothing_here", r"derived\.boom: 'dict object' has no attribute 'nothing_here'"),
        ("'x' * 10000000", r"derived\.boom: cannot be evaluated: OverflowError"),
        ("range(10)", r"derived\.boom: a derived value must be data: got range"),
    ],
)
def test_stack_code_that_fails_is_contained_and_located(
    tmp_path: Path, expression: str, message: str
) -> None:
    stack = f'derived:\n  boom: "{expression}"\n'
    root = one_bucket(tmp_path, extra=with_schema(stack=stack))
    result = run(root, "validate", "dev")
    assert result.exit_code == 1
    assert re.search(r"templates/stack\.yaml:2: " + message, errors(result)), errors(result)


def test_one_stack_error_is_reported_once_for_all_environments(tmp_path: Path) -> None:
    root = one_bucket(tmp_path, extra=with_schema(stack="derived:\n  a: '(1'\n"))
    result = run(root, "validate", "--all")
    assert result.exit_code == 1
    assert errors(result).count("expression syntax error") >= 1


def test_load_environment_raises_config_error(tmp_path: Path) -> None:
    root = one_bucket(tmp_path, extra=with_schema())
    (root / "environments/dev.yaml").write_text("{}\n", "utf-8")
    with pytest.raises(ConfigError, match=r"bucket_name: required key is missing"):
        load_project(root).load_environment("dev")


# --------------------------------------------------------------------------- sandbox


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ env.__class__.__init__.__globals__ }}", r"unsafe"),
        ("{% set x = env.tags.update({'a': 1}) %}", r"unsafe"),
        ("{{ 1 // 0 }}", r"ZeroDivisionError"),
        ("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", r"recursion too deep"),
        ("{{ 'x' * 100000000 }}", r"OverflowError"),
        ("{{ 10 ** 100000 }}", r"OverflowError"),
    ],
)
def test_templates_are_sandboxed_and_their_failures_located(
    tmp_path: Path, template: str, message: str
) -> None:
    root = one_bucket(tmp_path, extra={"templates/evil.tf.j2": "# line 1\n" + template + "\n"})
    result = run(root, "render", "dev")
    assert result.exit_code == 1
    assert re.search(r"templates/evil\.tf\.j2:2: template error: .*" + message, errors(result)), (
        errors(result)
    )
    assert not (root / "out" / "dev").exists()


def test_one_broken_template_environment_does_not_stop_the_others(tmp_path: Path) -> None:
    evil = "{% if env.name == 'dev' %}{{ 1 // 0 }}{% endif %}\n"
    root = one_bucket(tmp_path, extra={"templates/evil.tf.j2": evil})
    result = run(root, "render", "--all", "-j", "2")
    assert result.exit_code == 1
    assert "ZeroDivisionError" in errors(result)
    assert (root / "out" / "prod" / "bucket.tf").is_file()
    assert not (root / "out" / "dev").exists()


def test_output_beyond_its_bound_is_a_located_error(tmp_path: Path) -> None:
    template = "{% for i in range(99999) %}{{ 'x' * 99 }}\n{% endfor %}\n"
    root = one_bucket(tmp_path, extra={"templates/big.tf.j2": template})
    result = run(root, "render", "dev")
    assert result.exit_code == 1
    assert re.search(
        r"templates/big\.tf\.j2:1: template output passes the file bound", errors(result)
    )


# --------------------------------------------------------------------------- functions


def test_terraform_functions() -> None:
    assert cidrsubnet("10.0.0.0/16", 8, 2) == "10.0.2.0/24"
    assert cidrsubnets("10.1.0.0/16", 4, 4, 8) == ["10.1.0.0/20", "10.1.16.0/20", "10.1.32.0/24"]
    assert cidrhost("10.0.0.0/24", 5) == "10.0.0.5"
    assert cidrhost("10.0.0.0/24", -1) == "10.0.0.255"
    assert regex_groups("a-1", r"(\w)-(\d)") == ["a", "1"]
    assert regex_groups("zz", r"(\w)-(\d)") is None
    with pytest.raises(ValueError, match="does not fit"):
        cidrsubnet("10.0.0.0/24", 2, 4)
    with pytest.raises(ValueError, match="not enough room"):
        cidrsubnets("10.0.0.0/24", 1, 1, 1)


def test_a_tf_json_output_carries_its_header_as_a_json_comment(tmp_path: Path) -> None:
    locals_json = '{\n  "locals": {\n    "bucket": {{ env.bucket_name | tojson }}\n  }\n}\n'
    root = one_bucket(tmp_path, extra={"templates/extra.tf.json.j2": locals_json})
    result = run(root, "render", "dev")
    assert result.exit_code == 0, errors(result)
    data = json.loads((root / "out" / "dev" / "extra.tf.json").read_text("utf-8"))
    assert data["//"].startswith("Generated by tfgen from environments/dev.yaml; do not edit.")
    assert data["locals"] == {"bucket": "acme-data-dev"}


def test_a_file_in_environments_with_an_invalid_name_fails_only_itself(tmp_path: Path) -> None:
    root = one_bucket(tmp_path)
    (root / "environments" / "Bad_Name.yaml").write_text("bucket_name: x-y-z\n", "utf-8")
    result = run(root, "validate", "--all")
    assert result.exit_code == 1
    assert "environments/Bad_Name.yaml: invalid environment name 'Bad_Name'" in errors(result)
    assert "dev: valid" in errors(result)
    assert "prod: valid" in errors(result)


def test_not_secret_lets_a_declared_key_through(tmp_path: Path) -> None:
    stack = 'not_secret: ["tags.TOKEN_BUCKET"]\n'
    root = one_bucket(tmp_path, extra=with_schema(stack=stack))
    (root / "environments/dev.yaml").write_text(
        "bucket_name: acme-x\ntags:\n  TOKEN_BUCKET: '10'\n  GITHUBTOKEN: ghp-literal\n", "utf-8"
    )
    result = run(root, "validate", "dev")
    assert result.exit_code == 1
    assert "environments/dev.yaml:4: tags.GITHUBTOKEN: a secret may not be written" in errors(
        result
    )
    assert "TOKEN_BUCKET" not in errors(result)
    assert "ghp-literal" not in result.output


def test_tags_take_letters_of_any_script(tmp_path: Path) -> None:
    root = one_bucket(tmp_path)
    (root / "environments/dev.yaml").write_text(
        "bucket_name: acme-x\ntags:\n  Équipe: données\n  チーム: 中文\n  bad!: x\n", "utf-8"
    )
    result = run(root, "validate", "dev")
    assert result.exit_code == 1
    assert errors(result).count("error:") == 1
    assert "environments/dev.yaml:5: tags.bad!: the key 'bad!' is not allowed here" in errors(
        result
    )


# --------------------------------------------------------------------------- stack cache


def _fresh_load(root: Path) -> Any:
    from generator.engine import stack as stack_module

    stack_module._load_stack.cache_clear()
    return stack_module.load_stack(root / "templates")


def _entries(cache_home: Path) -> list[Path]:
    folder = cache_home / "tfgen" / "yaml"
    return sorted(folder.iterdir()) if folder.is_dir() else []


def test_a_stack_is_cached_whole_and_a_bad_entry_is_a_miss(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "cache-home"
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    root = one_bucket(tmp_path, extra=with_schema(stack=STACK))
    first = _fresh_load(root)
    (entry,) = _entries(home)
    second = _fresh_load(root)  # from the entry
    assert [d.name for d in second.derived] == [d.name for d in first.derived]
    assert [r.line for r in second.rules] == [r.line for r in first.rules]
    config = load_project(root).load_environment("dev").config
    assert config.values["full_bucket"] == "acme-dev-acme-data-dev"
    for garbage in (b"", b"\x00" * 10, entry.read_bytes()[:-7]):
        entry.write_bytes(garbage)
        again = _fresh_load(root)  # a miss: parsed and compiled again, then stored anew
        assert [d.name for d in again.derived] == [d.name for d in first.derived]
    # An edit is never served from the cache: the entry is keyed by the file's bytes.
    (root / "templates" / "stack.yaml").write_text("derived:\n  x: \"'edited'\"\n", "utf-8")
    assert [d.name for d in _fresh_load(root).derived] == ["x"]


def test_no_cache_writes_no_stack_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "cache-home"
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    monkeypatch.setenv("TFGEN_NO_CACHE", "1")
    from generator.engine.sandbox import make_env

    make_env.cache_clear()
    try:
        root = one_bucket(tmp_path, extra=with_schema(stack=STACK))
        _fresh_load(root)
        assert _entries(home) == []
    finally:
        make_env.cache_clear()
