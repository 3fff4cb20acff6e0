"""${env:NAME} references: set, unset, empty, whitespace, defaults and escapes."""

from __future__ import annotations

import pytest

from generator.inputs.interpolate import interpolate_string, interpolate_tree


@pytest.mark.parametrize(
    ("raw", "environ", "expected"),
    [
        ("${env:A}", {"A": "x"}, "x"),
        ("pre-${env:A}-post", {"A": "x"}, "pre-x-post"),
        ("${env:A:-dflt}", {}, "dflt"),
        ("${env:A:-dflt}", {"A": ""}, "dflt"),
        ("${env:A:-dflt}", {"A": "  "}, "dflt"),
        ("${env:A:-}", {}, ""),
        ("${env:A:-http://h:5000}", {}, "http://h:5000"),
        ("$${env:A}", {}, "${env:A}"),
        ("${var.other}", {}, "${var.other}"),
        ("%{ if }", {}, "%{ if }"),
        ("${env:A}${env:B}", {"A": "1", "B": "2"}, "12"),
    ],
)
def test_resolves(raw: str, environ: dict[str, str], expected: str) -> None:
    assert interpolate_string(raw, environ) == (expected, [])


@pytest.mark.parametrize(
    ("environ", "state"),
    [({}, "is not set"), ({"A": ""}, "is empty"), ({"A": " \t\n"}, "is empty")],
)
def test_missing_values_are_errors(environ: dict[str, str], state: str) -> None:
    _, problems = interpolate_string("${env:A}", environ)
    assert len(problems) == 1
    assert "A" in problems[0]
    assert state in problems[0]


_EXPECTED = "expected ${env:NAME} or ${env:NAME:-default}"


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("${env:}", f"malformed reference '${{env:}}': {_EXPECTED}"),
        ("${env:1A}", f"malformed reference '${{env:1A}}': {_EXPECTED}"),
        ("${env:A-B}", f"malformed reference '${{env:A-B}}': {_EXPECTED}"),
        ("${env:A", "unterminated ${env:...} reference (missing '}')"),
    ],
)
def test_malformed_references_are_errors(raw: str, problem: str) -> None:
    value, problems = interpolate_string(raw, {"A": "x"})
    assert problems == [problem]
    assert value == raw  # left as written: the error, not a guess, is what the user sees


def test_lenient_mode_keeps_the_reference() -> None:
    assert interpolate_string("${env:A}", {}, strict=False) == ("${env:A}", [])


def test_tree_reports_file_line_and_key() -> None:
    data = {"backend": {"bucket": "${env:B}"}, "list": ["${env:C:-c}"]}
    out, problems = interpolate_tree(data, {}, lambda path: ("f.yaml", len(path)))
    assert out == {"backend": {"bucket": "${env:B}"}, "list": ["c"]}
    assert [str(p) for p in problems] == [
        "f.yaml:2: backend.bucket: environment variable B is not set "
        "(set it, or give a default with ${env:B:-value})"
    ]
