"""Team workflow commands: render --all, validate, list, state-key safety, --suffix, progress."""

from __future__ import annotations

import io
import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import hcl2
import pytest
import yaml
from click.testing import CliRunner

from generator.cli import console, options
from generator.cli.app import cli
from generator.errors import EXIT_INPUT, EXIT_VERIFY, ConfigError, VerifyError
from generator.inputs.environment import list_environments
from generator.pipeline import RunOptions, generate, render_run
from generator.project import load_project
from generator.verify.rules import decode_hcl_string
from generator.verify.statekeys import StateRef, state_key_collisions
from tests.conftest import GOLDEN_ENVIRON, ROOT, write_tree
from tests.outtree import contents
from tests.tfhelpers import requires_terraform, run_terraform, terraform_env


def invoke(runner: CliRunner, project: Path, *args: str, env: dict[str, Any] | None = None) -> Any:
    return runner.invoke(
        cli, [*args, "--project-dir", str(project)], env={**GOLDEN_ENVIRON, **(env or {})}
    )


def backend_of(folder: Path) -> dict[str, str]:
    doc = hcl2.loads((folder / "backend.hcl").read_text())
    return {k: decode_hcl_string(doc[k]) for k in ("bucket", "key")}


def test_cli_import_stays_light() -> None:
    code = (
        "import generator.cli.app, sys; "
        "heavy = [m for m in ('jinja2', 'lark', 'hcl2', 'jsonschema_rs', 'yaml') "
        "if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr


def test_every_command_is_documented_in_help(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["--help"])
    assert result.exit_code == 0
    for command in ("render", "check", "diff", "validate", "list", "schema", "bootstrap"):
        assert command in result.output


# --------------------------------------------------------------------------- render --all


def test_render_all_writes_every_environment(runner: CliRunner, project: Path) -> None:
    result = invoke(runner, project, "render", "--all")
    assert result.exit_code == 0, result.stderr
    for name in list_environments(project):
        assert (project / "out" / name / "backend.hcl").is_file()
        assert f"out/{name}: " in result.stderr


def test_render_all_in_one_process_and_in_workers_is_identical(project: Path) -> None:
    found: list[dict[str, object]] = []
    for workers in (1, 2):  # into the same out/ (each file's header names its --out)
        shutil.rmtree(project / "out", ignore_errors=True)
        report = generate(
            RunOptions(
                project_dir=project,
                all_environments=True,
                workers=workers,
                environ=GOLDEN_ENVIRON,
            )
        )
        assert report.failure() is None
        found.append(contents(project / "out"))
    serial, parallel = found
    assert serial and serial == parallel


@pytest.mark.parametrize(
    "args", [["render"], ["render", "dev", "--all"], ["validate"], ["validate", "dev", "--all"]]
)
def test_names_and_all_are_mutually_exclusive(
    runner: CliRunner, project: Path, args: list[str]
) -> None:
    result = invoke(runner, project, *args)
    assert result.exit_code == 2
    assert "--all" in result.stderr


def test_one_failing_environment_does_not_stop_the_others(runner: CliRunner, project: Path) -> None:
    staging = project / "environments" / "staging.yaml"
    staging.write_text(staging.read_text().replace("10.20.0.0/16", "10.20.0.0/8"))
    result = invoke(runner, project, "render", "--all", "--jobs", "2")
    assert result.exit_code == EXIT_INPUT
    assert "environments/staging.yaml" in result.stderr
    assert "network.vpc_cidr" in result.stderr
    assert not (project / "out" / "staging").exists()
    for name in ("dev", "prod"):
        assert (project / "out" / name / "backend.hcl").is_file()


def test_the_highest_exit_code_wins_and_errors_cross_processes_intact(project: Path) -> None:
    # dev fails verification (3) and staging fails validation (1), in worker processes.
    write_tree(project, {"templates/broken.tf.j2": '{% if env.name == "dev" %}x = {\n{% endif %}'})
    staging = project / "environments" / "staging.yaml"
    staging.write_text(staging.read_text().replace("10.20.0.0/16", "10.20.0.0/8"))
    report = generate(
        RunOptions(project_dir=project, all_environments=True, workers=2, environ=GOLDEN_ENVIRON)
    )
    failure = report.failure()
    assert failure is not None
    assert failure.exit_code == EXIT_VERIFY
    assert "out/dev/broken.tf" in str(failure)
    assert "environments/staging.yaml" in str(failure)
    assert [(r.name, r.error is None) for r in report.results] == [
        ("dev", False),
        ("local", True),
        ("prod", True),
        ("staging", False),
    ]
    run = render_run(
        load_project(project),
        RunOptions(project_dir=project, environ=GOLDEN_ENVIRON, workers=2),
        ["prod", "dev", "staging"],
    )
    assert [r.name for r in run.rendered] == ["prod"]
    assert [type(e) for e in run.errors] == [VerifyError, ConfigError]
    assert run.errors[0].problems[0].path == "out/dev/broken.tf"
    assert run.errors[1].problems[0].path == "environments/staging.yaml"
    assert (project / "out" / "prod" / "backend.hcl").is_file()  # the others were written
    assert not (project / "out" / "dev").exists()
    assert not (project / "out" / "staging").exists()


# --------------------------------------------------------------------------- state keys


def share_dev_state(project: Path) -> str:
    """Give staging dev's (default) key; the line that sets it, as errors name it."""
    staging = project / "environments" / "staging.yaml"
    text = staging.read_text()
    staging.write_text(text + "backend:\n  key: catalog/dev/terraform.tfstate\n")
    return f"environments/staging.yaml:{text.count(chr(10)) + 2}"


@pytest.mark.parametrize(
    "args",
    [
        ["render", "dev", "staging"],
        ["render", "--all"],
        ["validate", "dev", "staging"],
        ["validate", "--all"],
    ],
)
def test_two_environments_sharing_a_state_key_exit_1_naming_both(
    runner: CliRunner, project: Path, args: list[str]
) -> None:
    staging = share_dev_state(project)
    result = invoke(runner, project, *args)
    assert result.exit_code == EXIT_INPUT, result.stderr
    # dev's key is the default (no line sets it); staging's is set at its line.
    assert (
        "error: environments/dev.yaml: backend.key: state s3://catalog-tfstate-nonprod/"
        f"catalog/dev/terraform.tfstate is also the state of environment 'staging' ({staging})"
    ) in result.stderr
    assert (
        f"error: {staging}: backend.key: state s3://catalog-tfstate-nonprod/catalog/dev/"
        "terraform.tfstate is also the state of environment 'dev' (environments/dev.yaml)"
    ) in result.stderr
    assert not (project / "out" / "dev").exists()
    assert not (project / "out" / "staging").exists()


def test_sharing_is_only_refused_when_both_are_in_the_run(runner: CliRunner, project: Path) -> None:
    share_dev_state(project)
    assert invoke(runner, project, "render", "dev").exit_code == 0
    assert invoke(runner, project, "render", "staging").exit_code == 0


def test_state_keys_compare_case_sensitively_after_resolution() -> None:
    refs = [
        StateRef("a", "environments/a.yaml", "bucket", "p/A.tfstate"),
        StateRef("b", "environments/b.yaml", "bucket", "p/a.tfstate"),
        StateRef("c", "environments/c.yaml", "bucket", "p/a.tfstate"),
    ]
    found = state_key_collisions(refs)
    assert sorted(found) == ["b", "c"]
    assert "environments/c.yaml" in str(found["b"])


def test_check_refuses_a_shared_state_key(runner: CliRunner, project: Path) -> None:
    assert invoke(runner, project, "render", "--all").exit_code == 0
    staging = share_dev_state(project)
    result = invoke(runner, project, "check", "--all")
    assert result.exit_code == EXIT_INPUT
    assert f"'staging' ({staging})" in result.stderr
    assert "'dev' (environments/dev.yaml)" in result.stderr


def test_a_shared_key_reached_through_a_variable_is_caught(
    runner: CliRunner, project: Path
) -> None:
    write_tree(
        project,
        {
            "environments/qa.yaml": """
                network: {vpc_cidr: 10.60.0.0/16}
                backend: {key: "${env:QA_KEY}"}
            """
        },
    )
    result = invoke(
        runner, project, "validate", "--all", env={"QA_KEY": "catalog/dev/terraform.tfstate"}
    )
    assert result.exit_code == EXIT_INPUT
    assert "environments/qa.yaml" in result.stderr
    assert "environments/dev.yaml" in result.stderr


# --------------------------------------------------------------------------- --suffix


def test_suffix_renders_its_own_folder_and_state_key(runner: CliRunner, project: Path) -> None:
    assert invoke(runner, project, "render", "dev").exit_code == 0
    base = contents(project / "out" / "dev")
    result = invoke(runner, project, "render", "dev", "--suffix", "pr5706")
    assert result.exit_code == 0, result.stderr
    out = project / "out" / "dev-pr5706"
    assert backend_of(out)["key"] == "catalog/dev-pr5706/terraform.tfstate"
    assert "-dev-pr5706-" in (out / "network.tf").read_text()  # resource names carry it
    assert contents(project / "out" / "dev") == base  # the base output is untouched
    assert invoke(runner, project, "check", "dev", "--suffix", "pr5706").exit_code == 0


@pytest.mark.parametrize("suffix", ["PR1", "pr_1", "-pr", "pr-", "pr--1", "pr/1", "", "pr 1"])
def test_malformed_suffix_exits_1(runner: CliRunner, project: Path, suffix: str) -> None:
    result = invoke(runner, project, "render", "dev", "--suffix", suffix)
    assert result.exit_code == EXIT_INPUT
    assert "--suffix: invalid suffix" in result.stderr
    assert not (project / "out").exists()


def test_too_long_suffix_exits_1_with_a_clear_message(runner: CliRunner, project: Path) -> None:
    result = invoke(runner, project, "render", "staging", "--suffix", "a" * 30)
    assert result.exit_code == EXIT_INPUT
    assert "--suffix: suffix 'aaaa" in result.stderr
    assert "38 characters long; an environment name has at most 32" in result.stderr
    assert not (project / "out").exists()


def test_suffix_that_breaks_an_aws_name_limit_exits_1(runner: CliRunner, project: Path) -> None:
    # A legal environment name (32 characters) whose derived ALB name is too long.
    result = invoke(runner, project, "render", "staging", "--suffix", "a" * 24)
    assert result.exit_code == EXIT_INPUT
    assert "environments/staging.yaml" in result.stderr
    assert "32" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (project / "out").exists()


def test_suffix_may_not_name_another_environment(runner: CliRunner, project: Path) -> None:
    write_tree(project, {"environments/dev-pr1.yaml": "network: {vpc_cidr: 10.50.0.0/16}\n"})
    result = invoke(runner, project, "render", "dev", "--suffix", "pr1")
    assert result.exit_code == EXIT_INPUT
    assert "environments/dev-pr1.yaml" in result.stderr
    assert not (project / "out").exists()


def test_suffix_with_an_explicit_key_would_share_the_base_state(
    runner: CliRunner, project: Path
) -> None:
    dev = project / "environments" / "dev.yaml"
    dev.write_text(dev.read_text() + "backend:\n  key: catalog/dev.tfstate\n")
    result = invoke(runner, project, "render", "dev", "--suffix", "pr9")
    assert result.exit_code == EXIT_INPUT
    assert "state s3://catalog-tfstate-nonprod/catalog/dev.tfstate" in result.stderr
    line = dev.read_text().count("\n")  # the key, the file's last line
    assert f"error: environments/dev.yaml:{line}: backend.key: " in result.stderr
    assert f"'dev' (environments/dev.yaml:{line})" in result.stderr
    assert not (project / "out").exists()


@requires_terraform
def test_suffixed_render_passes_terraform_validate(
    runner: CliRunner, project: Path, tmp_path: Path
) -> None:
    result = invoke(runner, project, "render", "dev", "--suffix", "pr5706")
    assert result.exit_code == 0, result.stderr
    out = project / "out" / "dev-pr5706"
    cache = tmp_path / "plugin-cache"
    cache.mkdir()
    env = terraform_env(tmp_path, TF_PLUGIN_CACHE_DIR=str(cache))
    init = run_terraform(["init", "-backend=false", "-input=false"], out, env)
    assert init.returncode == 0, init.stdout + init.stderr
    check = run_terraform(["validate"], out, env)
    assert check.returncode == 0, check.stdout + check.stderr


# --------------------------------------------------------------------------- validate


def test_validate_writes_nothing(runner: CliRunner, project: Path) -> None:
    result = invoke(runner, project, "validate", "--all")
    assert result.exit_code == 0, result.stderr
    assert "dev: valid" in result.stderr
    assert not (project / "out").exists()


def test_validate_reports_verification_failures_with_exit_3(
    runner: CliRunner, project: Path
) -> None:
    write_tree(project, {"templates/broken.tf.j2": "x = {\n"})
    result = invoke(runner, project, "validate", "dev")
    assert result.exit_code == EXIT_VERIFY
    assert "out/dev/broken.tf" in result.stderr
    assert not (project / "out").exists()


def test_validate_unknown_environment_exits_1(runner: CliRunner, project: Path) -> None:
    result = invoke(runner, project, "validate", "stagign")
    assert result.exit_code == EXIT_INPUT
    assert "did you mean 'staging'?" in result.stderr


def test_all_without_environments_exits_1(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "environments").mkdir()
    result = invoke(runner, tmp_path, "validate", "--all")
    assert result.exit_code == EXIT_INPUT
    assert "no environments found" in result.stderr


# --------------------------------------------------------------------------- list


def test_list_json_is_a_matrix_and_shows_unresolved_references(
    runner: CliRunner, project: Path
) -> None:
    emulated = "endpoint: http://127.0.0.1:4566\nnetwork: {vpc_cidr: 10.70.0.0/16}\n"
    write_tree(project, {"environments/emu.yaml": emulated})
    result = invoke(runner, project, "list", "--json", env={"TERRAFORM_STATE_BUCKET": None})
    assert result.exit_code == 0, result.stderr
    assert len(result.stdout.splitlines()) == 1  # one line: fits $GITHUB_OUTPUT as it is
    rows = json.loads(result.stdout)
    assert isinstance(rows, list)
    by_name = {row["name"]: row for row in rows}
    assert set(by_name) == set(list_environments(project))
    assert by_name["prod"]["bucket"] == "${env:TERRAFORM_STATE_BUCKET}"
    assert by_name["dev"] == {
        "name": "dev",
        "file": "environments/dev.yaml",
        "region": "eu-west-1",
        "bucket": "catalog-tfstate-nonprod",
        "key": "catalog/dev/terraform.tfstate",
        "endpoint": None,
    }
    assert by_name["emu"]["endpoint"] == "http://127.0.0.1:4566"


def test_list_resolves_variables_that_are_set(runner: CliRunner, project: Path) -> None:
    result = invoke(runner, project, "list")
    assert result.exit_code == 0, result.stderr
    header, *lines = result.stdout.splitlines()
    assert header.split() == ["NAME", "REGION", "BUCKET", "KEY"]
    prod = next(line for line in lines if line.startswith("prod "))
    assert prod.split() == [
        "prod",
        "eu-west-1",
        GOLDEN_ENVIRON["TERRAFORM_STATE_BUCKET"],
        "catalog/prod/terraform.tfstate",
    ]


def test_list_fails_on_an_unreadable_file(runner: CliRunner, project: Path) -> None:
    write_tree(project, {"environments/qa.yaml": "network: [unclosed\n"})
    result = invoke(runner, project, "list", "--json")
    assert result.exit_code == EXIT_INPUT
    assert "environments/qa.yaml" in result.stderr
    assert result.stdout == ""


# --------------------------------------------------------------------------- progress


def test_progress_appears_only_after_a_moment(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter([0.0, 0.1, 5.0])
    monkeypatch.setattr(console.time, "monotonic", lambda: next(clock))
    stream = io.StringIO()
    progress = console.Progress(stream)  # start at 0.0
    progress(1, 3, "dev")  # 0.1 s: too quick to show
    assert stream.getvalue() == ""
    progress(2, 3, "prod")  # 5 s: shown
    progress(3, 3, "staging")  # shown once started
    progress.close()
    assert stream.getvalue() == "\r\x1b[K[2/3] prod\r\x1b[K[3/3] staging\r\x1b[K"


def test_progress_is_off_when_stderr_is_not_a_terminal(runner: CliRunner, project: Path) -> None:
    result = invoke(runner, project, "validate", "--all")
    assert result.exit_code == 0
    assert "\r" not in result.stderr


def test_progress_context_is_none_without_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    with console.progress_line() as progress:
        assert progress is None


def test_progress_context_clears_its_line_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Tty()
    monkeypatch.setattr(sys, "stderr", stream)
    monkeypatch.setattr(console, "PROGRESS_DELAY", 0.0)
    with console.progress_line() as progress:
        assert progress is not None
        progress(1, 2, "dev")
    assert stream.getvalue() == "\r\x1b[K[1/2] dev\r\x1b[K"


def test_environment_names_complete_from_the_project(project: Path) -> None:
    ctx = cli.make_context("tfgen", ["--project-dir", str(project)], resilient_parsing=True)
    names = [item.value for item in options.complete_environments(ctx, None, "st")]
    assert names == ["staging"]


# --------------------------------------------------------------------------- pre-commit


def test_pre_commit_hooks_run_as_documented(runner: CliRunner, project: Path) -> None:
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    by_id = {hook["id"]: hook for hook in hooks}
    assert set(by_id) == {"tfgen-check", "tfgen-terraform-fmt"}
    for hook in hooks:
        assert {"id", "name", "entry", "language", "files"} <= set(hook)
        assert hook["pass_filenames"] is False
    argv = shlex.split(by_id["tfgen-check"]["entry"])
    assert argv[0] == "tfgen"
    assert invoke(runner, project, "render", "--all").exit_code == 0
    assert invoke(runner, project, *argv[1:]).exit_code == 0
    fmt = shlex.split(by_id["tfgen-terraform-fmt"]["entry"])
    if shutil.which(fmt[0]) is not None:
        proc = subprocess.run(fmt, cwd=project, capture_output=True, text=True, check=False)
        assert proc.returncode == 0, proc.stdout + proc.stderr
