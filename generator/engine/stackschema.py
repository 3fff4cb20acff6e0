"""A stack's ``templates/schema.json``: read, check against the meta-schema, merge, compile.

The stack's schema declares its own keys; the engine refuses remote references, unknown
format names and redeclared engine keys, merges the rest with its core
(:data:`generator.engine.core.CORE_SCHEMA`), closes the top level and compiles one validator
with the engine's formats. Every problem is reported at its own line of the file.
"""

from __future__ import annotations

import difflib
import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema_rs

from generator.engine.core import CORE_KEYS, CORE_REQUIRED, CORE_SCHEMA
from generator.engine.formats import FORMATS, format_problem, known_format
from generator.engine.jsonpos import JsonError, json_lines, load_json
from generator.errors import ConfigError, Problem
from generator.layout import SCHEMA_FILE, TEMPLATES_DIR

DEFAULT_DISPLAY = f"{TEMPLATES_DIR}/{SCHEMA_FILE}"
# Subschemas the merged schema applies to the environment's top level.
_MERGED_KEYWORDS = ("allOf", "anyOf", "oneOf", "if", "then", "else")
# Keywords that name a URI and would make a schema reach outside its file.
_URI_KEYWORDS = frozenset({"$id", "$vocabulary"})
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


def schema_error(
    message: str, text: str = "", path: tuple[str, ...] = (), display: str = DEFAULT_DISPLAY
) -> ConfigError:
    """A ConfigError at ``display``, at the line of ``path`` in ``text`` (or its nearest parent)."""
    line = None
    if text:
        lines = json_lines(text)
        for end in range(len(path), -1, -1):
            if path[:end] in lines:
                line = lines[path[:end]]
                break
    key = ".".join(path) or None
    return ConfigError(Problem(message, path=display, line=line, key=key))


def read_schema(path: Path, display: str = DEFAULT_DISPLAY) -> str:
    """The text of ``schema.json``: a regular file of at most 1 MiB, strict UTF-8.

    Raises:
        ConfigError: the file cannot be read, is too large or is not UTF-8.
    """
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


def parse_schema(text: str, display: str = DEFAULT_DISPLAY) -> dict[str, Any]:
    """Parse and check a stack's schema (strict JSON, meta-schema, references, formats).

    Raises:
        ConfigError: each problem at its line of ``schema.json``.
    """
    try:
        schema = load_json(text)
    except JsonError as err:
        raise ConfigError.at(err.message, path=display, line=err.line) from err
    if not isinstance(schema, dict):
        msg = "the schema must be a JSON object"
        raise ConfigError.at(msg, path=display, line=1)
    # Every keyword that names a URI is checked here, before jsonschema-rs sees the schema:
    # nothing is ever fetched (and the validator's retriever refuses everything as well).
    uris = _uri_problems(schema, ())
    if uris:
        raise ConfigError(*(schema_error(m, text, p, display).problems[0] for p, m in uris))
    try:
        jsonschema_rs.meta.validate(schema)
    except jsonschema_rs.ValidationError as err:
        path = tuple(str(p) for p in err.instance_path)
        msg = f"not a valid JSON Schema: {err.message}"
        raise schema_error(msg, text, path, display) from err
    except jsonschema_rs.ReferencingError as err:
        msg = f"not a valid JSON Schema: {err}"
        raise schema_error(msg, text, display=display) from err
    problems = [*_walk_schema(schema, ()), *_top_level_problems(schema)]
    if problems:
        raise ConfigError(*(schema_error(m, text, p, display).problems[0] for p, m in problems))
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


def _uri_problems(node: Any, path: tuple[str, ...]) -> list[tuple[tuple[str, ...], str]]:
    """``$schema`` other than draft 2020-12, ``$id``/``$vocabulary``, non-local references."""
    found: list[tuple[tuple[str, ...], str]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            here = (*path, key)
            if key == "$schema" and value != DIALECT:
                shown = value if isinstance(value, str) else json.dumps(value)
                found.append((here, f"$schema must be {DIALECT!r} (draft 2020-12), not {shown!r}"))
            elif key in _URI_KEYWORDS:
                found.append((here, f"{key} is not allowed: a stack's schema is one local file"))
            elif key in ("$ref", "$dynamicRef") and not (
                isinstance(value, str) and value.startswith("#")
            ):
                found.append((here, f"only local references ('#/...') are allowed, not {value!r}"))
            elif key not in ("const", "enum", "default", "examples"):  # data, not schemas
                found.extend(_uri_problems(value, here))
    elif isinstance(node, list):
        for index, item in enumerate(node):
            found.extend(_uri_problems(item, (*path, str(index))))
    return found


def _refuse_retrieval(uri: str) -> Any:
    """jsonschema-rs' retriever: no URI is ever fetched, from the network or a file."""
    msg = f"{uri}: a stack's schema may not reach outside schema.json"
    raise ValueError(msg)


def _unknown_format(name: str) -> str:
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
    for keyword in _MERGED_KEYWORDS:
        if keyword in schema:
            found.extend(_engine_keys_in(schema[keyword], (keyword,), schema, set()))
    return found


def _engine_keys_in(
    node: Any, path: tuple[str, ...], root: dict[str, Any], seen: set[str]
) -> list[tuple[tuple[str, ...], str]]:
    """Engine keys that a top-level combinator (``allOf``, ``anyOf``, ``$ref``...) declares.

    These subschemas apply to the environment's top level as the stack's ``properties`` do,
    so they may not declare, require or constrain an engine key either.
    """
    found: list[tuple[tuple[str, ...], str]] = []
    if isinstance(node, list):
        for index, item in enumerate(node):
            found.extend(_engine_keys_in(item, (*path, str(index)), root, seen))
        return found
    if not isinstance(node, dict):
        return found
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#") and ref not in seen:
        seen.add(ref)
        target = resolve_ref(node, root, hops=1)
        if target is node:  # names nothing
            target = None
        found.extend(
            ((*path, "$ref"), message) for _, message in _engine_keys_in(target, path, root, seen)
        )
    for keyword, what in (("properties", "declares"), ("required", "decides if it is required")):
        value = node.get(keyword)
        names = value if isinstance(value, list | dict) else []
        found.extend(
            ((*path, keyword, key), f"{key!r} is an engine key: the engine {what} and checks it")
            for key in names
            if isinstance(key, str) and key in CORE_KEYS
        )
    for keyword in (*_MERGED_KEYWORDS, "not"):
        if keyword in node:
            found.extend(_engine_keys_in(node[keyword], (*path, keyword), root, seen))
    return found


def merged_schema(stack_schema: dict[str, Any]) -> dict[str, Any]:
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


def compile_validator(schema: dict[str, Any], text: str, display: str = DEFAULT_DISPLAY) -> Any:
    """One jsonschema-rs validator for the merged schema, with the engine's formats.

    Raises:
        ConfigError: the schema cannot be compiled (at ``schema.json``).
    """
    formats: dict[str, Callable[..., bool]] = {
        name: functools.partial(_format_ok, name)
        for name in _format_names(schema)
        if known_format(name)
    }
    try:
        return jsonschema_rs.validator_for(
            schema, formats=formats, validate_formats=True, retriever=_refuse_retrieval
        )
    except jsonschema_rs.ValidationError as err:  # a pattern that does not compile, say
        path = tuple(str(p) for p in err.instance_path)
        msg = f"the schema cannot be compiled: {err.message}"
        raise schema_error(msg, text, path, display) from err
    except (jsonschema_rs.ReferencingError, ValueError) as err:
        msg = f"the schema cannot be compiled: {str(err).splitlines()[0] if str(err) else err}"
        raise schema_error(msg, text, display=display) from err


def _format_ok(name: str, value: str) -> bool:
    return format_problem(name, value) is None


_JSON_TYPES: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
    "null": lambda v: v is None,
}
_SUBSCHEMAS = ("items", "additionalProperties", "not", "if", "then", "else")
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")
_SCHEMA_MAPS = ("properties", "patternProperties", "$defs")


def default_problems(node: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], str]]:
    """Every ``default`` of the schema that its own schema refuses: type, enum, range.

    Checked when the stack loads, so that a wrong default is the stack's error at its line in
    schema.json, never blamed on an environment that did not set the key. (A cheap check of
    the keywords a default most often breaks; the full validation still runs on every
    environment.)
    """
    if not isinstance(node, dict):
        return []
    found: list[tuple[tuple[str, ...], str]] = []
    if "default" in node:
        why = _default_problem(node, node["default"])
        if why:
            found.append(((*path, "default"), f"the default {why}"))
    for key in _SUBSCHEMAS:
        found.extend(default_problems(node.get(key), (*path, key)))
    for key in _SCHEMA_LISTS:
        for index, item in enumerate(node.get(key, []) if isinstance(node.get(key), list) else []):
            found.extend(default_problems(item, (*path, key, str(index))))
    for key in _SCHEMA_MAPS:
        items = node.get(key)
        for name, item in items.items() if isinstance(items, dict) else ():
            found.extend(default_problems(item, (*path, key, name)))
    return found


def _default_problem(node: dict[str, Any], value: Any) -> str | None:
    kinds = node.get("type")
    names = [kinds] if isinstance(kinds, str) else kinds if isinstance(kinds, list) else []
    checks = [_JSON_TYPES[n] for n in names if n in _JSON_TYPES]
    if checks and not any(check(value) for check in checks):
        return f"{value!r} is not of the type the schema gives ({', '.join(names)})"
    if "enum" in node and isinstance(node["enum"], list) and value not in node["enum"]:
        return f"{value!r} is not one of the schema's enum"
    if isinstance(value, int | float) and not isinstance(value, bool):
        low, high = node.get("minimum"), node.get("maximum")
        if isinstance(low, int | float) and value < low:
            return f"{value!r} is below the schema's minimum {low}"
        if isinstance(high, int | float) and value > high:
            return f"{value!r} is above the schema's maximum {high}"
    return None


def undeclared_key(schema: dict[str, Any], key: str) -> str | None:
    """The first part of a dotted rule key the schema does not declare, or None.

    Parts holding template syntax (``{{ key }}``, a rule's ``each``) and everything after
    them are not checked; a map the schema leaves open (``additionalProperties``,
    ``patternProperties``) accepts any name. A local ``$ref`` is followed (its target's
    properties are declared too); combinators (``allOf``, ``anyOf``...) are not.
    """
    node: Any = schema
    for part in key.strip().split("."):
        if "{" in part or "%" in part:
            return None
        seen = _with_targets(node, schema)
        if not seen:
            return None
        found = next(
            (p[part] for n in seen if isinstance(p := n.get("properties"), dict) and part in p),
            None,
        )
        if found is not None:
            node = found
            continue
        if any(
            n.get("additionalProperties") not in (None, False)
            or n.get("patternProperties")
            or any(k in n for k in _SCHEMA_LISTS)
            or n.get("type") not in (None, "object")
            for n in seen
        ):
            return None  # open, or declared through a combinator: nothing to say
        if not any(isinstance(n.get("properties"), dict) for n in seen):
            return None  # not an object the schema describes
        return part
    return None


def _with_targets(node: Any, root: dict[str, Any]) -> list[dict[str, Any]]:
    """``node`` and what its local ``$ref`` chain points at (each a schema object)."""
    found: list[dict[str, Any]] = []
    for _ in range(32):
        if not isinstance(node, dict) or any(node is f for f in found):
            break
        found.append(node)
        ref = node.get("$ref")
        if not isinstance(ref, str):
            break
        if not ref.startswith("#"):
            return []  # a remote reference is refused at load; nothing to say here
        node = resolve_ref(node, root, hops=1)
    return found


def resolve_ref(node: Any, root: dict[str, Any], *, hops: int = 32) -> Any:
    """Follow a local ``$ref`` (``#/$defs/x``) to the schema it names, up to ``hops`` times.

    A reference that names nothing leaves ``node`` as it is.
    """
    for _ in range(hops):
        if not (isinstance(node, dict) and isinstance(node.get("$ref"), str)):
            return node
        target: Any = root
        for part in node["$ref"].removeprefix("#").strip("/").split("/"):
            if not part:
                continue
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(target, dict) or part not in target:
                return node
            target = target[part]
        node = target
    return node
