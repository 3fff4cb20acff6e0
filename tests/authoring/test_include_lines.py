"""Errors in rendered text name the line of the template that wrote it, included or called.

A line that an ``{% include %}``d template or a macro of another file wrote is reported at
that template's own line, with the line that included or called it; the including
template's own lines still name it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from generator.cli.app import cli
from generator.errors import EXIT_VERIFY
from tests.conftest import ENGINE_STACK, write_tree

H = 3  # the header's lines before the rendered text in every output file

# main.tf.j2 of the inline stack: a multi-line value (tags) before the include, so that an
# output line is never its template line plus a constant.
MAIN = """\
resource "aws_vpc" "main" {
  cidr_block = {{ env.network.vpc_cidr | hcl }}
  tags       = {{ env.tags | hcl(indent=2) }}
}

locals {
  a = 1
{% include "_part.j2" %}
}
"""
TAGS_LINES = 2  # lines that the tags map adds to the output (it spans three)
INCLUDE_LINE = 8


def _render(root: Path, runner: CliRunner, files: dict[str, str]) -> tuple[int, str]:
    write_tree(root, {**ENGINE_STACK, **files})
    result = runner.invoke(cli, ["render", "dev", "--project-dir", str(root)])
    assert not (root / "out" / "dev").exists()
    return result.exit_code, result.stderr


@pytest.mark.parametrize(
    ("part", "line", "message", "shown"),
    [
        pytest.param(
            "  # one part of main.tf\n  b = 2\n  c = = 3\n",
            3,
            "rendered file is not valid HCL (column 5)",
            "c = = 3",
            id="invalid-hcl",
        ),
        pytest.param(
            "  b = 2\n  a = 3\n",
            2,
            f"locals.a: set twice (first at templates/main.tf.j2:7, "
            f"out/dev/main.tf:{H + 7 + TAGS_LINES})",
            "a = 3",
            id="set-twice-second-in-the-include",
        ),
        pytest.param(
            "  b = 2\n\n  c = aws_s3_bucket.site.id\n",
            3,
            "aws_s3_bucket.site.id: no resource block declares 'aws_s3_bucket.site'",
            "c = aws_s3_bucket.site.id",
            id="reference-to-nothing",
        ),
        pytest.param(
            "  b = 2\n  # {% raw %}{{ env.name }}{% endraw %} here\n",
            2,
            "leftover template syntax ('{{', '{%' or '{#') outside a string",
            "# {{ env.name }} here",
            id="leftover-template-syntax",
        ),
    ],
)
def test_an_error_in_an_included_template_names_its_line(
    tmp_path: Path, runner: CliRunner, part: str, line: int, message: str, shown: str
) -> None:
    code, stderr = _render(
        tmp_path, runner, {"templates/main.tf.j2": MAIN, "templates/_part.j2": part}
    )
    assert code == EXIT_VERIFY
    output_line = H + INCLUDE_LINE + TAGS_LINES + line - 1
    assert stderr == (
        f"error: templates/_part.j2:{line}: {message} "
        f"(included from templates/main.tf.j2:{INCLUDE_LINE}) "
        f"[out/dev/main.tf:{output_line}, not written: {shown}]\n"
    )


MACROS = """\
{# macros that main.tf.j2 imports #}
{% macro policy(name) %}
  {{ name }} = {
    Version = "2012-10-17"
    Bad     = = 1
  }
{% endmacro %}
"""
CALLER = """\
{% import "_macros.j2" as macros %}
locals {
  a = 1
{{ macros.policy("p") }}
}
"""


def test_an_error_in_a_macro_of_another_template_names_the_macro_line(
    tmp_path: Path, runner: CliRunner
) -> None:
    code, stderr = _render(
        tmp_path, runner, {"templates/main.tf.j2": CALLER, "templates/_macros.j2": MACROS}
    )
    assert code == EXIT_VERIFY
    assert stderr == (
        "error: templates/_macros.j2:5: rendered file is not valid HCL (column 15) "
        "(called from templates/main.tf.j2:4) "
        f"[out/dev/main.tf:{H + 5}, not written: Bad     = = 1]\n"
    )


def test_an_include_inside_a_macro_names_both_sites(tmp_path: Path, runner: CliRunner) -> None:
    macros = '{% macro body() %}\n  x = 1\n{% include "_part.j2" %}\n{% endmacro %}\n'
    caller = '{% import "_macros.j2" as macros %}\nlocals {\n{{ macros.body() }}\n}\n'
    code, stderr = _render(
        tmp_path,
        runner,
        {
            "templates/main.tf.j2": caller,
            "templates/_macros.j2": macros,
            "templates/_part.j2": "  y = 2\n  z = = 3\n",
        },
    )
    assert code == EXIT_VERIFY
    assert stderr == (
        "error: templates/_part.j2:2: rendered file is not valid HCL (column 5) "
        "(included from templates/_macros.j2:3, called from templates/main.tf.j2:3) "
        f"[out/dev/main.tf:{H + 4}, not written: z = = 3]\n"
    )


OWN_LINES = """\
locals {
{% include "_part.j2" %}
{% if env.network.nat_per_az %}
  z = = 1
{% endif %}
  z = = 1
}
"""


def test_the_including_templates_own_lines_still_name_it(tmp_path: Path, runner: CliRunner) -> None:
    # the bad line's text is also on line 4, which renders nothing: its line is 6
    code, stderr = _render(
        tmp_path,
        runner,
        {"templates/main.tf.j2": OWN_LINES, "templates/_part.j2": "  a = 1\n  b = 2\n"},
    )
    assert code == EXIT_VERIFY
    assert stderr == (
        "error: templates/main.tf.j2:6: rendered file is not valid HCL (column 7) "
        f"[out/dev/main.tf:{H + 4}, not written: z = = 1]\n"
    )


SAME_FILE_MACRO = """\
{% macro block(name) %}
locals {
  {{ name }} = 1
  {{ name }} = 2
}
{% endmacro %}
{{ block("x") }}
"""


def test_a_macro_of_the_same_template_names_its_body_line(
    tmp_path: Path, runner: CliRunner
) -> None:
    code, stderr = _render(tmp_path, runner, {"templates/main.tf.j2": SAME_FILE_MACRO})
    assert code == EXIT_VERIFY
    assert stderr == (
        "error: templates/main.tf.j2:4: locals.x: set twice "
        f"(first at templates/main.tf.j2:3, out/dev/main.tf:{H + 2}) "
        "(called from templates/main.tf.j2:7) "
        f"[out/dev/main.tf:{H + 3}, not written: x = 2]\n"
    )
