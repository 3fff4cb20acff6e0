"""What tfgen's own verified output says about each resource instance it renders.

From the parsed files of a render (python-hcl2's shape, as :mod:`generator.verify` returns
them): every managed resource, expanded into its instances where the keys are known at
render time (a literal ``count``, a literal ``for_each`` map, or ``toset([...])`` of string
literals), with the literal values that identify it (name, bucket, identifier, CIDR block,
``tags.Name``, ...). An attribute that is an expression is not known and is not used.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from generator.adopt.expressions import Reference, evaluate
from generator.adopt.state import IndexKey, instance_address
from generator.verify.hclparse import NotALiteralError, decode_hcl_string

# Attributes whose literal value names one deployed object of its type.
IDENTITY_ATTRIBUTES = (
    "name",
    "bucket",
    "identifier",
    "family",
    "cidr_block",
    "arn",
    "function_name",
    "table_name",
    "alarm_name",
    "name_prefix",
    "description",
    "comment",
)
_TOSET = re.compile(r'^\$\{toset\(\[((?:\s*"(?:[^"\\$%]|\\.)*"\s*,?)*)\s*\]\)\}$')
_STRING = re.compile(r'"((?:[^"\\$%]|\\.)*)"')


@dataclass(frozen=True)
class RenderedInstance:
    """One resource instance of the render.

    Attributes:
        address: ``aws_subnet.private[0]``.
        resource: ``aws_subnet.private``.
        type: ``aws_subnet``.
        name: ``private``.
        index: the instance key, or None.
        identity: attribute (``name``, ``tags.Name``, ...) -> its literal value.
        expanded: False when the instances cannot be known at render time (an expression
            for ``count`` or ``for_each``): then this one entry stands for the resource.
        references: attribute -> ``(instance address, attribute)`` it is set from
            (``subnet_id = aws_subnet.private[count.index].id``).
    """

    address: str
    resource: str
    type: str
    name: str
    index: IndexKey
    identity: Mapping[str, str] = field(default_factory=dict)
    expanded: bool = True
    references: Mapping[str, tuple[str, str]] = field(default_factory=dict)


def rendered_instances(parsed: Mapping[str, Mapping[str, Any]]) -> list[RenderedInstance]:
    """Every managed resource instance in the parsed files of one render, in file order."""
    found: list[RenderedInstance] = []
    for _name, doc in sorted(parsed.items()):
        for entry in _blocks(doc.get("resource")):
            for kind_label, named in entry.items():
                if not isinstance(named, Mapping):
                    continue
                kind = kind_label.strip('"')
                for name_label, body in named.items():
                    if isinstance(body, Mapping):
                        found.extend(_instances(kind, name_label.strip('"'), body))
    return found


def _instances(kind: str, name: str, body: Mapping[str, Any]) -> Iterable[RenderedInstance]:
    resource = f"{kind}.{name}"
    keys, known = _keys(body)
    if not known:
        identity, _ = _identity(body, None)
        yield RenderedInstance(resource, resource, kind, name, None, identity, expanded=False)
        return
    for key in keys:
        identity, references = _identity(body, key)
        yield RenderedInstance(
            instance_address(resource, key), resource, kind, name, key, identity, True, references
        )


def _keys(body: Mapping[str, Any]) -> tuple[list[IndexKey], bool]:
    """The instance keys, and whether they are known at render time."""
    if "count" in body:
        count = body["count"]
        if isinstance(count, int) and not isinstance(count, bool) and count >= 0:
            return list(range(count)), True
        return [], False
    if "for_each" in body:
        each = body["for_each"]
        if isinstance(each, Mapping):
            names = sorted(str(k) for k in each if not str(k).startswith("__"))
            return list[IndexKey](names), True
        if isinstance(each, str) and (match := _TOSET.fullmatch(each)):
            values: list[IndexKey] = sorted(
                {json.loads(f'"{s}"') for s in _STRING.findall(match.group(1))}
            )
            return values, True
        return [], False
    return [None], True


def _identity(
    body: Mapping[str, Any], key: IndexKey
) -> tuple[dict[str, str], dict[str, tuple[str, str]]]:
    """One instance's literal identity values and its references to other instances."""
    identity: dict[str, str] = {}
    references: dict[str, tuple[str, str]] = {}
    for attribute, raw in body.items():
        if attribute.startswith("__") or attribute in ("count", "for_each", "depends_on"):
            continue
        value = _value(raw, key)
        if attribute in IDENTITY_ATTRIBUTES and isinstance(value, str):
            identity[attribute] = value
        elif isinstance(value, Reference) and (target := value.target()) is not None:
            references[attribute] = target
    tags = body.get("tags")
    if isinstance(tags, Mapping):
        value = _value(tags.get("Name"), key)
        if isinstance(value, str):
            identity["tags.Name"] = value
    return identity, references


def _value(raw: Any, key: IndexKey) -> Any:
    literal = _literal(raw)
    return literal if literal is not None else evaluate(raw, key)


def _literal(raw: Any) -> str | None:
    try:
        return decode_hcl_string(raw)
    except NotALiteralError:
        return None


def _blocks(value: Any) -> list[Mapping[str, Any]]:
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []
