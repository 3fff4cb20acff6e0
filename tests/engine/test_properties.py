"""Property tests: any value survives the HCL filters, any valid environment renders and verifies.

The HCL filters are checked against two readers: python-hcl2 (which tfgen verifies with) for
hypothesis-generated values, and real ``terraform console`` for a few hundred nasty strings
and maps. Run with ``HYPOTHESIS_PROFILE=ci`` (as .ci/run does) for 500 examples a property.
"""

from __future__ import annotations

import copy
import ipaddress
import json
import os
import random
import re
import subprocess
import unicodedata
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import hcl2
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from generator.engine.core import EnvironmentConfig, build_config
from generator.engine.filters import hcl, hcl_key, hcl_string
from generator.engine.formats import bucket_name_problem
from generator.engine.validate import validate_environment
from generator.errors import ConfigError
from generator.inputs.secrets import find_secrets
from generator.project import load_project
from generator.verify import rules as verify
from generator.verify.rules import decode_hcl_string
from tests.conftest import GOLDEN_ENVIRON, ROOT, render_files
from tests.tfhelpers import terraform_bin

# Pieces that have broken HCL generators before: template sequences and their escapes,
# quotes, backslashes, line breaks, controls, invisible separators, heredoc markers.
NASTY = (
    "${",
    "%{",
    "$${",
    "%%{",
    "$$${",
    "}",
    "{",
    "$",
    "%",
    "\\",
    "\\\\",
    '"',
    "'",
    "\\n",
    "\\u0024{",
    "\n",
    "\r\n",
    "\t",
    "\x00",
    "\x1b",
    "\x7f",
    "\x85",
    "\u2028",
    "\u2029",
    "\ufeff",
    "\u200b",
    "\u200f",
    "\u202e",
    "\u2066",
    "\u2069",
    "\u061c",
    "\U0001f600",
    "${env:HOME}",
    "${var.x}",
    "%{ if true }x%{ endif }",
    "<<EOF\n",
    "\nEOF\n",
    "#",
    "//",
    "/*",
    "*/",
    "=",
    "None",
    "True",
    "['a']",
)
CHARACTERS = st.characters(blacklist_categories=("Cs",))


def nasty_text(max_pieces: int = 10) -> st.SearchStrategy[str]:
    """Any Unicode text (no lone surrogates), biased towards :data:`NASTY` pieces."""
    piece = st.one_of(st.sampled_from(NASTY), st.text(CHARACTERS, max_size=6))
    return st.lists(piece, max_size=max_pieces).map("".join)


# --------------------------------------------------------------------------- decoding


def parse_value(expression: str) -> Any:
    """Parse ``x = <expression>`` with python-hcl2 and return what it made of ``x``."""
    return hcl2.loads(f"x = {expression}\n")["x"]


def decode(raw: Any) -> Any:
    """python-hcl2's view of a literal -> the Python value it denotes.

    python-hcl2 keeps strings quoted and escaped (as written), keeps quoted object keys
    quoted, and returns a number in exponent form as an expression (``${1e-05}``).
    """
    if isinstance(raw, dict):
        return {_decode_key(k): decode(v) for k, v in raw.items()}
    if isinstance(raw, list):
        return [decode(v) for v in raw]
    if isinstance(raw, str) and raw.startswith('"'):
        return decode_hcl_string(raw)
    if isinstance(raw, str) and raw.startswith("${") and raw.endswith("}"):
        return float(raw[2:-1])
    return raw


def _decode_key(key: str) -> str:
    return decode_hcl_string(key) if key.startswith('"') else key


# --------------------------------------------------------------------------- filters


@given(nasty_text())
def test_any_string_survives_hcl_string(value: str) -> None:
    literal = hcl_string(value)
    assert "\n" not in literal and "\r" not in literal
    assert decode(parse_value(literal)) == value


@given(nasty_text(max_pieces=3))
def test_any_key_survives_hcl_key(key: str) -> None:
    assert decode(parse_value("{\n  " + hcl_key(key) + " = 1\n}")) == {key: 1}


SCALARS = st.one_of(
    nasty_text(max_pieces=4),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.none(),
)
KEYS = st.one_of(
    nasty_text(max_pieces=3),
    st.from_regex(r"[A-Za-z_][A-Za-z0-9_-]{0,10}", fullmatch=True),
    st.sampled_from(["for", "if", "in", "null", "true", "false", "endfor", "for_each"]),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=12,
)


@given(VALUES, st.integers(min_value=0, max_value=8))
def test_nested_maps_and_lists_survive_hcl(value: Any, indent: int) -> None:
    assert decode(parse_value(hcl(value, indent=indent))) == value


# --------------------------------------------------------------------------- environments


@cache
def base_configs() -> dict[str, dict[str, Any]]:
    """The shipped environments, validated and dumped: valid starting points to vary."""
    return {
        name: input_values(load_project(ROOT).load_environment(name, environ=GOLDEN_ENVIRON).config)
        for name in ("dev", "staging", "prod")
    }


REGIONS = (
    "us-east-1",
    "us-east-2",
    "us-west-2",
    "eu-west-1",
    "eu-west-3",
    "eu-central-1",
    "eu-north-1",
    "ap-southeast-2",
    "ap-northeast-1",
    "sa-east-1",
    "ca-central-1",
)
# Tag text: what the schema's pattern allows (Rust's \w differs from Python's for some
# symbols, so letters beyond ASCII come from a fixed set).
TAG_TEXT = r"[A-Za-z0-9_ .:/=+\-@éüßøжλ中文]"
# CloudWatch Logs accepts only these retention periods (the stack's schema says so too).
RETENTION_DAYS = tuple(
    json.loads((ROOT / "templates" / "schema.json").read_text("utf-8"))["properties"]["logs"][
        "properties"
    ]["retention_days"]["enum"]
)
PRIVATE = (
    ipaddress.IPv4Network("10.0.0.0/8"),
    ipaddress.IPv4Network("172.16.0.0/12"),
    ipaddress.IPv4Network("192.168.0.0/16"),
)


@st.composite
def vpc_cidrs(draw: st.DrawFn) -> str:
    supernet = draw(st.sampled_from(PRIVATE))
    prefix = draw(st.integers(min_value=16, max_value=24))
    count = 2 ** (prefix - supernet.prefixlen)
    index = draw(st.integers(min_value=0, max_value=count - 1))
    size = 2 ** (32 - prefix)
    return f"{supernet.network_address + index * size}/{prefix}"


BUCKETS = st.from_regex(r"[a-z0-9][a-z0-9.-]{1,30}[a-z0-9]", fullmatch=True).filter(
    lambda b: bucket_name_problem(b) is None
)
KEY_SEGMENT = st.from_regex(r"[A-Za-z0-9_.=-]{1,12}", fullmatch=True).filter(
    lambda s: s not in (".", "..")
)
ENV_VAR_NAMES = st.from_regex(r"[A-Z][A-Z0-9_]{0,15}", fullmatch=True).filter(
    lambda n: not n.startswith(("DB_", "AWS_", "ECS_"))
)


@st.composite
def environments(draw: st.DrawFn) -> dict[str, Any]:
    """A shipped environment with its region, names, tags, state location, network and
    container environment (arbitrary text) replaced by generated values."""
    name = draw(st.sampled_from(("dev", "staging", "prod")))
    data = json.loads(json.dumps(base_configs()[name]))  # a deep copy

    def vary(current: Any, strategy: st.SearchStrategy[Any], keep: int = 1) -> Any:
        # A field keeps its shipped value in `keep` of `keep + 1` draws: files that depend
        # only on kept fields render the same text again, and their parse is cached (below).
        return draw(st.one_of(*[st.just(current)] * keep, strategy))

    service = data["service"]
    if service.get("certificate_arn") is None and not data["cdn"]["enabled"]:
        data["region"] = vary(data["region"], st.sampled_from(REGIONS), keep=2)  # ARNs pin prod
    data["project"] = vary(  # in every resource name: varied in one draw out of four
        data["project"],
        st.from_regex(r"[a-z][a-z0-9]{0,5}(-[a-z0-9]{1,4})?", fullmatch=True),
        keep=3,
    )
    extra_tags = draw(
        st.dictionaries(
            st.from_regex(rf"{TAG_TEXT}{{1,20}}", fullmatch=True).filter(
                lambda k: not k.lower().startswith("aws:")
            ),
            st.from_regex(rf"{TAG_TEXT}{{0,30}}", fullmatch=True),
            max_size=5,
        )
    )
    data["tags"] = {**data["tags"], **extra_tags}
    lockfile = draw(st.booleans())
    data["backend"] = {
        **data["backend"],
        "bucket": draw(BUCKETS),
        "key": "/".join(draw(st.lists(KEY_SEGMENT, min_size=1, max_size=4))),
        "region": draw(st.sampled_from(REGIONS)),
        "use_lockfile": lockfile,
        "dynamodb_table": draw(
            st.from_regex(r"[A-Za-z0-9_.-]{3,20}", fullmatch=True)
            if not lockfile
            else st.none() | st.from_regex(r"[A-Za-z0-9_.-]{3,20}", fullmatch=True)
        ),
    }
    network = data["network"]
    data["network"] = {
        **network,
        "vpc_cidr": vary(network["vpc_cidr"], vpc_cidrs()),
        "az_count": vary(network["az_count"], st.integers(min_value=2, max_value=3)),
        "nat_per_az": vary(network["nat_per_az"], st.booleans()) or data["hardened"],
        "flow_log_retention_days": vary(
            network["flow_log_retention_days"],
            st.sampled_from([d for d in RETENTION_DAYS if d >= 365 or not data["hardened"]]),
        ),
        "availability_zones": None,
    }
    service["environment"] = vary(
        service["environment"], st.dictionaries(ENV_VAR_NAMES, nasty_text(), max_size=4)
    )
    scaling = data["autoscaling"]
    low, high = (scaling["min_capacity"], scaling["max_capacity"]) if scaling["enabled"] else (1, 4)
    service["desired_count"] = draw(st.integers(min_value=low, max_value=high))
    return data


STRING_LITERAL = re.compile(r'"(?:[^"\\]|\\.)*"')
PYTHON_REPR = re.compile(r"=\s*(None|True|False|Undefined)\s*$|\[\'|\{\'", re.MULTILINE)


def validate_data(data: Mapping[str, Any]) -> EnvironmentConfig:
    """Validate an environment given as data (no files, no layers) against the shipped stack."""
    values = validate_environment(load_project(ROOT).stack, dict(data), lambda _path: (None, None))
    return build_config(values)


def input_values(config: EnvironmentConfig) -> dict[str, Any]:
    """The inputs of a validated environment: its values without the stack's derived ones."""
    derived = {item.name for item in load_project(ROOT).stack.derived}
    return {k: v for k, v in config.values.items() if k not in derived}


def validated(data: Mapping[str, Any]) -> EnvironmentConfig:
    try:
        config = validate_data(data)
    except ConfigError:
        assume(False)  # a combination a cross-field rule forbids; hypothesis draws again
        raise
    assume(not find_secrets(dict(data), lambda _path: (None, None)))
    return config


_PARSED: dict[tuple[str, str], dict[str, Any]] = {}
_REAL_PARSE_HCL = verify.parse_hcl


def parse_once(name: str, text: str) -> dict[str, Any]:
    """python-hcl2 is the slow part: each distinct file text is parsed once per session.

    Parsing is a pure function of (name, text); errors are not cached, so a file that
    fails to parse fails every example that renders it.
    """
    key = (name, text)
    if key not in _PARSED:
        _PARSED[key] = _REAL_PARSE_HCL(name, text)
    return copy.deepcopy(_PARSED[key])


@given(environments())
def test_any_valid_environment_renders_verifies_and_is_deterministic(
    data: dict[str, Any],
) -> None:
    config = validated(data)
    project = load_project(ROOT)
    source = f"environments/{config.name}.yaml"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(verify, "parse_hcl", parse_once)
        files = render_files(project, config, source)  # each component verified: raises
    again = validate_data(input_values(config))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(verify, "parse_hcl", parse_once)
        assert render_files(project, again, source) == files  # same bytes
    for name, text in files.items():  # a Python repr would still parse, as a reference
        code = STRING_LITERAL.sub('""', text)  # data inside strings may say anything
        assert not PYTHON_REPR.search(code), f"{name}: {PYTHON_REPR.search(code)}"


# --------------------------------------------------------------------------- terraform


def nasty_samples(count: int, seed: int = 6) -> list[str]:
    """Reproducible nasty strings for terraform (no hypothesis: one terraform run for all)."""
    rng = random.Random(seed)  # noqa: S311 - test data, not cryptography
    samples = ["", *NASTY]
    while len(samples) < count:
        pieces = [
            rng.choice(NASTY) if rng.random() < 0.6 else chr(rng.randrange(1, 0x2FFFF))
            for _ in range(rng.randrange(1, 8))
        ]
        text = "".join(pieces)
        if not any(0xD800 <= ord(c) <= 0xDFFF for c in text):
            samples.append(text)
    return samples


_GO_ESCAPE = re.compile(r'\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[abfnrtv\\"\'])')
_GO_SIMPLE = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


def console_string(line: str) -> str:
    """A string as ``terraform console`` prints it, Go-quoted (``\\x7f``, ``\\u0085``...)."""
    assert line.startswith('"') and line.endswith('"'), line

    def unescape(match: re.Match[str]) -> str:
        code = match.group(1)
        if code[0] in "xuU":
            return chr(int(code[1:], 16))
        return _GO_SIMPLE.get(code, code)

    return _GO_ESCAPE.sub(unescape, line[1:-1])


@pytest.mark.skipif(terraform_bin() is None, reason="terraform is not on PATH")
def test_terraform_reads_our_literals_as_the_same_values(tmp_path: Path) -> None:
    strings = nasty_samples(200)
    maps: list[Any] = [
        {"for": 1, "if": "x", "null": None, "true": True, "a-b": [1, "${x}"]},
        {"${x}": "%{y}", '"': "\\", "": [], "k": {"nested": {"for": "$${"}}},
        [1, -2.5, 1e-05, 10**20, "\u2028", None, False, {"a": "b"}],
    ]
    lines = [f"  s{i} = {hcl_string(s)}" for i, s in enumerate(strings)]
    lines += [f"  m{i} = {hcl(v, indent=2)}" for i, v in enumerate(maps)]
    (tmp_path / "main.tf").write_text("locals {\n" + "\n".join(lines) + "\n}\n", "utf-8")
    # One expression: with stdin not a terminal, terraform console prints the last result.
    names = [f"local.s{i}" for i in range(len(strings))]
    names += [f"local.m{i}" for i in range(len(maps))]
    query = f"jsonencode([{', '.join(names)}])"
    env = {
        **os.environ,
        "CHECKPOINT_DISABLE": "1",
        "TF_IN_AUTOMATION": "1",
        "TF_CLI_CONFIG_FILE": str(tmp_path / "none.tfrc"),
    }
    (tmp_path / "none.tfrc").write_text("", encoding="utf-8")
    binary = terraform_bin()
    assert binary is not None
    done = subprocess.run(
        [binary, f"-chdir={tmp_path}", "console", "-no-color"],
        input=query + "\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    outputs = [line for line in done.stdout.splitlines() if line.strip()]
    assert len(outputs) == 1, done.stdout[-2000:]
    values = json.loads(console_string(outputs[0]))
    # Terraform keeps every string in Unicode NFC (cty normalises them): the one change.
    assert values[: len(strings)] == [unicodedata.normalize("NFC", s) for s in strings]
    assert values[len(strings) :] == maps
