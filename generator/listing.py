"""tfgen list: every environment with its region and state location, as a table or JSON."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from generator.config import (
    ENVIRONMENTS_DIR,
    EnvironmentSummary,
    describe_environment,
    environments_dir,
    list_environments,
)
from generator.errors import ConfigError, TfgenError, merge_errors

_COLUMNS = ("NAME", "REGION", "BUCKET", "KEY")
_ABSENT = "-"


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


def summaries_json(summaries: Sequence[EnvironmentSummary]) -> str:
    """A JSON array of objects, one line, usable as a CI matrix as it is.

    Each object has name, file, region, bucket, key and endpoint (null unless the
    environment talks to an emulator, so CI can leave those out).
    """
    rows = [
        {
            "name": s.name,
            "file": s.source,
            "region": s.region,
            "bucket": s.bucket,
            "key": s.key,
            "endpoint": s.endpoint,
        }
        for s in summaries
    ]
    return json.dumps(rows, separators=(",", ":")) + "\n"


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
