"""tfgen list: every environment with its region and state location, as a table or JSON."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from generator.config import EnvironmentSummary, describe_environment, list_environments
from generator.errors import TfgenError, merge_errors

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
        TfgenError: every environment file or layer that cannot be read.
    """
    summaries: list[EnvironmentSummary] = []
    errors: list[TfgenError] = []
    for name in list_environments(project_dir):
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
