"""Line numbers for a JSON document: strict loading, and the line of every value by its path.

``json`` gives no positions, and errors in a stack's ``schema.json`` must name their line.
:func:`json_lines` scans the text once (only when an error needs a line) and maps each
value's path (a tuple of keys and list indexes, as strings) to the line it starts on.
"""

from __future__ import annotations

import json
from typing import Any

from generator.errors import KeyPath

_WS = " \t\r\n"
_MAX_DEPTH = 64


class JsonError(ValueError):
    """The text is not strict JSON: a syntax error, a duplicate key or nesting too deep."""

    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


def load_json(text: str) -> Any:
    """Parse strict JSON: duplicate keys and nesting deeper than 64 levels are errors.

    Raises:
        JsonError: with the line of the problem.
    """

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for key, value in items:
            if key in found:
                msg = f"duplicate key {key!r}"
                raise JsonError(msg, None)
            found[key] = value
        return found

    # The depth bound comes first, whatever else is wrong. A document that parses is
    # measured on its values (a few hundred nodes); only a failing one is scanned as text.
    try:
        data = json.loads(text, object_pairs_hook=pairs)
    except (json.JSONDecodeError, JsonError, RecursionError) as err:
        _check_depth(max_depth(text))
        if isinstance(err, json.JSONDecodeError):
            msg = f"JSON syntax error: {err.msg}"
            raise JsonError(msg, err.lineno) from err
        if isinstance(err, JsonError):
            raise JsonError(err.message, _duplicate_line(text)) from err
        raise
    _check_depth(_value_depth(data))
    return data


def _check_depth(depth: int) -> None:
    if depth > _MAX_DEPTH:
        msg = f"nested more than {_MAX_DEPTH} levels deep"
        raise JsonError(msg, None)


def _value_depth(value: Any) -> int:
    """How deeply lists and objects nest in a parsed value (1 for ``{}``, 0 for a scalar)."""
    deepest = 0
    pending = [(value, 1)]
    while pending:
        node, depth = pending.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        deepest = max(deepest, depth)
        pending.extend((child, depth + 1) for child in children)
    return deepest


def max_depth(text: str) -> int:
    """The deepest bracket nesting outside strings (cheap; before json.loads recurses)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _duplicate_line(text: str) -> int | None:
    """The line of the first key repeated within one object (the one json.loads reported)."""
    _, repeated = _scan(text)
    return repeated[0] if repeated else None


def json_lines(text: str) -> dict[KeyPath, int]:
    """The 1-based line of each value of a (valid) JSON text, by its path."""
    return _scan(text)[0]


def _scan(text: str) -> tuple[dict[KeyPath, int], list[int]]:
    """Lines by path, and the lines of keys repeated within one object, in text order."""
    lines: dict[KeyPath, int] = {}
    repeated: list[int] = []
    pos, line = 0, 1
    length = len(text)

    def skip() -> None:
        nonlocal pos, line
        while pos < length and text[pos] in _WS:
            if text[pos] == "\n":
                line += 1
            pos += 1

    def string() -> str:
        nonlocal pos
        start = pos
        pos += 1
        while pos < length and text[pos] != '"':
            pos += 2 if text[pos] == "\\" else 1
        pos += 1
        try:
            value = json.loads(text[start:pos])
        except json.JSONDecodeError:
            return text[start + 1 : pos - 1]
        return value if isinstance(value, str) else ""

    def value(path: KeyPath) -> None:
        nonlocal pos
        skip()
        lines.setdefault(path, line)
        if pos >= length:
            return
        char = text[pos]
        if char == "{":
            pos += 1
            keys: set[str] = set()
            while True:
                skip()
                if pos >= length or text[pos] == "}":
                    pos += 1
                    return
                if text[pos] == ",":
                    pos += 1
                    continue
                key_line = line
                key = string()
                if key in keys:
                    repeated.append(key_line)
                keys.add(key)
                lines.setdefault((*path, key), key_line)
                skip()
                pos += 1  # ':'
                value((*path, key))
        elif char == "[":
            pos += 1
            index = 0
            while True:
                skip()
                if pos >= length or text[pos] == "]":
                    pos += 1
                    return
                if text[pos] == ",":
                    pos += 1
                    continue
                value((*path, str(index)))
                index += 1
        elif char == '"':
            string()
        else:
            while pos < length and text[pos] not in ",]}" + _WS:
                pos += 1

    value(())
    return lines, repeated
