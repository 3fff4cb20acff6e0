"""Resolve ``${env:NAME}`` and ``${env:NAME:-default}`` references in configuration strings."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from generator.errors import KeyPath, Locate, Problem

# `$${` is an escaped, literal `${`; `${env:...}` is a reference; anything else passes
# through untouched (the HCL filters escape it later, so it can never become code).
_TOKEN = re.compile(r"\$\$\{|\$\{env:(?P<body>[^}]*)\}|\$\{env:")
_REF = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>.*))?", re.DOTALL)


def interpolate_string(
    value: str, environ: Mapping[str, str], *, strict: bool = True
) -> tuple[str, list[str]]:
    """Resolve the references in one string.

    Args:
        value: the raw string from a YAML file.
        environ: the variables to read (normally ``os.environ``).
        strict: when False, a reference that cannot be resolved is kept verbatim
            instead of being reported (used by ``tfgen list``).

    Returns:
        The resolved string and a list of messages, one per reference that failed.
    """
    problems: list[str] = []

    def replace(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "$${":  # noqa: S105 - a YAML escape, not a password
            return "${"
        body = match.group("body")
        if body is None:
            problems.append("unterminated ${env:...} reference (missing '}')")
            return token
        ref = _REF.fullmatch(body)
        if ref is None:
            problems.append(
                f"malformed reference {token!r}: expected ${{env:NAME}} or ${{env:NAME:-default}}"
            )
            return token
        name, default = ref.group("name"), ref.group("default")
        current = environ.get(name)
        if current is not None and current.strip():
            return current
        if default is not None:
            return default
        if not strict:
            return token
        state = "is not set" if current is None else "is empty or only whitespace"
        problems.append(
            f"environment variable {name} {state} "
            f"(set it, or give a default with ${{env:{name}:-value}})"
        )
        return token

    result = _TOKEN.sub(replace, value)
    return result, problems


def interpolate_tree(
    data: Any, environ: Mapping[str, str], locate: Locate, *, strict: bool = True
) -> tuple[Any, list[Problem]]:
    """Resolve references in every string of a nested structure of dicts and lists.

    Args:
        data: the merged configuration.
        environ: the variables to read.
        locate: maps a key path to the file and line it came from, for messages.
        strict: see :func:`interpolate_string`.

    Returns:
        A new structure with references resolved, and the problems found.
    """
    problems: list[Problem] = []

    def walk(node: Any, path: KeyPath) -> Any:
        if isinstance(node, dict):
            return {k: walk(v, (*path, k)) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v, (*path, str(i))) for i, v in enumerate(node)]
        if isinstance(node, str) and "${" in node:
            resolved, errs = interpolate_string(node, environ, strict=strict)
            file, line = locate(path)
            problems.extend(Problem(e, path=file, line=line, key=".".join(path)) for e in errs)
            return resolved
        return node

    return walk(data, ()), problems
