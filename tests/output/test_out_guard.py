"""``--out`` is guarded: system folders, the project's inputs and another environment's output
are refused with exit 2 and one located line, before anything is read or written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from generator.cli.app import cli
from generator.cli.options import output_root_problem
from generator.errors import EXIT_USAGE
from tests.conftest import GOLDEN_ENVIRON
from tests.outtree import snapshot


def invoke(runner: CliRunner, project: Path, *args: str) -> Any:
    return runner.invoke(cli, [*args, "--project-dir", str(project)], env=GOLDEN_ENVIRON)


SYSTEM = [
    "/", "/etc", "/etc/tfgen", "/usr", "/usr/lib/x", "/bin", "/sbin", "/lib", "/lib64", "/var",
    "/boot", "/proc", "/sys", "/dev", "/root", "/home", "/usr/local",
    "/tmp",  # noqa: S108 - refused, never written
]  # fmt: skip


@pytest.mark.parametrize("out", SYSTEM)
def test_system_folders_are_refused(runner: CliRunner, project: Path, out: str) -> None:
    before = snapshot(project)
    result = invoke(runner, project, "render", "dev", "--out", out)
    assert result.exit_code == EXIT_USAGE, result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith("error: --out: ")
    assert "system folder" in line
    assert "Traceback" not in result.stderr
    assert snapshot(project) == before


def test_a_relative_path_is_resolved_first(
    runner: CliRunner, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project)
    dots = "/".join([".."] * len(project.resolve().parts)) + "/etc"
    result = invoke(runner, project, "render", "dev", "--out", dots)
    assert result.exit_code == EXIT_USAGE
    assert "/etc is inside the system folder /etc" in result.stderr


def test_a_link_to_a_system_folder_is_refused(
    runner: CliRunner, project: Path, tmp_path: Path
) -> None:
    link = tmp_path / "innocent"
    link.symlink_to("/etc")
    result = invoke(runner, project, "render", "dev", "--out", str(link))
    assert result.exit_code == EXIT_USAGE
    assert "/etc" in result.stderr


@pytest.mark.parametrize(
    "inside", ["templates", "templates/deep", "environments", "environments/x"]
)
def test_the_projects_inputs_are_refused(runner: CliRunner, project: Path, inside: str) -> None:
    before = snapshot(project)
    result = invoke(runner, project, "render", "dev", "--out", str(project / inside))
    assert result.exit_code == EXIT_USAGE
    folder = inside.split("/")[0]
    assert f"inside the project's {folder}/ folder" in result.stderr
    assert snapshot(project) == before


def test_another_environments_output_is_refused(runner: CliRunner, project: Path) -> None:
    # Before anything was rendered: out/<env> of a known environment.
    result = invoke(runner, project, "render", "staging", "--out", str(project / "out" / "dev"))
    assert result.exit_code == EXIT_USAGE
    assert "the output folder of environment 'dev'" in result.stderr
    assert not (project / "out").exists()
    # After a render: any folder holding a tfgen manifest (a component's), and anything below.
    elsewhere = project.parent / "elsewhere"
    assert invoke(runner, project, "render", "dev", "--out", str(elsewhere)).exit_code == 0
    for out in (elsewhere / "dev" / "app", elsewhere / "dev" / "app" / "nested"):
        before = snapshot(project.parent)
        refused = invoke(runner, project, "render", "staging", "--out", str(out))
        assert refused.exit_code == EXIT_USAGE
        assert "the output folder of an environment" in refused.stderr
        assert snapshot(project.parent) == before


def test_the_project_itself_is_refused(runner: CliRunner, project: Path) -> None:
    result = invoke(runner, project, "render", "dev", "--out", str(project))
    assert result.exit_code == EXIT_USAGE
    assert "is the project itself" in result.stderr
    assert not (project / "dev").exists()


def test_an_output_folder_that_would_be_the_project_is_refused(
    runner: CliRunner, project: Path
) -> None:
    # A project folder named like one of its environments: <parent>/dev is the project.
    named = project.parent / "dev"
    project.rename(named)
    before = snapshot(named)
    result = invoke(runner, named, "render", "dev", "--out", str(named.parent))
    assert result.exit_code == EXIT_USAGE
    assert "would put environment 'dev' at" in result.stderr
    assert snapshot(named) == before


@pytest.mark.parametrize(
    "command", [["render", "dev"], ["validate", "dev"], ["check", "dev"], ["diff", "dev"],
                ["bootstrap", "dev"], ["render", "--all"]],
)  # fmt: skip
def test_every_command_with_out_is_guarded(
    runner: CliRunner, project: Path, command: list[str]
) -> None:
    result = invoke(runner, project, *command, "--out", "/etc")
    assert result.exit_code == EXIT_USAGE
    assert result.stderr.startswith("error: --out: /etc is inside the system folder /etc")


def test_ordinary_output_roots_are_accepted(runner: CliRunner, project: Path) -> None:
    for out in (project / "build", project.parent / "rendered", project / "out"):
        result = invoke(runner, project, "render", "dev", "--out", str(out))
        assert result.exit_code == 0, result.stderr
        assert (out / "dev" / "network" / "backend.hcl").is_file()


def test_the_rule_itself(tmp_path: Path) -> None:
    project = tmp_path / "p"
    (project / "environments").mkdir(parents=True)
    (project / "environments" / "dev.yaml").write_text("{}\n")
    assert output_root_problem(project, project / "out") is None
    assert output_root_problem(project, project / "out" / "other") is None  # not an env
    assert output_root_problem(project, project / "out" / "dev") is not None
    assert output_root_problem(project, Path("/var/lib/ci/workspace/out")) is None
    assert output_root_problem(project, Path("/usr/src/app/out")) is None
