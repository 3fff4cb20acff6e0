"""What tfgen's own verified output says about each resource instance it renders.

From the parsed files of a render (python-hcl2's shape, as :mod:`generator.verify` returns
them): every managed resource, expanded into its instances where the keys are known at
render time (a literal ``count``, a literal ``for_each`` map, or ``toset([...])`` of string
literals), with the literal values that identify it (name, bucket, identifier, CIDR block,
``tags.Name``, ...). An attribute that is an expression is not known and is not used.

A stack with components renders one root module per component; :func:`component_instances`
pools them for one matching: addresses are namespaced ``<component>:<address>``, and a
consumer's ``data.terraform_remote_state.<producer>.outputs.<name>`` is read as what the
producer's output says (``aws_vpc.main.id`` in ``network``), so references work across
components as they do within one root.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from generator.adopt.expressions import Reference, evaluate
from generator.adopt.state import IndexKey, instance_address
from generator.verify.hclparse import NotALiteralError, decode_hcl_string
from generator.verify.rules import blocks_of

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
COMPONENT_SEPARATOR = ":"  # never in an address outside a quoted key; never in a component name

# What a reference names: (instance address, attribute), or None.
Resolve = Callable[[Reference], tuple[str, str] | None]


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

    @property
    def own_address(self) -> str:
        """The address in its own root module (``address`` without a component's prefix)."""
        return instance_address(self.resource, self.index) if self.expanded else self.resource


def rendered_instances(
    parsed: Mapping[str, Mapping[str, Any]],
    *,
    component: str | None = None,
    resolve: Resolve = Reference.target,
) -> list[RenderedInstance]:
    """Every managed resource instance in the parsed files of one render, in file order.

    Args:
        parsed: the parsed files of one root module.
        component: the component the root module is; its addresses are then namespaced
            ``<component>:<address>``.
        resolve: what a reference names (the default: a resource instance of this root).
    """
    prefix = f"{component}{COMPONENT_SEPARATOR}" if component is not None else ""
    found: list[RenderedInstance] = []
    for kind, name, body in _resources(parsed):
        found.extend(_instances(kind, name, body, prefix, resolve))
    return found


def declared_resources(parsed: Mapping[str, Mapping[str, Any]]) -> set[str]:
    """The resource addresses (``aws_vpc.main``) a root module's parsed files declare."""
    return {f"{kind}.{name}" for kind, name, _body in _resources(parsed)}


def component_instances(
    parsed: Mapping[str, Mapping[str, Mapping[str, Any]]],
) -> list[RenderedInstance]:
    """Every instance of every component of one environment, pooled for one matching.

    Args:
        parsed: component name -> the parsed files of its root module.

    Returns:
        The instances, addresses namespaced ``<component>:<address>``; a reference to a
        component's remote state is resolved through the producer's output to the
        instance it names.
    """
    outputs: dict[tuple[str, str], tuple[str, str]] = {}
    for component, files in parsed.items():
        for output, value in _outputs(files):
            target = value.target() if isinstance(value, Reference) else None
            if target is not None:
                outputs[(component, output)] = (component_address(component, target[0]), target[1])
    found: list[RenderedInstance] = []
    for component, files in parsed.items():

        def resolve(ref: Reference, component: str = component) -> tuple[str, str] | None:
            target = ref.target()
            if target is not None:
                return component_address(component, target[0]), target[1]
            remote = ref.remote_output()
            return outputs.get(remote) if remote is not None else None

        found.extend(rendered_instances(files, component=component, resolve=resolve))
    return found


def component_address(component: str, address: str) -> str:
    """``network:aws_vpc.main``: an address namespaced by its component."""
    return f"{component}{COMPONENT_SEPARATOR}{address}"


def split_component(address: str) -> tuple[str | None, str]:
    """``(component, own address)`` of a namespaced address; ``(None, address)`` otherwise."""
    head, separator, rest = address.partition(COMPONENT_SEPARATOR)
    if separator and "[" not in head:
        return head, rest
    return None, address


def _resources(
    parsed: Mapping[str, Mapping[str, Any]],
) -> Iterable[tuple[str, str, Mapping[str, Any]]]:
    for _name, doc in sorted(parsed.items()):
        for entry in blocks_of(doc, "resource"):
            for kind_label, named in entry.items():
                if not isinstance(named, Mapping):
                    continue
                for name_label, body in named.items():
                    if isinstance(body, Mapping):
                        yield kind_label.strip('"'), name_label.strip('"'), body


def _outputs(parsed: Mapping[str, Mapping[str, Any]]) -> Iterable[tuple[str, Any]]:
    """(name, evaluated value) of every output block of one root module."""
    for _name, doc in sorted(parsed.items()):
        for entry in blocks_of(doc, "output"):
            for label, body in entry.items():
                if isinstance(body, Mapping) and "value" in body:
                    yield label.strip('"'), evaluate(body["value"], None)


def _instances(
    kind: str, name: str, body: Mapping[str, Any], prefix: str, resolve: Resolve
) -> Iterable[RenderedInstance]:
    resource = f"{kind}.{name}"
    keys, known = _keys(body)
    if not known:
        identity, _ = _identity(body, None, resolve)
        yield RenderedInstance(
            prefix + resource, resource, kind, name, None, identity, expanded=False
        )
        return
    for key in keys:
        identity, references = _identity(body, key, resolve)
        address = prefix + instance_address(resource, key)
        yield RenderedInstance(address, resource, kind, name, key, identity, True, references)


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
    body: Mapping[str, Any], key: IndexKey, resolve: Resolve
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
        elif isinstance(value, Reference) and (target := resolve(value)) is not None:
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
