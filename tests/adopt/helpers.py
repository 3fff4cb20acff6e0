"""Small state and plan files for the adopt tests, in the formats Terraform documents."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def raw_state(resources: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """A `terraform state pull` document (version 4) holding ``resources``."""
    return {
        "version": 4,
        "terraform_version": "1.11.4",
        "serial": 3,
        "lineage": "3f9a1c5e-0000-4000-8000-000000000000",
        "outputs": {},
        "resources": list(resources),
        "check_results": None,
    }


def raw_resource(
    kind: str, name: str, *instances: Mapping[str, Any], module: str | None = None
) -> dict[str, Any]:
    """One resource of a raw state; each instance may carry ``index_key``."""
    found: dict[str, Any] = {
        "mode": "managed",
        "type": kind,
        "name": name,
        "provider": 'provider["registry.terraform.io/hashicorp/aws"]',
        "instances": [
            {
                "schema_version": 0,
                "attributes": dict(i.get("attributes", i)),
                "sensitive_attributes": i.get("sensitive_attributes", []),
                **({"index_key": i["index_key"]} if "index_key" in i else {}),
            }
            for i in instances
        ],
    }
    if module:
        found["module"] = module
    return found


def show_json(resources: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """A `terraform show -json` document of a state holding ``resources`` at the root."""
    return {
        "format_version": "1.0",
        "terraform_version": "1.11.4",
        "values": {"root_module": {"resources": list(resources)}},
    }


def show_resource(
    kind: str, name: str, values: Mapping[str, Any], *, index: Any = None, sensitive: Any = None
) -> dict[str, Any]:
    address = f"{kind}.{name}" + ("" if index is None else f"[{json.dumps(index)}]")
    found: dict[str, Any] = {
        "address": address,
        "mode": "managed",
        "type": kind,
        "name": name,
        "provider_name": "registry.terraform.io/hashicorp/aws",
        "schema_version": 0,
        "values": dict(values),
        "sensitive_values": sensitive or {},
    }
    if index is not None:
        found["index"] = index
    return found


def write_json(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return path
