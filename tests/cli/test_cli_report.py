"""Reporting on many environments: one line each, a summary, the highest exit code; and diff's
``--exit-code`` and ``--all``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from generator.cli.app import cli
from generator.errors import EXIT_INPUT, EXIT_VERIFY
from generator.pipeline import RunOptions, generate
from tests.conftest import GOLDEN_ENVIRON, write_tree

ALL = ("dev", "local", "prod", "staging")


def invoke(runner: CliRunner, project: Path, *args: str) -> Any:
    return runner.invoke(cli, [*args, "--project-dir", str(project)], env=GOLDEN_ENVIRON)


def break_staging(project: Path) -> None:
    staging = project / "environments" / "staging.yaml"
    staging.write_text(staging.read_text().replace("10.20.0.0/16", "10.20.0.0/8"))


def lines(text: str) -> list[str]:
    return text.splitlines()


# --------------------------------------------------------------------------- render


def test_render_all_names_every_environment_and_sums_up(runner: CliRunner, project: Path) -> None:
    result = invoke(runner, project, "render", "--all")
    assert result.exit_code == 0, result.stderr
    out = lines(result.stderr)
    for name in ALL:
        assert any(line.startswith(f"out/{name}: ") and "file(s) changed" in line for line in out)
    assert out[-1] == "4 environments: 4 written, 0 up to date, 0 failed"
    again = lines(invoke(runner, project, "render", "--all").stderr)
    assert again == [
        *(f"out/{n}: up to date" for n in ALL),
        "4 environments: 0 written, 4 up to date, 0 failed",
    ]


def test_render_all_with_one_failure_reports_what_it_wrote(
    runner: CliRunner, project: Path
) -> None:
    break_staging(project)
    result = invoke(runner, project, "render", "--all", "--jobs", "2")
    assert result.exit_code == EXIT_INPUT
    out = lines(result.stderr)
    assert out[0].startswith("error: environments/staging.yaml:")
    assert "network.vpc_cidr" in out[0]
    for name in ("dev", "local", "prod"):
        assert f"out/{name}: " in result.stderr
        assert (project / "out" / name / "backend.hcl").is_file()
    failed = [line for line in out if line.startswith("out/staging: ")]
    assert len(failed) == 1
    assert failed[0].startswith("out/staging: failed: environments/staging.yaml:")
    assert out[-1] == "4 environments: 3 written, 0 up to date, 1 failed"
    assert not (project / "out" / "staging").exists()


def test_the_highest_exit_code_wins_and_every_line_is_there(
    runner: CliRunner, project: Path
) -> None:
    write_tree(project, {"templates/broken.tf.j2": '{% if env.name == "dev" %}x = {\n{% endif %}'})
    break_staging(project)
    result = invoke(runner, project, "render", "--all")
    assert result.exit_code == EXIT_VERIFY
    assert "out/dev: failed: out/dev/broken.tf" in result.stderr
    assert "out/staging: failed: environments/staging.yaml" in result.stderr
    assert lines(result.stderr)[-1] == "4 environments: 2 written, 0 up to date, 2 failed"


def test_one_environment_keeps_output_to_one_line(runner: CliRunner, project: Path) -> None:
    result = invoke(runner, project, "render", "dev")
    assert result.exit_code == 0
    assert lines(result.stderr) == [lines(result.stderr)[0]]
    assert lines(result.stderr)[0].startswith("out/dev: ")
    break_staging(project)
    failed = invoke(runner, project, "render", "staging")
    assert failed.exit_code == EXIT_INPUT
    assert all(line.startswith("error: ") for line in lines(failed.stderr)), failed.stderr
    assert not any(line.startswith("out/staging") for line in lines(failed.stderr))


def test_without_a_terminal_there_is_no_progress_line(runner: CliRunner, project: Path) -> None:
    result = invoke(runner, project, "render", "--all")
    assert "\r" not in result.stderr
    assert "\x1b[" not in result.stderr


def test_generate_reports_failures_beside_successes(project: Path) -> None:
    break_staging(project)
    report = generate(
        RunOptions(project_dir=project, all_environments=True, environ=GOLDEN_ENVIRON)
    )
    assert [r.name for r in report.results] == list(ALL)
    by_name = {r.name: r for r in report.results}
    assert by_name["staging"].error is not None
    assert by_name["staging"].written is None
    assert all(by_name[n].written is not None and by_name[n].error is None for n in ALL[:3])
    failure = report.failure()
    assert failure is not None
    assert failure.exit_code == EXIT_INPUT


# --------------------------------------------------------------------------- validate, check


def test_validate_all_says_which_passed(runner: CliRunner, project: Path) -> None:
    break_staging(project)
    result = invoke(runner, project, "validate", "--all")
    assert result.exit_code == EXIT_INPUT
    for name in ("dev", "local", "prod"):
        assert any(line.startswith(f"{name}: valid (") for line in lines(result.stderr))
    assert "staging: failed: environments/staging.yaml" in result.stderr
    assert lines(result.stderr)[-1] == "4 environments: 3 valid, 1 failed"
    assert not (project / "out").exists()


def test_check_all_ends_with_the_same_kind_of_summary(runner: CliRunner, project: Path) -> None:
    assert invoke(runner, project, "render", "--all").exit_code == 0
    (project / "out" / "dev" / "main.tf").write_text("# edited\n")
    break_staging(project)
    result = invoke(runner, project, "check", "--all")
    assert result.exit_code == EXIT_INPUT  # a failed environment outranks drift
    assert "out/dev: 1 file(s) differ" in result.stderr
    assert "out/prod: up to date" in result.stderr
    assert "4 environments: 2 up to date, 1 drifted, 1 failed" in result.stderr


# --------------------------------------------------------------------------- diff


def test_diff_exit_code_follows_git(runner: CliRunner, project: Path) -> None:
    assert invoke(runner, project, "render", "dev").exit_code == 0
    clean = invoke(runner, project, "diff", "dev", "--exit-code")
    assert clean.exit_code == 0, clean.stderr
    assert clean.stdout == ""
    (project / "out" / "dev" / "main.tf").write_text("# edited\n")
    plain = invoke(runner, project, "diff", "dev")
    assert plain.exit_code == 0
    assert "a/out/dev/main.tf" in plain.stdout
    strict = invoke(runner, project, "diff", "dev", "--exit-code")
    assert strict.exit_code == 1
    assert strict.stdout == plain.stdout


def test_diff_all_covers_every_environment(runner: CliRunner, project: Path) -> None:
    result = invoke(runner, project, "diff", "--all", "--exit-code")
    assert result.exit_code == 1  # nothing rendered yet: every file is new
    for name in ALL:
        assert f"b/out/{name}/backend.hcl" in result.stdout
    assert invoke(runner, project, "render", "--all").exit_code == 0
    assert invoke(runner, project, "diff", "--all", "--exit-code").exit_code == 0


@pytest.mark.parametrize("args", [["diff"], ["diff", "dev", "--all"]])
def test_diff_needs_names_or_all(runner: CliRunner, project: Path, args: list[str]) -> None:
    result = invoke(runner, project, *args)
    assert result.exit_code == 2
    assert "--all" in result.stderr


def test_diff_render_failures_keep_their_code(runner: CliRunner, project: Path) -> None:
    break_staging(project)
    result = invoke(runner, project, "diff", "staging", "--exit-code")
    assert result.exit_code == EXIT_INPUT
    assert "environments/staging.yaml" in result.stderr
