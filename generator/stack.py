"""A stack: the templates folder, the schema of what it accepts, its rules and derived values.

A stack declares, beside its templates:

* ``templates/schema.json``: a JSON Schema (draft 2020-12) of its own keys. The engine
  merges it with its core (:data:`generator.schema.CORE_SCHEMA`) and closes the top level.
* ``templates/stack.yaml``: ``derived`` values (Jinja expressions computed once per
  environment, in order), ``rules`` (an expression that must hold, the message and the key
  it blames, optionally ``when`` and ``each``) and ``not_secret`` (keys whose names only
  look like secrets).

Everything is checked when the stack is loaded, before any environment: a broken schema,
an unknown format, a remote ``$ref`` or an expression that does not compile is an error at
its own file and line. A stack without these files still renders; the engine then checks
its core and passes every other key to the templates as data.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import jsonschema_rs

from generator.constraints import FORMATS, format_problem, known_format
from generator.errors import ConfigError, Problem
from generator.jsonpos import JsonError, json_lines, load_json
from generator.render import TEMPLATES_DIR, compile_cached, make_env
from generator.schema import CORE_KEYS, CORE_REQUIRED, CORE_SCHEMA
from generator.yamlsource import load_yaml_file

SCHEMA_FILE = "schema.json"
STACK_FILE = "stack.yaml"
DIALECT = "https://json-schema.org/draft/2020-12/schema"
MAX_SCHEMA_BYTES = 1024 * 1024
# Formats JSON Schema itself defines, which the validator checks; any other name is a typo.
_STANDARD_FORMATS = frozenset(
    {
        "date",
        "date-time",
        "time",
        "duration",
        "email",
        "hostname",
        "ipv4",
        "ipv6",
        "uri",
        "uri-reference",
        "uuid",
        "regex",
        "json-pointer",
    }
)
_RULE_KEYS = frozenset({"key", "rule", "message", "when", "each"})
_STACK_KEYS = frozenset({"derived", "rules", "not_secret", "description"})

Expression = Callable[..., Any]


@dataclass(frozen=True)
class Derived:
    """One derived value: ``env.<name>`` = the expression, computed once per environment."""

    name: str
    source: str
    expression: Expression
    line: int | None


@dataclass(frozen=True)
class Rule:
    """A cross-field check: ``rule`` must hold, else ``message`` is reported at ``key``."""

    index: int
    source: str
    rule: Expression
    key: jinja2.Template
    message: jinja2.Template
    when: Expression | None
    each: Expression | None
    line: int | None


@dataclass(frozen=True)
class Stack:
    """A loaded, checked stack: its merged schema, validator, derived values and rules."""

    templates_dir: Path
    schema: dict[str, Any]
    validator: Any
    has_schema: bool
    derived: tuple[Derived, ...] = ()
    rules: tuple[Rule, ...] = ()
    not_secret: tuple[str, ...] = ()
    schema_text: str = field(default="", repr=False)

    @property
    def schema_display(self) -> str:
        """How the schema file is named in messages."""
        return f"{TEMPLATES_DIR}/{SCHEMA_FILE}"

    def schema_line(self, path: tuple[str, ...]) -> int | None:
        """The line of a schema node in ``schema.json``, by its path (None when unknown)."""
        if not self.schema_text:
            return None
        lines = _lines_of(self.schema_text)
        for end in range(len(path), -1, -1):
            if path[:end] in lines:
                return lines[path[:end]]
        return None


@functools.lru_cache(maxsize=4)
def _lines_of(text: str) -> dict[tuple[str, ...], int]:
    return json_lines(text)


def load_stack(templates_dir: Path) -> Stack:
    """Load and check the stack in ``templates_dir`` (cached while its files are unchanged).

    Raises:
        ConfigError: a stack file is unreadable or wrong, each problem at its file:line.
    """
    return _load_stack(templates_dir, _signature(templates_dir))


def _signature(templates_dir: Path) -> tuple[tuple[int, int, int] | None, ...]:
    found: list[tuple[int, int, int] | None] = []
    for name in (SCHEMA_FILE, STACK_FILE):
        try:
            info = os.stat(templates_dir / name)  # noqa: PTH116 - a cheap cache key
        except OSError:
            found.append(None)
        else:
            found.append((info.st_mtime_ns, info.st_size, info.st_ino))
    return tuple(found)


@functools.lru_cache(maxsize=8)
def _load_stack(templates_dir: Path, signature: tuple[Any, ...]) -> Stack:
    del signature  # part of the cache key only
    schema_path = templates_dir / SCHEMA_FILE
    text = ""
    stack_schema: dict[str, Any] = {}
    if schema_path.exists() or schema_path.is_symlink():
        text = _read_schema(schema_path)
        stack_schema = _parse_schema(text)
    merged = _merged(stack_schema)
    validator = _compile(merged, text)
    derived, rules, not_secret = _load_stack_file(templates_dir, stack_schema)
    return Stack(
        templates_dir=templates_dir,
        schema=merged,
        validator=validator,
        has_schema=bool(text),
        derived=derived,
        rules=rules,
        not_secret=not_secret,
        schema_text=text,
    )


# --------------------------------------------------------------------------- schema.json


def _schema_error(message: str, text: str = "", path: tuple[str, ...] = ()) -> ConfigError:
    line = None
    if text:
        lines = json_lines(text)
        for end in range(len(path), -1, -1):
            if path[:end] in lines:
                line = lines[path[:end]]
                break
    key = ".".join(path) or None
    return ConfigError(Problem(message, path=f"{TEMPLATES_DIR}/{SCHEMA_FILE}", line=line, key=key))


def _read_schema(path: Path) -> str:
    display = f"{TEMPLATES_DIR}/{SCHEMA_FILE}"
    try:
        if not path.is_file():
            msg = "not a regular file"
            raise ConfigError.at(msg, path=display)
        with path.open("rb") as handle:
            raw = handle.read(MAX_SCHEMA_BYTES + 1)
    except OSError as err:
        msg = f"cannot read file: {err.strerror}"
        raise ConfigError.at(msg, path=display) from err
    if len(raw) > MAX_SCHEMA_BYTES:
        msg = f"file is larger than {MAX_SCHEMA_BYTES} bytes"
        raise ConfigError.at(msg, path=display)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        msg = f"not valid UTF-8 (byte 0x{raw[err.start]:02x})"
        raise ConfigError.at(msg, path=display) from err


def _parse_schema(text: str) -> dict[str, Any]:
    display = f"{TEMPLATES_DIR}/{SCHEMA_FILE}"
    try:
        schema = load_json(text)
    except JsonError as err:
        raise ConfigError.at(err.message, path=display, line=err.line) from err
    if not isinstance(schema, dict):
        msg = "the schema must be a JSON object"
        raise ConfigError.at(msg, path=display, line=1)
    dialect = schema.get("$schema", DIALECT)
    if dialect != DIALECT:
        msg = f"$schema must be {DIALECT!r} (draft 2020-12), not {dialect!r}"
        raise _schema_error(msg, text, ("$schema",))
    try:
        jsonschema_rs.meta.validate(schema)
    except jsonschema_rs.ValidationError as err:
        path = tuple(str(p) for p in err.instance_path)
        msg = f"not a valid JSON Schema: {err.message}"
        raise _schema_error(msg, text, path) from err
    except jsonschema_rs.ReferencingError as err:
        msg = f"not a valid JSON Schema: {err}"
        raise _schema_error(msg, text) from err
    problems = [*_walk_schema(schema, ()), *_top_level_problems(schema)]
    if problems:
        raise ConfigError(*(_schema_error(m, text, p).problems[0] for p, m in problems))
    return schema


def _walk_schema(node: Any, path: tuple[str, ...]) -> list[tuple[tuple[str, ...], str]]:
    """Remote references and unknown formats, anywhere in the schema."""
    found: list[tuple[tuple[str, ...], str]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            here = (*path, key)
            if key in ("$ref", "$dynamicRef") and isinstance(value, str):
                if not value.startswith("#"):
                    found.append(
                        (here, f"only local references ('#/...') are allowed, not {value!r}")
                    )
            elif key == "format" and isinstance(value, str):
                if not (known_format(value) or value in _STANDARD_FORMATS):
                    found.append((here, _unknown_format(value)))
            elif key in ("properties", "patternProperties", "$defs", "dependentSchemas"):
                if isinstance(value, dict):
                    for name, sub in value.items():
                        found.extend(_walk_schema(sub, (*here, name)))
                continue
            found.extend(_walk_schema(value, here))
    elif isinstance(node, list):
        for index, item in enumerate(node):
            found.extend(_walk_schema(item, (*path, str(index))))
    return found


def _unknown_format(name: str) -> str:
    import difflib

    known = [*FORMATS, *_STANDARD_FORMATS]
    hint = difflib.get_close_matches(name, known, n=1)
    extra = f"; did you mean {hint[0]!r}?" if hint else f" (known: {', '.join(sorted(FORMATS))})"
    return f"unknown format {name!r}{extra}"


def _top_level_problems(schema: dict[str, Any]) -> list[tuple[tuple[str, ...], str]]:
    found: list[tuple[tuple[str, ...], str]] = []
    if schema.get("type", "object") != "object":
        found.append((("type",), "the schema of environment files must be of type 'object'"))
    properties = schema.get("properties", {})
    found.extend(
        (("properties", key), f"{key!r} is an engine key: the engine declares and checks it")
        for key in properties
        if key in CORE_KEYS
    )
    found.extend(
        (("required",), f"{key!r} is an engine key: the engine decides whether it is required")
        for key in schema.get("required", [])
        if key in CORE_KEYS
    )
    return found


def _merged(stack_schema: dict[str, Any]) -> dict[str, Any]:
    """The schema every environment is validated against: the engine's core plus the stack's."""
    properties = {**CORE_SCHEMA, **stack_schema.get("properties", {})}
    merged: dict[str, Any] = {
        "$schema": DIALECT,
        "title": stack_schema.get("title", "tfgen environment"),
        "type": "object",
        "properties": properties,
        "required": [*CORE_REQUIRED, *stack_schema.get("required", [])],
        # No schema: the engine checks its core; every other key is data for the templates.
        "additionalProperties": not stack_schema,
    }
    for key in ("$defs", "description", "allOf", "anyOf", "oneOf", "if", "then", "else"):
        if key in stack_schema:
            merged[key] = stack_schema[key]
    return merged


def _format_names(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        value = node.get("format")
        if isinstance(value, str):
            found.add(value)
        for sub in node.values():
            found |= _format_names(sub)
    elif isinstance(node, list):
        for sub in node:
            found |= _format_names(sub)
    return found


def _compile(schema: dict[str, Any], text: str) -> Any:
    formats: dict[str, Callable[..., bool]] = {
        name: functools.partial(_format_ok, name)
        for name in _format_names(schema)
        if known_format(name)
    }
    try:
        return jsonschema_rs.validator_for(schema, formats=formats, validate_formats=True)
    except (jsonschema_rs.ValidationError, jsonschema_rs.ReferencingError, ValueError) as err:
        msg = f"the schema cannot be compiled: {err}"
        raise _schema_error(msg, text) from err


def _format_ok(name: str, value: str) -> bool:
    return format_problem(name, value) is None


# --------------------------------------------------------------------------- stack.yaml


def _load_stack_file(
    templates_dir: Path, stack_schema: dict[str, Any]
) -> tuple[tuple[Derived, ...], tuple[Rule, ...], tuple[str, ...]]:
    path = templates_dir / STACK_FILE
    display = f"{TEMPLATES_DIR}/{STACK_FILE}"
    if not (path.exists() or path.is_symlink()):
        return (), (), ()
    doc = load_yaml_file(path, display)
    env = make_env(templates_dir)
    problems: list[Problem] = []

    def problem(message: str, key: tuple[str, ...]) -> None:
        line = doc.lines.get(key)
        problems.append(Problem(message, path=display, line=line, key=".".join(key) or None))

    for key in doc.data:
        if key not in _STACK_KEYS:
            problem(f"unknown key (allowed: {', '.join(sorted(_STACK_KEYS))})", (key,))
    inputs = set(CORE_SCHEMA) | set(stack_schema.get("properties", {}))
    derived = _derived(doc.data.get("derived", {}), env, inputs, problem, doc.lines)
    rules = _rules(doc.data.get("rules", []), env, problem, doc.lines)
    not_secret = doc.data.get("not_secret", [])
    if not isinstance(not_secret, list) or not all(isinstance(x, str) for x in not_secret):
        problem("not_secret is a list of dotted keys (globs such as tags.TOKEN_*)", ("not_secret",))
        not_secret = []
    if problems:
        raise ConfigError(*problems)
    return derived, rules, tuple(not_secret)


def _compile_expression(
    env: jinja2.Environment, source: Any, key: tuple[str, ...], problem: Callable[..., None]
) -> Expression | None:
    if not isinstance(source, str) or not source.strip():
        problem("expected a Jinja expression (a non-empty string)", key)
        return None
    try:
        return compile_cached(env, source, expression=True)  # type: ignore[no-any-return]
    except jinja2.TemplateSyntaxError as err:
        problem(f"expression syntax error: {err.message}", key)
        return None


def _compile_template(
    env: jinja2.Environment, source: Any, key: tuple[str, ...], problem: Callable[..., None]
) -> jinja2.Template | None:
    if not isinstance(source, str) or not source.strip():
        problem("expected a string (it may use {{ ... }})", key)
        return None
    try:
        return compile_cached(env, source, expression=False)  # type: ignore[no-any-return]
    except jinja2.TemplateSyntaxError as err:
        problem(f"template syntax error: {err.message}", key)
        return None


def _derived(
    raw: Any,
    env: jinja2.Environment,
    inputs: set[str],
    problem: Callable[..., None],
    lines: dict[tuple[str, ...], int],
) -> tuple[Derived, ...]:
    if not isinstance(raw, dict):
        problem("derived is a mapping of name: expression", ("derived",))
        return ()
    found: list[Derived] = []
    for name, source in raw.items():
        key = ("derived", name)
        if not name.isidentifier():
            problem("a derived value's name is an identifier (letters, digits, '_')", key)
            continue
        if name in inputs:
            problem(f"{name!r} is an input key; a derived value needs a name of its own", key)
            continue
        expression = _compile_expression(env, source, key, problem)
        if expression is not None:
            found.append(Derived(name, source, expression, lines.get(key)))
    return tuple(found)


def _rules(
    raw: Any,
    env: jinja2.Environment,
    problem: Callable[..., None],
    lines: dict[tuple[str, ...], int],
) -> tuple[Rule, ...]:
    if not isinstance(raw, list):
        problem("rules is a list of {key, rule, message[, when, each]}", ("rules",))
        return ()
    found: list[Rule] = []
    for index, item in enumerate(raw):
        here = ("rules", str(index))
        if not isinstance(item, dict):
            problem("a rule is a mapping of key, rule, message[, when, each]", here)
            continue
        for name in item:
            if name not in _RULE_KEYS:
                problem(f"unknown key (allowed: {', '.join(sorted(_RULE_KEYS))})", (*here, name))
        for name in ("key", "rule", "message"):
            if name not in item:
                problem(f"a rule needs {name!r}", here)
        if not {"key", "rule", "message"} <= set(item):
            continue
        rule = _compile_expression(env, item["rule"], (*here, "rule"), problem)
        key = _compile_template(env, item["key"], (*here, "key"), problem)
        message = _compile_template(env, item["message"], (*here, "message"), problem)
        when = each = None
        if "when" in item:
            when = _compile_expression(env, item["when"], (*here, "when"), problem)
        if "each" in item:
            each = _compile_expression(env, item["each"], (*here, "each"), problem)
        if rule is None or key is None or message is None:
            continue
        if ("when" in item and when is None) or ("each" in item and each is None):
            continue
        found.append(Rule(index, item["rule"], rule, key, message, when, each, lines.get(here)))
    return tuple(found)
