"""terraform itself reads what components render: each folder inits, validates and is fmt-clean."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from generator.cli.app import cli
from tests.tfhelpers import requires_terraform, run_terraform, terraform_env


@pytest.mark.terraform
@requires_terraform
def test_every_component_validates(
    runner: CliRunner, components_project: Path, tmp_path: Path
) -> None:
    result = runner.invoke(cli, ["render", "dev", "--project-dir", str(components_project)])
    assert result.exit_code == 0, result.stderr
    env = terraform_env(tmp_path)
    for name in ("network", "data", "app"):
        folder = components_project / "out/dev" / name
        proc = run_terraform(["init", "-backend=false", "-input=false"], folder, env)
        assert proc.returncode == 0, (name, proc.stderr)
        proc = run_terraform(["validate"], folder, env)
        assert proc.returncode == 0, (name, proc.stdout, proc.stderr)
        proc = run_terraform(["fmt", "-check", "-diff"], folder, env)
        assert proc.returncode == 0, (name, proc.stdout)
