"""Verification: every rendered file parses, and the backend can never be empty or unsafe."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from generator.config import load_environment
from generator.errors import VerifyError
from generator.render import render_environment
from generator.schema import EnvironmentConfig
from generator.verify import NotALiteralError, decode_hcl_string, verify_rendered
from tests.conftest import ROOT

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
    return load_environment(ROOT, "dev", environ={}).config


def problems(files: dict[str, str], config: EnvironmentConfig) -> list[str]:
    with pytest.raises(VerifyError) as info:
        verify_rendered(files, config, out_prefix="out/dev")
    assert info.value.exit_code == 3
    return [str(p) for p in info.value.problems]


def test_the_shipped_render_verifies(config: EnvironmentConfig) -> None:
    files = render_environment(config, ROOT / "templates", source="environments/dev.yaml")
    parsed = verify_rendered(files, config, out_prefix="out/dev")
    assert set(parsed) == set(files)


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
        (VERSIONS_OK + VERSIONS_OK, r"exactly one terraform block, found 2"),
        (VERSIONS_OK.replace('  required_version = ">= 1.10.0"\n', ""), r"no required_version"),
        ("# nothing\n", r"exactly one terraform block, found 0"),
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
    assert "out/dev/main.tf:1: leftover template syntax ('{{', '{%' or '{#')" in found


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
    assert len(found) >= 3
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
