"""Verification: every rendered file parses, and the backend can never be empty or unsafe."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from generator.engine.core import EnvironmentConfig
from generator.errors import VerifyError
from generator.project import load_project
from generator.verify.leftover import leftover_lines
from generator.verify.rules import NotALiteralError, decode_hcl_string, verify_rendered
from tests.conftest import ROOT, render_files

BACKEND_OK = (
    'bucket       = "acme-state"\nkey          = "p/dev/terraform.tfstate"\n'
    'region       = "eu-west-1"\nencrypt      = true\nuse_lockfile = true\n'
)
VERSIONS_OK = (
    'terraform {\n  required_version = ">= 1.10.0"\n  required_providers {\n'
    '    aws = {\n      source  = "hashicorp/aws"\n      version = "~> 5.100"\n    }\n  }\n'
    '  backend "s3" {}\n}\n'
)


@pytest.fixture(scope="module")
def config() -> EnvironmentConfig:
    return load_project(ROOT).load_environment("dev", environ={}).config


def problems(files: dict[str, str], config: EnvironmentConfig) -> list[str]:
    with pytest.raises(VerifyError) as info:
        verify_rendered(files, config, out_prefix="out/dev")
    assert info.value.exit_code == 3
    return [str(p) for p in info.value.problems]


def test_the_shipped_render_verifies(config: EnvironmentConfig) -> None:
    files = render_files(load_project(ROOT), config, "environments/dev.yaml")
    for component in ("network", "data", "app"):
        mine = {f.split("/", 1)[1]: t for f, t in files.items() if f.startswith(f"{component}/")}
        parsed = verify_rendered(mine, config, out_prefix=f"out/dev/{component}")
        assert set(parsed) == set(mine)


def test_minimal_valid_set(config: EnvironmentConfig) -> None:
    verify_rendered(
        {"backend.hcl": BACKEND_OK, "versions.tf": VERSIONS_OK}, config, out_prefix="out/dev"
    )


@pytest.mark.parametrize(
    ("old", "new", "rule"),
    [
        ('"acme-state"', '""', r"bucket: empty or only whitespace"),
        ('"acme-state"', '"   "', r"bucket: empty or only whitespace"),
        ('"acme-state"', '"ab"', r"bucket: an S3 bucket name has 3 to 63"),
        ('"acme-state"', '"Acme-State"', r"bucket: an S3 bucket name uses lowercase"),
        ('"acme-state"', '"10.0.0.1"', r"bucket: .*IP address"),
        ('"acme-state"', '"a..b"', r"bucket: .*'\.\.'"),
        ('"acme-state"', '"${var.bucket}"', r"bucket: expected a literal string"),
        ('"p/dev/terraform.tfstate"', '"/p/dev/x"', r"key: the state key may not start with '/'"),
        ('"p/dev/terraform.tfstate"', '"p//x"', r"key: .*'//'"),
        ('"p/dev/terraform.tfstate"', '"p/../x"', r"key: .*'\.\.' segment"),
        ('"p/dev/terraform.tfstate"', '"p/dev/"', r"key: .*end with '/'"),
        ('"p/dev/terraform.tfstate"', '""', r"key: empty"),
        ('"eu-west-1"', '""', r"region: empty"),
        ("encrypt      = true", "encrypt      = false", r"encrypt: state must be encrypted"),
        ("use_lockfile = true", "use_lockfile = false", r"locking is not configured"),
    ],
)
def test_backend_rules(config: EnvironmentConfig, old: str, new: str, rule: str) -> None:
    backend = BACKEND_OK.replace(old, new, 1)
    found = problems({"backend.hcl": backend, "versions.tf": VERSIONS_OK}, config)
    assert any(p.startswith("out/dev/backend.hcl: ") for p in found)
    assert any(re.search(rule, p) for p in found), found


def test_missing_backend_keys(config: EnvironmentConfig) -> None:
    found = problems(
        {"backend.hcl": "encrypt = true\nuse_lockfile = true\n", "versions.tf": VERSIONS_OK}, config
    )
    assert sum("missing" in p for p in found) == 3


def test_no_backend_file(config: EnvironmentConfig) -> None:
    assert problems({"versions.tf": VERSIONS_OK}, config) == [
        "out/dev: no backend.hcl was rendered"
    ]


@pytest.mark.parametrize(
    ("versions", "rule"),
    [
        (VERSIONS_OK.replace('  backend "s3" {}\n', ""), r"found \[\]|found none"),
        (
            VERSIONS_OK.replace('backend "s3" {}', 'backend "s3" {\n    bucket = "x"\n  }'),
            r"must be empty .* found bucket",
        ),
        (VERSIONS_OK.replace('backend "s3" {}', 'backend "local" {}'), r'backend "s3"'),
        (VERSIONS_OK + VERSIONS_OK, r'exactly one backend "s3" block, found 2 \(versions\.tf\)'),
        (VERSIONS_OK + VERSIONS_OK, r"one required_providers block, found 2 .*refuses a second"),
        (VERSIONS_OK.replace('  required_version = ">= 1.10.0"\n', ""), r"no required_version"),
        ("# nothing\n", r"expected a terraform block, found none"),
    ],
)
def test_terraform_block_rules(config: EnvironmentConfig, versions: str, rule: str) -> None:
    found = problems({"backend.hcl": BACKEND_OK, "versions.tf": versions}, config)
    assert any(re.search(rule, p) for p in found), found


def test_syntax_errors_name_file_and_line(config: EnvironmentConfig) -> None:
    found = problems(
        {
            "backend.hcl": BACKEND_OK,
            "versions.tf": VERSIONS_OK,
            "main.tf": 'resource "a" "b" {\n  x = \n}\n',
        },
        config,
    )
    assert any(p.startswith("out/dev/main.tf:2: rendered file is not valid HCL") for p in found), (
        found
    )


@pytest.mark.parametrize("leftover", ["{{ env.x }}", "{% if %}", "{# c #}"])
def test_leftover_template_syntax(config: EnvironmentConfig, leftover: str) -> None:
    found = problems(
        {"backend.hcl": BACKEND_OK, "versions.tf": VERSIONS_OK, "main.tf": f"# {leftover}\n"},
        config,
    )
    assert "out/dev/main.tf:1: leftover template syntax ('{{', '{%' or '{#') outside a string" in (
        found
    )


# Data Terraform passes on, as real stacks write it: an SSM document, Step Functions JSONata,
# a mustache template in a heredoc, and one inside the code of an interpolation.
DATA_WITH_TEMPLATE_SYNTAX = """\
resource "aws_ssm_document" "restart" {
  name          = "restart"
  document_type = "Command"
  content = jsonencode({
    schemaVersion = "2.2"
    mainSteps = [{
      action = "aws:runShellScript"
      name   = "restart"
      inputs = { runCommand = ["systemctl restart {{ Service }}"] }
    }]
  })
}

locals {
  jsonata  = "{% $states.input.order %}"
  escaped  = "say \\"{{ hi }}\\" and $${not} {# kept #}"
  nested   = "${lower("{{ A }}")}-%{if true}{% raw %}%{endif}"
  template = <<-EOT
    Hello {{ name }}, {% for x in y %}{# c #}
    EOT
}
"""


def test_template_syntax_in_strings_and_heredocs_is_data(config: EnvironmentConfig) -> None:
    files = {
        "backend.hcl": BACKEND_OK,
        "versions.tf": VERSIONS_OK,
        "main.tf": DATA_WITH_TEMPLATE_SYNTAX,
    }
    verify_rendered(files, config, out_prefix="out/dev")  # raises on a problem


@pytest.mark.parametrize(
    ("text", "lines"),
    [
        ("# {{ x }}\n", [1]),
        ('a = 1 // {% x %}\nb = "{{ ok }}"\n', [1]),
        ('a = "{{ ok }}"\n/* one\n{# two #} */\nb = 1 {{\n', [3, 4]),
        ('a = "${ {{ b }} }"\n', [1]),  # in the code of an interpolation: not data
        ("t = <<EOT\n{{ data }}\nEOT\n# {{ after }}\n", [4]),
    ],
)
def test_template_syntax_in_code_and_comments_is_found(text: str, lines: list[int]) -> None:
    assert leftover_lines(text) == lines


def test_endpoints_only_where_declared(config: EnvironmentConfig) -> None:
    assert config.endpoint is None
    main = 'provider "aws" {\n  skip_credentials_validation = true\n}\n'
    found = problems(
        {"backend.hcl": BACKEND_OK, "versions.tf": VERSIONS_OK, "main.tf": main}, config
    )
    assert any("skip_credentials_validation is set" in p for p in found)


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ('"a"', "a"),
        ('"a\\\\b"', "a\\b"),
        ('"q\\"q"', 'q"q'),
        ('"n\\nn"', "n\nn"),
        ('"$${x}"', "${x}"),
        ('"%%{x}"', "%{x}"),
        ('"\\u0024{"', "${"),
        ('"\\U0001F600"', "😀"),
    ],
)
def test_decode_hcl_string(raw: str, value: str) -> None:
    assert decode_hcl_string(raw) == value


@pytest.mark.parametrize("raw", ["a", '"${var.x}"', '"%{ if }"', 3, None, '"'])
def test_decode_rejects_non_literals(raw: object) -> None:
    with pytest.raises(NotALiteralError):
        decode_hcl_string(raw)


def test_verify_names_every_problem_at_once(config: EnvironmentConfig, tmp_path: Path) -> None:
    backend = BACKEND_OK.replace('"acme-state"', '""').replace("true", "false")
    found = problems({"backend.hcl": backend, "versions.tf": VERSIONS_OK}, config)
    assert found == [
        "out/dev/backend.hcl: bucket: empty or only whitespace: terraform init would fail",
        "out/dev/backend.hcl: encrypt: state must be encrypted: encrypt = true",
        "out/dev/backend.hcl: use_lockfile: state locking is not configured"
        " (use_lockfile = true or dynamodb_table)",
    ]
    assert not list(tmp_path.iterdir())


def test_a_state_store_endpoint_allows_overrides_in_backend_hcl_only(
    config: EnvironmentConfig,
) -> None:
    minio = dataclasses.replace(
        config, backend=dataclasses.replace(config.backend, endpoint="http://127.0.0.1:9000")
    )
    backend = (
        BACKEND_OK + 'endpoints      = { s3 = "http://127.0.0.1:9000" }\nuse_path_style = true\n'
    )
    verify_rendered(
        {"backend.hcl": backend, "versions.tf": VERSIONS_OK}, minio, out_prefix="out/dev"
    )
    main = 'provider "aws" {\n  endpoints {\n    s3 = "http://127.0.0.1:9000"\n  }\n}\n'
    found = problems({"backend.hcl": backend, "versions.tf": VERSIONS_OK, "main.tf": main}, minio)
    assert found and all(p.startswith("out/dev/main.tf") for p in found), found


# --------------------------------------------------------------------------- repeated names


def test_an_attribute_set_twice_in_backend_hcl_names_both_lines(config: EnvironmentConfig) -> None:
    backend = BACKEND_OK.replace("key ", 'bucket = "other-state"\nkey ', 1)
    assert problems({"backend.hcl": backend, "versions.tf": VERSIONS_OK}, config) == [
        "out/dev/backend.hcl:2: bucket: set twice (first on line 1)"
    ]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            'resource "aws_s3_bucket" "this" {\n  bucket = "a"\n  bucket = "b"\n}\n',
            r"^out/dev/main\.tf:3: resource\.aws_s3_bucket\.this\.bucket: set twice "
            r"\(first on line 2\)$",
        ),
        (
            'resource "x" "y" {\n  lifecycle {\n    prevent_destroy = true\n'
            "    prevent_destroy = false\n  }\n}\n",
            r"^out/dev/main\.tf:4: resource\.x\.y\.lifecycle\.prevent_destroy: set twice",
        ),
        (
            'locals {\n  tags = {\n    "caf\u00e9" = "a"\n    "cafe\u0301" = "b"\n  }\n}\n',
            r"^out/dev/main\.tf:4: locals\.tags\.caf.*: keys 'caf\u00e9' \(line 3\) and "
            r"'cafe\u0301' are the same key once Unicode-normalised \(NFC\)",
        ),
        (
            'locals {\n  m = { a = 1, "a" = 2 }\n}\n',
            r"^out/dev/main\.tf:2: locals\.m\.a: key 'a' given twice in this object",
        ),
        (
            'locals {\n  m = { "caf\\u00e9" = 1, "caf\u00e9" = 2 }\n}\n',
            r"^out/dev/main\.tf:2: locals\.m\.caf\u00e9: key 'caf\u00e9' given twice",
        ),
    ],
)
def test_repeated_names_in_a_tf_file_are_refused(
    config: EnvironmentConfig, body: str, expected: str
) -> None:
    files = {"backend.hcl": BACKEND_OK, "versions.tf": VERSIONS_OK, "main.tf": body}
    (found,) = problems(files, config)
    assert re.search(expected, found), found


@pytest.mark.parametrize(
    "body",
    [
        # the same names in other blocks
        'resource "x" "a" {\n  v = 1\n}\nresource "x" "b" {\n  v = 1\n}\n',
        "locals {\n  m = { a = 1, b = { a = 2 } }\n}\n",  # same key, other objects
        'variable "k" {}\nlocals {\n  m = { "${var.k}" = 1, "${var.k}" = 2 }\n}\n',  # not literal
        'locals {\n  m = { cafe = 1, "caf\u00e9" = 2 }\n}\n',  # differ after NFC
        'variable "x" {}\nvariable "y" {}\n',
    ],
)
def test_names_that_are_not_repeated_pass(config: EnvironmentConfig, body: str) -> None:
    files = {"backend.hcl": BACKEND_OK, "versions.tf": VERSIONS_OK, "main.tf": body}
    verify_rendered(files, config, out_prefix="out/dev")


# --------------------------------------------------------------------------- .tf.json

VERSIONS_JSON = (
    '{\n  "terraform": {\n    "required_version": ">= 1.10.0",\n'
    '    "required_providers": {"aws": {"source": "hashicorp/aws", "version": "~> 5.100"}},\n'
    '    "backend": {"s3": {}}\n  }\n}\n'
)


def test_a_tf_json_file_is_parsed_as_json_and_satisfies_the_terraform_rules(
    config: EnvironmentConfig,
) -> None:
    parsed = verify_rendered(
        {"backend.hcl": BACKEND_OK, "versions.tf.json": VERSIONS_JSON}, config, out_prefix="out/dev"
    )
    (block,) = parsed["versions.tf.json"]["terraform"]
    assert block["required_version"] == '">= 1.10.0"'
    assert block["backend"] == [{'"s3"': {"__is_block__": True}}]


def test_terraform_blocks_are_counted_across_tf_and_tf_json(config: EnvironmentConfig) -> None:
    files = {"backend.hcl": BACKEND_OK, "versions.tf": VERSIONS_OK, "more.tf.json": VERSIONS_JSON}
    found = problems(files, config)
    assert 'expected exactly one backend "s3" block, found 2 (more.tf.json, versions.tf)' in (
        "\n".join(found)
    )


def test_settings_split_over_two_terraform_blocks_pass(config: EnvironmentConfig) -> None:
    # versions.tf and backend.tf, a common layout: Terraform merges the blocks.
    versions = VERSIONS_OK.replace('  backend "s3" {}\n', "")
    backend = 'terraform {\n  backend "s3" {}\n}\n'
    files = {"backend.hcl": BACKEND_OK, "versions.tf": versions, "backend.tf": backend}
    assert versions != VERSIONS_OK
    parsed = verify_rendered(files, config, out_prefix="out/dev")
    assert sorted(parsed) == ["backend.hcl", "backend.tf", "versions.tf"]


@pytest.mark.parametrize(
    ("extra", "rule"),
    [
        ('terraform {\n  backend "s3" {}\n}\n', r'backend "s3" block, found 2 \(extra\.tf, v'),
        (
            'terraform {\n  required_providers {\n    random = { source = "hashicorp/random" }\n'
            "  }\n}\n",
            r"^out/dev: expected one required_providers block, found 2 \(extra\.tf, versions\.tf\)",
        ),
        ("terraform {\n  cloud {}\n}\n", r'backend "s3" block, found \[.*\] and a cloud block'),
    ],
)
def test_what_terraform_allows_once_is_counted_across_blocks(
    config: EnvironmentConfig, extra: str, rule: str
) -> None:
    files = {"backend.hcl": BACKEND_OK, "versions.tf": VERSIONS_OK, "extra.tf": extra}
    found = problems(files, config)
    assert any(re.search(rule, p) for p in found), found


PROVIDER_JSON_ENDPOINT = (
    '{\n  "provider": {\n    "aws": {\n      "region": "eu-west-1",\n'
    '      "endpoints": {"s3": "http://127.0.0.1:5000"}\n    }\n  }\n}\n'
)


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        (
            "main.tf.json",
            '{"locals": {"a": 1,\n "a": 2}}\n',
            r"^out/dev/main\.tf\.json:2: a: set twice \(first on line 1\)$",
        ),
        (
            "main.tf.json",
            '{"locals": \n',
            r"^out/dev/main\.tf\.json:2: rendered file is not valid JSON",
        ),
        (
            "main.tf.json",
            "[1, 2]\n",
            r"^out/dev/main\.tf\.json: the top level of a \.tf\.json file",
        ),
        (
            "main.tf.json",
            "[" * 100_000 + "]" * 100_000,
            r"^out/dev/main\.tf\.json:1: nested more than 64",
        ),
        (
            "providers.tf.json",
            PROVIDER_JSON_ENDPOINT,
            r"^out/dev/providers\.tf\.json: provider\.aws\.endpoints: endpoints is set",
        ),
        (
            "versions.tf.json",
            VERSIONS_JSON.replace('"s3": {}', '"s3": {"bucket": "x"}'),
            r'^out/dev/versions\.tf\.json: the backend "s3" block must be empty',
        ),
        (
            "main.tf.json",
            '{"locals": {"t": {"caf\u00e9": 1,\n "cafe\u0301": 2}}}',
            r"^out/dev/main\.tf\.json:2: cafe\u0301: 'cafe\u0301' and 'caf\u00e9' \(line 1\) "
            r"are the same key",
        ),
    ],
)
def test_tf_json_is_checked_by_the_same_rules(
    config: EnvironmentConfig, name: str, text: str, expected: str
) -> None:
    files = {"backend.hcl": BACKEND_OK, "versions.tf": VERSIONS_OK, name: text}
    if name == "versions.tf.json":
        del files["versions.tf"]
    found = problems(files, config)
    assert any(re.search(expected, f) for f in found), found


def test_nesting_too_deep_to_read_back_is_a_located_error(config: EnvironmentConfig) -> None:
    deep = "locals {\n  a = " + "[" * 3000 + "]" * 3000 + "\n}\n"
    files = {"backend.hcl": BACKEND_OK, "versions.tf": VERSIONS_OK, "main.tf": deep}
    assert problems(files, config) == [
        "out/dev/main.tf: rendered file is nested too deeply for python-hcl2 to read back"
    ]
