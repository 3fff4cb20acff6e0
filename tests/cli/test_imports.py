"""Light commands stay light: no Jinja, no HCL parser, no schema validator.

`tfgen --help` must answer in a fraction of a second (issue 7); importing jinja2, lark and
python-hcl2 alone costs more than the interpreter start. Each command runs in a fresh
interpreter, so modules imported by other tests cannot hide or fake an import.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import GOLDEN_ENVIRON, ROOT

PROBE = """\
import sys
from generator.cli.app import main
try:
    main(sys.argv[1:])
except SystemExit as exit:
    code = exit.code
else:
    code = 0
heavy = sorted(m for m in ("jinja2", "lark", "hcl2", "jsonschema_rs", "yaml") if m in sys.modules)
print("exit=%s imported=%s" % (code, ",".join(heavy)), file=sys.stderr)
"""


def imported_by(args: list[str], cwd: Path) -> tuple[str, set[str]]:
    """Run ``tfgen ARGS`` in a fresh interpreter; its exit code and the heavy modules loaded."""
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        cwd=cwd,
        env={"PATH": "/usr/bin:/bin", "TFGEN_NO_CACHE": "1", **GOLDEN_ENVIRON},
        capture_output=True,
        text=True,
        check=False,
    )
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("exit="), proc.stderr
    code, _, modules = last.removeprefix("exit=").partition(" imported=")
    return code, {m for m in modules.split(",") if m}


@pytest.mark.parametrize(
    "args",
    [["--help"], ["--version"], ["render", "--help"], ["check", "--help"], ["list", "--help"]],
)
def test_help_imports_no_heavy_module(args: list[str]) -> None:
    code, heavy = imported_by(args, ROOT)
    assert code == "0"
    assert heavy == set()


def test_list_does_not_import_jinja_or_the_hcl_parser(project: Path) -> None:
    code, heavy = imported_by(["list", "--project-dir", str(project)], project)
    assert code == "0"
    assert not heavy & {"jinja2", "lark", "hcl2"}


def test_render_does_import_them(project: Path, tmp_path: Path) -> None:
    # The probe itself must be able to see a heavy import, or the tests above prove nothing.
    out = tmp_path / "out"
    code, heavy = imported_by(
        ["render", "dev", "--project-dir", str(project), "--out", str(out)], project
    )
    assert code == "0"
    assert {"jinja2", "lark", "hcl2", "jsonschema_rs"} <= heavy
