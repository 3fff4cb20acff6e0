"""A deployed state, read offline: ``terraform show -json`` output or a raw state (version 4).

Both are told apart by their top-level keys and reduced to the same :class:`StateObject`
list: managed resources only, one object per instance, with their attributes minus every
attribute the state marks sensitive (those are never kept, printed or written). A state
file may come from anywhere: it is read bounded (size checked on the open file before any
byte is read, never through a link, never a FIFO), and anything not of the documented
shape is a one-line error naming the file and the reason.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generator.engine.jsonpos import max_depth
from generator.errors import ConfigError
from generator.inputs.yamlsource import read_bounded

# terraform state pull of a large estate is tens of MiB; this leaves room and bounds memory.
MAX_STATE_BYTES = 256 * 1024 * 1024
# Deeper than any provider schema nests; refused before json.loads could recurse.
MAX_DEPTH = 128
RAW_STATE_VERSION = 4
SHOW_FORMAT_PREFIX = "1."

IndexKey = int | str | None


@dataclass(frozen=True)
class StateObject:
    """One managed resource instance of a state.

    Attributes:
        address: its full address (``module.a.aws_vpc.main``, ``aws_subnet.private[0]``).
        resource: the address without the instance key.
        type: the resource type (``aws_vpc``).
        name: the resource name (``main``).
        index: the instance key: an int (``count``), a str (``for_each``) or None.
        module: the module path (``module.a``), empty at the root.
        attributes: its attributes, without any the state marks sensitive.
    """

    address: str
    resource: str
    type: str
    name: str
    index: IndexKey
    module: str
    attributes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class State:
    """A state file, read: which format it was, and its managed objects in file order."""

    path: str
    format: str  # "show-json" or "raw-state"
    objects: tuple[StateObject, ...]


def instance_address(resource: str, index: IndexKey) -> str:
    """``resource`` with its instance key, as Terraform writes addresses."""
    if index is None:
        return resource
    if isinstance(index, int):
        return f"{resource}[{index}]"
    return f"{resource}[{json.dumps(index)}]"


def read_state(path: Path, display: str) -> State:
    """Read and tell apart a ``terraform show -json`` output or a raw state file.

    Args:
        path: the file.
        display: how messages name it.

    Raises:
        ConfigError: unreadable, too large, not JSON, truncated, of an unknown format or
            version, or not of the documented shape; the message names the file.
    """
    raw = read_bounded(path, MAX_STATE_BYTES, display)  # FIFOs, devices, size: refused
    data = _load_json(raw, display)
    if not isinstance(data, dict):
        msg = "not a Terraform state: the top level is not an object"
        raise ConfigError.at(msg, path=display)
    try:
        if "format_version" in data:
            return State(display, "show-json", tuple(_show_json(data, display)))
        if "version" in data and "resources" in data:
            return State(display, "raw-state", tuple(_raw_state(data, display)))
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        msg = f"not of the shape Terraform writes ({type(err).__name__}: {err})"
        raise ConfigError.at(msg, path=display) from err
    msg = (
        "not a Terraform state: expected `terraform show -json` output (format_version) "
        "or a raw state from `terraform state pull` (version, resources)"
    )
    raise ConfigError.at(msg, path=display)


def _load_json(raw: bytes, display: str) -> Any:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        msg = f"not UTF-8 (byte {err.start})"
        raise ConfigError.at(msg, path=display) from err
    if max_depth(text) > MAX_DEPTH:  # before the parser can recurse
        msg = f"nested deeper than {MAX_DEPTH} levels"
        raise ConfigError.at(msg, path=display)
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        what = "truncated" if err.pos >= len(text.rstrip()) else "not valid JSON"
        msg = f"{what} at line {err.lineno}, column {err.colno}: {err.msg}"
        raise ConfigError.at(msg, path=display, line=err.lineno) from err


def _show_json(data: Mapping[str, Any], display: str) -> Iterator[StateObject]:
    version = data["format_version"]
    if not isinstance(version, str) or not version.startswith(SHOW_FORMAT_PREFIX):
        msg = f"unknown `terraform show -json` format_version {version!r} (tfgen reads 1.x)"
        raise ConfigError.at(msg, path=display)
    values = data.get("values")
    if values is None:  # an empty state: `terraform show -json` prints no values
        return
    yield from _show_module(values["root_module"], "", display)


def _show_module(module: Mapping[str, Any], path: str, display: str) -> Iterator[StateObject]:
    for resource in module.get("resources", []):
        if resource["mode"] != "managed":
            continue
        kind, name = _text(resource["type"]), _text(resource["name"])
        index = _index(resource.get("index"))
        base = f"{path}.{kind}.{name}" if path else f"{kind}.{name}"
        attributes = _without_sensitive(
            resource.get("values") or {}, resource.get("sensitive_values")
        )
        yield StateObject(instance_address(base, index), base, kind, name, index, path, attributes)
    for child in module.get("child_modules", []):
        address = _text(child["address"])
        yield from _show_module(child, address, display)


def _raw_state(data: Mapping[str, Any], display: str) -> Iterator[StateObject]:
    version = data["version"]
    if version != RAW_STATE_VERSION or type(version) is not int:
        msg = f"unknown state version {version!r} (tfgen reads version {RAW_STATE_VERSION})"
        raise ConfigError.at(msg, path=display)
    for resource in data["resources"]:
        if resource.get("mode", "managed") != "managed":
            continue
        kind, name = _text(resource["type"]), _text(resource["name"])
        module = _text(resource.get("module", ""))
        base = f"{module}.{kind}.{name}" if module else f"{kind}.{name}"
        for instance in resource["instances"]:
            index = _index(instance.get("index_key"))
            attributes = _without_paths(
                instance.get("attributes") or {}, instance.get("sensitive_attributes") or []
            )
            yield StateObject(
                instance_address(base, index), base, kind, name, index, module, attributes
            )


def _text(value: Any) -> str:
    if not isinstance(value, str):
        msg = f"expected a string, got {type(value).__name__}"
        raise TypeError(msg)
    return value


def _index(value: Any) -> IndexKey:
    if value is None or isinstance(value, str) or (isinstance(value, int) and value >= 0):
        return value
    msg = f"an instance key is an int or a string, got {value!r}"
    raise ValueError(msg)


def _without_sensitive(values: Mapping[str, Any], sensitive: Any) -> dict[str, Any]:
    """Drop each attribute ``sensitive_values`` marks (``true``, or anything nested)."""
    if not isinstance(values, Mapping):
        msg = "values is not an object"
        raise TypeError(msg)
    marks = sensitive if isinstance(sensitive, Mapping) else {}
    return {k: v for k, v in values.items() if not _marked(marks.get(k))}


def _marked(mark: Any) -> bool:
    """Whether a ``sensitive_values`` entry marks anything: it mirrors the value's shape.

    A list attribute's entry is a list of marks (``cidr_blocks: [false]`` marks nothing),
    an object's a mapping; ``true`` anywhere in it marks the attribute. Its depth is the
    value's, which reading the state has bounded.
    """
    if isinstance(mark, bool):
        return mark
    if isinstance(mark, list):
        return any(_marked(m) for m in mark)
    if isinstance(mark, Mapping):
        return any(_marked(m) for m in mark.values())
    return False


def _without_paths(attributes: Mapping[str, Any], sensitive: Any) -> dict[str, Any]:
    """Drop each top-level attribute named by a raw state's ``sensitive_attributes`` paths."""
    if not isinstance(attributes, Mapping) or not isinstance(sensitive, list):
        msg = "attributes is not an object, or sensitive_attributes not a list"
        raise TypeError(msg)
    hidden: set[str] = set()
    for path in sensitive:
        steps = path if isinstance(path, list) else []
        first = steps[0] if steps else None
        if isinstance(first, Mapping) and isinstance(first.get("value"), str):
            hidden.add(first["value"])
    return {k: v for k, v in attributes.items() if k not in hidden}
