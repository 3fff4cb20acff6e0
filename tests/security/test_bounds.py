"""Every evaluator is bounded in memory and time; each failure is one located line."""

from __future__ import annotations

import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

from generator.engine import validate
from tests.conftest import ENGINE_STACK, write_tree
from tests.security.helpers import run

GIANTS = {
    "ljust": "'x'.ljust(2**30)",
    "rjust": "'x'.rjust(2**30)",
    "center": "'x'.center(2**30)",
    "zfill": "'1'.zfill(2**30)",
    "format": "'{:>1073741824}'.format(1)",
    "format-precision": "'{:.1073741824f}'.format(1.0)",
    "format-nested": "'{:>{w}}'.format(1, w=2**30)",
    "percent": "'%1073741824d' % 1",
    "percent-star": "'%*d' % (2**30, 1)",
    "expandtabs": "('\\t' * 1000).expandtabs(2**20)",
    "replace": "('x' * 100000).replace('x', 'y' * 100000)",
    "join": "('x' * 100000).join(['a'] * 100000)",
    "join-range": "('x' * 100000).join(range(100000) | map('string'))",
    "center-filter": "'x' | center(2**30)",
    "indent-filter": "('x\\n' * 100000) | indent(100000)",
    "format-filter": "'%1073741824d' | format(1)",
    "replace-filter": "('x' * 100000) | replace('x', 'y' * 100000)",
    "join-filter": "(['x' * 100000] * 100) | join('y')",
    "compile-time-percent": "'%0999999999d' % 1",
}


def project_with(tmp_path: Path, stack_yaml: str, main: str | None = None) -> Path:
    root = tmp_path / "p"
    write_tree(root, ENGINE_STACK)
    (root / "templates/stack.yaml").write_text(stack_yaml)
    if main is not None:
        (root / "templates/main.tf.j2").write_text(main)
    return root


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.mark.parametrize("expression", GIANTS.values(), ids=GIANTS.keys())
def test_a_giant_derived_value_is_a_located_error(tmp_path: Path, expression: str) -> None:
    project = project_with(tmp_path, f'derived:\n  big: "{expression}"\n')
    started = time.monotonic()
    result = run(project, "validate", "dev")
    assert time.monotonic() - started < 10
    assert result.exit_code == 1
    assert len(result.lines) == 1
    assert result.first.startswith("error: templates/stack.yaml:2: derived.big: cannot be ")
    assert "OverflowError" in result.first or "MemoryError" in result.first
    assert peak_mib() < 1024


@pytest.mark.parametrize("expression", GIANTS.values(), ids=GIANTS.keys())
def test_a_giant_in_a_template_is_a_located_error(tmp_path: Path, expression: str) -> None:
    main = "# one\n{{ (" + expression.replace("\\\\", "\\") + ")[:3] }}\n"
    project = project_with(tmp_path, "{}\n", main)
    result = run(project, "render", "dev")
    assert result.exit_code == 1
    assert len(result.lines) == 1
    assert result.first.startswith("error: templates/main.tf.j2:2: template error: ")
    assert peak_mib() < 1024
    assert not (project / "out").exists()


def test_a_list_nested_too_deep_is_a_located_error(tmp_path: Path) -> None:
    project = project_with(tmp_path, 'derived:\n  deep: "' + "[" * 100 + "]" * 100 + '"\n')
    result = run(project, "validate", "dev")
    assert result.exit_code == 1
    assert result.lines == [
        "error: templates/stack.yaml:2: derived.deep: expression syntax error: "
        "nested too deeply to compile"
    ]


def test_a_slow_derived_value_is_stopped_at_its_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(validate, "RENDER_SECONDS", 0.2)
    slow = "range(99999)" + " | map('string')" * 60 + " | list | length"
    project = project_with(tmp_path, f'derived:\n  quick: "1"\n  slow: "{slow}"\n')
    result = run(project, "validate", "dev")
    assert result.exit_code == 1
    assert result.lines == [
        "error: templates/stack.yaml:3: derived.slow: evaluating it took longer than 0.2 s "
        "(the bound)"
    ]


def test_the_memory_ceiling_turns_a_huge_allocation_into_memory_error() -> None:
    probe = (
        "import resource\n"
        "from generator.cli.limits import memory_ceiling\n"
        "before = resource.getrlimit(resource.RLIMIT_AS)\n"
        "with memory_ceiling(256 * 1024**2):\n"
        "    try:\n"
        "        bytearray(1024**3)\n"
        "    except MemoryError:\n"
        "        print('refused')\n"
        "    else:\n"
        "        print('allocated')\n"
        "print(resource.getrlimit(resource.RLIMIT_AS) == before)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.stdout.split() == ["refused", "True"], done.stderr


def test_the_output_bound_names_the_line_producing_it(tmp_path: Path) -> None:
    main = "# a\n{% for i in range(100) %}\n{{ 'x' * 999999 }}\n{% endfor %}\n"
    project = project_with(tmp_path, "{}\n", main)
    result = run(project, "render", "dev")
    assert result.exit_code == 1
    assert result.lines == [
        "error: templates/main.tf.j2:3: template output passes the file bound of 4194304 characters"
    ]


def test_the_cli_process_runs_under_the_ceiling_and_puts_it_back() -> None:
    probe = (
        "import resource\n"
        "from generator.cli import app\n"
        "before = resource.getrlimit(resource.RLIMIT_AS)\n"
        "seen = []\n"
        "app.cli.main = lambda **_: seen.append(resource.getrlimit(resource.RLIMIT_AS)[0])\n"
        "app.main([])\n"
        "print(before[0] == resource.RLIM_INFINITY, seen[0] != resource.RLIM_INFINITY,\n"
        "      resource.getrlimit(resource.RLIMIT_AS) == before)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.stdout.split() == ["True", "True", "True"], done.stderr
