"""Only an environment that declares an endpoint may render endpoint overrides or skip flags."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from generator.cli.app import cli
from generator.engine.core import EnvironmentConfig
from generator.errors import EXIT_VERIFY, VerifyError
from generator.inputs.environment import list_environments
from generator.project import load_project
from generator.verify.rules import parse_hcl, verify_rendered
from tests.conftest import GOLDEN_ENVIRON, ROOT, keep_one_root, render_files

BACKEND = """\
bucket       = "catalog-tfstate-nonprod"
key          = "catalog/dev/terraform.tfstate"
region       = "eu-west-1"
encrypt      = true
use_lockfile = true
"""
VERSIONS = """\
terraform {
  required_version = ">= 1.10.0"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100"
    }
  }
  backend "s3" {}
}
"""
# Settings that send traffic somewhere other than AWS or skip its checks, where they count.
REFUSED = [
    pytest.param("main.tf", 'provider "aws" {\n  endpoints {\n    s3 = "http://x"\n  }\n}\n',
                 "provider.aws.endpoints", id="provider-endpoints"),
    pytest.param("main.tf", 'provider "aws" {\n  skip_credentials_validation = true\n}\n',
                 "provider.aws.skip_credentials_validation", id="skip-credentials"),
    pytest.param("main.tf", 'provider "aws" {\n  skip_requesting_account_id = true\n}\n',
                 "provider.aws.skip_requesting_account_id", id="skip-account-id"),
    pytest.param("main.tf", 'provider "aws" {\n  skip_metadata_api_check = true\n}\n',
                 "provider.aws.skip_metadata_api_check", id="skip-metadata"),
    pytest.param("main.tf", 'provider "aws" {\n  skip_region_validation = true\n}\n',
                 "provider.aws.skip_region_validation", id="skip-region"),
    pytest.param("main.tf", 'provider "aws" {\n  s3_use_path_style = true\n}\n',
                 "provider.aws.s3_use_path_style", id="provider-path-style"),
    pytest.param("main.tf", 'provider "aws" {\n  s3_force_path_style = true\n}\n',
                 "provider.aws.s3_force_path_style", id="provider-force-path-style"),
    pytest.param("main.tf", 'provider "aws" {\n  insecure = true\n}\n',
                 "provider.aws.insecure", id="provider-insecure"),
    pytest.param("main.tf", 'provider "aws" {\n  alias = "x"\n  sts_endpoint = "http://x"\n}\n',
                 "provider.aws.sts_endpoint", id="provider-sts-endpoint"),
    pytest.param("backend.hcl", BACKEND + 'endpoints = {\n  s3 = "http://x"\n}\n',
                 "endpoints", id="backend-endpoints"),
    pytest.param("backend.hcl", BACKEND + 'endpoint = "http://x"\n',
                 "endpoint", id="backend-legacy-endpoint"),
    pytest.param("backend.hcl", BACKEND + "use_path_style = true\n",
                 "use_path_style", id="backend-path-style"),
    pytest.param("backend.hcl", BACKEND + "force_path_style = true\n",
                 "force_path_style", id="backend-force-path-style"),
    pytest.param("backend.hcl", BACKEND + "skip_s3_checksum = true\n",
                 "skip_s3_checksum", id="backend-skip-checksum"),
    pytest.param("backend.hcl", BACKEND + 'sts_endpoint = "http://x"\n',
                 "sts_endpoint", id="backend-sts-endpoint"),
    pytest.param(
        "main.tf",
        'data "terraform_remote_state" "net" {\n  backend = "s3"\n'
        '  config = {\n    endpoints = { s3 = "http://x" }\n  }\n}\n',
        "data.terraform_remote_state.net.config.endpoints", id="remote-state-endpoints",
    ),
]  # fmt: skip
# Ordinary resource arguments and data that only share a name with those settings.
ALLOWED = {
    "main.tf": """\
provider "aws" {
  region = "eu-west-1"
  default_tags {
    tags = {
      endpoint   = "tag values are data"
      skip_alarm = "so are tag names"
    }
  }
}

resource "aws_sns_topic_subscription" "ops" {
  topic_arn = "arn:aws:sns:eu-west-1:123456789012:ops"
  protocol  = "email"
  endpoint  = "ops@example.com"
}

resource "aws_db_instance" "main" {
  skip_final_snapshot = false
}

output "db_endpoint" {
  value = aws_db_instance.main.endpoint
}
""",
}


@pytest.fixture(scope="module")
def dev() -> EnvironmentConfig:
    return load_project(ROOT).load_environment("dev", environ=GOLDEN_ENVIRON).config


@pytest.fixture(scope="module")
def local() -> EnvironmentConfig:
    config = load_project(ROOT).load_environment("local", environ={}).config
    assert config.endpoint is not None
    return config


def _files(name: str, text: str) -> dict[str, str]:
    files = {"backend.hcl": BACKEND, "versions.tf": VERSIONS}
    files[name] = text
    return files


@pytest.mark.parametrize(("name", "text", "key"), REFUSED)
def test_refused_without_an_endpoint(
    dev: EnvironmentConfig, name: str, text: str, key: str
) -> None:
    assert dev.endpoint is None
    assert dev.backend.endpoint is None
    with pytest.raises(VerifyError) as info:
        verify_rendered(_files(name, text), dev, out_prefix="out/dev")
    assert info.value.exit_code == EXIT_VERIFY
    found = [str(p) for p in info.value.problems]
    setting = key.rsplit(".", 1)[-1]
    assert f"out/dev/{name}: {key}: {setting} is set, but the environment declares no endpoint" in (
        "\n".join(found)
    ), found


@pytest.mark.parametrize(("name", "text", "key"), REFUSED)
def test_allowed_with_an_endpoint(local: EnvironmentConfig, name: str, text: str, key: str) -> None:
    files = _files(name, text)
    files["backend.hcl"] = files["backend.hcl"].replace("catalog/dev/", "catalog/local/")
    parsed = verify_rendered(files, local, out_prefix="out/local")
    assert name in parsed


def test_arguments_that_only_share_a_name_are_not_refused(dev: EnvironmentConfig) -> None:
    parsed = verify_rendered(_files("main.tf", ALLOWED["main.tf"]), dev, out_prefix="out/dev")
    assert "resource" in parsed["main.tf"]


def test_an_object_value_in_a_provider_is_data_not_settings(dev: EnvironmentConfig) -> None:
    # Inside default_tags the keys are tag names; only ENDPOINT_ONLY names are refused there.
    text = 'provider "aws" {\n  default_tags {\n    tags = { endpoints = "x" }\n  }\n}\n'
    with pytest.raises(VerifyError, match=r"provider\.aws\.default_tags\.tags\.endpoints"):
        verify_rendered(_files("main.tf", text), dev, out_prefix="out/dev")


def shipped(name: str, environ: dict[str, str]) -> tuple[EnvironmentConfig, dict[str, str]]:
    """One shipped environment: its config and every file of its components (``app/x.tf``)."""
    project = load_project(ROOT)
    loaded = project.load_environment(name, environ=environ)
    return loaded.config, render_files(project, loaded.config, loaded.source)


@pytest.mark.parametrize("name", [n for n in list_environments(ROOT) if n != "local"])
def test_shipped_environments_without_an_endpoint_render_none(name: str) -> None:
    config, files = shipped(name, GOLDEN_ENVIRON)
    assert config.endpoint is None
    # Where AWS is reached is set only in provider blocks and the backend settings.
    connection = {
        f: t for f, t in files.items() if f.split("/")[-1].startswith(("providers", "backend"))
    }
    for component in ("network", "data", "app"):
        assert {f"{component}/providers.tf", f"{component}/backend.hcl"} <= set(connection)
    for file, text in connection.items():
        for word in ("endpoint", "skip_", "path_style", "insecure"):
            assert word not in text, f"{file} of {name} mentions {word}"


def test_local_renders_the_emulator_settings() -> None:
    environ = {"AWS_ENDPOINT_URL": "http://127.0.0.1:4566"}
    _, files = shipped("local", environ)
    provider = parse_hcl("providers.tf", files["app/providers.tf"])["provider"][0]['"aws"']
    for flag in ("skip_credentials_validation", "skip_metadata_api_check", "s3_use_path_style"):
        assert provider[flag] is True, flag
    # The account ID comes from the emulator's STS: without it, same-account security group
    # references read back as "<account>/<sg-id>" and the next plan is never empty.
    assert "skip_requesting_account_id" not in provider
    endpoints = {k: v for k, v in provider["endpoints"][0].items() if not k.startswith("__")}
    assert {"s3", "ec2", "iam", "sts"} <= set(endpoints)
    assert set(endpoints.values()) == {'"http://127.0.0.1:4566"'}
    backend = parse_hcl("backend.hcl", files["app/backend.hcl"])
    assert backend["endpoints"] == {"s3": '"http://127.0.0.1:4566"'}
    assert backend["use_path_style"] is True


def test_cli_refuses_a_template_that_overrides_endpoints_for_dev(
    project: Path, runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in GOLDEN_ENVIRON.items():
        monkeypatch.setenv(key, value)
    keep_one_root(project)
    (project / "templates" / "sneaky.tf.j2").write_text(
        'provider "aws" {\n  alias = "sneaky"\n  region = {{ env.region | hcl }}\n'
        '  endpoints {\n    s3 = "http://127.0.0.1:9000"\n  }\n}\n',
        encoding="utf-8",
    )
    result = runner.invoke(cli, ["render", "dev", "--project-dir", str(project)])
    assert result.exit_code == EXIT_VERIFY, result.output
    assert "out/dev/sneaky.tf: provider.aws.endpoints: endpoints is set" in result.stderr
    assert not (project / "out" / "dev").exists()


# The provider `endpoints` key of the AWS service behind each resource or data source type
# (longest prefix wins); None for types the provider answers without calling AWS.
SERVICE_OF_TYPE: dict[str, str | None] = {
    # Read by Terraform's S3 backend, not the provider: its settings (endpoint included)
    # are copied from the producer's backend.hcl (tests/components/test_wire.py).
    "terraform_remote_state": None,
    "aws_availability_zones": "ec2",
    "aws_default_network_acl": "ec2",
    "aws_default_route_table": "ec2",
    "aws_default_security_group": "ec2",
    "aws_eip": "ec2",
    "aws_flow_log": "ec2",
    "aws_internet_gateway": "ec2",
    "aws_nat_gateway": "ec2",
    "aws_network_acl": "ec2",
    "aws_route": "ec2",
    "aws_security_group": "ec2",
    "aws_subnet": "ec2",
    "aws_vpc": "ec2",
    "aws_lb": "elbv2",
    "aws_ecs_": "ecs",
    "aws_ecr_": "ecr",
    "aws_db_": "rds",
    "aws_iam_": "iam",
    "aws_iam_policy_document": None,
    "aws_cloudwatch_log_": "logs",
    "aws_cloudwatch_metric_alarm": "cloudwatch",
    "aws_sns_": "sns",
    "aws_kms_": "kms",
    "aws_s3_": "s3",
    "aws_cloudfront_": "cloudfront",
    "aws_wafv2_": "wafv2",
    "aws_appautoscaling_": "applicationautoscaling",
    "aws_secretsmanager_": "secretsmanager",
    "aws_caller_identity": "sts",
    "aws_partition": None,
    "aws_region": None,
    "aws_elb_service_account": None,
}


def _service_of(kind: str) -> str | None:
    matches = [prefix for prefix in SERVICE_OF_TYPE if kind.startswith(prefix)]
    assert matches, (
        f"{kind}: which AWS service does it call? Add it to SERVICE_OF_TYPE, and the "
        "service to the emulated endpoints in templates/providers.tf.j2"
    )
    return SERVICE_OF_TYPE[max(matches, key=len)]


def _types_used(parsed: dict[str, dict[str, Any]]) -> set[str]:
    found: set[str] = set()
    for doc in parsed.values():
        for block in ("resource", "data"):
            for entry in doc.get(block, []):
                found.update(label.strip('"') for label in entry)
    return found


def test_local_overrides_the_endpoint_of_every_service_the_stack_calls() -> None:
    # Every shipped environment counts: together they turn on every optional feature.
    used: set[str] = set()
    for name in list_environments(ROOT):
        _, files = shipped(name, GOLDEN_ENVIRON)
        used |= _types_used({f: parse_hcl(f, t) for f, t in files.items()})
    needed = {s for s in map(_service_of, sorted(used)) if s is not None}
    _, local = shipped("local", {})
    providers = [
        (file, body)
        for file, text in local.items()
        if file.endswith(".tf")
        for entry in parse_hcl(file, text).get("provider", [])
        for label, body in entry.items()
        if label == '"aws"'
    ]
    assert providers
    for file, body in providers:
        # Every aws provider of an emulated environment, aliases included, stays local.
        assert "endpoints" in body, f"{file}: a provider without endpoints would call real AWS"
        overridden = {k for k in body["endpoints"][0] if not k.startswith("__")}
        assert needed <= overridden, f"{file}: no endpoint for {sorted(needed - overridden)}"
