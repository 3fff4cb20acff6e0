"""The HCL filters: every value becomes an HCL literal, never a Python repr."""

from __future__ import annotations

import hcl2
import pytest

from generator.engine.filters import FILTERS, hcl, hcl_attrs, hcl_key, hcl_string
from generator.verify.rules import decode_hcl_string


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("plain", '"plain"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("back\\slash", '"back\\\\slash"'),
        ("line\nbreak\r\ttab", '"line\\nbreak\\r\\ttab"'),
        ("${var.x}", '"$${var.x}"'),
        ("%{ if x }", '"%%{ if x }"'),
        ("unclosed ${ here", '"unclosed \\u0024{ here"'),
        ("%{", '"\\u0025{"'),
        ("$${already}", '"$$${already}"'),
        ("bell\x07", '"bell\\u0007"'),
        ("del\x7f", '"del\\u007f"'),
        ("sep\u2028", '"sep\\u2028"'),
        ("zero\u200bwidth", '"zero\\u200bwidth"'),
        ("rlm\u200f", '"rlm\\u200f"'),
        ("\u202eoverride", '"\\u202eoverride"'),
        ("iso\u2066late\u2069", '"iso\\u2066late\\u2069"'),
        ("\ufeffbom", '"\\ufeffbom"'),
        ("arabic\u061cmark", '"arabic\\u061cmark"'),
        ("nbsp\u00a0kept", '"nbsp\u00a0kept"'),
        ("émoji 😀", '"émoji 😀"'),
        ("", '""'),
    ],
)
def test_hcl_string_escapes(value: str, expected: str) -> None:
    assert hcl_string(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "${x}",
        "%{x}",
        "$${x}",
        "a\\${b}",
        '"${x}"\n',
        "\\",
        "$",
        "%",
        "${",
        "}",
        "a\u200b\u202e\u2066\ufeff\u061cb",
    ],
)
def test_hcl_string_round_trips_through_the_parser(value: str) -> None:
    parsed = hcl2.loads(f"x = {hcl_string(value)}\n")["x"]
    assert decode_hcl_string(parsed) == value


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, "true"),
        (False, "false"),
        (None, "null"),
        (3, "3"),
        (-2, "-2"),
        (1.5, "1.5"),
        (["a", 1, True, None], '["a", 1, true, null]'),
        ([], "[]"),
        ({}, "{}"),
    ],
)
def test_hcl_scalars_and_lists(value: object, expected: str) -> None:
    assert hcl(value) == expected


def test_hcl_never_emits_a_python_repr() -> None:
    text = hcl({"flag": True, "none": None, "list": ["a"], "map": {"k": 1}})
    for repr_token in ("True", "None", "['a']", "{'k': 1}"):
        assert repr_token not in text


def test_hcl_map_is_fmt_aligned_and_indented() -> None:
    text = hcl({"a": "x", "long_key": "y", "nested": {"z": 1}, "b": "z"}, indent=2)
    assert text == (
        "{\n"
        '    a        = "x"\n'
        '    long_key = "y"\n'
        "    nested = {\n"
        "      z = 1\n"
        "    }\n"
        '    b = "z"\n'
        "  }"
    )


def test_hcl_keys_are_quoted_only_when_needed() -> None:
    assert hcl_key("Name") == "Name"
    assert hcl_key("with-dash_1") == "with-dash_1"
    assert hcl_key("aws:tag") == '"aws:tag"'
    assert hcl_key("1st") == '"1st"'
    assert hcl_attrs({"bucket": "b", "use_lockfile": True}) == (
        'bucket       = "b"\nuse_lockfile = true'
    )


@pytest.mark.parametrize("bad", [object(), b"bytes", {1, 2}, float("nan"), float("inf")])
def test_hcl_rejects_values_it_cannot_write(bad: object) -> None:
    with pytest.raises((TypeError, ValueError)):
        hcl(bad)


def test_typed_filters_reject_wrong_types() -> None:
    with pytest.raises(TypeError, match="expects a string"):
        hcl_string(3)
    with pytest.raises(TypeError, match="keys must be strings"):
        hcl({1: "a"})
    with pytest.raises(TypeError, match="expects a mapping"):
        hcl_attrs(["a"])


def test_every_filter_is_registered() -> None:
    assert set(FILTERS) >= {"hcl", "hcl_string", "hcl_key", "hcl_attrs"}
