"""Jinja filters that turn data into HCL literals; the only way values reach templates' output."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from jinja2 import Undefined, UndefinedError

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
# Characters a reader cannot see or that change how a line reads: C0/C1 controls, DEL,
# the Unicode line and paragraph separators, and the invisible and bidirectional controls
# (zero-width space to right-to-left mark, the embeddings and overrides, the isolates, the
# Arabic letter mark, the byte order mark), written as `\uXXXX` so a reviewer sees them.
# A `{` before `{`, `%` or `#` is written `\u007b`, so data never looks like leftover
# Jinja (`{{`, `{%`, `{#`) to the verifier; the template sequences give way to it
# (`${{` -> `$\u007b{`).
_UNSAFE = re.compile(
    r'[\\"\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]|\{(?=[{%#])'
    r"|(?P<tpl>[$%])\{(?![{%#])(?P<closed>(?=[^}]*\}))?"
)


def _escape_match(match: re.Match[str]) -> str:
    sigil = match.group("tpl")
    if sigil is not None:
        # `${` and `%{` are written `$${` and `%%{`, as HCL defines. HACK: python-hcl2 8.x
        # only lexes `$${`/`%%{` when a `}` follows in the same string (its grammar's
        # ESCAPED_INTERPOLATION is /\$\$\{[^}]*\}/), so an unclosed one would fail our own
        # parse-back; there the equivalent `\u0024{` / `\u0025{` is written, which
        # Terraform reads as the same literal text.
        if match.group("closed") is not None:
            return sigil * 2 + "{"
        return f"\\u{ord(sigil):04x}{{"
    text = match.group(0)
    return _ESCAPES.get(text) or f"\\u{ord(text):04x}"


class TerraformExpression(str):
    """Terraform code a template writes as it is: another component's output.

    Quoting it would turn the reference into a string that Terraform takes literally, so
    the HCL filters refuse it; ``written`` is how the template wrote it, for the message.
    """

    __slots__ = ("written",)
    written: str

    def __new__(cls, code: str, written: str) -> TerraformExpression:
        """``code`` as the template writes it out; ``written``, the reference it came from."""
        self = super().__new__(cls, code)
        self.written = written
        return self


class FilterRefusedError(Exception):
    """An HCL filter was given something that is not data (a :class:`TerraformExpression`)."""


def _refuse_expression(value: str) -> None:
    if isinstance(value, TerraformExpression):
        msg = (
            f"{value.written} is Terraform code (another component's output), not a value: "
            f"write {{{{ {value.written} }}}} without an HCL filter"
        )
        raise FilterRefusedError(msg)


def _require_defined(value: Any) -> None:
    """Raise Jinja's own error for an undefined value, so the message names the variable."""
    if isinstance(value, Undefined):
        bool(value)  # StrictUndefined raises UndefinedError("'x' is undefined") here
        msg = "a value passed to an HCL filter is undefined"
        raise UndefinedError(msg)


def hcl_string(value: Any) -> str:
    """Quote ``value`` as an HCL string literal that evaluates to exactly ``value``.

    Backslash, quote, newlines and control characters are escaped, and the template
    sequences ``${`` and ``%{`` become ``$${`` and ``%%{``: data never becomes code.

    Raises:
        TypeError: ``value`` is not a str.
    """
    _require_defined(value)
    if not isinstance(value, str):
        msg = f"hcl_string expects a string, got {type(value).__name__}"
        raise TypeError(msg)
    _refuse_expression(value)
    return '"' + _UNSAFE.sub(_escape_match, value) + '"'


def hcl_key(value: Any) -> str:
    """An object key: bare when it is an identifier, quoted otherwise."""
    _require_defined(value)
    if not isinstance(value, str):
        msg = f"map keys must be strings, got {type(value).__name__}"
        raise TypeError(msg)
    # A bare `for` opening an object (`{ for = 1 }`) is read by Terraform as the start of
    # a for expression (python-hcl2 accepts it; terraform does not): it is always quoted.
    return value if _IDENT.fullmatch(value) and value != "for" else hcl_string(value)


def hcl(value: Any, indent: int = 0) -> str:
    """Render a value as an HCL expression, already in ``terraform fmt`` layout.

    Args:
        value: str, bool, int, float, None, or lists and maps of them.
        indent: the indentation of the line the expression starts on; a non-empty map
            is written over several lines, its entries at ``indent + 2``.

    Raises:
        TypeError: for any other type (a Python repr must never reach the output).
        ValueError: for NaN or infinite floats.
    """
    _require_defined(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            msg = f"{value} cannot be written in HCL"
            raise ValueError(msg)
        return repr(value)
    if isinstance(value, str):
        return hcl_string(value)
    if isinstance(value, Mapping):
        return _hcl_map(value, indent)
    if isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        items = [hcl(v, indent) for v in value]
        if any("\n" in i for i in items):
            pad = " " * (indent + 2)
            body = "".join(f"{pad}{hcl(v, indent + 2)},\n" for v in value)
            return "[\n" + body + " " * indent + "]"
        return "[" + ", ".join(items) + "]"
    msg = f"cannot write a {type(value).__name__} as HCL"
    raise TypeError(msg)


def _hcl_map(value: Mapping[Any, Any], indent: int) -> str:
    if not value:
        return "{}"
    return "{\n" + hcl_attrs(value, indent + 2) + "\n" + " " * indent + "}"


def hcl_attrs(value: Mapping[Any, Any], indent: int = 0) -> str:
    """Render a mapping as ``key = value`` lines at ``indent``, aligned as terraform fmt does.

    Used for a block's body (``backend.hcl``, ``tags``) and inside :func:`hcl` for maps.
    """
    _require_defined(value)
    if not isinstance(value, Mapping):
        msg = f"hcl_attrs expects a mapping, got {type(value).__name__}"
        raise TypeError(msg)
    pad = " " * indent
    rows = [(hcl_key(k), hcl(v, indent)) for k, v in value.items()]
    lines: list[str] = []
    group: list[tuple[str, str]] = []

    def flush() -> None:
        # terraform fmt aligns the '=' of consecutive single-line entries.
        width = max((len(k) for k, _ in group), default=0)
        lines.extend(f"{pad}{k.ljust(width)} = {v}" for k, v in group)
        group.clear()

    for key, text in rows:
        if "\n" in text:
            flush()
            lines.append(f"{pad}{key} = {text}")
        else:
            group.append((key, text))
    flush()
    return "\n".join(lines)


FILTERS: dict[str, Callable[..., str]] = {
    "hcl": hcl,
    "hcl_string": hcl_string,
    "hcl_key": hcl_key,
    "hcl_attrs": hcl_attrs,
}
