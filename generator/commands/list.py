"""tfgen list: every environment with its region and state location, as a table or JSON.

For a stack with components, each environment also lists its components (folder and state
key), the edges between them and the apply waves; :func:`graph_text` draws the graph.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from generator.engine.core import fill_core_defaults
from generator.errors import ConfigError, TfgenError, merge_errors
from generator.inputs.environment import (
    environments_dir,
    layered_data,
    list_environments,
    locator,
)
from generator.inputs.interpolate import interpolate_tree
from generator.layout import ENVIRONMENTS_DIR, OUT_DIR

if TYPE_CHECKING:
    from generator.components.graph import ComponentGraph
    from generator.engine.stack import Stack

_COLUMNS = ("NAME", "REGION", "BUCKET", "KEY")
# A stack.yaml that may declare components (a top-level `components:` key); one that cannot
# is not loaded at all, so listing stays as light as before (no Jinja, no schema).
_DECLARES_COMPONENTS = re.compile(rb"^components\s*:", re.MULTILINE)
_ABSENT = "-"


@dataclass(frozen=True)
class EnvironmentSummary:
    """What ``tfgen list`` shows of one environment, read leniently (nothing validated).

    A value whose ``${env:...}`` reference cannot be resolved keeps the reference text;
    a value that is absent or not a string is None.
    """

    name: str
    source: str
    region: str | None
    bucket: str | None
    key: str | None
    endpoint: str | None = None


def describe_environment(
    project_dir: Path, name: str, *, environ: Mapping[str, str] | None = None
) -> EnvironmentSummary:
    """Layer one environment and read its region and state location without validating.

    Args:
        project_dir: the project root (holding ``environments/``).
        name: the environment name (the file stem).
        environ: variables for ``${env:...}``; ``os.environ`` when None.

    Returns:
        The summary; unresolved references are shown, not reported.

    Raises:
        ConfigError: the file or one of its layers cannot be read (YAML, extends).
    """
    data, origins, source = layered_data(project_dir, name)
    env = os.environ if environ is None else environ
    data, _ = interpolate_tree(data, env, locator(origins, source), strict=False)

    def text(value: Any) -> str | None:
        return value if isinstance(value, str) else None

    data = fill_core_defaults({**data, "name": name})  # the default key, as validation has it
    found = data.get("backend")
    backend: dict[str, Any] = found if isinstance(found, dict) else {}
    return EnvironmentSummary(
        name=name,
        source=source,
        region=text(data.get("region")),
        bucket=text(backend.get("bucket")),
        key=text(backend.get("key")),
        endpoint=text(data.get("endpoint")),
    )


def list_summaries(
    project_dir: Path, *, environ: Mapping[str, str] | None = None
) -> list[EnvironmentSummary]:
    """Describe every environment of the project, sorted by name.

    A variable that is not set does not fail the listing (its reference is shown);
    a file that cannot be read does.

    Args:
        project_dir: the project root.
        environ: variables for ``${env:...}``; ``os.environ`` when None.

    Returns:
        One summary per environment.

    Raises:
        ConfigError: the project has no ``environments/`` folder, or no environment in it
            (a CI matrix built from an empty list would plan nothing and pass).
        TfgenError: every environment file or layer that cannot be read.
    """
    names = list_environments(project_dir)
    if not names:
        folder = environments_dir(project_dir)
        if not folder.is_dir():
            msg = f"no {ENVIRONMENTS_DIR}/ folder in {project_dir}; is --project-dir right?"
        else:
            msg = f"no environment in it: add {ENVIRONMENTS_DIR}/<name>.yaml"
        raise ConfigError.at(msg, path=f"{ENVIRONMENTS_DIR}/")
    summaries: list[EnvironmentSummary] = []
    errors: list[TfgenError] = []
    for name in names:
        try:
            summaries.append(describe_environment(project_dir, name, environ=environ))
        except TfgenError as err:
            errors.append(err)
    failure = merge_errors(errors)
    if failure is not None:
        raise failure
    return summaries


def load_graph(project_dir: Path) -> tuple[Stack, ComponentGraph] | None:
    """The project's stack and component graph, or None for a stack without components.

    Raises:
        ConfigError: the stack is broken, or its components read each other in a cycle.
    """
    from generator.project import load_project, stack_file_mentions

    if not stack_file_mentions(project_dir, _DECLARES_COMPONENTS):
        return None  # no components (a broken stack fails render, not list)
    # Jinja loads only now, for a stack with components.

    project = load_project(project_dir)
    return None if project.graph is None else (project.stack, project.graph)


def summaries_json(
    summaries: Sequence[EnvironmentSummary],
    components: tuple[Stack, ComponentGraph] | None = None,
) -> str:
    """A JSON array of objects, one line, usable as a CI matrix as it is.

    Each object has name, file, region, bucket, key and endpoint (null unless the
    environment talks to an emulator, so CI can leave those out). With components, each
    also has ``components`` (name, folder, state key: null when the stack sets it by a
    template), ``edges`` (producer, consumer, the outputs read) and ``waves`` (a list of
    lists of names, in apply order; destroy is the waves reversed).
    """
    rows = []
    for s in summaries:
        row: dict[str, Any] = {
            "name": s.name,
            "file": s.source,
            "region": s.region,
            "bucket": s.bucket,
            "key": s.key,
            "endpoint": s.endpoint,
        }
        if components is not None:
            row.update(_component_rows(s, *components))
        rows.append(row)
    return json.dumps(rows, separators=(",", ":")) + "\n"


def _component_rows(
    summary: EnvironmentSummary, stack: Stack, graph: ComponentGraph
) -> dict[str, Any]:
    def key(name: str, templated: bool) -> str | None:
        if templated or summary.key is None:
            return None
        folder, _, file = summary.key.rpartition("/")
        return f"{folder}/{name}/{file}" if folder else f"{name}/{file}"

    edges = [
        {"producer": e.producer, "consumer": e.consumer, "outputs": list(e.outputs)}
        for e in graph.edges
    ]
    return {
        "components": [
            {
                "name": c.name,
                "dir": f"{OUT_DIR}/{summary.name}/{c.name}",
                "key": key(c.name, c.key is not None),
            }
            for c in stack.components
        ],
        "edges": edges,
        "waves": [list(wave) for wave in graph.waves],
    }


def graph_text(graph: ComponentGraph) -> str:
    """The component graph as Graphviz DOT, then as a Mermaid flowchart.

    It is the same for every environment: the edges come from the templates.
    """
    from generator.components.graph import graph_dot, graph_mermaid

    return (
        "// Graphviz DOT (dot -Tsvg)\n"
        + graph_dot(graph)
        + "\n%% Mermaid (a ```mermaid block in Markdown)\n"
        + graph_mermaid(graph)
    )


def summaries_table(summaries: Sequence[EnvironmentSummary]) -> str:
    """An aligned, plain-text table with a header row (empty projects give the header only)."""
    rows = [_COLUMNS] + [
        (s.name, s.region or _ABSENT, s.bucket or _ABSENT, s.key or _ABSENT) for s in summaries
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS) - 1)]
    lines = [
        "  ".join([*(cell.ljust(w) for cell, w in zip(row[:-1], widths, strict=True)), row[-1]])
        for row in rows
    ]
    return "\n".join(lines) + "\n"
