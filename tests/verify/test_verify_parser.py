"""The HCL parse (python-hcl2's parser without node positions) equals hcl2.loads exactly."""

from __future__ import annotations

import hcl2
import hcl2.parser
import pytest
from lark.exceptions import UnexpectedInput
from lark.parse_tree_builder import PropagatePositions

from generator.errors import VerifyError
from generator.inputs.environment import list_environments
from generator.project import load_project
from generator.verify.hclparse import _frontend, _hcl_loads, _rule_transformer
from generator.verify.rules import parse_hcl
from tests.conftest import GOLDEN_ENVIRON, ROOT, render_files

BROKEN = {
    "missing value": "a = \n",
    "double equals": 'resource "x" "y" {\n  a = 1\n  b = = 2\n}\n',
    "unterminated string": 'x = "unterminated\n',
    "stray brace": "a = 1\n}\n",
    "unclosed block": 'terraform {\n  backend "s3" {}\n',
    "bad interpolation": 'a = "${var.x"\n',
    "label without block": 'resource "a" "b"\n',
}


def rendered_texts() -> dict[str, str]:
    """Every file of every shipped environment, as rendered now."""
    texts: dict[str, str] = {}
    for name in list_environments(ROOT):
        project = load_project(ROOT)
        loaded = project.load_environment(name, environ=GOLDEN_ENVIRON)
        files = render_files(project, loaded.config, loaded.source)
        texts.update({f"{name}/{file}": text for file, text in files.items()})
    return texts


def test_parse_equals_hcl2_loads_on_every_rendered_file() -> None:
    texts = rendered_texts()
    assert texts
    for label, text in texts.items():
        assert _hcl_loads()(text) == hcl2.loads(text), label


def test_parse_equals_hcl2_loads_on_comments_heredocs_and_expressions() -> None:
    text = (
        "# header\n// other\n/* block */\n"
        "locals {\n  a = <<-EOT\n    x ${var.y}\n  EOT\n"
        '  b = [for s in var.l : upper(s) if s != ""]\n'
        '  c = { "k" = 1, d = var.m ? 2 : 3 }\n  e = "%{if true}y%{endif}"\n}\n'
    )
    assert _hcl_loads()(text) == hcl2.loads(text)


@pytest.mark.parametrize("text", BROKEN.values(), ids=BROKEN.keys())
def test_syntax_errors_are_reported_where_hcl2_loads_reports_them(text: str) -> None:
    with pytest.raises(UnexpectedInput) as expected:
        hcl2.loads(text)
    line, column = expected.value.line, expected.value.column
    with pytest.raises(VerifyError) as got:
        parse_hcl("out/dev/main.tf", text)
    (problem,) = got.value.problems
    assert problem.path == "out/dev/main.tf"
    assert problem.line == (line if line not in (None, -1) else None)
    if column not in (None, -1):
        assert f"(column {column})" in problem.message


def test_the_fast_path_is_in_use_and_leaves_python_hcl2_parser_alone() -> None:
    # Fails if a lark upgrade moved the internals: verification still works (plain
    # hcl2.loads), but a quarter of its speed is lost; update generator/_hclparse.py.
    loads = _hcl_loads()
    assert loads is not hcl2.loads
    frontend = _frontend()
    assert frontend is not None
    ours = frontend.parser.parser.callbacks.values()
    assert not any(isinstance(cb, PropagatePositions) for cb in ours)
    theirs = hcl2.parser.parser().parser.parser.parser.callbacks.values()
    assert any(isinstance(cb, PropagatePositions) for cb in theirs)


def test_golden_outputs_parse_the_same() -> None:
    files = [p for p in (ROOT / "tests" / "golden").rglob("*") if p.suffix in (".tf", ".hcl")]
    assert files
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert _hcl_loads()(text) == hcl2.loads(text), path


def test_the_transformer_has_its_rule_methods_bound_once() -> None:
    # Same bound wrapper on every lookup: no rebuild per tree node (see _rule_transformer).
    transformer = _rule_transformer()()
    assert transformer.body is transformer.body
    assert transformer.attribute is transformer.attribute
    assert vars(transformer).keys() >= {"body", "attribute", "block"}
