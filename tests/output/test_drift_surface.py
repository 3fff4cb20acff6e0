"""check owns the Terraform surface of out/<env>, and says which kind each drift is."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from generator.cli.app import cli
from generator.commands.check import DriftReport, EnvironmentDrift, FileDrift, FileState
from generator.errors import EXIT_DRIFT, EXIT_INPUT, EXIT_VERIFY, ConfigError, VerifyError
from tests.conftest import GOLDEN_ENVIRON, ROOT, keep_one_root


@pytest.fixture(scope="module")
def rendered_once(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = tmp_path_factory.mktemp("surface") / "project"
    for name in ("environments", "templates"):
        shutil.copytree(ROOT / name, project / name)
    keep_one_root(project)
    result = CliRunner().invoke(cli, ["render", "dev", "--project-dir", str(project)])
    assert result.exit_code == 0, result.output
    return project


@pytest.fixture
def project(rendered_once: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "project"
    shutil.copytree(rendered_once, copy, symlinks=True)
    return copy


def check(project: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        cli, ["check", "dev", *args, "--project-dir", str(project)], env=GOLDEN_ENVIRON
    )
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(
    "name",
    [
        "extra.tf",
        "extra.tf.json",
        "my.tfvars",
        "my.auto.tfvars.json",
        "override.tf",
        "local_override.tf",
        "x_override.tf.json",
    ],
)
def test_terraform_that_tfgen_did_not_write_is_drift(project: Path, name: str) -> None:
    (project / "out" / "dev" / name).write_text('resource "null_resource" "x" {}\n')
    code, _, stderr = check(project)
    assert code == EXIT_DRIFT, stderr
    assert re.search(
        rf"^(error: )?out/dev/{re.escape(name)}: is Terraform that tfgen did not write "
        r"\(it is not in \.tfgen-manifest\.json and not rendered now\); "
        r"move it into templates/ or delete it$",
        stderr,
        re.MULTILINE,
    ), stderr
    assert "Traceback" not in stderr
    assert "run: tfgen render" not in stderr  # rendering would not remove it
    # render refuses to write beside it, and diff, which shows what render would do, says so.
    line = f"error: out/dev/{name}: is Terraform that tfgen did not write"
    for command in (["diff", "dev"], ["diff", "dev", "--exit-code"], ["render", "dev"]):
        done = CliRunner().invoke(
            cli, [*command, "--project-dir", str(project)], env=GOLDEN_ENVIRON
        )
        assert done.exit_code == EXIT_DRIFT, (command, done.stderr)
        assert done.stderr.startswith(line), (command, done.stderr)
        assert done.stdout == "", command


def test_a_link_with_a_terraform_name_is_drift_and_never_followed(
    project: Path, tmp_path: Path
) -> None:
    (project / "out" / "dev" / "extra.tf").symlink_to(tmp_path / "nowhere.tf")
    code, _, stderr = check(project)
    assert code == EXIT_DRIFT
    assert "out/dev/extra.tf: is Terraform that tfgen did not write" in stderr


def test_terraform_and_user_files_stay_ignored(project: Path) -> None:
    out = project / "out" / "dev"
    (out / ".terraform" / "providers").mkdir(parents=True)
    (out / ".terraform" / "providers" / "x.tf").write_text("# inside .terraform/\n")
    (out / "modules.tf").mkdir()  # a folder is not read as a file
    for name, text in {
        ".terraform.lock.hcl": "# lock\n",
        "terraform.tfstate": "{}",
        "terraform.tfstate.backup": "{}",
        "plan.tfplan": "binary",
        "notes.txt": "mine\n",
        ".hidden.tf": "# Terraform ignores dotfiles\n",
        "backup.tf~": "# and editor backups\n",
        "#autosave.tf#": "# and editor autosaves\n",
    }.items():
        (out / name).write_text(text)
    code, stdout, stderr = check(project)
    assert code == 0, stdout + stderr


def test_a_hand_edit_and_a_stale_render_are_told_apart(project: Path) -> None:
    out = project / "out" / "dev"
    (out / "providers.tf").write_text((out / "providers.tf").read_text() + "# mine\n")
    dev = project / "environments" / "dev.yaml"
    dev.write_text(dev.read_text().replace("10.10.0.0/16", "10.11.0.0/16"))
    code, _, stderr = check(project)
    assert code == EXIT_DRIFT
    assert re.search(
        r"out/dev/providers\.tf: differs from a fresh render: edited by hand \(its SHA-256 "
        r"is not the one tfgen wrote\); move the change into the environment files",
        stderr,
    ), stderr
    assert re.search(
        r"out/dev/network\.tf: differs from a fresh render: stale \(it is what tfgen wrote, "
        r"but the input changed since\)",
        stderr,
    ), stderr
    assert "run: tfgen render dev" in stderr


def test_a_rendered_name_that_tfgen_did_not_write_says_so(project: Path) -> None:
    out = project / "out" / "dev"
    manifest = (out / ".tfgen-manifest.json").read_text()
    (out / ".tfgen-manifest.json").write_text(manifest.replace('"network.tf"', '"other.tf"'))
    (out / "network.tf").write_text("# not tfgen's\n")
    code, _, stderr = check(project)
    assert code == EXIT_DRIFT
    assert re.search(
        r"out/dev/network\.tf: differs from a fresh render, and tfgen did not write it "
        r"\(it is not in \.tfgen-manifest\.json\); move it away, or render with --force",
        stderr,
    ), stderr


def _report(errors: list[ConfigError | VerifyError], drifted: bool) -> DriftReport:
    files = (FileDrift("a.tf", "out/dev/a.tf", FileState.EDITED, ""),) if drifted else ()
    return DriftReport((EnvironmentDrift("dev", "out/dev", files),), tuple(errors))


@pytest.mark.parametrize(
    ("errors", "drifted", "code"),
    [
        ([], True, EXIT_DRIFT),
        ([ConfigError.at("x")], True, EXIT_INPUT),
        ([VerifyError.at("x")], True, EXIT_VERIFY),
        ([ConfigError.at("x"), VerifyError.at("y")], True, EXIT_VERIFY),
        ([ConfigError.at("x"), VerifyError.at("y")], False, EXIT_VERIFY),
    ],
)
def test_an_environment_that_cannot_render_outranks_drift(
    errors: list[ConfigError | VerifyError], drifted: bool, code: int
) -> None:
    failure = _report(errors, drifted).failure(drift_is_error=True)
    assert failure is not None
    assert failure.exit_code == code
    assert _report([], drifted=True).failure(drift_is_error=False) is None


def test_a_fifo_with_a_terraform_name_is_drift_and_never_opened(project: Path) -> None:
    """In a subprocess with a timeout: opening the FIFO would block forever."""
    os.mkfifo(project / "out" / "dev" / "extra.tf")
    done = subprocess.run(
        [sys.executable, "-m", "generator", "check", "dev", "--project-dir", str(project)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == EXIT_DRIFT, done.stderr
    assert "out/dev/extra.tf: is Terraform that tfgen did not write" in done.stderr
