"""Input keys that are one key to Terraform are refused at the input, exit 1."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from generator.cli.app import cli
from generator.errors import EXIT_INPUT

COMPOSED, DECOMPOSED = "caf\u00e9", "cafe\u0301"
ENV = {"TFGEN_STATE_BUCKET": "b-state"}


@pytest.fixture
def site(tmp_path: Path, runner: CliRunner) -> Path:
    root = tmp_path / "mysite"
    assert runner.invoke(cli, ["init", str(root)]).exit_code == 0
    return root


def test_nfc_equal_set_keys_are_exit_1_at_set(site: Path, runner: CliRunner) -> None:
    args = ["render", "dev", "--project-dir", str(site)]
    args += ["--set", f"tags.{COMPOSED}=one", "--set", f"tags.{DECOMPOSED}=two"]
    result = runner.invoke(cli, args, env=ENV)
    assert result.exit_code == EXIT_INPUT, result.stderr
    assert result.stderr == (
        f"error: --set: tags.{DECOMPOSED}: {DECOMPOSED!r} and {COMPOSED!r} (an earlier --set or "
        "the files) are the same key once Unicode-normalised (NFC), as Terraform reads them: "
        "give it once\n"
    )
    assert not (site / "out").exists()


def test_nfc_equal_keys_across_layers_are_exit_1_at_the_file_line(
    site: Path, runner: CliRunner
) -> None:
    defaults = site / "environments" / "_defaults.yaml"
    text = defaults.read_text(encoding="utf-8")
    defaults.write_text(text.replace("tags:\n", f"tags:\n  {COMPOSED}: one\n", 1), "utf-8")
    line = defaults.read_text(encoding="utf-8").splitlines().index(f"  {COMPOSED}: one") + 1
    dev = site / "environments" / "dev.yaml"
    dev.write_text(f"tags:\n  {DECOMPOSED}: two\n", "utf-8")
    dev_line = 2
    result = runner.invoke(cli, ["render", "dev", "--project-dir", str(site)], env=ENV)
    assert result.exit_code == EXIT_INPUT, result.stderr
    assert result.stderr == (
        f"error: environments/dev.yaml:{dev_line}: tags.{DECOMPOSED}: {DECOMPOSED!r} and "
        f"{COMPOSED!r} (environments/_defaults.yaml:{line}) are the same key once "
        "Unicode-normalised (NFC), as Terraform reads them: give it once\n"
    )


@pytest.mark.parametrize(
    ("folder", "project"),
    [("mysite", "mysite"), ("My Site_2", "my-site-2"), ("2fast", "fast"), ("---", "myproject")],
)
def test_init_names_the_project_after_its_folder(
    tmp_path: Path, runner: CliRunner, folder: str, project: str
) -> None:
    root = tmp_path / folder
    assert runner.invoke(cli, ["init", str(root)]).exit_code == 0
    defaults = (root / "environments" / "_defaults.yaml").read_text(encoding="utf-8")
    assert f"\nproject: {project}\n" in defaults
    assert f"  Project: {project}\n" in defaults
    assert "myproject" not in defaults or project == "myproject"
    result = runner.invoke(cli, ["render", "dev", "--project-dir", str(root)], env=ENV)
    assert result.exit_code == 0, result.stderr
    backend = (root / "out" / "dev" / "backend.hcl").read_text(encoding="utf-8")
    assert f'key          = "{project}/dev/terraform.tfstate"' in backend
