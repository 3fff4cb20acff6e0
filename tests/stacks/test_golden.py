"""Golden files: every shipped environment's rendered output, pinned byte for byte.

A stack with components renders one folder per component: ``golden/<env>/<component>/``.
"""

from __future__ import annotations

import difflib
import shutil
from pathlib import Path

import pytest

from generator.inputs.environment import list_environments
from generator.pipeline import render_units
from generator.project import load_project
from tests.conftest import GOLDEN_ENVIRON, ROOT

GOLDEN = ROOT / "tests" / "golden"
# A stack without components, pinned too: it renders byte for byte as before components
# existed (checked against 95a8128 when these were written).
EXAMPLE = ROOT / "examples" / "event-pipeline"
EXAMPLE_GOLDEN = ROOT / "tests" / "golden_examples" / "event-pipeline"
HINT = (
    "If the change is intended, run `pytest tests/stacks/test_golden.py --update-golden` "
    "and review."
)


def _render(name: str, root: Path = ROOT) -> dict[str, str]:
    """Every file of the environment, by its path under ``out/<env>/``."""
    environ = GOLDEN_ENVIRON if root == ROOT else {}
    units = render_units(load_project(root), name, out_root=root / "out", environ=environ)
    return {
        f"{unit.component}/{file}" if unit.component else file: text
        for unit in units
        for file, text in unit.files.items()
    }


def diff_tree(expected_dir: Path, actual: dict[str, str]) -> list[str]:
    """Unified diffs plus missing/extra files between a golden folder and a render."""
    expected = (
        {
            p.relative_to(expected_dir).as_posix(): p.read_text(encoding="utf-8")
            for p in sorted(expected_dir.rglob("*"))
            if p.is_file()
        }
        if expected_dir.is_dir()
        else {}
    )
    report = [f"missing from the render: {n}" for n in sorted(set(expected) - set(actual))]
    report += [f"not in the golden files: {n}" for n in sorted(set(actual) - set(expected))]
    for name in sorted(set(expected) & set(actual)):
        if expected[name] != actual[name]:
            report.extend(
                difflib.unified_diff(
                    expected[name].splitlines(keepends=True),
                    actual[name].splitlines(keepends=True),
                    fromfile=f"golden/{name}",
                    tofile=f"rendered/{name}",
                )
            )
    return report


def test_every_shipped_environment_has_a_golden() -> None:
    shipped = list_environments(ROOT)
    assert {"dev", "staging", "prod"} <= set(shipped)
    assert sorted(p.name for p in GOLDEN.iterdir() if p.is_dir()) == shipped


@pytest.mark.parametrize(
    ("root", "golden", "name"),
    [(ROOT, GOLDEN, n) for n in list_environments(ROOT)]
    + [(EXAMPLE, EXAMPLE_GOLDEN, n) for n in list_environments(EXAMPLE)],
    ids=[*list_environments(ROOT), *(f"event-pipeline/{n}" for n in list_environments(EXAMPLE))],
)
def test_golden(root: Path, golden: Path, name: str, update_golden: bool) -> None:
    actual = _render(name, root)
    folder = golden / name
    if update_golden:
        if folder.is_dir():
            shutil.rmtree(folder)
        for file, text in actual.items():
            (folder / file).parent.mkdir(parents=True, exist_ok=True)
            (folder / file).write_text(text, encoding="utf-8", newline="\n")
        return
    report = diff_tree(folder, actual)
    assert not report, (
        "".join(line if line.endswith("\n") else line + "\n" for line in report) + HINT
    )


def test_render_is_deterministic() -> None:
    for name in list_environments(ROOT):
        assert _render(name) == _render(name)
