"""SIGTERM, SIGINT and SIGHUP stop tfgen and every worker: one line, 128 + n, out/ old or new."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ENGINE_STACK, GOLDEN_ENVIRON, ROOT, write_tree
from tests.security.helpers import snapshot

ENVIRONMENTS = 8
# About a second of sandboxed work per environment: the run is mid-flight when signalled.
SLOW = "{% for i in range(60) %}{{ (range(2000) | map('string') | join(','))[:0] }}{% endfor %}\n"


def tfgen(project: Path, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "generator", "--project-dir", str(project), *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def children(pid: int) -> set[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return set()
    return {int(p) for p in text.split()}


def alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
@pytest.mark.parametrize(
    ("signum", "group"),
    [(signal.SIGTERM, False), (signal.SIGINT, True), (signal.SIGHUP, False)],
    ids=["SIGTERM", "SIGINT-to-the-group", "SIGHUP"],
)
def test_a_signal_stops_every_worker_with_one_line(
    tmp_path: Path, signum: int, group: bool
) -> None:
    project = tmp_path / "p"
    write_tree(project, ENGINE_STACK)
    for index in range(ENVIRONMENTS):
        (project / f"environments/e{index}.yaml").write_text(
            f"network:\n  vpc_cidr: 10.{index}.0.0/16\nbackend:\n  key: e{index}/tfstate\n"
        )
    env = {
        **os.environ,
        **GOLDEN_ENVIRON,
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }
    first = tfgen(project, env, "render", "--all")
    assert first.wait(timeout=120) == 0, first.communicate()
    old = snapshot(project / "out")
    main = project / "templates/main.tf.j2"
    main.write_text(SLOW + main.read_text() + "# new\n")
    proc = tfgen(project, env, "render", "--all", "--jobs", "2")
    deadline = time.monotonic() + 60
    workers: set[int] = set()
    while not workers and time.monotonic() < deadline and proc.poll() is None:
        workers = children(proc.pid)
    assert workers, "no worker started"
    if group:
        os.killpg(proc.pid, signum)
    else:
        os.kill(proc.pid, signum)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signum
    lines = [line for line in stderr.splitlines() if line.strip()]
    name = signal.Signals(signum).name
    assert lines[-1] == (
        f"error: stopped by {name}: workers stopped, each out/<env> holds its old or new files"
    )
    assert "Traceback" not in stderr
    assert [line for line in lines if line.startswith("error:")] == [lines[-1]]
    assert not [pid for pid in workers if alive(pid)]
    # Every out/<env> is the old one or the new one, never a mix.
    newer = tmp_path / "newer"
    shutil.copytree(project, newer, ignore=shutil.ignore_patterns("out"))
    done = tfgen(newer, env, "render", "--all")
    assert done.wait(timeout=300) == 0, done.communicate()
    new = snapshot(newer / "out")
    now = snapshot(project / "out")
    for index in range(ENVIRONMENTS):
        prefix = f"e{index}/"
        mine = {k: v for k, v in now.items() if k.startswith(prefix)}
        assert mine in (
            {k: v for k, v in old.items() if k.startswith(prefix)},
            {k: v for k, v in new.items() if k.startswith(prefix)},
        ), prefix


def test_stopping_the_workers_waits_for_the_pool_manager_to_close_its_wakeup_pipe() -> None:
    # At exit, Python writes to the pool's wake-up pipe without a lock; if the manager
    # thread is still closing it then, an OSError traceback follows tfgen's one line.
    from concurrent.futures import ProcessPoolExecutor

    from generator.pipeline import _mp_context, _stop_workers

    pool = ProcessPoolExecutor(max_workers=2, mp_context=_mp_context())
    futures = [pool.submit(time.sleep, 30) for _ in range(2)]
    assert pool._processes, "submit forks the workers"
    manager = pool._executor_manager_thread
    assert manager is not None
    _stop_workers(pool)
    assert not manager.is_alive()
    assert manager.thread_wakeup._closed
    assert all(future.done() for future in futures)
