"""Every hint tfgen prints, run as printed, succeeds."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from generator.cli.app import cli
from generator.engine.render import rendered_header
from generator.errors import EXIT_DRIFT
from tests.adopt.test_cli_adopt import make_project, old_state
from tests.components.conftest import COMPONENT_STACK
from tests.conftest import write_tree
from tests.tfhelpers import run_terraform, skip_reason, terraform_env

ENV = {"TFGEN_STATE_BUCKET": "b-state"}


def _run_hint(runner: CliRunner, line: str) -> int:
    words = shlex.split(line)
    assert words[0] == "tfgen", line
    result = runner.invoke(cli, words[1:], env=ENV)
    assert result.exit_code == 0, (line, result.stderr)
    return result.exit_code


@pytest.mark.parametrize("out", [None, "elsewhere"])
def test_the_run_hint_of_check_succeeds_as_printed(
    tmp_path: Path, runner: CliRunner, monkeypatch: pytest.MonkeyPatch, out: str | None
) -> None:
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "mysite"
    assert runner.invoke(cli, ["init", str(root)]).exit_code == 0
    args = ["dev", "--suffix", "pr9", "--set", "bucket.versioning=false"]
    args += ["--project-dir", str(root)]
    if out is not None:
        args += ["--out", str(tmp_path / out)]
    check = runner.invoke(cli, ["check", *args], env=ENV)
    assert check.exit_code == EXIT_DRIFT
    hints = [line for line in check.stderr.splitlines() if ": run: " in line]
    assert len(hints) == 1, check.stderr
    command = hints[0].split(": run: ", 1)[1]
    expected = ["tfgen", "render", "dev", "--suffix", "pr9", "--set", "bucket.versioning=false"]
    expected += ["--project-dir", str(root)]
    if out is not None:
        expected += ["--out", str(tmp_path / out)]
    assert command == shlex.join(expected)
    _run_hint(runner, command)
    assert runner.invoke(cli, ["check", *args], env=ENV).exit_code == 0


@pytest.mark.parametrize(
    ("args", "shown"),
    [
        (["--suffix", "pr9"], "dev --suffix pr9"),
        (
            ["--suffix", "pr9", "--set", "bucket.versioning=false", "--out", "mysite/build/out"],
            "dev --suffix pr9 --set bucket.versioning=false --out build/out",
        ),
        (["--out", "{elsewhere}"], "dev --out {elsewhere}"),
        (["--out", "mysite/out"], "dev"),
    ],
    ids=["suffix", "suffix-set-out-inside", "out-elsewhere", "out-default"],
)
def test_the_rendered_header_renders_the_file_again(
    tmp_path: Path,
    runner: CliRunner,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    shown: str,
) -> None:
    # Run from the project as printed, the header's command rewrites nothing: each file is
    # what it renders (suffix, --set and --out included).
    root = tmp_path / "mysite"
    assert runner.invoke(cli, ["init", str(root)]).exit_code == 0
    elsewhere = str(tmp_path / "elsewhere")
    args = [a.format(elsewhere=elsewhere) for a in args]
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(cli, ["render", "dev", *args, "--project-dir", "mysite"], env=ENV)
    assert result.exit_code == 0, result.stderr
    out = Path(args[args.index("--out") + 1]) if "--out" in args else Path("mysite/out")
    folder = (out if out.is_absolute() else tmp_path / out) / (
        "dev-pr9" if "pr9" in args else "dev"
    )
    header = (folder / "bucket.tf").read_text(encoding="utf-8").splitlines()[1]
    command = f"tfgen render {shown.format(elsewhere=elsewhere)}"
    assert header == f"# Change the environment files or templates and run: {command}"
    monkeypatch.chdir(root)
    again = runner.invoke(cli, shlex.split(command)[1:], env=ENV)
    assert again.exit_code == 0, again.stderr
    assert again.stderr.endswith(": up to date\n"), again.stderr


def test_every_header_of_a_component_names_the_suffix(
    tmp_path: Path, runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_tree(tmp_path, COMPONENT_STACK)
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(cli, ["render", "dev", "--suffix", "pr9", "--out", "build"])
    assert result.exit_code == 0, result.stderr
    headers = {
        line
        for path in (tmp_path / "build" / "dev-pr9").rglob("*.*")
        if path.suffix in (".tf", ".hcl")
        if path.is_file()
        for line in path.read_text(encoding="utf-8").splitlines()[1:2]
    }
    # tfgen_remote_state.tf too (it named dev-pr9, an environment that does not exist).
    assert headers == {
        "# Change the environment files or templates and run: "
        "tfgen render dev --suffix pr9 --out build"
    }


def test_a_control_character_in_a_set_value_stays_in_the_header_comment() -> None:
    header = rendered_header("environments/dev.yaml", 'dev --set "x=a\nlocals {}"')
    assert header.count("\n") == 2
    assert "a\\x0alocals {}" in header


def _hinted_commands(stderr: str) -> list[str]:
    """Every command of every ``next:`` and ``run:`` line, as printed."""
    commands: list[str] = []
    for line in stderr.splitlines():
        if line.startswith("next: "):
            text = line.removeprefix("next: ")
        elif ": run: " in line:
            text = line.split(": run: ", 1)[1]
        else:
            continue
        parts = re.split(r" && |, then: ", text)
        commands.extend(p for p in parts if p.startswith(("tfgen ", "terraform ")))
    return commands


def _follow(
    runner: CliRunner, command: str, tf_env: dict[str, str] | None, touched: set[str]
) -> None:
    """Run one hinted command from the current folder, as printed.

    tfgen through the CLI runner; terraform's ``-chdir`` folder must exist from here and hold
    the module, and ``init`` runs for real with the offline mirror when ``tf_env`` is given
    (``apply`` is checked as ``validate``: it would need AWS).
    """
    words = shlex.split(command)
    touched.add(words[0] if words[0] == "tfgen" else f"terraform {words[2]}")
    if words[0] == "tfgen":
        _run_hint(runner, command)
        return
    assert words[1].startswith("-chdir="), command
    folder = Path(words[1].removeprefix("-chdir="))
    assert (folder / "versions.tf").is_file(), (command, Path.cwd())
    if tf_env is None:
        return
    verb = "validate" if words[2] == "apply" else words[2]
    result = run_terraform([verb, *words[3:]], folder, tf_env)
    assert result.returncode == 0, (command, result.stdout + result.stderr)


@pytest.mark.parametrize(
    ("layout", "real_terraform"),
    [
        ("project-dir", False),
        ("relative-project-dir", False),
        ("out-elsewhere", False),
        ("project-outside-cwd", True),
        ("inside-project", False),
    ],
)
def test_every_hint_of_init_bootstrap_render_and_check_succeeds_as_printed(
    tmp_path: Path,
    runner: CliRunner,
    monkeypatch: pytest.MonkeyPatch,
    layout: str,
    real_terraform: bool,
) -> None:
    if real_terraform and skip_reason() is not None:
        pytest.skip(skip_reason() or "")
    cwd = tmp_path / "work" if layout == "project-outside-cwd" else tmp_path
    cwd.mkdir(exist_ok=True)
    root = tmp_path / "my site"  # a space: every path in a hint must be quoted
    monkeypatch.chdir(cwd)
    flags: list[str] = {
        "project-dir": ["--project-dir", str(root)],
        "relative-project-dir": ["--project-dir", "my site"],
        "out-elsewhere": ["--project-dir", str(root), "--out", str(tmp_path / "other out")],
        "project-outside-cwd": ["--project-dir", str(root)],
        "inside-project": [],
    }[layout]
    tf_env = terraform_env(tmp_path, TF_PLUGIN_CACHE_DIR=str(tmp_path)) if real_terraform else None
    touched: set[str] = set()

    init = runner.invoke(cli, ["init", str(root)])
    assert init.exit_code == 0, init.stderr
    for command in _hinted_commands(init.stderr):  # from where init ran
        _follow(runner, command, tf_env, touched)
    if layout == "inside-project":
        monkeypatch.chdir(root)

    bootstrap = runner.invoke(cli, ["bootstrap", "dev", *flags], env=ENV)
    assert bootstrap.exit_code == 0, bootstrap.stderr
    for command in _hinted_commands(bootstrap.stderr):
        _follow(runner, command, tf_env, touched)

    render = runner.invoke(cli, ["render", "dev", *flags], env=ENV)
    assert render.exit_code == 0, render.stderr
    for command in _hinted_commands(render.stderr):
        _follow(runner, command, tf_env, touched)

    drifted = ["dev", "--set", "bucket.versioning=false", *flags]
    check = runner.invoke(cli, ["check", *drifted], env=ENV)
    assert check.exit_code == EXIT_DRIFT, check.stderr
    for command in _hinted_commands(check.stderr):
        _follow(runner, command, tf_env, touched)
    assert runner.invoke(cli, ["check", *drifted], env=ENV).exit_code == 0

    assert touched == {"tfgen", "terraform init", "terraform apply"}, touched


def test_the_next_hint_of_adopt_renders_and_names_the_folder_from_here(
    tmp_path: Path, runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_project(tmp_path)
    cwd = tmp_path / "work"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    out = tmp_path / "other out"
    args = ["adopt", "dev", "--state", str(old_state(tmp_path)), "--project-dir", str(root)]
    result = runner.invoke(cli, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.stderr
    (line,) = [x for x in result.stderr.splitlines() if x.startswith("next: ")]
    render, rest = line.removeprefix("next: ").split(", then ", 1)
    _run_hint(runner, render)
    chdir = shlex.split(rest.split(" plan ", 1)[0])[1]
    assert chdir == f"-chdir={out / 'dev'}"  # outside the current folder: absolute
    assert (Path(chdir.removeprefix("-chdir=")) / "adopt.tf").is_file()
