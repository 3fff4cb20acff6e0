"""The pipeline's worker pool: a worker that dies is one failed environment, not a traceback."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest

from generator import pipeline
from tests.conftest import GOLDEN_ENVIRON

_REAL_RUN_TASK = pipeline._run_task


def _dying(task: Any) -> Any:
    """A worker body that kills its process for one environment (module level: picklable)."""
    if task.name == "staging":
        os._exit(17)  # the worker process vanishes, as under the OOM killer
    return _REAL_RUN_TASK(task)


@pytest.mark.skipif(sys.platform != "linux", reason="relies on fork sharing the patched worker")
def test_a_dead_worker_fails_its_environment_only(project: Path, monkeypatch: Any) -> None:
    monkeypatch.setattr(pipeline, "_run_task", _dying)
    report = pipeline.generate(
        pipeline.RunOptions(
            project_dir=project, environments=["dev", "staging"], environ=GOLDEN_ENVIRON, workers=2
        )
    )
    failure = report.failure()
    assert failure is not None
    assert failure.exit_code == 1
    assert "environments/staging.yaml: the worker process rendering it died" in str(failure)
    assert [(r.name, r.error is None) for r in report.results] == [
        ("dev", True),
        ("staging", False),
    ]
    assert (project / "out" / "dev" / "backend.hcl").is_file()
    assert not (project / "out" / "staging").exists()
