"""The plan gate: a saved plan (``terraform show -json PLANFILE``) that deletes nothing passes.

Any resource change whose actions include ``delete`` (a destroy, or a replace:
``["delete", "create"]`` / ``["create", "delete"]``) is refused, naming its address, the
action and the attributes that force the replacement (``replace_paths``). An address
allowed by hand may be deleted. Moves (``previous_address``), imports, creates, in-place
updates and no-ops pass. It reads any plan, not only an adoption's.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generator.adopt.state import MAX_STATE_BYTES
from generator.errors import ConfigError
from generator.inputs.yamlsource import read_bounded

PLAN_FORMAT_PREFIX = "1."


@dataclass(frozen=True)
class Deletion:
    """One change the gate refuses (or lets through, when allowed)."""

    address: str
    action: str  # "delete" or "replace"
    replace_paths: tuple[str, ...] = ()
    allowed: bool = False

    def __str__(self) -> str:
        forced = f" (forced by {', '.join(self.replace_paths)})" if self.replace_paths else ""
        return f"{self.address}: would {self.action}{forced}"


@dataclass(frozen=True)
class GateResult:
    """Every change of a plan that deletes, and how many changes the plan holds."""

    deletions: tuple[Deletion, ...]
    changes: int

    @property
    def refused(self) -> tuple[Deletion, ...]:
        """The deletions no allowance lets through."""
        return tuple(d for d in self.deletions if not d.allowed)


def read_plan(path: Path, display: str) -> Mapping[str, Any]:
    """Read ``terraform show -json PLANFILE`` output, bounded.

    Raises:
        ConfigError: unreadable, not JSON, or not a plan of a known format.
    """
    raw = read_bounded(path, MAX_STATE_BYTES, display)  # FIFOs, devices, size: refused
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        msg = "not `terraform show -json PLANFILE` output: not JSON"
        raise ConfigError.at(msg, path=display) from err
    if not isinstance(data, dict):
        msg = "not `terraform show -json PLANFILE` output: not an object"
        raise ConfigError.at(msg, path=display)
    version = data.get("format_version")
    if not isinstance(version, str) or not version.startswith(PLAN_FORMAT_PREFIX):
        msg = "not `terraform show -json PLANFILE` output (no format_version 1.x)"
        raise ConfigError.at(msg, path=display)
    if not isinstance(data.get("resource_changes", []), list):
        msg_0 = "resource_changes is not a list"
        raise ConfigError.at(msg_0, path=display)
    return data


def gate(plan: Mapping[str, Any], *, allow: Collection[str] = ()) -> GateResult:
    """Find every change of ``plan`` that deletes.

    Args:
        plan: the parsed plan JSON.
        allow: addresses that may be deleted or replaced.
    """
    deletions: list[Deletion] = []
    changes = 0
    for change in plan.get("resource_changes", []):
        if not isinstance(change, Mapping):
            continue
        body = change.get("change")
        if not isinstance(body, Mapping) or not isinstance(body.get("actions"), list):
            continue
        actions = body["actions"]
        address = str(change.get("address", "?"))
        if actions != ["no-op"]:
            changes += 1
        if "delete" not in actions:
            continue
        action = "replace" if "create" in actions else "delete"
        replace = body.get("replace_paths")
        paths = tuple(_path(p) for p in replace) if isinstance(replace, list) else ()
        deletions.append(Deletion(address, action, paths, address in allow))
    return GateResult(tuple(deletions), changes)


def _path(steps: Any) -> str:
    """A replace path (``["tags", "Name"]``, ``["ingress", 0, "cidr"]``) as ``tags.Name``."""
    if not isinstance(steps, list):
        return str(steps)
    return ".".join(str(s) for s in steps)
