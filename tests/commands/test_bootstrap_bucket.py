"""Bootstrap by bucket: one module per state bucket, the same whichever environment asks,
listing every environment it holds; templates shipped as package data, overridable."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from generator.cli.app import cli
from generator.commands.bootstrap import PACKAGE_TEMPLATES, bootstrap_templates
from generator.engine.formats import local_http
from generator.errors import EXIT_INPUT, EXIT_VERIFY
from generator.project import load_project
from tests.conftest import GOLDEN_ENVIRON, ROOT

NONPROD = "catalog-tfstate-nonprod"  # dev and staging
LOCAL = "catalog-tfstate-local"
PROD = GOLDEN_ENVIRON["TERRAFORM_STATE_BUCKET"]


def invoke(runner: CliRunner, project: Path, *args: str, env: dict[str, Any] | None = None) -> Any:
    return runner.invoke(
        cli, [*args, "--project-dir", str(project)], env={**GOLDEN_ENVIRON, **(env or {})}
    )


def tree(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def test_all_renders_one_module_per_bucket(runner: CliRunner, project: Path) -> None:
    result = invoke(runner, project, "bootstrap", "--all")
    assert result.exit_code == 0, result.stderr
    root = project / "out" / "_bootstrap"
    assert sorted(p.name for p in root.iterdir()) == sorted([NONPROD, LOCAL, PROD])
    assert f"out/_bootstrap/{NONPROD}: 5 file(s) changed (state of dev, staging)" in result.stderr
    listing = (root / NONPROD / "state_bucket.tf").read_text()
    assert "# This bucket holds the state of 2 environment(s):" in listing
    for name in ("dev", "staging"):
        assert f"catalog/{name}/terraform.tfstate" in listing
        assert f"(environments/{name}.yaml)" in listing
    prod = (root / PROD / "state_bucket.tf").read_text()
    assert "holds the state of 1 environment(s)" in prod
    assert "staging" not in prod


def test_a_shared_bucket_gets_the_same_module_from_either_environment(
    runner: CliRunner, project: Path, tmp_path: Path
) -> None:
    first = invoke(runner, project, "bootstrap", "dev")
    assert first.exit_code == 0, first.stderr
    assert f"note: state bucket {NONPROD} also holds the state of staging" in first.stderr
    folder = project / "out" / "_bootstrap" / NONPROD
    from_dev = tree(folder)
    shutil.rmtree(project / "out")
    second = invoke(runner, project, "bootstrap", "staging")
    assert second.exit_code == 0, second.stderr
    assert f"note: state bucket {NONPROD} also holds the state of dev" in second.stderr
    assert tree(folder) == from_dev
    again = invoke(runner, project, "bootstrap", "dev")
    assert f"out/_bootstrap/{NONPROD}: up to date" in again.stderr


def test_a_bucket_of_its_own_gives_no_note(runner: CliRunner, project: Path) -> None:
    result = invoke(runner, project, "bootstrap", "prod")
    assert result.exit_code == 0, result.stderr
    assert "note:" not in result.stderr
    assert (project / "out" / "_bootstrap" / PROD / "versions.tf").is_file()


def test_environments_of_one_bucket_must_agree(runner: CliRunner, project: Path) -> None:
    staging = project / "environments" / "staging.yaml"
    staging.write_text(staging.read_text() + "\nbackend:\n  region: us-east-1\n")
    result = invoke(runner, project, "bootstrap", "--all")
    assert result.exit_code == EXIT_INPUT
    assert f"environments/staging.yaml: backend.region: shares state bucket '{NONPROD}'" in (
        result.stderr
    )
    assert "Traceback" not in result.stderr
    root = project / "out" / "_bootstrap"
    assert not (root / NONPROD).exists()
    assert (root / PROD).is_dir()  # the other buckets are still rendered


def test_an_environment_that_cannot_load_does_not_block_another_bucket(
    runner: CliRunner, project: Path
) -> None:
    result = invoke(runner, project, "bootstrap", "dev", env={"TERRAFORM_STATE_BUCKET": None})
    assert result.exit_code == 0, result.stderr  # prod is unloadable, but was not asked for
    both = invoke(runner, project, "bootstrap", "dev", "prod", env={"TERRAFORM_STATE_BUCKET": None})
    assert both.exit_code == EXIT_INPUT
    assert "TERRAFORM_STATE_BUCKET" in both.stderr
    assert f"out/_bootstrap/{NONPROD}: up to date" in both.stderr


def test_an_old_per_environment_state_is_pointed_at(runner: CliRunner, project: Path) -> None:
    old = project / "out" / "_bootstrap" / "dev"
    old.mkdir(parents=True)
    (old / "terraform.tfstate").write_text("{}\n")
    result = invoke(runner, project, "bootstrap", "staging")
    assert result.exit_code == 0, result.stderr
    assert "note: out/_bootstrap/dev/terraform.tfstate is the local state" in result.stderr
    assert (old / "terraform.tfstate").read_text() == "{}\n"  # never moved by tfgen


@pytest.mark.parametrize("args", [["bootstrap"], ["bootstrap", "dev", "--all"]])
def test_names_or_all(runner: CliRunner, project: Path, args: list[str]) -> None:
    assert invoke(runner, project, *args).exit_code == 2


# --------------------------------------------------------------------------- package data


def test_a_project_without_bootstrap_templates_uses_tfgens_own(project: Path) -> None:
    assert not (project / "templates" / "bootstrap").exists()
    assert bootstrap_templates(load_project(project)).templates_dir == PACKAGE_TEMPLATES


def test_a_projects_own_bootstrap_templates_replace_tfgens(
    runner: CliRunner, project: Path
) -> None:
    own = project / "templates" / "bootstrap"
    shutil.copytree(PACKAGE_TEMPLATES / "bootstrap", own)
    variables = own / "variables.tf.j2"
    variables.write_text(variables.read_text().replace("default     = 90", "default     = 30"))
    assert bootstrap_templates(load_project(project)).templates_dir == project / "templates"
    result = invoke(runner, project, "bootstrap", "prod")
    assert result.exit_code == 0, result.stderr
    text = (project / "out" / "_bootstrap" / PROD / "variables.tf").read_text()
    assert "default     = 30" in text


def test_package_data_ships_every_engine_template() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["generator"]
    data = ROOT / "generator"
    shipped = {p for pattern in patterns for p in data.glob(pattern) if p.is_file()}
    templates = set((PACKAGE_TEMPLATES / "bootstrap").glob("*.j2"))
    assert templates
    assert templates <= shipped


def test_the_license_is_the_apache_text_and_travels_in_the_wheel() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    project = config["project"]
    assert project["license"] == "Apache-2.0"
    assert project["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in text
    assert "Version 2.0, January 2004" in text
    assert "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION" in text
    assert "END OF TERMS AND CONDITIONS" in text
    assert len(text.split("\n")) > 190  # the full text, not a stub
    assert set(project["urls"]) >= {"Homepage", "Source", "Issues", "Changelog"}
    assert any(
        c.startswith("Programming Language :: Python :: 3.11") for c in project["classifiers"]
    )


def test_the_changelog_keeps_a_changelog() -> None:
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert text.startswith("# Changelog")
    assert "https://keepachangelog.com/" in text
    unreleased = text.split("## [Unreleased]", 1)[1].split("\n## [", 1)[0]
    for heading in ("### Added", "### Changed", "### Fixed"):
        assert heading in unreleased
    for issue in ("issue 10", "issue 11", "issue 12", "issue 13"):
        assert issue in unreleased


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("http://127.0.0.1:5000", True),
        ("http://127.8.9.10:4566/", True),
        ("http://localhost:4566", True),
        ("http://LOCALHOST:4566", True),
        ("http://[::1]:5000", True),
        ("https://127.0.0.1:5000", False),  # TLS: the policy does not refuse it
        ("http://127.0.0.1.example.com:5000", False),
        ("http://localhost.example.com", False),
        ("http://10.0.0.5:5000", False),
        ("http://user@127.0.0.1@example.com", False),
        ("http://[::1", False),
        (None, False),
    ],
)
def test_local_http_is_plain_http_on_loopback_only(url: str | None, local: bool) -> None:
    assert local_http(url) is local


@pytest.mark.parametrize(
    ("endpoint", "relaxed"),
    [
        ("http://127.0.0.1:5000", True),
        ("http://localhost:4566", True),
        ("https://127.0.0.1:5000", False),
        ("http://moto.example.test:5000", False),
    ],
)
def test_the_tls_policy_is_left_out_only_for_plain_http_on_loopback(
    runner: CliRunner, project: Path, endpoint: str, relaxed: bool
) -> None:
    result = invoke(runner, project, "bootstrap", "local", env={"AWS_ENDPOINT_URL": endpoint})
    assert result.exit_code == 0, result.stderr
    text = (project / "out" / "_bootstrap" / LOCAL / "state_bucket.tf").read_text()
    note = (
        f"note: out/_bootstrap/{LOCAL}: the state bucket has no policy denying requests "
        f"without TLS: its endpoint {endpoint} is plain http on loopback (an emulator), which "
        "such a policy would refuse; a bucket anywhere else gets it\n"
    )
    if relaxed:
        assert 'resource "aws_s3_bucket_policy"' not in text
        assert "aws:SecureTransport" not in text
        assert note in result.stderr
    else:
        assert 'resource "aws_s3_bucket_policy" "state"' in text
        assert "aws:SecureTransport" in text
        assert "no policy denying" not in result.stderr


def test_a_module_without_the_tls_policy_is_refused_off_loopback(
    runner: CliRunner, project: Path
) -> None:
    # A project's own bootstrap templates that drop the policy everywhere.
    shutil.copytree(PACKAGE_TEMPLATES / "bootstrap", project / "templates" / "bootstrap")
    path = project / "templates" / "bootstrap" / "state_bucket.tf.j2"
    text = path.read_text()
    old = "{% if (env.backend.endpoint or env.endpoint) is local_http %}"
    assert old in text
    path.write_text(text.replace(old, "{% if true %}"))
    ok = invoke(runner, project, "bootstrap", "local", env={"AWS_ENDPOINT_URL": "http://[::1]:1"})
    assert ok.exit_code == 0, ok.stderr
    refused = invoke(runner, project, "bootstrap", "dev")
    assert refused.exit_code == EXIT_VERIFY
    assert refused.stderr == (
        f"error: out/_bootstrap/{NONPROD}: the state bucket needs a policy denying requests "
        "without TLS (aws:SecureTransport)\n"
    )
