"""What ``tfgen adopt`` decided, kept in the project: ``adopt/<env>.yaml``, and its HCL.

The file is reviewable input, like an environment file: ``moved`` (old address -> new),
``import`` (new address <- import id), ``removed`` (resources the state may forget
without destroying them) and ``pin`` (old address -> new address, or null to leave an
object unmatched: written by hand, honoured by the next ``tfgen adopt``). Every later
render of the environment renders it into ``out/<env>/adopt.tf``, verified with the rest;
deleting the file removes the blocks.

For a stack with components the file holds one section per component instead,
``components: {<name>: {import: [...], pin: {...}}}``: every component has a state of its
own, so adoption is by import only, and each section's addresses are the component's own
(rendered into ``out/<env>/<component>/adopt.tf``).

It is read strictly (it may come from a pull request): only these keys, addresses of the
form Terraform writes, ids of printable characters with nothing HCL would interpret
(quotes, backslashes, ``${``, ``%{``), each error at its line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from generator.errors import ConfigError, KeyPath, Problem
from generator.inputs.yamldoc import YamlDoc

ADOPT_OUTPUT = "adopt.tf"
_KEYS = ("moved", "import", "removed", "pin")
COMPONENTS_KEY = "components"
# A component's state is new and its own: it takes objects in by import, never by a move.
_COMPONENT_KEYS = ("import", "pin")
_NAME = r"[A-Za-z_][A-Za-z0-9_-]*"
_KEY = r'\[(?:\d+|"[A-Za-z0-9_.:/@+=, -]*")\]'
RESOURCE_RE = re.compile(rf"^(?:module\.{_NAME}(?:{_KEY})?\.)*{_NAME}\.{_NAME}$")
ADDRESS_RE = re.compile(rf"^(?:module\.{_NAME}(?:{_KEY})?\.)*{_NAME}\.{_NAME}(?:{_KEY})?$")
MAX_ID = 2048


@dataclass(frozen=True)
class Moved:
    """``moved { from = old  to = new }``, with the evidence that made the match."""

    old: str
    new: str
    by: tuple[str, ...] = ()


@dataclass(frozen=True)
class Import:
    """``import { to = address  id = "..." }``."""

    to: str
    id: str


@dataclass(frozen=True)
class Adoption:
    """One environment's adoption: its blocks, and the pins a person wrote."""

    moved: tuple[Moved, ...] = ()
    imports: tuple[Import, ...] = ()
    removed: tuple[str, ...] = ()
    pins: Mapping[str, str | None] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        """Nothing to render."""
        return not (self.moved or self.imports or self.removed)


def address_problem(value: Any, *, resource: bool = False) -> str | None:
    """Why ``value`` is not an address tfgen writes (None: it is one)."""
    pattern = RESOURCE_RE if resource else ADDRESS_RE
    if isinstance(value, str) and pattern.fullmatch(value):
        return None
    what = "a resource address without an instance key" if resource else "a resource address"
    return f"expected {what} such as aws_lb.main, got {value!r}"


def id_problem(value: Any) -> str | None:
    """Why ``value`` cannot be written as an import id (None: it can, as it is)."""
    if not isinstance(value, str) or not value:
        return f"expected a non-empty string, got {value!r}"
    if len(value) > MAX_ID:
        return f"longer than {MAX_ID} characters"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        return "holds a control character (a newline?): not an id any AWS API returns"
    for bad in ('"', "\\", "${", "%{"):
        if bad in value:
            return f"holds {bad!r}, which HCL would interpret: not an id any AWS API returns"
    return None


def load_adoption(doc: YamlDoc) -> Adoption:
    """Check and read the adoption file of a stack without components, parsed with its lines.

    Raises:
        ConfigError: one problem per line: unknown keys, bad addresses or ids.
    """
    problems: list[Problem] = []

    def problem(message: str, *key: str) -> None:
        problems.append(Problem(message, path=doc.path, line=doc.lines.get(key), key=".".join(key)))

    data = dict(doc.data)
    if data.pop(COMPONENTS_KEY, None) is not None or COMPONENTS_KEY in doc.data:
        msg = "the stack declares no components; its blocks are moved, import, removed, pin"
        problem(msg, COMPONENTS_KEY)
    adoption = _load_section(data, (), _KEYS, problem)
    if problems:
        raise ConfigError(*problems)
    return adoption


def load_component_adoption(doc: YamlDoc, components: Sequence[str]) -> dict[str, Adoption]:
    """Check and read the adoption file of a stack with ``components``: one section each.

    Returns:
        Component name -> its adoption (imports and pins, its own addresses), in file order.

    Raises:
        ConfigError: one problem per line: keys outside ``components``, an unknown
            component, a section that is not a mapping of ``import`` and ``pin``, bad
            addresses or ids.
    """
    problems: list[Problem] = []

    def problem(message: str, *key: str) -> None:
        problems.append(Problem(message, path=doc.path, line=doc.lines.get(key), key=".".join(key)))

    for key in doc.data:
        if key != COMPONENTS_KEY:
            problem(
                "the stack has components: each one's blocks go under "
                f"{COMPONENTS_KEY}.<component> (import, pin)",
                str(key),
            )
    raw = doc.data.get(COMPONENTS_KEY, {})
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        problem("components maps each component to its import and pin", COMPONENTS_KEY)
        raw = {}
    sections: dict[str, Adoption] = {}
    pinned: dict[str, str] = {}  # old address -> the component that pins it
    for name, body in raw.items():
        where = (COMPONENTS_KEY, str(name))
        if name not in components:
            listed = ", ".join(components)
            problem(f"the stack has no component {name!r} (components: {listed})", *where)
            continue
        if body is None:
            body = {}
        if not isinstance(body, dict):
            problem("a component's section maps import and pin", *where)
            continue
        sections[name] = section = _load_section(body, where, _COMPONENT_KEYS, problem)
        for old in section.pins:
            if old in pinned:
                problem(f"already pinned by component {pinned[old]}", *where, "pin", old)
            pinned.setdefault(old, name)
    if problems:
        raise ConfigError(*problems)
    return sections


def foreign_addresses(
    component: str,
    adoption: Adoption,
    resources: Collection[str],
    *,
    source: str,
    lines: Mapping[KeyPath, int],
    imports: bool = True,
) -> list[Problem]:
    """The addresses of ``component``'s section that name no resource the component renders.

    Args:
        component: the section's component.
        adoption: its section, as :func:`load_component_adoption` read it.
        resources: the resource addresses (``aws_vpc.main``) the component renders.
        source: the adoption file, as messages name it.
        lines: the line of every key of the file.
        imports: check the import blocks' addresses too (not only the pins').

    Returns:
        One problem per address, at its line.
    """
    where: list[tuple[KeyPath, str]] = [
        ((COMPONENTS_KEY, component, "pin", old), new)
        for old, new in adoption.pins.items()
        if new is not None
    ]
    if imports:
        where[:0] = [
            ((COMPONENTS_KEY, component, "import", str(i), "to"), item.to)
            for i, item in enumerate(adoption.imports)
        ]
    problems: list[Problem] = []
    for key, address in where:
        if _resource_of(address) in resources:
            continue
        msg = (
            f"{address} is not a resource of component {component}; each section names "
            "addresses of its own component"
        )
        problems.append(Problem(msg, path=source, line=lines.get(key), key=".".join(key)))
    return problems


def _resource_of(address: str) -> str:
    """``aws_subnet.private`` of ``aws_subnet.private[0]``."""
    return address.split("[", 1)[0]


# Records one problem at a key path: (message, *key).
Report = Callable[..., None]


def _load_section(
    data: Mapping[str, Any],
    prefix: KeyPath,
    allowed: Sequence[str],
    report: Report,
) -> Adoption:
    """One adoption (the whole file, or a component's section) from ``data`` at ``prefix``."""

    def problem(message: str, *key: str) -> None:
        report(message, *prefix, *key)

    for key in data:
        if key not in allowed:
            problem(f"unknown key (allowed: {', '.join(allowed)})", str(key))
    moved = [
        Moved(item["from"], item["to"], tuple(item.get("by", ())))
        for index, item in _items(data, "moved", ("from", "to", "by"), problem)
        if _checked(problem, ("moved", index), item, {"from": False, "to": False})
        and _by_ok(problem, ("moved", index), item.get("by", []))
    ]
    imports = [
        Import(item["to"], item["id"])
        for index, item in _items(data, "import", ("to", "id"), problem)
        if _checked(problem, ("import", index), item, {"to": False})
        and _id_ok(problem, ("import", index), item.get("id"))
    ]
    removed: list[str] = []
    raw_removed = data.get("removed", [])
    if not isinstance(raw_removed, list):
        problem("removed is a list of resource addresses", "removed")
    else:
        for index, value in enumerate(raw_removed):
            why = address_problem(value, resource=True)
            if why:
                problem(why, "removed", str(index))
            else:
                removed.append(value)
    pins: dict[str, str | None] = {}
    raw_pins = data.get("pin", {})
    if not isinstance(raw_pins, dict):
        problem("pin maps an old address to a new one (or null)", "pin")
    else:
        for old, new in raw_pins.items():
            why = address_problem(old) or (None if new is None else address_problem(new))
            if why:
                problem(why, "pin", str(old))
            else:
                pins[old] = new
    return Adoption(tuple(moved), tuple(imports), tuple(removed), pins)


def _items(
    data: Mapping[str, Any], key: str, allowed: Sequence[str], problem: Any
) -> list[tuple[str, dict[str, Any]]]:
    raw = data.get(key, [])
    if not isinstance(raw, list):
        problem(f"{key} is a list of mappings", key)
        return []
    found: list[tuple[str, dict[str, Any]]] = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            problem(f"expected a mapping of {', '.join(allowed)}", key, str(index))
            continue
        unknown = [k for k in item if k not in allowed]
        for name in unknown:
            problem(f"unknown key (allowed: {', '.join(allowed)})", key, str(index), name)
        if not unknown:
            found.append((str(index), item))
    return found


def _checked(
    problem: Any, where: tuple[str, str], item: Mapping[str, Any], keys: Mapping[str, bool]
) -> bool:
    ok = True
    for name, resource in keys.items():
        why = address_problem(item.get(name), resource=resource)
        if why:
            problem(why, *where, name)
            ok = False
    return ok


def _id_ok(problem: Any, where: tuple[str, str], value: Any) -> bool:
    why = id_problem(value)
    if why:
        problem(why, *where, "id")
    return why is None


def _by_ok(problem: Any, where: tuple[str, str], value: Any) -> bool:
    if isinstance(value, list) and all(isinstance(v, str) and v.isprintable() for v in value):
        return True
    problem("by is a list of the attributes that made the match", *where, "by")
    return False


# --------------------------------------------------------------------------- writing


def adoption_yaml(adoption: Adoption, *, note: Sequence[str] = ()) -> str:
    """The adoption file's text (YAML; every string JSON-quoted, so nothing is reinterpreted)."""
    lines = [f"# {line}" for line in note]
    lines.extend(_section_lines(adoption, _KEYS))
    return "\n".join(lines) + "\n"


def component_adoption_yaml(sections: Mapping[str, Adoption], *, note: Sequence[str] = ()) -> str:
    """The adoption file of a stack with components: one section (import, pin) each."""
    lines = [f"# {line}" for line in note]
    lines.append(f"{COMPONENTS_KEY}:" if sections else f"{COMPONENTS_KEY}: {{}}")
    for name, adoption in sections.items():
        lines.append(f"  {_q(name)}:")
        lines.extend(f"    {line}" for line in _section_lines(adoption, _COMPONENT_KEYS))
    return "\n".join(lines) + "\n"


def _section_lines(adoption: Adoption, keys: Sequence[str]) -> list[str]:
    lines: list[str] = []
    if "moved" in keys:
        lines.append("moved:" if adoption.moved else "moved: []")
        for item in adoption.moved:
            lines.append(f"  - from: {_q(item.old)}")
            lines.append(f"    to: {_q(item.new)}")
            lines.append(f"    by: [{', '.join(_q(b) for b in item.by)}]")
    lines.append("import:" if adoption.imports else "import: []")
    for imported in adoption.imports:
        lines.append(f"  - to: {_q(imported.to)}")
        lines.append(f"    id: {_q(imported.id)}")
    if "removed" in keys:
        lines.append("removed:" if adoption.removed else "removed: []")
        lines.extend(f"  - {_q(address)}" for address in adoption.removed)
    lines.append("# pin: {old address: new address, or null} overrides the matcher (by hand)")
    lines.append("pin:" if adoption.pins else "pin: {}")
    lines.extend(
        f"  {_q(old)}: {'null' if new is None else _q(new)}" for old, new in adoption.pins.items()
    )
    return lines


def _q(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def render_adoption(adoption: Adoption, *, source: str, command: str) -> str:
    """``moved``, ``import`` and ``removed`` blocks, terraform fmt-canonical.

    Args:
        adoption: what was decided.
        source: the adoption file, as the header names it.
        command: the command that renders it again (for the header).
    """
    parts = [
        f"# Generated by tfgen from {source}; do not edit.\n"
        f"# Change that file (or run tfgen adopt again) and run: {command}\n"
    ]
    parts.extend(
        f"moved {{\n  from = {item.old}\n  to   = {item.new}\n}}\n" for item in adoption.moved
    )
    parts.extend(
        f"import {{\n  to = {item.to}\n  id = {_q(item.id)}\n}}\n" for item in adoption.imports
    )
    if adoption.removed:
        parts.append(removed_blocks(adoption.removed))
    return "\n".join(parts)


def removed_blocks(addresses: Sequence[str]) -> str:
    """``removed`` blocks (destroy = false) for an old root that must forget ``addresses``."""
    return "\n".join(
        f"removed {{\n  from = {address}\n\n  lifecycle {{\n    destroy = false\n  }}\n}}\n"
        for address in addresses
    )
