"""Help text: each command's own exit codes and examples, whole summaries, global options
anywhere, and the README's command reference agreeing with ``tfgen CMD --help``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from generator.cli.app import EXIT_MEANINGS, cli
from tests.conftest import GOLDEN_ENVIRON, ROOT

COMMANDS = sorted(cli.commands)
# What each command can exit with; the help must list exactly these.
OWN_CODES = {
    "render": {0, 1, 2, 3, 4},
    "validate": {0, 1, 2, 3},
    "check": {0, 1, 2, 3, 4},
    "diff": {0, 1, 2, 3, 4},
    "list": {0, 1, 2},
    "schema": {0, 1, 2},
    "bootstrap": {0, 1, 2, 3},
    "init": {0, 1, 2},
    "adopt": {0, 1, 2, 3},
    "gate": {0, 1, 2, 3},
}


def help_of(runner: CliRunner, *args: str) -> str:
    result = runner.invoke(cli, [*args, "--help"], terminal_width=100)
    assert result.exit_code == 0, result.output
    return result.output


def exit_codes(text: str) -> set[int]:
    """The codes listed under the 'Exit codes:' heading of a help text."""
    section = text.split("Exit codes:", 1)[1]
    return {int(m) for m in re.findall(r"^\s+(\d)  \S", section, re.MULTILINE)}


def test_every_command_is_covered_here() -> None:
    assert set(OWN_CODES) == set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_each_help_lists_only_its_own_exit_codes(runner: CliRunner, command: str) -> None:
    text = help_of(runner, command)
    assert exit_codes(text) == OWN_CODES[command]


def test_schema_help_does_not_mention_verification_or_drift(runner: CliRunner) -> None:
    text = help_of(runner, "schema")
    assert "verification" not in text
    assert "drift" not in text


def test_the_top_level_help_keeps_the_full_table(runner: CliRunner) -> None:
    assert exit_codes(help_of(runner)) == set(EXIT_MEANINGS)


@pytest.mark.parametrize("command", COMMANDS)
def test_each_help_shows_a_real_example(runner: CliRunner, command: str) -> None:
    text = help_of(runner, command)
    examples = text.split("Examples:", 1)[1].split("Exit codes:", 1)[0]
    lines = [line.strip() for line in examples.splitlines() if line.strip()]
    assert lines, text
    for line in lines:
        words = line.split()
        tfgen = words.index("tfgen")  # an example may start with VAR=value
        assert words[tfgen + 1] == command, line


def test_every_example_parses(runner: CliRunner) -> None:
    """Each example is a valid command line: click parses it without a usage error."""
    for command in COMMANDS:
        text = help_of(runner, command)
        examples = text.split("Examples:", 1)[1].split("Exit codes:", 1)[0]
        for line in filter(None, (x.strip() for x in examples.splitlines())):
            words = line.split()
            argv = words[words.index("tfgen") + 1 :]
            if ">" in argv:  # a redirection ends the command line
                argv = argv[: argv.index(">")]
            ctx = cli.make_context("tfgen", argv, resilient_parsing=False)
            with ctx:
                sub = cli.commands[argv[0]]
                sub.make_context(argv[0], argv[1:], parent=ctx)


def test_the_command_list_shows_whole_summaries(runner: CliRunner) -> None:
    text = help_of(runner)
    listing = text.split("Commands:", 1)[1].split("Exit codes:", 1)[0]
    assert "..." not in listing
    for name, command in cli.commands.items():
        summary = command.get_short_help_str()
        assert summary and not summary.endswith("..."), name
        assert " ".join(summary.split()) in " ".join(listing.split()), name


# --------------------------------------------------------------------------- global options


@pytest.mark.parametrize(
    "argv",
    [
        ["--debug", "render", "nope", "--project-dir", "{p}"],
        ["render", "nope", "--debug", "--project-dir", "{p}"],
        ["--project-dir", "{p}", "--debug", "render", "nope"],
        ["--project-dir", "{p}", "render", "nope", "--debug"],
    ],
)
def test_debug_and_project_dir_before_or_after_the_command(
    runner: CliRunner, project: Path, argv: list[str]
) -> None:
    result = runner.invoke(cli, [a.format(p=project) for a in argv])
    assert result.exit_code == 1, result.output
    assert "unknown environment 'nope'" in result.stderr  # found the project's environments
    assert "Traceback" in result.stderr  # --debug took effect


def test_project_dir_before_the_command_renders_there(runner: CliRunner, project: Path) -> None:
    result = runner.invoke(cli, ["--project-dir", str(project), "render", "dev"])
    assert result.exit_code == 0, result.stderr
    assert (project / "out" / "dev" / "backend.hcl").is_file()


def test_project_dir_after_the_command_wins(
    runner: CliRunner, project: Path, tmp_path: Path
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = runner.invoke(
        cli, ["--project-dir", str(empty), "validate", "dev", "--project-dir", str(project)]
    )
    assert result.exit_code == 0, result.stderr


def test_without_debug_there_is_no_traceback(runner: CliRunner, project: Path) -> None:
    result = runner.invoke(cli, ["render", "nope", "--project-dir", str(project)])
    assert result.exit_code == 1
    assert "Traceback" not in result.stderr


# --------------------------------------------------------------------------- README


def readme_section(title: str) -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def readme_synopsis() -> dict[str, list[str]]:
    """``{command: [option, ...]}`` from the README's command reference block."""
    block = readme_section("Command line").split("```", 2)[1]
    found: dict[str, list[str]] = {}
    for line in block.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] == "tfgen":
            found[words[1]] = re.findall(r"(?<![\w-])(--?[a-z][a-z-]*)", " ".join(words[2:]))
    return found


def readme_table() -> dict[str, set[int]]:
    """``{command: exit codes}`` from the README's command table (its last column)."""
    rows: dict[str, set[int]] = {}
    for line in readme_section("Command line").splitlines():
        match = re.match(r"^\| `([a-z]+)` \|.*\| ([0-9, ]+) \|$", line)
        if match:
            rows[match.group(1)] = {int(c) for c in re.findall(r"\d", match.group(2))}
    return rows


def test_readme_documents_every_command_and_no_other() -> None:
    assert set(readme_synopsis()) == set(COMMANDS)
    assert set(readme_table()) == set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_readme_options_appear_in_the_commands_help(runner: CliRunner, command: str) -> None:
    text = help_of(runner, command)
    for option in readme_synopsis()[command]:
        assert re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", text), (command, option)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_of_a_command_is_in_the_readme(command: str) -> None:
    documented = set(readme_synopsis()[command]) | {
        "--project-dir",
        "--debug",
        "--no-cache",
        "--help",
        "-h",
    }
    for param in cli.commands[command].params:
        if isinstance(param, click.Option) and not param.hidden:
            assert documented & set(param.opts), (command, param.opts)


@pytest.mark.parametrize("command", COMMANDS)
def test_readme_exit_codes_match_the_help(runner: CliRunner, command: str) -> None:
    assert readme_table()[command] == exit_codes(help_of(runner, command))


def test_readme_exit_code_table_matches_the_top_level_help(runner: CliRunner) -> None:
    table = readme_section("Command line").split("### Exit codes", 1)[1]
    codes = {int(c) for c in re.findall(r"^\| (\d) \|", table, re.MULTILINE)}
    assert codes == exit_codes(help_of(runner))


def test_the_readme_examples_of_global_options_work(runner: CliRunner, project: Path) -> None:
    env: dict[str, Any] = dict(GOLDEN_ENVIRON)
    for argv in (
        ["--project-dir", str(project), "render", "dev"],
        ["render", "dev", "--debug", "--project-dir", str(project)],
    ):
        assert runner.invoke(cli, argv, env=env).exit_code == 0


def test_readme_gitignore_and_hooks_agree_on_committing_out() -> None:
    """The decision: a project commits out/; tfgen's own repository (the engine) does not."""
    gitignore = (ROOT / ".gitignore").read_text(encoding="utf-8")
    hooks = (ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8")
    precommit = readme_section("pre-commit")
    assert "/out/*" in gitignore.splitlines()
    assert "commits its out/" in gitignore
    assert "Commit `out/` in your project" in precommit
    assert "`.gitignore` ignores `out/`" in precommit
    assert "commits out/" in hooks
    assert "tfgen's own repository ignores" in hooks
    assert "for a project that commits `out/`" in readme_section("CI")
    layout = " ".join(readme_section("Layout").split())
    assert "(git-ignored in this repository; commit it in your project" in layout


@pytest.mark.parametrize("command", ["list", "schema", "gate"])
def test_commands_without_out_do_not_mention_it(runner: CliRunner, command: str) -> None:
    text = help_of(runner, command).split("Exit codes:", 1)[1]
    assert "--out" not in text


def test_every_source_file_a_readme_names_exists() -> None:
    """A README that points at tests/... or generator/... points at a file of this tree."""
    readmes = [ROOT / "README.md", *sorted((ROOT / "examples").glob("*/README.md"))]
    missing = [
        f"{readme.relative_to(ROOT)}: {path}"
        for readme in readmes
        for path in re.findall(r"\b(?:tests|generator)/[\w/.]*\.py\b", readme.read_text("utf-8"))
        if not (ROOT / path).is_file()
    ]
    assert len(readmes) > 1
    assert not missing
