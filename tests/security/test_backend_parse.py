"""backend.hcl is verified from its text every run: a plain parse equal to python-hcl2's."""

from __future__ import annotations

import hcl2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from generator.verify.hclparse import parse, parse_flat

NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,12}", fullmatch=True)
VALUES = st.one_of(
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=20).map(
        lambda s: '"' + s + '"'
    ),
    st.sampled_from(["true", "false"]),
    st.integers(min_value=-(10**17), max_value=10**17).map(str),
)
LINES = st.one_of(
    st.tuples(NAMES, st.sampled_from(["=", " = ", "\t=  "]), VALUES).map("".join),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=20).map(
        lambda s: "#" + s
    ),
    st.just(""),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(LINES, max_size=8))
def test_the_plain_parse_equals_python_hcl2_or_steps_aside(lines: list[str]) -> None:
    text = "\n".join(lines) + "\n"
    flat = parse_flat(text)
    try:
        expected = hcl2.loads(text)
    except Exception:  # python-hcl2 refuses it: the plain parse must too
        assert flat is None
        return
    if flat is not None:
        assert flat.result == expected
        assert flat.repeated == ()


@pytest.mark.parametrize(
    "text",
    [
        'bucket = "${var.x}"\n',
        'bucket = "a\\"b"\n',
        'bucket = "%{if x}"\n',
        "a = 1\na = 2\n",
        "a = 1 # trailing\n",
        "// comment\na = 1\n",
        "a = 1.5\n",
        'a = "\u00e9"\n',
        "block {\n}\n",
        "a = 1\r\n",
    ],
)
def test_anything_but_plain_attributes_goes_to_python_hcl2(text: str) -> None:
    assert parse_flat(text) is None


def test_the_backend_parse_never_reads_or_writes_the_cache(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from generator import cache

    monkeypatch.setattr(cache, "folder", None)  # any use of the cache would fail
    text = 'bucket = "b"\nkey = "k"\nbucket = "c"\n'
    assert parse(text, cached=False).repeated  # python-hcl2 (a repeat), still no cache
    assert parse('bucket = ""\n', cached=False).result == {"bucket": '""'}
