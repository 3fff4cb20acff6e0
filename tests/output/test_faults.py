"""Fault injection: a failure or a SIGKILL at any step of a write loses nothing and mixes nothing.

Every filesystem call of the writer goes through the module-level ``os`` of
generator.output.atomic. The tests replace it with a proxy that counts the calls and, at call N,
raises (``ENOSPC``, or an exception that is not an OSError) or kills the process with
SIGKILL. A fault-free run first lists the steps, so every step is hit, in both write modes
(the renameat2 swap and the journaled per-file fallback).
"""

from __future__ import annotations

import dataclasses
import errno
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from generator.cli import app as cli_module
from generator.errors import OutputError
from generator.output import atomic, safeio, writer
from generator.output.safeio import MANIFEST
from generator.output.writer import read_manifest, recover_output, write_output
from tests.conftest import keep_one_root, write_tree
from tests.outtree import contents, generated_set, snapshot

# The calls that count as steps: everything the writer asks of the kernel.
STEPS = frozenset(
    {
        "open",
        "read",
        "write",
        "close",
        "fsync",
        "mkdir",
        "makedirs",
        "rename",
        "replace",
        "link",
        "unlink",
        "rmdir",
        "chmod",
        "lstat",
        "fstat",
        "scandir",
    }
)
# The steps that change what is on disk; killing right after each one reaches every state
# a SIGKILL can leave (a kill between two reads leaves what the last change left).
MUTATING = frozenset(
    {"mkdir", "makedirs", "rename", "replace", "link", "unlink", "rmdir", "chmod", "write"}
    | {"open+creat", "renameat2:1", "renameat2:2"}
)
OLD = {"a.tf": "a = 1\n", "b.tf": "b = 1\n", "d.tf": "d = 1\n"}
NEW = {"a.tf": "a = 2\n", "c.tf": "c = 1\n", "d.tf": "d = 1\n"}
MODES = ["exchange", "replace"]
# The error names the output folder (or the file it could not read) and the cause.
ENOSPC_MESSAGE = r"^out(/dev(/\S+)?)?: (cannot [a-z ]+: )?.*No space left on device"


@pytest.fixture(autouse=True)
def _no_fsync() -> Iterator[None]:
    """Skip the real fsync: these tests kill processes, not machines, and write hundreds of
    sets. The writer still calls fsync at each step, so faults still hit every one."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(os, "fsync", lambda _fd: None)
        yield


@dataclass
class Steps:
    """Counts the writer's calls; at call ``at`` (1-based), runs ``action`` instead."""

    at: int | None = None
    action: Callable[[str], None] | None = None
    calls: list[str] = field(default_factory=list)

    def hit(self, name: str) -> None:
        self.calls.append(name)
        if self.at == len(self.calls) and self.action is not None:
            self.action(name)

    def commit_index(self, *, fallback: bool) -> int:
        """The 1-based step that commits a write (see the writer's module docstring)."""
        calls = self.calls
        if "renameat2:2" in calls:  # the swap
            return calls.index("renameat2:2") + 1
        if "renameat2:1" in calls:  # a first write renames its staging folder into place
            first = calls.index("renameat2:1")
            return (calls.index("rename", first) if fallback else first) + 1
        return calls.index("replace") + 1  # the fallback renames its journal into place

    def kill_points(self) -> list[int]:
        """Step 1, and the step right after each change: every distinct state a kill leaves."""
        after = {i + 1 for i, name in enumerate(self.calls, start=1) if name in MUTATING}
        return sorted({1} | {i for i in after if i <= len(self.calls)})


class _OsProxy:
    """Stands in for the ``os`` module inside generator.output.atomic and .safeio."""

    def __init__(self, steps: Steps) -> None:
        self._steps = steps

    def __getattr__(self, name: str) -> Any:
        real = getattr(os, name)
        if name not in STEPS:
            return real

        def step(*args: Any, **kwargs: Any) -> Any:
            creates = name == "open" and len(args) > 1 and args[1] & os.O_CREAT
            self._steps.hit("open+creat" if creates else name)
            return real(*args, **kwargs)

        return step


def install(steps: Steps, *, fallback: bool, patch: Callable[[Any, str, Any], None]) -> None:
    """Route the writer's calls through ``steps``; ``fallback`` hides renameat2.

    ``os`` is replaced in both modules a write goes through: the transaction (atomic) and
    the safe reads it calls (safeio).
    """
    if fallback:
        patch(atomic, "_LIBC_RENAMEAT2", None)
    real = atomic._renameat2

    def renameat2(src: Path, dst: Path, flags: int) -> None:
        steps.hit(f"renameat2:{flags}")
        real(src, dst, flags)

    proxy = _OsProxy(steps)
    patch(atomic, "os", proxy)
    patch(safeio, "os", proxy)
    patch(atomic, "_renameat2", renameat2)


def user_entries(directory: Path) -> None:
    (directory / ".terraform" / "providers").mkdir(parents=True)
    (directory / ".terraform" / "providers" / "bin").write_bytes(b"\x7fELF provider")
    (directory / ".terraform.lock.hcl").write_text("# lock\n", encoding="utf-8")
    (directory / "notes.txt").write_text("mine\n", encoding="utf-8")
    (directory / "escape.link").symlink_to("/etc/hostname")


def users_view(
    directory: Path, *, exact: bool = True, owned: Collection[str] = (*OLD, *NEW, MANIFEST)
) -> dict[str, Any]:
    """Everything in ``directory`` that tfgen did not generate (with mtimes and inodes)."""
    view = snapshot(directory) if exact else contents(directory)
    return {k: v for k, v in view.items() if k != "." and k.split("/")[0] not in owned}


def expected_set(files: dict[str, str]) -> dict[str, bytes]:
    return {
        **{n: t.encode() for n, t in files.items()},
        MANIFEST: writer.manifest_text(files).encode(),
    }


def leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.name.startswith(".tfgen"))


def prepare(root: Path, scenario: str) -> Path:
    target = root / "out" / "dev"
    if scenario == "rewrite":
        write_output(target, OLD, display="out/dev")
        user_entries(target)
    else:
        (root / "out").mkdir(parents=True)
    return target


def count_steps(tmp_path: Path, scenario: str, mode: str, patched: Any) -> Steps:
    steps = Steps()
    target = prepare(tmp_path / "count", scenario)
    install(steps, fallback=mode == "replace", patch=patched)
    write_output(target, NEW, display="out/dev")
    return steps


class Boom(Exception):
    """Not an OSError: stands for a bug or an interrupt in the middle of a write."""


def enospc(name: str) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def boom(name: str) -> None:
    raise Boom(name)


@pytest.mark.parametrize("fault", [enospc, boom], ids=["ENOSPC", "exception"])
@pytest.mark.parametrize("scenario", ["rewrite", "first"])
@pytest.mark.parametrize("mode", MODES)
def test_a_fault_at_every_step_changes_nothing_before_the_commit(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    mode: str,
    scenario: str,
    fault: Callable[[str], None],
) -> None:
    counted = count_steps(tmp_path, scenario, mode, monkeypatch.setattr)
    monkeypatch.undo()
    commit = counted.commit_index(fallback=mode == "replace")
    assert len(counted.calls) > 10 and 1 < commit <= len(counted.calls)
    outcomes = {"unchanged": 0, "new": 0, "finished-later": 0}
    for index in range(1, len(counted.calls) + 1):
        root = tmp_path / str(index)
        target = prepare(root, scenario)
        before = snapshot(root / "out")
        mine = users_view(target) if scenario == "rewrite" else {}
        steps = Steps(at=index, action=fault)
        with monkeypatch.context() as patch:
            install(steps, fallback=mode == "replace", patch=patch.setattr)
            try:
                write_output(target, NEW, display="out/dev")
                raised: BaseException | None = None
            except (OutputError, Boom) as err:
                raised = err
        step = f"step {index} ({counted.calls[index - 1]}), commit at {commit}"
        if index <= commit and raised is None:
            # By design: a user file that cannot be hard-linked is carried by a rename.
            assert fault is enospc and counted.calls[index - 1] == "link", step
            assert generated_set(target) == expected_set(NEW), step
            outcomes["new"] += 1
        elif index <= commit:
            if fault is enospc:
                assert isinstance(raised, OutputError), step
                assert re.match(ENOSPC_MESSAGE, str(raised)), f"{step}: {raised}"
            assert snapshot(root / "out") == before, step  # byte for byte, same mtimes
            outcomes["unchanged"] += 1
        elif raised is None:
            # A failed clean-up after the commit: the new set is in place already.
            assert generated_set(target) == expected_set(NEW), step
            outcomes["new"] += 1
        else:
            outcomes["finished-later"] += 1  # the next run rolls the journal forward
        write_output(target, NEW, display="out/dev")  # the next render succeeds...
        assert generated_set(target) == expected_set(NEW), step
        assert users_view(target) == mine, step  # ...and every user entry is intact
        assert leftovers(root / "out") == [], step
    assert outcomes["unchanged"] + outcomes["new"] >= commit


# --------------------------------------------------------------------------- SIGKILL


@dataclass(frozen=True)
class KillSetup:
    project: Path
    pristine: Path
    old: dict[str, bytes]
    new: dict[str, bytes]
    users: dict[str, Any]

    def users_in(self, directory: Path) -> dict[str, Any]:
        return users_view(directory, exact=False, owned={*self.old, *self.new})

    def first_render(self, tmp_path: Path) -> KillSetup:
        """The same render into an ``out/`` that holds nothing yet."""
        empty = tmp_path / "empty-out"
        empty.mkdir()
        return dataclasses.replace(self, pristine=empty, old={}, users={})


@pytest.fixture
def kill_setup(project: Path, tmp_path: Path) -> KillSetup:
    """out/dev rendered from an older input (with a file that is stale now), user entries."""
    runner = CliRunner()
    keep_one_root(project)
    write_tree(project, {"templates/extra.tf.j2": "locals {\n  extra = {{ env.name | hcl }}\n}\n"})
    result = runner.invoke(cli_module.cli, ["render", "dev", "--project-dir", str(project)])
    assert result.exit_code == 0, result.output
    target = project / "out" / "dev"
    user_entries(target)
    old = generated_set(target)
    assert "extra.tf" in old
    (project / "templates" / "extra.tf.j2").unlink()
    dev = project / "environments" / "dev.yaml"
    dev.write_text(
        dev.read_text(encoding="utf-8").replace("10.10.0.0/16", "10.11.0.0/16"), encoding="utf-8"
    )
    # The new set, rendered by a copy of the project into its own out/ (a header names a
    # --out other than out/, so the new files are rendered where the test renders them).
    expected = tmp_path / "expected"
    shutil.copytree(project, expected, symlinks=True, ignore=shutil.ignore_patterns("out"))
    args = ["render", "dev", "--project-dir", str(expected)]
    assert runner.invoke(cli_module.cli, args).exit_code == 0
    new = generated_set(expected / "out" / "dev")
    assert new != old and "extra.tf" not in new
    pristine = tmp_path / "pristine"
    shutil.copytree(project / "out", pristine, symlinks=True)
    users = users_view(target, exact=False, owned={*old, *new})
    assert {".terraform", ".terraform.lock.hcl", "notes.txt", "escape.link"} <= set(users)
    return KillSetup(project, pristine, old, new, users)


def restore(setup: KillSetup) -> Path:
    out = setup.project / "out"
    shutil.rmtree(out)
    shutil.copytree(setup.pristine, out, symlinks=True)
    return out / "dev"


def render_in_child(project: Path, *, kill_at: int, fallback: bool) -> int:
    """Fork; the child renders dev and SIGKILLs itself at writer step ``kill_at``."""
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 70
        try:
            steps = Steps(at=kill_at, action=lambda _: os.kill(os.getpid(), signal.SIGKILL))
            install(steps, fallback=fallback, patch=setattr)
            cli_module.main(["render", "dev", "--project-dir", str(project)])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return status


def assert_old_or_new(setup: KillSetup, target: Path, what: str) -> str:
    """The generated set is exactly the old or the new one; every user entry is somewhere."""
    found = generated_set(target)
    state = "old" if found == setup.old else "new" if found == setup.new else "mixed"
    assert state != "mixed", f"{what}: a mix of old and new files: {sorted(found)}"
    staging = target.parent / ".tfgen-dev.staging"
    journal = target.parent / ".tfgen-dev.journal"
    for rel, entry in setup.users.items():
        here = setup.users_in(target).get(rel)
        if here != entry:
            # Only a folder moved in the instant before the swap may be elsewhere, and
            # only with the journal that brings it back.
            assert journal.exists(), f"{what}: {rel} is missing and there is no journal"
            assert contents(staging).get(rel) == entry, f"{what}: {rel} is lost"
    return state


def assert_next_render_recovers(setup: KillSetup, target: Path, what: str) -> None:
    result = CliRunner().invoke(
        cli_module.cli, ["render", "dev", "--project-dir", str(setup.project)]
    )
    assert result.exit_code == 0, f"{what}: {result.output}"
    assert generated_set(target) == setup.new, what
    assert setup.users_in(target) == setup.users, what
    assert leftovers(target.parent) == [], what


@pytest.mark.parametrize("scenario", ["rewrite", "first"])
@pytest.mark.parametrize("mode", MODES)
def test_sigkill_at_every_step_leaves_old_or_new(
    kill_setup: KillSetup,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    mode: str,
    scenario: str,
) -> None:
    setup = kill_setup if scenario == "rewrite" else kill_setup.first_render(tmp_path)
    fallback = mode == "replace"
    steps = Steps()
    restore(setup)
    with monkeypatch.context() as patch:
        install(steps, fallback=fallback, patch=patch.setattr)
        result = CliRunner().invoke(
            cli_module.cli, ["render", "dev", "--project-dir", str(setup.project)]
        )
        assert result.exit_code == 0, result.output
    total = len(steps.calls)
    points = steps.kill_points()
    assert len(points) >= 10
    seen: dict[str, int] = {"old": 0, "new": 0}
    for kill_at in points:
        target = restore(setup)
        status = render_in_child(setup.project, kill_at=kill_at, fallback=fallback)
        what = f"killed at step {kill_at}/{total} ({steps.calls[kill_at - 1]})"
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, what
        if fallback and kill_at > steps.commit_index(fallback=True):
            # The documented limit of the fallback: a mix until the next run rolls forward.
            recover_output(target, display="out/dev")
        seen[assert_old_or_new(setup, target, what)] += 1
        assert_next_render_recovers(setup, target, what)
    assert seen["old"] > 0 and seen["new"] > 0


def test_sigkill_at_random_moments_of_a_real_process(kill_setup: KillSetup) -> None:
    """`python -m generator render` killed at random times within one run's duration."""
    command = [sys.executable, "-m", "generator", "render", "dev", "--project-dir"]
    command.append(str(kill_setup.project))
    restore(kill_setup)
    started = time.monotonic()
    subprocess.run(command, check=True, capture_output=True, timeout=120)
    duration = time.monotonic() - started
    rng = random.Random(6)  # noqa: S311 - reproducible kill moments, not cryptography
    for iteration in range(8):
        target = restore(kill_setup)
        delay = rng.uniform(0.3, 1.0) * duration
        with subprocess.Popen(command, stderr=subprocess.DEVNULL) as proc:
            try:
                proc.wait(timeout=delay)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
        what = f"iteration {iteration}, killed after {delay:.2f}s of {duration:.2f}s"
        assert_old_or_new(kill_setup, target, what)
        assert_next_render_recovers(kill_setup, target, what)
    assert read_manifest(kill_setup.project / "out" / "dev")


def test_check_puts_back_a_folder_left_in_staging_by_a_kill(
    kill_setup: KillSetup, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed between moving .terraform/ and the swap; `tfgen check` runs before any render."""
    steps = Steps()
    restore(kill_setup)
    with monkeypatch.context() as patch:
        install(steps, fallback=False, patch=patch.setattr)
        args = ["render", "dev", "--project-dir", str(kill_setup.project)]
        assert CliRunner().invoke(cli_module.cli, args).exit_code == 0
    target = restore(kill_setup)
    status = render_in_child(
        kill_setup.project, kill_at=steps.calls.index("renameat2:2") + 1, fallback=False
    )
    assert os.WIFSIGNALED(status)
    staging = target.parent / ".tfgen-dev.staging"
    assert (staging / ".terraform").is_dir() and not (target / ".terraform").exists()
    result = CliRunner().invoke(
        cli_module.cli, ["check", "dev", "--project-dir", str(kill_setup.project)]
    )
    assert result.exit_code == 4, result.output  # the old set is still there: drift
    assert kill_setup.users_in(target) == kill_setup.users
    assert generated_set(target) == kill_setup.old
    assert leftovers(target.parent) == []
