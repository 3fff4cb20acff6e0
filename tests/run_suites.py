"""Run the test suite as `make test` does: the e2e files side by side with everything else.

The end-to-end tests spend most of their time waiting on terraform, the AWS provider's
fixed consistency waits and the emulator, not on the CPU; run one after another they
would double CI's time. Each e2e file runs in its own pytest process (each starts and
stops its own moto_server on a free port), beside one process for every other test.
Each process's output is kept in a log and printed whole when it ends, so that logs
never interleave; the last line is one summary of every process, and the exit code is
the worst of them (0 only when every process passed).

Usage: ``python tests/run_suites.py [pytest arguments ...]`` (passed to every process).
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# The unit process and three e2e files at a time: more only fight over this 2-core machine
# and push the e2e tests past their time budgets.
MAX_PARALLEL = int(os.environ.get("TFGEN_SUITES_PARALLEL", "4"))
_COUNTS = re.compile(r"(\d+) (passed|failed|skipped|errors?|deselected|xfailed|xpassed)")


def _suites() -> list[tuple[str, list[str]]]:
    # Every file that holds an e2e test (most live in tests/e2e/), each in its own process.
    e2e_files = sorted(
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / "tests").rglob("test_*.py")
        if "pytest.mark.e2e" in p.read_text(encoding="utf-8")
    )
    suites = [("unit", ["-m", "not e2e"])]
    suites += [(Path(f).stem, ["-m", "e2e", f]) for f in e2e_files]
    return suites


def _summary(text: str) -> dict[str, int]:
    # pytest's closing line: "3 passed, 1 skipped in 2.01s", framed by "=" unless -q.
    lines = [line for line in text.splitlines() if " in " in line and _COUNTS.search(line)]
    counts: dict[str, int] = {}
    for number, word in _COUNTS.findall(lines[-1] if lines else ""):
        key = "errors" if word.startswith("error") else word
        counts[key] = counts.get(key, 0) + int(number)
    return counts


def main(args: list[str]) -> int:
    """Run the suites side by side (at most MAX_PARALLEL at once); print each log whole."""
    started = time.monotonic()
    suites = _suites()
    worst = 0
    total: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="tfgen-suites-") as logs:
        waiting = list(suites)
        running: list[tuple[str, subprocess.Popen[bytes], Any, Path]] = []
        while waiting or running:
            while waiting and len(running) < MAX_PARALLEL:
                name, extra = waiting.pop(0)
                log = Path(logs) / f"{name}.log"
                handle = log.open("w", encoding="utf-8")
                command = [sys.executable, "-m", "pytest", *extra, *args]
                proc = subprocess.Popen(command, cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT)
                running.append((name, proc, handle, log))
            # The first process to end frees its place (waiting on it is the pause).
            done = next((r for r in running if r[1].poll() is not None), None)
            if done is None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    running[0][1].wait(timeout=1)
                continue
            running.remove(done)
            name, proc, handle, log = done
            handle.close()
            code = proc.returncode
            text = log.read_text(encoding="utf-8", errors="replace")
            print(f"\n######## {name}: exit {code} ########\n{text}", flush=True)
            # pytest's 5 is "no test collected": a file whose tests were all deselected.
            if code not in (0, 5):
                worst = max(worst, code)
            for key, value in _summary(text).items():
                total[key] = total.get(key, 0) + value
    elapsed = time.monotonic() - started
    passed, failed = total.get("passed", 0), total.get("failed", 0) + total.get("errors", 0)
    print(f"all suites ({len(suites)} processes, {elapsed:.0f} s):")
    print(f"{passed} passed, {failed} failed, {total.get('skipped', 0)} skipped")
    if passed == 0:
        return worst or 1
    return worst


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
