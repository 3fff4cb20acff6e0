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
    monkeypatch.setattr(pipeline, "_POOL_BREAK_EVEN", 0.0)  # always start the workers
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


def test_a_quick_run_renders_in_process(project: Path, monkeypatch: Any) -> None:
    """When the first environment shows the rest would take less than starting workers."""
    import concurrent.futures

    def no_pool(*_args: Any, **_kwargs: Any) -> Any:
        msg = "no worker pool for a quick run"
        raise AssertionError(msg)

    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", no_pool)
    monkeypatch.setattr(pipeline, "_POOL_BREAK_EVEN", 3600.0)
    report = pipeline.generate(
        pipeline.RunOptions(
            project_dir=project, all_environments=True, environ=GOLDEN_ENVIRON, workers=2
        )
    )
    assert report.failure() is None
    assert {r.name for r in report.results} >= {"dev", "staging", "prod"}
