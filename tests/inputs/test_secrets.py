"""No secrets in configuration: which keys name a secret, what counts as a reference."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from generator.errors import ConfigError
from generator.inputs.environment import Override
from generator.inputs.secrets import find_secrets, is_secret_reference, names_secret
from generator.project import load_project

SECRET_ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:catalog/db-AbCdEf"  # noqa: S105 - a reference, the allowed form


@pytest.mark.parametrize(
    "key",
    [
        "password",
        "DB_PASSWORD",
        "dbPassword",
        "passwd",
        "secret",
        "client_secret",
        "secrets",
        "GITHUB_TOKEN",
        "authToken",
        "api_key",
        "apiKey",
        "API-KEY",
        "private_key",
        "privateKey",
        "aws_secret_access_key",
        "credentials",
        "passphrase",
    ],
)
def test_keys_that_name_a_secret(key: str) -> None:
    assert names_secret(key)


@pytest.mark.parametrize(
    "key",
    [
        "name",
        "db_host",
        "LOG_LEVEL",
        "tokenizer",
        "keyboard",
        "password_length",
        "token_ttl",
        "secret_arn",
        "db_password_arn",
        "secret_recovery_window_days",
        "private_key_id",
        "monkey",
    ],
)
def test_keys_that_do_not(key: str) -> None:
    assert not names_secret(key)


@pytest.mark.parametrize(
    "value",
    [
        SECRET_ARN,
        SECRET_ARN + ":password::",
        "arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:x",
        "arn:aws:ssm:eu-west-1:123456789012:parameter/catalog/db/password",
    ],
)
def test_references(value: str) -> None:
    assert is_secret_reference(value)


@pytest.mark.parametrize(
    "value",
    [
        "hunter2",
        "catalog/db",
        "arn:aws:s3:::bucket",
        "arn:aws:secretsmanager:eu-west-1:1234:secret:x",
        " " + SECRET_ARN,
        SECRET_ARN + "\n",
        "arn:aws:ssm:eu-west-1:123456789012:parameter/x y",
    ],
)
def test_not_references(value: str) -> None:
    assert not is_secret_reference(value)


def locate(path: tuple[str, ...]) -> tuple[str | None, int | None]:
    return ("env.yaml", len(path))


@pytest.mark.parametrize(
    ("data", "found"),
    [
        (
            {"service": {"environment": {"DB_PASSWORD": "hunter2"}}},
            ["service.environment.DB_PASSWORD"],
        ),
        ({"db": {"password": 123456}}, ["db.password"]),
        ({"credentials": {"user": "u", "pass": "p"}}, ["credentials.user", "credentials.pass"]),
        ({"tokens": ["a", SECRET_ARN]}, ["tokens.0"]),
        ({"service": {"secrets": {"DB_PASSWORD": SECRET_ARN}}}, []),
        ({"database": {"manage_master_user_password": True}}, []),
        ({"password": None, "token": "  ", "secret": ""}, []),
        ({"token_ttl": 300, "secret_arn": "x"}, []),
        ({"tags": {"Note": "-----BEGIN OPENSSH PRIVATE KEY-----\nabc"}}, ["tags.Note"]),
        ({"sink": "key=AKIAIOSFODNN7EXAMPLE"}, ["sink"]),
        ({"sink": "ASIAIOSFODNN7EXAMPLE"}, ["sink"]),
        ({"sink": "XAKIAIOSFODNN7EXAMPLEX"}, []),
        ({"tags": {"Note": "ghp_" + "aB3" * 12}}, ["tags.Note"]),
        ({"tags": {"Note": "github_pat_" + "a1_" * 27}}, ["tags.Note"]),
        ({"hook": "xoxb-1234567890-abcdefghij"}, ["hook"]),
        ({"billing": "sk_live_" + "x9" * 12}, ["billing"]),
        ({"maps": "AIza" + "Sy" + "A1b2C3d4" * 4 + "e"}, ["maps"]),
        ({"tags": {"Note": "ghp_short", "Team": "sk_test_abcdefghijklmnopqrstuv"}}, []),
    ],
)
def test_find_secrets(data: dict[str, Any], found: list[str]) -> None:
    problems = find_secrets(data, locate)
    assert [p.key for p in problems] == found
    for problem in problems:
        assert problem.path == "env.yaml" and problem.line == len(problem.key.split("."))
        assert "hunter2" not in problem.message and "AKIA" not in problem.message
        assert not any(t in problem.message for t in ("ghp_", "xoxb", "sk_live", "AIza"))


def test_load_environment_refuses_a_secret_wherever_it_comes_from(project: Path) -> None:
    with pytest.raises(ConfigError, match=r"^--set: service\.environment\.API_KEY: a secret"):
        load_project(project).load_environment(
            "dev", overrides=[Override.parse("service.environment.API_KEY=abc")]
        )
    dev = project / "environments" / "dev.yaml"
    dev.write_text(
        dev.read_text(encoding="utf-8") + "backend:\n  dynamodb_table: ${env:TFGEN_TOKEN_X}\n",
        encoding="utf-8",
    )
    load_project(project).load_environment(
        "dev", environ={"TFGEN_TOKEN_X": "locks"}
    )  # not a secret key
    dev.write_text(
        dev.read_text(encoding="utf-8").replace("dynamodb_table", "password"), encoding="utf-8"
    )
    with pytest.raises(ConfigError, match=r"environments/dev\.yaml:\d+: backend\.password: a"):
        load_project(project).load_environment("dev", environ={"TFGEN_TOKEN_X": "s3cr3t"})


@pytest.mark.parametrize(
    "key",
    [
        "DBPASSWORD",
        "pgpassword",
        "GITHUBTOKEN",
        "MYSECRET",
        "dbPassword",
        "DB_PASSWORD",
        "api-key",
        "privatekey",
        "Mysecret",
        "SLACKWEBHOOKSECRET",
        "APIKey",
        "myapikey",
        "ACCESSKEY",
        "db.password",
        "DB PASSWORD",
    ],
)
def test_secret_names_with_or_without_separators_in_any_case(key: str) -> None:
    assert names_secret(key), key


@pytest.mark.parametrize(
    "key",
    [
        "PASSWORD_MIN_LENGTH",
        "TOKEN_TTL",
        "secret_recovery_window_days",
        "DB_PASSWORD_ARN",
        "GITHUBTOKEN_ARN",
        "PASSWORDMINLENGTH",
        "TOKENIZER",
        "secretary",
    ],
)
def test_look_alikes_keep_passing_through_the_metadata_rule(key: str) -> None:
    assert not names_secret(key), key


def _here(_path: tuple[str, ...]) -> tuple[str, int]:
    return "environments/dev.yaml", 3


@pytest.mark.parametrize(
    "data",
    [
        {"tags": {"DBPASSWORD": "hunter2"}},
        {"tags": {"pgpassword": "hunter2"}},
        {"service": {"environment": {"GITHUBTOKEN": "ghp_x"}}},
        {"anything": [{"deep": {"MYSECRET": 42}}]},
    ],
)
def test_unseparated_secret_names_are_refused_at_any_depth(data: dict[str, Any]) -> None:
    (problem,) = find_secrets(data, _here)
    assert problem.path == "environments/dev.yaml"
    assert problem.key is not None
    assert problem.key.split(".")[-1] in {"DBPASSWORD", "pgpassword", "GITHUBTOKEN", "MYSECRET"}
    assert "hunter2" not in str(problem)


def test_allow_lets_a_declared_look_alike_through_and_nothing_else() -> None:
    data = {
        "tags": {"TOKEN_BUCKET": "standard", "DB_PASSWORD": "hunter2"},
        "service": {"environment": {"PASSWORD_POLICY": "strict", "APITOKEN": "x"}},
    }
    assert len(find_secrets(data, _here)) == 4
    allow = frozenset({"tags.TOKEN_BUCKET", "service.environment.PASSWORD_*"})
    problems = find_secrets(data, _here, allow)
    assert sorted(p.key or "" for p in problems) == [
        "service.environment.APITOKEN",
        "tags.DB_PASSWORD",
    ]


def test_allow_is_exact_about_case_and_does_not_excuse_secret_looking_values() -> None:
    data = {"tags": {"token_bucket": "x", "TOKEN_BUCKET": "AKIAABCDEFGHIJKLMNOP"}}
    problems = find_secrets(data, _here, frozenset({"tags.TOKEN_BUCKET"}))
    assert [(p.key, "access key" in p.message) for p in problems] == [
        ("tags.token_bucket", False),
        ("tags.TOKEN_BUCKET", True),
    ]
