"""Templates resolve only to regular files inside templates/; a broken one is an error."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import ENGINE_STACK, write_tree
from tests.security.helpers import run, snapshot

LEAKED_TEXT = "top-secret-value-0042"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "p"
    write_tree(root, ENGINE_STACK)
    assert run(root, "render", "dev").exit_code == 0
    return root


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    path = tmp_path / "secret.txt"
    path.write_text(f"# {LEAKED_TEXT}\n")
    return path


def test_an_included_link_is_refused_and_nothing_leaks(project: Path, secret: Path) -> None:
    (project / "templates/_leak.j2").symlink_to(secret)
    main = project / "templates/main.tf.j2"
    main.write_text('{% include "_leak.j2" %}\n' + main.read_text())
    before = snapshot(project / "out")
    result = run(project, "render", "dev")
    assert result.exit_code == 1
    assert result.lines == [
        "error: templates/main.tf.j2:1: template error: _leak.j2: a link (links are refused)"
    ]
    assert snapshot(project / "out") == before
    assert all(LEAKED_TEXT.encode() not in data for data in before.values())


def test_an_import_outside_templates_names_the_line_and_why(project: Path) -> None:
    main = project / "templates/main.tf.j2"
    main.write_text('\n{% import "../README.md" as readme %}\n' + main.read_text())
    (project / "README.md").write_text("{% macro x() %}x{% endmacro %}\n")
    result = run(project, "render", "dev")
    assert result.exit_code == 1
    assert result.lines == [
        "error: templates/main.tf.j2:2: template error: ../README.md: not a template inside "
        "templates/ (no '..' or absolute names)"
    ]


def test_a_folder_link_on_the_way_is_refused(project: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x.j2").write_text(LEAKED_TEXT)
    (project / "templates/_parts").symlink_to(outside)
    main = project / "templates/main.tf.j2"
    main.write_text('{% include "_parts/x.j2" %}\n' + main.read_text())
    result = run(project, "render", "dev")
    assert result.exit_code == 1
    assert result.first == (
        "error: templates/main.tf.j2:1: template error: _parts/x.j2: a link (links are refused)"
    )


@pytest.mark.parametrize("kind", ["outside-link", "dangling-link", "fifo", "dev-zero", "folder"])
def test_a_top_level_template_that_is_not_a_regular_file_is_an_error(
    project: Path, secret: Path, kind: str
) -> None:
    name = "main.tf.j2"
    path = project / "templates" / name
    path.unlink()
    if kind == "outside-link":
        path.symlink_to(secret)
    elif kind == "dangling-link":
        path.symlink_to(project / "missing.j2")
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "dev-zero":
        path.symlink_to("/dev/zero")
    else:
        path.mkdir()
    before = snapshot(project / "out")
    assert "dev/main.tf" in before
    result = run(project, "render", "dev")
    assert result.exit_code == 1
    what = "a link" if "link" in kind or kind == "dev-zero" else "not a regular file"
    assert result.lines == [
        f"error: templates/{name}: a template must be a regular file; this is {what}"
    ]
    assert snapshot(project / "out") == before  # out/dev/main.tf was not removed
