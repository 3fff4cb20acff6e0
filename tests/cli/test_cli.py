"""The render command end to end: exit codes, messages on stderr, nothing written on failure."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import hcl2
import pytest
from click.testing import CliRunner

from generator.cli.app import cli
from generator.inputs.environment import list_environments
from generator.pipeline import Report, RunOptions
from generator.verify.rules import decode_hcl_string
from tests.conftest import GOLDEN_ENVIRON, write_tree
from tests.outtree import snapshot
from tests.tfhelpers import requires_terraform


def invoke(runner: CliRunner, project: Path, *args: str, env: dict[str, Any] | None = None) -> Any:
    return runner.invoke(cli, [*args, "--project-dir", str(project)], env=env)


def test_help_documents_exit_codes(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["--help"])
    assert result.exit_code == 0
    for line in (
        "0  success",
        "1  input error",
        "2  usage error",
        "3  rendered output failed",
        "4  drift",
    ):
        assert line in result.output
    assert "Exit codes" in runner.invoke(cli, ["render", "--help"]).output
    assert "4  drift" not in runner.invoke(cli, ["render", "--help"]).output


def test_render_writes_every_file_and_a_parsable_backend(runner: CliRunner, project: Path) -> None:
    result = invoke(runner, project, "render", "prod", env=GOLDEN_ENVIRON)
    assert result.exit_code == 0, result.stderr
    out = project / "out" / "prod"
    assert (out / "backend.hcl").is_file()
    assert any(p.suffix == ".tf" for p in out.iterdir())
    backend = hcl2.loads((out / "backend.hcl").read_text())
    assert decode_hcl_string(backend["bucket"]) == GOLDEN_ENVIRON["TERRAFORM_STATE_BUCKET"]
    assert decode_hcl_string(backend["key"]).strip()
    assert "out/prod" in result.stderr


@pytest.mark.parametrize("value", [None, "", "   "])
def test_missing_state_bucket_exits_1_and_changes_nothing(
    runner: CliRunner, project: Path, value: str | None
) -> None:
    assert invoke(runner, project, "render", "prod", env=GOLDEN_ENVIRON).exit_code == 0
    before = snapshot(project / "out")
    result = invoke(runner, project, "render", "prod", env={"TERRAFORM_STATE_BUCKET": value})
    assert result.exit_code == 1
    lines = (project / "environments/prod.yaml").read_text().splitlines()
    line = next(i for i, text in enumerate(lines, 1) if "TERRAFORM_STATE_BUCKET" in text)
    assert f"environments/prod.yaml:{line}: backend.bucket: " in result.stderr
    assert "TERRAFORM_STATE_BUCKET" in result.stderr
    assert "Traceback" not in result.stderr
    assert snapshot(project / "out") == before


def test_missing_state_bucket_on_a_fresh_project_writes_nothing(
    runner: CliRunner, project: Path
) -> None:
    result = invoke(runner, project, "render", "prod", env={"TERRAFORM_STATE_BUCKET": None})
    assert result.exit_code == 1
    assert not (project / "out").exists()


def test_debug_shows_the_traceback(runner: CliRunner, project: Path) -> None:
    result = runner.invoke(cli, ["--debug", "render", "nope", "--project-dir", str(project)])
    assert result.exit_code == 1
    assert "Traceback" in result.stderr


@pytest.mark.parametrize("args", [["render"], ["render", "dev", "--bogus"], ["bogus"]])
def test_usage_errors_exit_2(runner: CliRunner, args: list[str]) -> None:
    assert runner.invoke(cli, args).exit_code == 2


def test_verification_failure_exits_3_and_writes_nothing(runner: CliRunner, project: Path) -> None:
    write_tree(project, {"templates/extra.tf.j2": 'terraform {\n  backend "s3" {}\n}\n'})
    result = invoke(runner, project, "render", "dev")
    assert result.exit_code == 3, result.stderr
    assert 'one backend "s3" block, found 2 (extra.tf, versions.tf)' in result.stderr
    assert not (project / "out").exists()


def test_set_reaches_the_core_typed(runner: CliRunner, project: Path, monkeypatch: Any) -> None:
    seen: dict[str, Any] = {}

    def fake_generate(options: RunOptions) -> Report:
        seen.update(vars(options))
        return Report(results=())

    monkeypatch.setattr("generator.pipeline.generate", fake_generate)
    result = runner.invoke(
        cli,
        [
            "render",
            "dev",
            "staging",
            "--set",
            "network.az_count=3",
            "--project-dir",
            str(project),
            "--out",
            "elsewhere",
        ],
    )
    assert result.exit_code == 0, result.stderr
    assert seen["environments"] == ("dev", "staging")
    assert seen["project_dir"] == project
    assert seen["out_dir"] == Path("elsewhere")
    assert [(o.path, o.value) for o in seen["overrides"]] == [(("network", "az_count"), 3)]


def test_second_render_is_a_no_op(runner: CliRunner, project: Path) -> None:
    assert invoke(runner, project, "render", "dev").exit_code == 0
    before = snapshot(project / "out")
    result = invoke(runner, project, "render", "dev")
    assert result.exit_code == 0
    assert "up to date" in result.stderr
    assert snapshot(project / "out") == before


def test_python_dash_m_generator() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "generator", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0
    assert proc.stdout.startswith("tfgen, version ")


@requires_terraform
def test_every_shipped_environment_is_fmt_canonical(runner: CliRunner, project: Path) -> None:
    envs = list_environments(project)
    result = invoke(runner, project, "render", *envs, env=GOLDEN_ENVIRON)
    assert result.exit_code == 0, result.stderr
    proc = subprocess.run(
        ["terraform", "fmt", "-check", "-recursive", "-diff", "-no-color", str(project / "out")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
