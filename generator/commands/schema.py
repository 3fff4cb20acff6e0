"""tfgen schema: the JSON Schema of environment files: the engine's core merged with the stack's.

The stack's own ``templates/schema.json`` is the source (editors can point at it directly);
this prints the whole of it, merged with the engine's core keys, for editors and CI. It
describes what a *file* may hold, which differs from the schema tfgen validates with in
three ways:

* No key is ``required``. Shared layers such as ``_defaults.yaml`` are partial, and an
  environment file says only what differs from them; completeness is checked by tfgen
  after layering, with the file and line of what is missing.
* ``name`` is not allowed (it comes from the file name) and ``extends`` is.
* A string value may be an ``${env:NAME}`` reference. Where the model constrains a
  string (a pattern, a length, a fixed set of values), the schema accepts either a
  literal that meets the constraint or any string containing ``${env:``: the value
  behind a reference is only known when tfgen runs, and tfgen checks it then. Numbers
  and booleans get no such alternative: the model is strict, so a reference (which
  always resolves to a string) is rejected there by tfgen too.

The engine's named formats (regions, bucket names, CIDR blocks, ARNs) and the stack's
rules are tfgen's alone; editors see the format names as annotations.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from generator.engine.stack import Stack

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
ENV_REFERENCE = {
    "type": "string",
    "pattern": r"\$\{env:",
    "description": "an ${env:NAME} or ${env:NAME:-default} reference, checked when tfgen runs",
}
_STRING_CONSTRAINTS = ("pattern", "minLength", "maxLength", "enum", "const", "format")
_ANNOTATIONS = ("title", "description", "default", "examples")
_DESCRIPTION = (
    "A tfgen environment file (environments/<name>.yaml) or shared layer "
    "(environments/_<layer>.yaml). Describes keys and types only: no key is required, "
    "because layers are partial; tfgen validates the complete, layered environment. "
    "String values may be ${env:NAME} references."
)
_EXTENDS = {
    "description": (
        "shared layers merged under this file, in order (environments/_<layer>.yaml); "
        "_defaults is always applied first"
    ),
    "anyOf": [
        {"type": "string", "pattern": r"^_[^/\\]*$"},
        {"type": "array", "items": {"type": "string", "pattern": r"^_[^/\\]*$"}},
    ],
}


def environment_file_schema(stack: Stack) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of an environment file or layer of a stack's project.

    Returns:
        A new dict each call.

    Raises:
        ConfigError: the stack's schema or stack file is broken.
    """
    schema = copy.deepcopy(stack.schema)
    schema.pop("$schema", None)
    properties: dict[str, Any] = schema["properties"]
    properties.pop("name", None)
    properties["extends"] = copy.deepcopy(_EXTENDS)
    schema = _adjust(schema)
    return {
        "$schema": SCHEMA_DIALECT,
        "title": "tfgen environment file",
        **{k: v for k, v in schema.items() if k not in ("title", "description")},
        "description": _DESCRIPTION,
    }


def schema_text(stack: Stack) -> str:
    """The schema as ``tfgen schema`` prints it (stable, newline-ended)."""
    return json.dumps(environment_file_schema(stack), indent=2) + "\n"


def _adjust(node: Any, *, in_names: bool = False) -> Any:
    """Drop ``required`` everywhere; let constrained strings also be ${env:...} references."""
    if isinstance(node, list):
        return [_adjust(item, in_names=in_names) for item in node]
    if not isinstance(node, dict):
        return node
    adjusted: dict[str, Any] = {}
    for key, value in node.items():
        if key == "required":
            continue
        if key in ("properties", "patternProperties", "$defs"):
            # Maps of name -> schema: the names are not schemas themselves.
            adjusted[key] = {name: _adjust(sub) for name, sub in value.items()}
        elif key == "anyOf":
            adjusted[key] = _flatten_any_of([_adjust(sub) for sub in value])
        else:
            adjusted[key] = _adjust(value, in_names=key == "propertyNames")
    if not in_names and _constrained_string(adjusted):
        # Keys are never interpolated, so propertyNames keep their constraints.
        outer = {k: adjusted.pop(k) for k in _ANNOTATIONS if k in adjusted}
        return {**outer, "anyOf": [adjusted, copy.deepcopy(ENV_REFERENCE)]}
    return adjusted


def _flatten_any_of(options: list[Any]) -> list[Any]:
    """``anyOf: [{anyOf: [a, b]}, c]`` -> ``anyOf: [a, b, c]`` (an ``X | None`` field)."""
    flat: list[Any] = []
    for option in options:
        if isinstance(option, dict) and set(option) == {"anyOf"}:
            flat.extend(option["anyOf"])
        else:
            flat.append(option)
    return flat


def _constrained_string(node: dict[str, Any]) -> bool:
    if not any(k in node for k in _STRING_CONSTRAINTS):
        return False
    types = node.get("type")
    if types == "string" or (isinstance(types, list) and "string" in types):
        return True
    values = node.get("enum", [node["const"]] if "const" in node else None)
    return isinstance(values, list) and bool(values) and all(isinstance(v, str) for v in values)
