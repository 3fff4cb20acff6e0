"""The catalog-api stack: schema rules, and what its rendered environments must hold.

terraform, checkov and the credential scan run over every shipped stack in
test_shipped_stacks.py; here: checkov skips only inline and with a reason (prod at most 6),
security groups, the database password, and the stack's schema and rules.
"""

from __future__ import annotations

import re

import pytest

from generator.engine.core import EnvironmentConfig
from generator.errors import ConfigError
from generator.inputs.environment import Override
from generator.project import load_project
from tests.conftest import GOLDEN_ENVIRON, ROOT
from tests.stacks.shipped import CATALOG, SKIP_RE, RenderedCase

SHIPPED = ("dev", "staging", "prod")
CASES = tuple(CATALOG.cases)
PROD_MAX_SKIPS = 6


@pytest.fixture(scope="session")
def stacks(shipped: dict[str, dict[str, RenderedCase]]) -> dict[str, RenderedCase]:
    """Every case of the catalog stack, rendered once per session (tests/stacks/conftest.py)."""
    return shipped[CATALOG.name]


# --------------------------------------------------------------------------- checkov skips


def _skips(files: dict[str, str]) -> list[tuple[str, str, str]]:
    return [
        (file, m.group("id"), m.group("reason").strip())
        for file, text in sorted(files.items())
        for m in SKIP_RE.finditer(text)
    ]


@pytest.mark.parametrize("name", SHIPPED)
def test_every_skip_says_why(stacks: dict[str, RenderedCase], name: str) -> None:
    for file, check, reason in _skips(stacks[name].files):
        assert len(reason) > 20, f"{file}: {check} has no real reason"
    raw = [line for text in stacks[name].files.values() for line in text.splitlines()]
    assert all("checkov:skip" not in line or SKIP_RE.match(line) for line in raw)


# A check that needs two root modules at once: checkov reads one component at a time, so a
# security group attached in another component (by its id, through remote state) looks bare.
BOUNDARY_CHECKS = {"CKV2_AWS_5"}


def test_prod_skips_at_most_six(stacks: dict[str, RenderedCase]) -> None:
    skips = [s for s in _skips(stacks["prod"].files) if s[1] not in BOUNDARY_CHECKS]
    assert len(skips) <= PROD_MAX_SKIPS, skips


@pytest.mark.parametrize("name", SHIPPED)
def test_component_boundary_skips_are_the_three_security_groups(
    stacks: dict[str, RenderedCase], name: str
) -> None:
    boundary = [(f, c) for f, c, _ in _skips(stacks[name].files) if c in BOUNDARY_CHECKS]
    assert boundary == [("network/security_groups.tf", "CKV2_AWS_5")] * 3
    text = stacks[name].files["network/security_groups.tf"]
    for group in ("alb", "tasks", "db"):
        block = text.split(f'resource "aws_security_group" "{group}" {{\n', 1)[1]
        assert block.startswith("  # checkov:skip=CKV2_AWS_5: attached by the "), group
        # ...and the other component really attaches it, by this component's output.
        assert f"{group}_security_group_id" in "".join(stacks[name].files.values())


def test_skips_follow_the_environment(stacks: dict[str, RenderedCase]) -> None:
    dev = {check for _, check, _ in _skips(stacks["dev"].files)}
    prod = {check for _, check, _ in _skips(stacks["prod"].files)}
    # dev's choices (no certificate, single AZ, no WAF, no KMS) are skipped there only.
    for check in ("CKV_AWS_2", "CKV_AWS_157", "CKV2_AWS_28", "CKV_AWS_158", "CKV_AWS_26"):
        assert check in dev
        assert check not in prod


# --------------------------------------------------------------------------- content


@pytest.mark.parametrize("name", SHIPPED)
def test_the_database_password_is_managed_by_rds(
    stacks: dict[str, RenderedCase], name: str
) -> None:
    files = stacks[name].files
    assert "manage_master_user_password         = true" in files["data/database.tf"]
    # The data component hands the app that secret's ARN, never its value.
    output = files["data/outputs_data.tf"].split('output "db_secret_arn"')[1].split("}")[0]
    assert "value       = aws_db_instance.main.master_user_secret[0].secret_arn" in output
    rds_managed = "data.terraform_remote_state.data.outputs.db_secret_arn"
    # The task role reads exactly that one secret, and nothing else.
    task_policy = files["app/iam.tf"].split('data "aws_iam_policy_document" "task"')[1]
    task_policy = task_policy.split('resource "aws_iam_role_policy" "task"')[0]
    assert f"resources = [{rds_managed}]" in task_policy
    assert '"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"' in task_policy
    assert "*" not in task_policy.replace("kms:ViaService", "")


@pytest.mark.parametrize("name", SHIPPED)
def test_security_groups_chain_internet_alb_tasks_db(
    stacks: dict[str, RenderedCase], name: str
) -> None:
    text = stacks[name].files["network/security_groups.tf"]
    open_to_world = re.findall(r'resource "[^"]+" "([^"]+)" \{[^}]*0\.0\.0\.0/0', text)
    assert set(open_to_world) <= {"alb_https", "alb_http", "tasks_https"}
    db_rule = text.split('"db_from_tasks"')[1]
    assert 'type                     = "ingress"' in db_rule
    assert "from_port                = 5432" in db_rule
    assert "source_security_group_id = aws_security_group.tasks.id" in db_rule


# EC2 accepts only these characters in security group (rule) descriptions; terraform
# validate does not check it, apply fails.
SG_DESCRIPTION_RE = re.compile(r"^[0-9A-Za-z_ .:/()#,@\[\]+=&;{}!$*-]*$")


@pytest.mark.parametrize("name", CASES)
def test_security_group_descriptions_are_accepted_by_ec2(
    stacks: dict[str, RenderedCase], name: str
) -> None:
    text = stacks[name].files["network/security_groups.tf"]
    descriptions = re.findall(r'^\s*description\s+= "(.*)"$', text, re.M)
    assert len(descriptions) >= 9
    for description in descriptions:
        assert SG_DESCRIPTION_RE.match(description), description
        assert len(description) <= 255


def test_dev_is_cheap_and_prod_is_hardened(stacks: dict[str, RenderedCase]) -> None:
    dev, prod = stacks["dev"].files, stacks["prod"].files
    assert "count  = 1" in dev["network/network.tf"]  # one NAT
    assert "count  = 3" in prod["network/network.tf"]  # one NAT per AZ
    assert "app/cdn.tf" not in dev
    assert "aws_cloudfront_distribution" in prod["app/cdn.tf"]
    assert "multi_az               = false" in dev["data/database.tf"]
    assert "multi_az               = true" in prod["data/database.tf"]
    assert 'final_snapshot_identifier  = "catalog-api-prod-db-final"' in prod["data/database.tf"]
    assert 'protocol          = "HTTPS"' in prod["app/alb.tf"]
    assert 'minimum_protocol_version = "TLSv1.2_2021"' in prod["app/cdn.tf"]


def test_cdn_separates_api_and_static_paths(stacks: dict[str, RenderedCase]) -> None:
    cdn = stacks["prod"].files["app/cdn.tf"]
    default = cdn.split("default_cache_behavior {")[1].split("}")[0]
    assert "caching_disabled" in default
    assert "all_viewer_except_host" in default
    assert cdn.count("ordered_cache_behavior {") == 2
    assert "aws_cloudfront_cache_policy.static.id" in cdn.split("ordered_cache_behavior {")[1]


# --------------------------------------------------------------------------- schema rules


def _load(name: str, *sets: str, suffix: str | None = None) -> EnvironmentConfig:
    return (
        load_project(ROOT)
        .load_environment(
            name,
            overrides=[Override.parse(s) for s in sets],
            environ=GOLDEN_ENVIRON,
            suffix=suffix,
        )
        .config
    )


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (
            ("service.cpu=256", "service.memory=4096"),
            r"service\.memory: with cpu 256 Fargate takes 512 to 2048 MiB in steps of 512, "
            r"not 4096",
        ),
        (("service.cpu=300",), r"cpu: Fargate takes one of"),
        (("autoscaling.min_capacity=3", "autoscaling.max_capacity=3"), r"must be below"),
        (("service.desired_count=9",), r"service\.desired_count: 9 is outside"),
        (("service.environment.DB_PASSWORD=hunter2",), r"Secrets Manager"),
        (("service.secrets.API_KEY=not-an-arn",), r"service\.secrets\.API_KEY: .*ARN"),
        (
            ("service.secrets.API_KEY=arn:aws:secretsmanager:us-east-1:123456789012:secret:k-AbC",),
            r"service\.secrets\.API_KEY: the secret is in us-east-1, the service runs in eu-west-1",
        ),
        (("database.engine_version='9.6'",), r"not a supported PostgreSQL version"),
        (("database.username=postgres",), r"reserved"),
        (("cdn.logging=true",), r"cdn\.logging: CloudFront logging needs cdn\.enabled"),
        (("network.availability_zones=eu-west-1a",), r"availability_zones"),
        (("names.alb=Bad_Name",), r"names\.alb: 'Bad_Name' is not a load balancer name"),
        (("names.db_identifier=db--x",), r"names\.db_identifier: .* RDS instance identifier"),
        (("names.iam_role_task=" + "r" * 65,), r"names\.iam_role_task: "),
        (("names.log_bucket=Logs",), r"names\.log_bucket: "),
        (("names.nat=x",), r"names\.nat: unknown key"),
    ],
)
def test_schema_rejects(sets: tuple[str, ...], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _load("dev", *sets)


@pytest.mark.parametrize(
    ("sets", "key"),
    [
        (("service.certificate_arn=null",), "service.certificate_arn"),
        (("database.multi_az=false",), "database.multi_az"),
        (("database.skip_final_snapshot=true",), "database.skip_final_snapshot"),
        (("waf.enabled=false",), "waf.enabled"),
        (("logs.retention_days=30",), "logs.retention_days"),
    ],
)
def test_hardened_prod_refuses_to_weaken(sets: tuple[str, ...], key: str) -> None:
    with pytest.raises(ConfigError, match=rf"{re.escape(key)}: .*\(hardened environment\)"):
        _load("prod", *sets)


def test_cloudfront_in_front_of_https_needs_an_origin_name() -> None:
    with pytest.raises(ConfigError, match=r"cdn\.origin_domain_name: the ALB redirects"):
        _load("prod", "cdn.origin_domain_name=null")


def test_cloudfront_certificate_must_be_in_us_east_1() -> None:
    cert = "arn:aws:acm:eu-west-1:123456789012:certificate/8a9b0c1d-2e3f-4a5b-9c7d-8e9f0a1b2c3d"
    with pytest.raises(ConfigError, match=r"only uses ACM certificates from us-east-1"):
        _load("prod", f"cdn.certificate_arn={cert}")


def test_an_ephemeral_name_fits_aws_limits_or_fails_clearly() -> None:
    config = _load("dev", suffix="pr5706")
    assert config.name == "dev-pr5706"
    assert config.values["target_group_name"] == "catalog-api-dev-pr5706-8080"
    with pytest.raises(ConfigError, match=r"target group name .* 32: use an environment name"):
        _load("dev", suffix="feature-login")


def test_names_keep_deployed_names_and_default_to_the_prefix() -> None:
    default = _load("dev").values
    assert default["ecs_cluster_name"] == default["ecs_service_name"] == "catalog-api-dev"
    assert default["db_identifier"] == default["db_subnet_group_name"] == "catalog-api-dev-db"
    assert default["db_parameter_group_name"] == "catalog-api-dev-db-postgres16"
    kept = _load(
        "dev",
        "names.ecs_cluster=catalog-api-cluster-x",
        "names.db_identifier=old-db",
        "names.log_group_service=/aws/ecs/catalog-api-x",
    ).values
    assert kept["ecs_cluster_name"] == "catalog-api-cluster-x"
    assert kept["ecs_service_name"] == "catalog-api-dev"
    # The subnet and parameter groups follow the kept identifier unless kept themselves.
    assert kept["db_subnet_group_name"] == "old-db"
    assert kept["db_parameter_group_name"] == "old-db-postgres16"
    assert kept["service_log_group"] == "/aws/ecs/catalog-api-x"


def test_a_kept_name_lifts_the_length_rule_for_that_name() -> None:
    config = _load("dev", "names.target_group=catalog-api-tg-login", suffix="feature-login")
    assert config.values["target_group_name"] == "catalog-api-tg-login"


def test_subnets_are_eighths_of_the_vpc() -> None:
    net = _load("dev", "network.vpc_cidr=10.0.0.0/16", "network.az_count=3").values
    assert net["public_subnet_cidrs"] == ["10.0.0.0/19", "10.0.32.0/19", "10.0.64.0/19"]
    assert net["private_subnet_cidrs"] == ["10.0.128.0/19", "10.0.160.0/19", "10.0.192.0/19"]
    small = _load("dev", "network.vpc_cidr=10.1.2.0/24", "network.az_count=2").values
    assert small["public_subnet_cidrs"] == ["10.1.2.0/27", "10.1.2.32/27"]
    assert small["zones"] == ["eu-west-1a", "eu-west-1b"]
