"""tfgen check and diff: drift between out/<env>/ and a fresh, verified in-memory render."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from generator.cli.app import cli
from generator.cli.console import colour_diff, want_colour
from generator.commands.check import FileState, check_output, unified_diff
from generator.errors import EXIT_DRIFT, EXIT_INPUT, EXIT_VERIFY
from tests.conftest import GOLDEN_ENVIRON, ROOT, keep_one_root, write_tree
from tests.outtree import contents

SHIPPED = ("dev", "prod", "staging")


def invoke(runner: CliRunner, project: Path, *args: str, env: dict[str, Any] | None = None) -> Any:
    return runner.invoke(
        cli, [*args, "--project-dir", str(project)], env={**GOLDEN_ENVIRON, **(env or {})}
    )


@pytest.fixture(scope="module")
def rendered_once(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped project (a few templates, one root module) rendered, once for this module."""
    base = tmp_path_factory.mktemp("rendered") / "project"
    for name in ("environments", "templates"):
        shutil.copytree(ROOT / name, base / name)
    keep_one_root(base)
    result = invoke(CliRunner(), base, "render", "--all")
    assert result.exit_code == 0, result.stderr
    return base


@pytest.fixture
def rendered(rendered_once: Path, tmp_path: Path) -> Path:
    """A private copy of the freshly rendered project (symlinks copied as links)."""
    copy = tmp_path / "project"
    shutil.copytree(rendered_once, copy, symlinks=True)
    return copy


def test_check_all_on_a_fresh_render_exits_0(runner: CliRunner, rendered: Path) -> None:
    result = invoke(runner, rendered, "check", "--all")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    for name in SHIPPED:
        assert f"out/{name}: up to date" in result.stderr


def test_one_byte_hand_edit_exits_4_with_a_diff(runner: CliRunner, rendered: Path) -> None:
    target = rendered / "out" / "dev" / "backend.hcl"
    text = target.read_text()
    target.write_text(text.replace("eu-west-1", "eu-west-2", 1))
    before = contents(rendered / "out")
    result = invoke(runner, rendered, "check", "--all")
    assert result.exit_code == EXIT_DRIFT
    assert "--- a/out/dev/backend.hcl" in result.stdout
    assert "+++ b/out/dev/backend.hcl" in result.stdout
    assert '-region       = "eu-west-2"' in result.stdout
    assert '+region       = "eu-west-1"' in result.stdout
    assert "out/dev/backend.hcl: differs from a fresh render: edited by hand" in result.stderr
    assert "out/staging: up to date" in result.stderr
    assert "Traceback" not in result.stderr
    assert contents(rendered / "out") == before  # check never writes


def test_stale_render_after_an_input_change_is_drift(runner: CliRunner, rendered: Path) -> None:
    env_file = rendered / "environments" / "staging.yaml"
    env_file.write_text(env_file.read_text().replace("10.20.0.0/16", "10.21.0.0/16"))
    result = invoke(runner, rendered, "check", "staging")
    assert result.exit_code == EXIT_DRIFT
    assert "10.21.0.0/16" in result.stdout
    assert "out/staging/network.tf: differs from a fresh render: stale" in result.stderr
    assert "edited by hand" not in result.stderr


def test_missing_generated_file_is_drift(runner: CliRunner, rendered: Path) -> None:
    (rendered / "out" / "prod" / "providers.tf").unlink()
    result = invoke(runner, rendered, "check", "prod")
    assert result.exit_code == EXIT_DRIFT
    assert "--- /dev/null\n+++ b/out/prod/providers.tf" in result.stdout
    assert "out/prod/providers.tf: is missing" in result.stderr


def test_never_rendered_environment_is_drift(runner: CliRunner, project: Path) -> None:
    result = invoke(runner, project, "check", "dev")
    assert result.exit_code == EXIT_DRIFT
    for component in ("network", "data", "app"):
        assert f"+++ b/out/dev/{component}/backend.hcl" in result.stdout


def test_file_no_longer_rendered_is_drift(runner: CliRunner, project: Path) -> None:
    keep_one_root(project)
    write_tree(project, {"templates/outputs.tf.j2": 'output "name" {\n  value = "x"\n}\n'})
    assert invoke(runner, project, "render", "dev").exit_code == 0
    (project / "templates" / "outputs.tf.j2").unlink()
    result = invoke(runner, project, "check", "dev")
    assert result.exit_code == EXIT_DRIFT
    assert "--- a/out/dev/outputs.tf\n+++ /dev/null" in result.stdout
    assert "out/dev/outputs.tf: was generated earlier but is no longer rendered" in result.stderr


def test_files_tfgen_does_not_own_are_ignored(runner: CliRunner, rendered: Path) -> None:
    out = rendered / "out" / "dev"
    write_tree(
        out,
        {
            ".terraform/providers/x": "binary",
            ".terraform.lock.hcl": "# lock\n",
            "terraform.tfstate": "{}",
            "notes.txt": "mine\n",
        },
    )
    result = invoke(runner, rendered, "check", "dev")
    assert result.exit_code == 0, result.stdout + result.stderr


def test_bytes_that_are_not_utf8_are_drift(runner: CliRunner, rendered: Path) -> None:
    target = rendered / "out" / "dev" / "network.tf"
    target.write_bytes(target.read_bytes() + b"\xff\n")
    result = invoke(runner, rendered, "check", "dev")
    assert result.exit_code == EXIT_DRIFT
    assert "\ufffd" in result.stdout


def test_symlink_in_place_of_a_generated_file_is_an_error(
    runner: CliRunner, rendered: Path, tmp_path: Path
) -> None:
    target = rendered / "out" / "dev" / "network.tf"
    outside = tmp_path / "outside.tf"
    outside.write_text(target.read_text())
    target.unlink()
    target.symlink_to(outside)
    result = invoke(runner, rendered, "check", "dev")
    assert result.exit_code == EXIT_INPUT
    assert "out/dev/network.tf: is a symbolic link" in result.stderr


def test_a_render_failure_outranks_drift(runner: CliRunner, rendered: Path) -> None:
    # staging fails verification (3), dev has drift (4), prod is clean.
    write_tree(
        rendered,
        {"templates/broken.tf.j2": '{% if env.name == "staging" %}broken = {\n{% endif %}'},
    )
    (rendered / "out" / "dev" / "network.tf").write_text("# edited\n")
    result = invoke(runner, rendered, "check", "--all")
    assert result.exit_code == EXIT_VERIFY  # CI must never read a broken input as drift
    assert "out/staging/broken.tf" in result.stderr
    assert "out/dev/network.tf: differs" in result.stderr
    assert "out/prod: up to date" in result.stderr


def test_check_of_an_invalid_environment_exits_1(runner: CliRunner, rendered: Path) -> None:
    result = invoke(runner, rendered, "check", "prod", env={"TERRAFORM_STATE_BUCKET": None})
    assert result.exit_code == EXIT_INPUT
    assert "environments/prod.yaml" in result.stderr
    assert "TERRAFORM_STATE_BUCKET" in result.stderr


def test_check_of_unverifiable_output_exits_3(runner: CliRunner, rendered: Path) -> None:
    write_tree(rendered, {"templates/broken.tf.j2": "broken = {\n"})
    result = invoke(runner, rendered, "check", "dev")
    assert result.exit_code == EXIT_VERIFY
    assert "out/dev/broken.tf" in result.stderr


def test_check_with_a_corrupt_manifest_exits_1(runner: CliRunner, rendered: Path) -> None:
    (rendered / "out" / "dev" / ".tfgen-manifest.json").write_text("not json")
    result = invoke(runner, rendered, "check", "dev", "staging")
    assert result.exit_code == EXIT_INPUT
    assert "out/dev/.tfgen-manifest.json" in result.stderr
    assert "out/staging: up to date" in result.stderr


@pytest.mark.parametrize(
    "args", [["check"], ["check", "dev", "--all"], ["diff"], ["check", "--bogus"]]
)
def test_check_and_diff_usage_errors_exit_2(
    runner: CliRunner, project: Path, args: list[str]
) -> None:
    assert invoke(runner, project, *args).exit_code == 2


# --------------------------------------------------------------------------- diff


def test_diff_shows_what_render_would_change_and_exits_0(runner: CliRunner, rendered: Path) -> None:
    env_file = rendered / "environments" / "dev.yaml"
    env_file.write_text(env_file.read_text().replace("10.10.0.0/16", "10.11.0.0/16"))
    before = contents(rendered / "out")
    result = invoke(runner, rendered, "diff", "dev")
    assert result.exit_code == 0, result.stderr
    assert '-  cidr_block           = "10.10.0.0/16"' in result.stdout
    assert '+  cidr_block           = "10.11.0.0/16"' in result.stdout
    assert "\x1b[" not in result.stdout  # not a terminal: no colour
    assert contents(rendered / "out") == before
    assert invoke(runner, rendered, "render", "dev").exit_code == 0
    again = invoke(runner, rendered, "diff", "dev")
    assert again.exit_code == 0
    assert again.stdout == ""


def test_diff_of_an_invalid_environment_exits_1(runner: CliRunner, project: Path) -> None:
    result = invoke(runner, project, "diff", "nope")
    assert result.exit_code == EXIT_INPUT
    assert "unknown environment 'nope'" in result.stderr


class FakeTty:
    def __init__(self, tty: bool) -> None:
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


@pytest.mark.parametrize(
    ("tty", "environ", "expected"),
    [
        (True, {}, True),
        (True, {"NO_COLOR": "1"}, False),
        (True, {"NO_COLOR": ""}, True),  # no-color.org: only a non-empty value counts
        (False, {}, False),
    ],
)
def test_colour_only_on_a_terminal_without_no_color(
    tty: bool, environ: dict[str, str], expected: bool
) -> None:
    assert want_colour(FakeTty(tty), environ) is expected  # type: ignore[arg-type]


def test_colour_diff_styles_each_kind_of_line() -> None:
    text = unified_diff("a\nb\n", "a\nc\n", "out/dev/x.tf")
    styled = colour_diff(text)
    assert "\x1b[31m-b\x1b[0m" in styled
    assert "\x1b[32m+c\x1b[0m" in styled
    assert "\x1b[36m@@" in styled
    assert "\x1b[1m--- a/out/dev/x.tf" in styled


def test_unified_diff_marks_a_missing_final_newline() -> None:
    text = unified_diff("a", "a\n", "x.tf")
    assert "-a\n\\ No newline at end of file\n+a\n" in text


# --------------------------------------------------------------------------- core API


def test_check_output_reports_each_state(project: Path) -> None:
    keep_one_root(project)
    write_tree(project, {"templates/outputs.tf.j2": 'output "a" {\n  value = 1\n}\n'})
    from generator.pipeline import RunOptions, generate

    options = RunOptions(project_dir=project, environments=["dev"], environ=GOLDEN_ENVIRON)
    assert generate(options).failure() is None
    out = project / "out" / "dev"
    (out / "network.tf").write_text("# edited\n")
    (out / "providers.tf").unlink()
    (project / "templates" / "outputs.tf.j2").unlink()
    report = check_output(options)
    [env] = report.environments
    assert {f.name: f.state for f in env.files} == {
        "network.tf": FileState.EDITED,
        "providers.tf": FileState.MISSING,
        "outputs.tf": FileState.EXTRA,
    }
    assert report.failure(drift_is_error=False) is None
    failure = report.failure(drift_is_error=True)
    assert failure is not None
    assert failure.exit_code == EXIT_DRIFT
