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
HINT = "If the change is intended, run `pytest tests/test_golden.py --update-golden` and review."


def _render(name: str) -> dict[str, str]:
    """Every file of the environment, by its path under ``out/<env>/``."""
    units = render_units(load_project(ROOT), name, out_root=ROOT / "out", environ=GOLDEN_ENVIRON)
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


@pytest.mark.parametrize("name", list_environments(ROOT))
def test_golden(name: str, update_golden: bool) -> None:
    actual = _render(name)
    folder = GOLDEN / name
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
