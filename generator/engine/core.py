"""The engine's core of every environment: name, project, region, tags, the S3 backend, endpoint.

A stack declares its own keys in ``templates/schema.json``; the engine merges that schema
with :data:`CORE_SCHEMA` (see :mod:`generator.engine.stack`), validates the layered data once, and
builds the typed :class:`EnvironmentConfig` that the rest of the engine reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# The keys every environment has, whatever its stack. Strings that must follow an AWS
# rule use the engine's named formats (generator.engine.formats.FORMATS).
# What AWS allows in tags: letters and numbers of any script, spaces and _ . : / = + - @.
# (JSON Schema patterns are ECMA-262: \w would be ASCII only, so the classes are named.)
_TAG_KEY = r"^[\p{L}\p{M}\p{N}_ .:/=+\-@]+$"
_TAG_VALUE = r"^[\p{L}\p{M}\p{N}_ .:/=+\-@]*$"
_NULLABLE_URL = {"type": ["string", "null"], "format": "http-url"}
CORE_SCHEMA: dict[str, Any] = {
    "name": {
        "type": "string",
        "format": "tfgen-env-name",
        "description": "set from the file name; an environment file omits it",
    },
    "project": {
        "type": "string",
        "format": "tfgen-project",
        "description": "the project name: 1 to 20 lowercase letters, digits and hyphens",
    },
    "region": {"type": "string", "format": "aws-region", "description": "the AWS region"},
    "endpoint": {
        **_NULLABLE_URL,
        "default": None,
        "description": "an emulated or S3-compatible AWS endpoint (moto, LocalStack); local only",
    },
    "tags": {
        "type": "object",
        "default": {},
        "maxProperties": 40,
        "description": "tags on every resource",
        "propertyNames": {"minLength": 1, "maxLength": 128, "pattern": _TAG_KEY},
        "additionalProperties": {
            "type": "string",
            "maxLength": 256,
            "pattern": _TAG_VALUE,
        },
    },
    "backend": {
        "type": "object",
        "description": "where Terraform keeps this environment's state: an S3 bucket and key",
        "additionalProperties": False,
        "required": ["bucket", "key", "region"],
        "properties": {
            "bucket": {"type": "string", "format": "s3-bucket-name"},
            "key": {
                "type": "string",
                "format": "s3-key",
                "description": "defaults to <project>/<env>/terraform.tfstate",
            },
            "region": {
                "type": "string",
                "format": "aws-region",
                "description": "defaults to the environment's region",
            },
            "encrypt": {"type": "boolean", "default": True, "description": "must stay true"},
            "use_lockfile": {"type": "boolean", "default": True},
            "dynamodb_table": {
                "type": ["string", "null"],
                "default": None,
                "minLength": 3,
                "maxLength": 255,
                "pattern": r"^[A-Za-z0-9_.-]+$",
            },
            "endpoint": {
                **_NULLABLE_URL,
                "default": None,
                "description": "S3-compatible endpoint for the state store only",
            },
            "use_path_style": {"type": "boolean", "default": False},
        },
    },
}
CORE_REQUIRED = ("name", "project", "region", "backend")
CORE_KEYS = frozenset(CORE_SCHEMA) | {"extends"}


@dataclass(frozen=True)
class Backend:
    """Where Terraform keeps this environment's state: an S3 bucket and key."""

    bucket: str
    key: str
    region: str
    encrypt: bool = True
    use_lockfile: bool = True
    dynamodb_table: str | None = None
    endpoint: str | None = None
    use_path_style: bool = False


@dataclass(frozen=True)
class EnvironmentConfig:
    """One environment, fully layered, interpolated, defaulted and validated.

    ``values`` is everything templates see as ``env``: the core keys, the stack's keys with
    their schema defaults, and the stack's derived values.
    """

    name: str
    project: str
    region: str
    backend: Backend
    endpoint: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    values: Mapping[str, Any] = field(default_factory=dict)


def fill_core_defaults(data: dict[str, Any]) -> dict[str, Any]:
    """Fill ``backend.key`` and ``backend.region`` from the environment when absent."""
    backend = data.get("backend")
    if not isinstance(backend, dict):
        return data
    backend = dict(backend)
    name, project = data.get("name"), data.get("project")
    if "key" not in backend and isinstance(name, str) and isinstance(project, str):
        backend["key"] = f"{project}/{name}/terraform.tfstate"
    if "region" not in backend and isinstance(data.get("region"), str):
        backend["region"] = data["region"]
    return {**data, "backend": backend}


def core_rule_problems(values: Mapping[str, Any]) -> list[tuple[tuple[str, ...], str]]:
    """The backend rules a schema cannot say: encrypted state, locking on."""
    backend = values["backend"]
    found: list[tuple[tuple[str, ...], str]] = []
    if not backend["encrypt"]:
        found.append(
            (("backend", "encrypt"), "state must be encrypted at rest; encrypt may not be false")
        )
    if not backend["use_lockfile"] and not backend["dynamodb_table"]:
        found.append(
            (
                ("backend", "use_lockfile"),
                "state locking is off: keep use_lockfile: true or name a dynamodb_table",
            )
        )
    return found


def normalise_core(values: dict[str, Any]) -> dict[str, Any]:
    """Canonical forms of validated core values (an endpoint without its trailing '/')."""
    if isinstance(values.get("endpoint"), str):
        values["endpoint"] = values["endpoint"].rstrip("/")
    backend = values["backend"]
    if isinstance(backend.get("endpoint"), str):
        backend["endpoint"] = backend["endpoint"].rstrip("/")
    return values


def build_config(values: Mapping[str, Any]) -> EnvironmentConfig:
    """The typed view of validated, defaulted values."""
    backend = values["backend"]
    return EnvironmentConfig(
        name=values["name"],
        project=values["project"],
        region=values["region"],
        endpoint=values.get("endpoint"),
        tags=dict(values.get("tags") or {}),
        backend=Backend(
            bucket=backend["bucket"],
            key=backend["key"],
            region=backend["region"],
            encrypt=backend["encrypt"],
            use_lockfile=backend["use_lockfile"],
            dynamodb_table=backend.get("dynamodb_table"),
            endpoint=backend.get("endpoint"),
            use_path_style=backend["use_path_style"],
        ),
        values=values,
    )
