"""Packaging: the wheel carries every subpackage and the package data, and renders a project.

The wheel is built from this checkout, installed (without its dependencies) into a fresh
virtualenv, and run through its own ``tfgen`` console script. The dependencies come from
the test environment's site-packages through a ``.pth`` line: a path added that way is not
a site folder, so the editable install of this checkout that lives there is not loaded,
and ``generator`` can only come from the wheel.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

from tests.conftest import GOLDEN_ENVIRON, ROOT

PACKAGE = ROOT / "generator"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("wheel")
    build = tmp_path_factory.mktemp("wheel-src")
    # Build from a copy: pip's build writes build/ and *.egg-info beside the sources.
    shutil.copytree(
        ROOT,
        build / "src",
        ignore=shutil.ignore_patterns(".venv*", ".git", "out", "__pycache__", "*.egg-info"),
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            str(build / "src"),
            "-w",
            str(target),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (found,) = target.glob("tfgen-*.whl")
    return found


def test_the_wheel_carries_every_module_and_the_package_data(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {p.relative_to(ROOT).as_posix() for p in PACKAGE.rglob("*.py")}
    expected |= {
        p.relative_to(ROOT).as_posix() for p in (PACKAGE / "data").rglob("*") if p.is_file()
    }
    assert expected - names == set()
    assert any(n.endswith("LICENSE") for n in names)


def test_the_installed_wheel_renders_a_project(wheel: Path, tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)  # its own pip: the console script runs its python
    python = env_dir / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    # The dependencies (jinja2, python-hcl2, click, ...) from the test environment.
    (site / "tfgen-test-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    project = tmp_path / "project"
    for folder in ("environments", "templates"):
        shutil.copytree(ROOT / folder, project / folder)
    where = subprocess.run(
        [str(python), "-c", "import generator, sys; print(generator.__file__)"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    ).stdout.strip()
    assert Path(where).is_relative_to(env_dir), where
    result = subprocess.run(
        [str(env_dir / "bin" / "tfgen"), "--project-dir", str(project), "render", "dev"],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "TFGEN_NO_CACHE": "1", **GOLDEN_ENVIRON},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    golden, out = ROOT / "tests" / "golden" / "dev", project / "out" / "dev"
    expected = {p.relative_to(golden).as_posix(): p.read_bytes() for p in golden.rglob("*.*")}
    written = {
        p.relative_to(out).as_posix(): p.read_bytes()
        for p in out.rglob("*")
        if p.is_file() and not p.name.startswith(".tfgen")
    }
    assert written == expected
