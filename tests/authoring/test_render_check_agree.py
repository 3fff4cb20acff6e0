"""render and check agree on Terraform in out/<env> that tfgen did not write: drift, exit 4."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from generator.cli.app import cli
from generator.errors import EXIT_DRIFT

ENV = {"TFGEN_STATE_BUCKET": "b-state"}


@pytest.mark.parametrize("name", ["extra.tf", "extra.tf.json", "my.tfvars"])
def test_render_refuses_what_check_calls_drift(
    tmp_path: Path, runner: CliRunner, name: str
) -> None:
    root = tmp_path / "mysite"
    assert runner.invoke(cli, ["init", str(root)]).exit_code == 0
    args = ["--project-dir", str(root)]
    assert runner.invoke(cli, ["render", "dev", *args], env=ENV).exit_code == 0
    (root / "out" / "dev" / name).write_text("# mine\n", encoding="utf-8")
    expected = (
        f"out/dev/{name}: is Terraform that tfgen did not write (it is not in "
        ".tfgen-manifest.json and not rendered now); move it into templates/ or delete it"
    )
    check = runner.invoke(cli, ["check", "dev", *args], env=ENV)
    assert check.exit_code == EXIT_DRIFT
    assert expected in check.stderr
    render = runner.invoke(cli, ["render", "dev", *args], env=ENV)
    assert render.exit_code == EXIT_DRIFT, render.stderr
    assert f"error: {expected}\n" in render.stderr
    assert "up to date" not in render.stderr
    assert (root / "out" / "dev" / name).read_text(encoding="utf-8") == "# mine\n"
