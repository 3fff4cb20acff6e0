"""Validate one layered environment against its stack: defaults, schema, derived values, rules.

Runs once per environment, before rendering. Every problem is one :class:`Problem` at the
line of the value that broke it (an unknown key at its own line, a missing key at its
parent, a rule at the key it blames); code after this reads validated, defaulted values.
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Callable, Mapping
from typing import Any

import jinja2

from generator.engine.core import core_rule_problems, fill_core_defaults, normalise_core
from generator.engine.formats import format_problem
from generator.engine.sandbox import RENDER_SECONDS, RenderTimeout, time_limit
from generator.engine.stack import Stack
from generator.engine.stackschema import resolve_ref
from generator.errors import ConfigError, KeyPath, Locate, Problem
from generator.inputs.secrets import find_secrets
from generator.layout import SCHEMA_FILE, STACK_FILE

_TYPE_NAMES = {
    "integer": "an integer",
    "number": "a number",
    "string": "a string",
    "boolean": "a boolean (true or false)",
    "object": "a mapping",
    "array": "a list",
    "null": "null",
}
_MAX_SHOWN = 60
# The validator's limit keywords, as tfgen words them.
_VALUE_LIMITS = {
    "minimum": "must be at least {limit}, not {value}",
    "exclusiveMinimum": "must be above {limit}, not {value}",
    "maximum": "must be at most {limit}, not {value}",
    "exclusiveMaximum": "must be below {limit}, not {value}",
}
_SIZE_LIMITS = {
    "minLength": "must have at least {limit} characters, not {size}",
    "maxLength": "must have at most {limit} characters, not {size}",
    "minItems": "needs at least {limit} items, not {size}",
    "maxItems": "takes at most {limit} items, not {size}",
    "minProperties": "needs at least {limit} keys, not {size}",
    "maxProperties": "takes at most {limit} keys, not {size}",
}


def validate_environment(stack: Stack, data: dict[str, Any], locate: Locate) -> dict[str, Any]:
    """Defaults, schema, derived values and rules for one environment.

    Args:
        stack: the loaded stack.
        data: the layered, overridden, interpolated environment (``name`` included).
        locate: maps a key path to the file and line it came from.

    Returns:
        The validated values with defaults and derived values: what templates see as ``env``.

    Raises:
        ConfigError: one problem per schema violation, or per failed rule.
    """
    given = copy.deepcopy(data)
    data = fill_core_defaults(copy.deepcopy(data))
    try:
        apply_defaults(stack.schema, data, stack.schema)
    except RecursionError as err:
        msg = "defaults nest too deeply (a $ref that contains itself?)"
        raise ConfigError.at(msg, path=stack.file_display(SCHEMA_FILE)) from err
    problems = schema_problems(stack, data, locate)
    if problems:
        raise ConfigError(*problems)
    data = normalise_core(data)
    core = core_rule_problems(data)
    if core:
        raise ConfigError(*(_located(path, message, locate) for path, message in core))
    with _bounded(stack.file_display(STACK_FILE)):
        values = _derive(stack, data)
        problems = _rule_problems(stack, values, locate)
    if problems:
        raise ConfigError(*problems)
    # The files read were checked when layered; what templates see also holds the schema's
    # defaults and the derived values, so a literal secret there is refused too.
    secrets = find_secrets(values, _value_origin(stack, given, locate), frozenset(stack.not_secret))
    if secrets:
        raise ConfigError(*secrets)
    return values


def _value_origin(stack: Stack, given: dict[str, Any], locate: Locate) -> Locate:
    """Where a value templates see came from: its file, a derived value, or a schema default."""
    derived = {item.name: item for item in stack.derived}

    def origin(path: tuple[str, ...]) -> tuple[str | None, int | None]:
        node: Any = given
        for part in path:
            if not isinstance(node, dict) or part not in node:
                break
            node = node[part]
        else:
            return locate(path)
        if path and path[0] in derived:
            return derived[path[0]].file, derived[path[0]].line
        return stack.file_display(SCHEMA_FILE), None

    return origin


# --------------------------------------------------------------------------- defaults


def apply_defaults(schema: Any, data: Any, root: dict[str, Any]) -> None:
    """Fill absent keys from ``default``; create absent objects that need nothing.

    An absent property with a ``default`` gets a copy of it. An absent property whose
    schema is an object with properties and no ``required`` is created empty and filled
    from its own defaults, so a section the file does not mention has its defaults.
    """
    schema = resolve_ref(schema, root)
    if not isinstance(schema, dict) or not isinstance(data, dict):
        return
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return
    for key, sub in properties.items():
        sub = resolve_ref(sub, root)
        if not isinstance(sub, dict):
            continue
        if key not in data:
            if "default" in sub:
                data[key] = copy.deepcopy(sub["default"])
            elif _creatable(sub):
                data[key] = {}
            else:
                continue
        apply_defaults(sub, data[key], root)


def _creatable(schema: dict[str, Any]) -> bool:
    types = schema.get("type")
    is_object = types == "object" or (isinstance(types, list) and types == ["object"])
    return is_object and isinstance(schema.get("properties"), dict) and not schema.get("required")


# --------------------------------------------------------------------------- schema errors


def schema_problems(stack: Stack, data: dict[str, Any], locate: Locate) -> list[Problem]:
    """Every schema violation of ``data``, located at the value that broke it."""
    problems: list[Problem] = []
    seen: set[str] = set()
    for error in stack.validator.iter_errors(data):
        for problem in _explain(stack, error, locate):
            text = str(problem)
            if text not in seen:
                seen.add(text)
                problems.append(problem)
    return problems


def _explain(stack: Stack, error: Any, locate: Locate) -> list[Problem]:
    path = tuple(str(p) for p in error.instance_path)
    kind = error.kind
    name = getattr(kind, "name", "")
    node = _schema_node(stack.schema, tuple(error.schema_path)[:-1])
    custom = node.get("x-message") if isinstance(node, dict) else None
    value = error.instance
    if name == "additionalProperties":
        allowed = sorted(node.get("properties", {})) if isinstance(node, dict) else []
        return [_unknown_key((*path, str(key)), allowed, locate) for key in kind.unexpected]
    if name == "required":
        return [_located((*path, str(kind.property)), "required key is missing", locate)]
    if name == "propertyNames":
        inner = kind.error
        key = str(inner.instance)
        message = custom or f"the key {_shown(key)} is not allowed here: {_message(inner, key)}"
        return [_located((*path, key), message, locate)]
    if isinstance(custom, str):
        return [_located(path, custom.replace("{value}", _shown(value)), locate)]
    return [_located(path, _message(error, value), locate)]


def _message(error: Any, value: Any) -> str:
    kind = error.kind
    name = getattr(kind, "name", "")
    if name == "type":
        types = [str(t).lower().split(".")[-1] for t in kind.types]
        wanted = " or ".join(_TYPE_NAMES.get(t, t) for t in types)
        return f"expected {wanted}, got {_shown(value)}"
    if name == "format" and isinstance(value, str):
        return format_problem(kind.format, value) or error.message
    if name in _VALUE_LIMITS:
        return _VALUE_LIMITS[name].format(limit=kind.limit, value=_shown(value))
    if name in _SIZE_LIMITS:
        return _SIZE_LIMITS[name].format(limit=kind.limit, size=len(value))
    if name == "enum":
        options = ", ".join(_shown(o) for o in kind.options)
        return f"must be one of {options}, not {_shown(value)}"
    if name == "const":
        return f"must be {_shown(kind.expected_value)}, not {_shown(value)}"
    if name == "pattern":
        pattern = getattr(kind, "pattern", None)
        if pattern is None:  # BacktrackLimitExceeded: the pattern backtracks without end
            return f"the pattern takes too long to match {_shown(value)} (it backtracks too much)"
        return f"{_shown(value)} does not match the pattern {pattern}"
    if name == "uniqueItems":
        return "each item may appear only once"
    if name == "multipleOf":
        return f"must be a multiple of {kind.multiple_of}, not {_shown(value)}"
    return str(error.message)


def _shown(value: Any) -> str:
    """A value as an error shows it: short, and Python's repr for strings ('two')."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 4] + "...'"


def _schema_node(schema: dict[str, Any], path: tuple[Any, ...]) -> Any:
    node: Any = schema
    for part in path:
        node = resolve_ref(node, schema)
        if isinstance(node, dict):
            node = node.get(str(part))
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            return None
    return resolve_ref(node, schema)


def _unknown_key(path: KeyPath, allowed: list[str], locate: Locate) -> Problem:
    message = "unknown key"
    hint = difflib.get_close_matches(path[-1], allowed, n=1, cutoff=0.6)
    if hint:
        message += f"; did you mean {'.'.join((*path[:-1], hint[0]))!r}?"
    elif allowed:
        message += f" (allowed here: {', '.join(allowed)})"
    return _located(path, message, locate)


def _located(path: KeyPath, message: str, locate: Locate) -> Problem:
    file, line = locate(path)
    return Problem(message, path=file, line=line, key=".".join(path) or None)


# --------------------------------------------------------------------------- derived, rules


class _StackCodeError(Exception):
    """A derived value or rule failed to evaluate: reported at its line in stack.yaml."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


class _bounded:
    """Evaluate stack code within the render time bound; failures become ConfigErrors."""

    def __init__(self, display: str) -> None:
        self._display = display

    def __enter__(self) -> None:
        self._limit = time_limit(RENDER_SECONDS)
        self._limit.__enter__()

    def __exit__(self, kind: Any, err: Any, tb: Any) -> None:
        self._limit.__exit__(kind, err, tb)
        if isinstance(err, _StackCodeError):
            raise ConfigError(err.problem) from err
        if isinstance(err, RenderTimeout):
            msg = f"evaluating the stack's derived values and rules {err}"
            raise ConfigError.at(msg, path=self._display) from err


def _evaluate(
    where: tuple[str, str, int | None], call: Callable[..., Any], /, **context: Any
) -> Any:
    """Call stack code; a failure is a problem at ``where`` (file, key, line)."""
    file, key, line = where
    try:
        result = call(**context)
        if isinstance(result, jinja2.Undefined):
            bool(result)  # StrictUndefined raises, naming what is undefined
    except _StackCodeError:
        raise
    except RenderTimeout as err:
        message = f"evaluating it took longer than {RENDER_SECONDS} s (the bound)"
        raise _StackCodeError(Problem(message, path=file, line=line, key=key)) from err
    except jinja2.UndefinedError as err:
        raise _StackCodeError(Problem(f"{err}", path=file, line=line, key=key)) from err
    except Exception as err:  # stack code is the author's: contain every failure
        message = f"cannot be evaluated: {type(err).__name__}: {err}"
        raise _StackCodeError(Problem(message, path=file, line=line, key=key)) from err
    return result


def _derive(stack: Stack, data: dict[str, Any]) -> dict[str, Any]:
    values = dict(data)
    for item in stack.derived:
        key = f"derived.{item.name}"
        result = _evaluate((item.file, key, item.line), item.expression, env=values)
        problem = _data_problem(result)
        if problem:
            message = f"a derived value must be data: {problem}"
            raise _StackCodeError(Problem(message, path=item.file, line=item.line, key=key))
        values[item.name] = _plain(result)
    return values


def _data_problem(value: Any, depth: int = 0) -> str | None:
    if depth > 32:
        return "nested too deep"
    if value is None or isinstance(value, str | bool | int | float):
        return None
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"map keys are strings, got {type(key).__name__}"
            found = _data_problem(item, depth + 1)
            if found:
                return found
        return None
    if isinstance(value, list | tuple):
        for item in value:
            found = _data_problem(item, depth + 1)
            if found:
                return found
        return None
    return f"got {type(value).__name__}"


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _rule_problems(stack: Stack, values: dict[str, Any], locate: Locate) -> list[Problem]:
    problems: list[Problem] = []
    for rule in stack.rules:
        where = f"rules.{rule.index}"
        if rule.when is not None and not _evaluate(
            (rule.file, f"{where}.when", rule.line), rule.when, env=values
        ):
            continue
        items: list[tuple[Any, Any]] = [(None, None)]
        if rule.each is not None:
            found = _evaluate((rule.file, f"{where}.each", rule.line), rule.each, env=values)
            if isinstance(found, Mapping):
                items = list(found.items())
            elif isinstance(found, list | tuple):
                items = list(enumerate(found))
            elif found is None:
                items = []
            else:
                message = f"each must give a mapping or a list, got {type(found).__name__}"
                raise ConfigError(Problem(message, path=rule.file, line=rule.line, key=where))
        for key, value in items:
            context = {"env": values, "key": key, "value": value}
            if _evaluate((rule.file, f"{where}.rule", rule.line), rule.rule, **context):
                continue
            blamed = _evaluate((rule.file, f"{where}.key", rule.line), rule.key.render, **context)
            text = _evaluate(
                (rule.file, f"{where}.message", rule.line), rule.message.render, **context
            )
            path = tuple(p for p in str(blamed).strip().split(".") if p)
            problems.append(_located(path, " ".join(str(text).split()), locate))
    return problems
