"""Every hint tfgen prints, run as printed, succeeds."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from generator.cli.app import cli
from generator.errors import EXIT_DRIFT

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


def test_the_rendered_header_names_the_suffix(
    tmp_path: Path, runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "mysite"
    assert runner.invoke(cli, ["init", str(root)]).exit_code == 0
    monkeypatch.chdir(root)
    assert runner.invoke(cli, ["render", "dev", "--suffix", "pr9"], env=ENV).exit_code == 0
    header = (root / "out" / "dev-pr9" / "bucket.tf").read_text(encoding="utf-8").splitlines()[1]
    assert header == (
        "# Change the environment files or templates and run: tfgen render dev --suffix pr9"
    )
    _run_hint(runner, header.split("run: ", 1)[1])
