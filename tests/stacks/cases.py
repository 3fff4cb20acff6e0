"""The case runner of the hostile-input tables (test_catalog.py, test_hostile_input.py).

A case starts from a copy of the shipped project with ``out/dev`` rendered once, changes
a few files, runs ``tfgen render``, and asserts its exact exit code, one located message,
no traceback, nothing on stdout, and the whole tmp folder as it was (bytes, mtimes, inodes).
"""

from __future__ import annotations

import re
import resource
import subprocess
import sys
import textwrap
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from click.testing import CliRunner

from generator.cli.app import cli
from generator.engine.sandbox import make_env
from tests.conftest import keep_one_root
from tests.outtree import snapshot

GIB = 1 << 30
Files = Mapping[str, str | bytes | None]


@dataclass(frozen=True)
class Case:
    """One hostile input: files to write (None deletes), an edit, CLI args, exit code, message.

    ``args`` may name the project as ``{project}``; ``environ`` sets (or, with None, unsets)
    variables for the run; ``subprocess`` runs the real CLI under a timeout and a memory cap,
    for inputs that could hang or exhaust memory if read naively.
    """

    id: str
    files: Files = field(default_factory=dict)
    edit: Callable[[Path], None] | None = None
    args: tuple[str, ...] = ("dev",)
    code: int = 1
    message: str = ""
    environ: Mapping[str, str | None] = field(default_factory=dict)
    subprocess: bool = False


def render_dev_once(project: Path, runner: CliRunner) -> Path:
    """A few shipped templates as one root module; out/dev rendered once, as a user would."""
    keep_one_root(project)
    result = runner.invoke(cli, ["render", "dev", "--project-dir", str(project)])
    assert result.exit_code == 0, result.output
    return project


def write_files(root: Path, files: Files, *, dedent: bool) -> None:
    """Write ``files`` under ``root`` (text dedented when ``dedent``); None deletes one."""
    for rel, content in files.items():
        path = root / rel
        if content is None:
            path.unlink()
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(textwrap.dedent(content) if dedent else content, encoding="utf-8")


def run_case(
    case: Case,
    project: Path,
    runner: CliRunner,
    *,
    dedent: bool = False,
    never_shown: tuple[str, ...] = (),
) -> None:
    """Apply ``case`` to ``project``, run ``tfgen render``, and assert everything it promises.

    Args:
        case: the row.
        project: the project, with out/dev rendered (:func:`render_dev_once`).
        runner: the click runner.
        dedent: dedent the text of ``case.files`` before writing it.
        never_shown: strings (secrets) that must appear in no output.
    """
    write_files(project, case.files, dedent=dedent)
    if case.edit is not None:
        case.edit(project)
    make_env.cache_clear()  # the baseline render compiled the templates some rows edit
    before = snapshot(project.parent)
    args = ["render", *(a.format(project=project) for a in case.args)]
    args += ["--project-dir", str(project)]
    if case.subprocess:
        code, stdout, stderr = run_capped(args)
    else:
        result = runner.invoke(cli, args, env=dict(case.environ))
        assert result.exception is None or isinstance(result.exception, SystemExit), result.output
        code, stdout, stderr = result.exit_code, result.stdout, result.stderr
    output = stdout + stderr
    assert code == case.code, output
    assert "Traceback" not in output
    assert stdout == "", "diagnostics go to stderr"
    assert re.search(rf"^error: (.*: )?{case.message}", stderr, re.MULTILINE), output
    for line in stderr.splitlines():
        assert line.startswith("error: "), f"not a located error line: {line!r}"
    for secret in never_shown:
        assert secret not in output
    assert snapshot(project.parent) == before, "a failed run changed files"


def run_capped(args: list[str]) -> tuple[int, str, str]:
    """The real CLI under a 1 GiB address-space cap and a 60 s timeout."""

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (GIB, GIB))

    done = subprocess.run(
        [sys.executable, "-m", "generator", *args],
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=cap,
        check=False,
    )
    return done.returncode, done.stdout, done.stderr
