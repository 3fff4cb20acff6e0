"""Marked renders: unmarked, the render itself; each line traced to the template that wrote it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from generator.cli.app import cli
from generator.engine.marks import CALL, INCLUDE, OUTPUT, TEXT, Site, traced_lines
from generator.engine.render import RenderedFiles, render_environment
from generator.engine.sandbox import make_env
from generator.errors import EXIT_VERIFY
from generator.project import load_project
from tests.conftest import ENGINE_STACK, GOLDEN_ENVIRON, keep_one_root, write_tree


@pytest.fixture(autouse=True)
def _fresh_environments() -> Iterator[None]:
    yield
    make_env.cache_clear()


def _both(root: Path, name: str, **context: object) -> tuple[str, str]:
    plain = make_env(root).get_template(name).render(**context)
    marked = make_env(root, marked=True).get_template(name).render(**context)
    return plain, marked


# Every way a template writes text: literal lines, blank lines, values over several lines,
# whitespace control, raw, loops, set blocks, filter blocks, call blocks with caller(), a
# macro of another file indented by a filter, an include in a loop, extends and blocks.
TRICKY = {
    "_macros.j2": (
        "{% macro pair(k, v) %}\n"  # 1
        "{{ k }} = {{ v }}\n"  # 2
        "\n"  # 3
        "# after {{ k }}\n"  # 4
        "{% endmacro %}\n"  # 5
        "{% macro wrap() %}\n"  # 6
        "w {\n"  # 7
        "{{ caller() }}}\n"  # 8
        "{% endmacro %}\n"  # 9
    ),
    "_part.j2": "part {{ i }}\n\npart end\n",
    "_base.j2": "base 1\n{% block body %}default\n{% endblock %}\nbase 4\n",
    "child.j2": '{% extends "_base.j2" %}\n{% block body %}child 2\n{% endblock %}\n',
    "main.j2": (
        '{% import "_macros.j2" as m %}\n'  # 1
        "a = {{ 'x\\ny' }}\n"  # 2
        "\n"  # 3
        "{% if true %}\n"  # 4
        "b\n"  # 5
        "{% endif %}\n"  # 6
        "c {{- ' d' }}\n"  # 7
        "{% raw %}{{ e }}{% endraw %} raw\n"  # 8
        "{% for i in [1, 2] %}\n"  # 9
        '{% include "_part.j2" %}\n'  # 10
        "{% endfor %}\n"  # 11
        "{% set block %}\n"  # 12
        "set line\n"  # 13
        "{% endset %}\n"  # 14
        "{{ block }}{% filter upper %}\n"  # 15
        "shout\n"  # 16
        "{% endfilter %}\n"  # 17
        "{% call m.wrap() %}\n"  # 18
        "  inner\n"  # 19
        "{% endcall %}\n"  # 20
        "  {{ m.pair('k', 1) | indent(2) }}\n"  # 21
        "end\n"  # 22
    ),
}


def test_a_marked_render_unmarked_is_the_render(tmp_path: Path) -> None:
    write_tree(tmp_path, TRICKY)
    for name in ("main.j2", "child.j2"):
        plain, marked = _both(tmp_path, name)
        traced = traced_lines(marked)
        assert traced is not None, name
        assert traced[0] == plain, name


def test_each_line_is_traced_to_the_line_that_wrote_it(tmp_path: Path) -> None:
    write_tree(tmp_path, TRICKY)
    _plain, marked = _both(tmp_path, "main.j2")
    traced = traced_lines(marked)
    assert traced is not None
    text, traces = traced
    assert len(traces) == text.count("\n") + 1
    written = [
        (line, trace[-1].template, trace[-1].line, [s for s in trace if s.kind != TEXT])
        for line, trace in zip(text.split("\n"), traces, strict=True)
        if line.strip() and trace
    ]
    include = Site(INCLUDE, "main.j2", 10)
    wrap, caller = Site(CALL, "main.j2", 18), Site(CALL, "_macros.j2", 8)
    pair = Site(CALL, "main.j2", 21)
    assert written == [
        ("a = x", "main.j2", 2, []),
        ("y", "main.j2", 2, [Site(OUTPUT, "main.j2", 2)]),  # a value over two lines
        ("b", "main.j2", 5, []),
        ("c d", "main.j2", 7, []),
        ("{{ e }} raw", "main.j2", 8, []),
        ("part 1", "_part.j2", 1, [include]),
        ("part end", "_part.j2", 3, [include]),
        ("part 2", "_part.j2", 1, [include]),
        ("part end", "_part.j2", 3, [include]),
        ("set line", "main.j2", 13, [Site(OUTPUT, "main.j2", 15)]),
        ("SHOUT", "main.j2", 16, []),
        ("w {", "_macros.j2", 7, [wrap]),
        ("  inner", "main.j2", 19, [wrap, caller]),  # the call block's body, via caller()
        ("}", "_macros.j2", 8, [wrap]),
        ("  k = 1", "_macros.j2", 2, [pair, Site(OUTPUT, "_macros.j2", 2)]),
        ("  # after k", "_macros.j2", 4, [pair]),  # indented by the filter
        ("end", "main.j2", 22, []),
    ]


def test_extends_and_blocks_are_traced(tmp_path: Path) -> None:
    write_tree(tmp_path, TRICKY)
    _plain, marked = _both(tmp_path, "child.j2")
    traced = traced_lines(marked)
    assert traced is not None
    text, traces = traced
    assert text == "base 1\nchild 2\nbase 4\n"
    assert [t[-1] if t else None for t in traces[:3]] == [
        Site(TEXT, "_base.j2", 1),
        Site(TEXT, "child.j2", 2),
        Site(TEXT, "_base.j2", 4),
    ]


def test_marks_that_do_not_nest_or_text_of_its_own_are_not_trusted() -> None:
    assert traced_lines("a\ue002") is None
    assert traced_lines("private \ue000 character") is None


def test_the_shipped_network_traces_its_macro_and_include(project: Path) -> None:
    root = keep_one_root(project)
    for name in ("dev", "prod"):
        loaded = load_project(root).load_environment(name, environ=GOLDEN_ENVIRON)
        files = render_environment(load_project(root).stack, loaded.config, source=loaded.source)
        assert isinstance(files, RenderedFiles)
        network = files["network.tf"].split("\n")
        found = {
            (o.path, o.via[-1] if o.via else "")
            for number in range(1, len(network) + 1)
            if (o := files.origin("network.tf", number)) is not None
        }
        assert ("templates/_log_group_skips.j2", "included from templates/network.tf.j2:153") in (
            found
        ) or name == "prod"  # prod keeps its logs a year: no skip is written
        if loaded.config.values["kms"]["enabled"]:
            assert ("templates/_kms.j2", "called from templates/network.tf.j2:141") in found
        assert ("templates/network.tf.j2", "") in found


FILTERED = {
    "templates/_macros.j2": "{% macro value() %}= 2{% endmacro %}\n",
    "templates/main.tf.j2": (
        '{% import "_macros.j2" as macros %}\nlocals {\n  b = {{ macros.value() | center(5) }}\n}\n'
    ),
}


def test_marks_a_filter_moves_fall_back_to_the_calling_line(
    tmp_path: Path, runner: CliRunner
) -> None:
    # `| center` pads by the text's length, which the marks change: the marked render is
    # not the render, so the error is located as without marks, at the calling line
    write_tree(tmp_path, {**ENGINE_STACK, **FILTERED})
    result = runner.invoke(cli, ["render", "dev", "--project-dir", str(tmp_path)])
    assert result.exit_code == EXIT_VERIFY
    assert result.stderr.startswith(
        "error: templates/main.tf.j2:3: rendered file is not valid HCL (column "
    ), result.stderr
    assert result.stderr.endswith("[out/dev/main.tf:5, not written: b =  = 2]\n")


def test_a_trimmed_macro_is_traced(tmp_path: Path, runner: CliRunner) -> None:
    macros = "{% macro body() %}\n  a = 1\n  b = = 2\n{% endmacro %}\n"
    main = '{% import "_macros.j2" as macros %}\nlocals {\n  {{ macros.body() | trim }}\n}\n'
    write_tree(tmp_path, {**ENGINE_STACK, "templates/_macros.j2": macros})
    (tmp_path / "templates" / "main.tf.j2").write_text(main, encoding="utf-8")
    result = runner.invoke(cli, ["render", "dev", "--project-dir", str(tmp_path)])
    assert result.exit_code == EXIT_VERIFY
    assert result.stderr == (
        "error: templates/_macros.j2:3: rendered file is not valid HCL (column 7) "
        "(called from templates/main.tf.j2:3) [out/dev/main.tf:6, not written: b = = 2]\n"
    )
