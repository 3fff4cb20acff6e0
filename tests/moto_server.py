"""Run ``moto_server`` (a local AWS endpoint) as a subprocess on a free loopback port.

Used by the end-to-end tests: ``with running_moto_server(log_dir) as server:`` starts it on
127.0.0.1, waits until it answers HTTP (bounded polling with a deadline, never a fixed sleep),
and always stops it by its process id (terminate, then kill after a timeout), even when the
test body fails. ``aws_subprocess_env`` builds an environment with fake credentials only.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

HOST = "127.0.0.1"
# moto's own API: answers with JSON once the server is up, and is cheap to serve.
READY_PATH = "/moto-api/data.json"
RESET_PATH = "/moto-api/reset"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
POLL_INTERVAL = 0.1
# Fake credentials: the emulator accepts anything; real ones must never reach a test.
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
# Real AWS has the AWS managed policies (AmazonECSTaskExecutionRolePolicy...); moto only
# knows them with this switch, and attaching one fails with NoSuchEntity without it.
SERVER_SETTINGS = {"MOTO_IAM_LOAD_MANAGED_POLICIES": "true"}
# Any request that is not for loopback goes to this closed port and fails at once, so a
# service missing from the provider's `endpoints` cannot reach the internet. Go and
# botocore never proxy loopback addresses.
DEAD_PROXY = "http://127.0.0.1:9"

# urllib without any proxy from the environment: the server is on loopback.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class MotoServerError(RuntimeError):
    """moto_server did not start, or did not answer before the deadline."""


@dataclass(frozen=True)
class MotoServer:
    """A running moto_server: where it listens, its process id and its log file."""

    url: str
    port: int
    pid: int
    log: Path

    def reset(self) -> None:
        """Forget every resource the server holds (moto's ``/moto-api/reset``)."""
        request = urllib.request.Request(self.url + RESET_PATH, method="POST")  # noqa: S310
        with _OPENER.open(request, timeout=10) as response:
            response.read()


def moto_server_command(port: int) -> list[str]:
    """The command that starts moto_server on ``HOST:port``: the script next to this Python."""
    script = Path(sys.executable).with_name("moto_server")
    if script.is_file():
        return [str(script), "-H", HOST, "-p", str(port)]
    found = shutil.which("moto_server")
    if found is not None:
        return [found, "-H", HOST, "-p", str(port)]
    return [sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(port)]


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def aws_subprocess_env(base: Mapping[str, str] | None = None, **extra: str) -> dict[str, str]:
    """An environment for a subprocess that talks to the emulator and nothing else.

    Every ``AWS_*`` variable of ``base`` (``os.environ`` when None) is dropped, so real
    credentials, profiles or endpoints never leak in; fake credentials are set, instance
    metadata is off, shared config files point nowhere, and traffic not meant for
    loopback goes to a closed port.

    Args:
        base: the environment to start from.
        **extra: variables to set last.

    Returns:
        A new mapping; ``base`` is not changed.
    """
    source = os.environ if base is None else base
    env = {k: v for k, v in source.items() if not k.upper().startswith("AWS_")}
    env.update(FAKE_CREDENTIALS)
    env.update(
        AWS_EC2_METADATA_DISABLED="true",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        HTTP_PROXY=DEAD_PROXY,
        HTTPS_PROXY=DEAD_PROXY,
        http_proxy=DEAD_PROXY,
        https_proxy=DEAD_PROXY,
        NO_PROXY=f"{HOST},localhost",
        no_proxy=f"{HOST},localhost",
    )
    env.update(extra)
    return env


def _answers(url: str) -> bool:
    """True when ``url`` returns moto's JSON; False while the server is not listening yet."""
    try:
        with _OPENER.open(url, timeout=2) as response:
            body: Any = json.loads(response.read())
    except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
        return False
    return isinstance(body, dict)


def _log_tail(log: Path, lines: int = 20) -> str:
    try:
        text = log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def stop_process(process: subprocess.Popen[bytes], timeout: float = STOP_TIMEOUT) -> None:
    """Stop ``process`` by its id: SIGTERM, then SIGKILL if it has not exited in ``timeout``."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout)


def _wait_until_ready(process: subprocess.Popen[bytes], url: str, deadline: float) -> bool:
    """Poll ``url`` until it answers (True) or the process exits (False).

    Raises:
        MotoServerError: the deadline passed while the process was still running.
    """
    while True:
        if _answers(url + READY_PATH):
            return process.poll() is None
        # Waiting on the process is the pause between polls, and notices an early exit.
        try:
            process.wait(timeout=POLL_INTERVAL)
        except subprocess.TimeoutExpired:
            pass
        else:
            return False
        if time.monotonic() > deadline:
            msg = f"moto_server (pid {process.pid}) did not answer {url} in time"
            raise MotoServerError(msg)


@contextmanager
def running_moto_server(
    log_dir: Path,
    *,
    start_timeout: float = START_TIMEOUT,
    attempts: int = 3,
    env: Mapping[str, str] | None = None,
) -> Iterator[MotoServer]:
    """Start moto_server on a free loopback port; stop it when the block exits.

    Args:
        log_dir: where ``moto_server.log`` (its stdout and stderr) is written.
        start_timeout: seconds to wait for the first answer, per attempt.
        attempts: how many ports to try when the server exits during start-up (a port
            taken between choosing it and binding it).
        env: the server's environment; :func:`aws_subprocess_env` with SERVER_SETTINGS
            when None.

    Yields:
        The running server.

    Raises:
        MotoServerError: it did not start; the message ends with its log.
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / "moto_server.log"
    server_env = dict(env) if env is not None else aws_subprocess_env(None, **SERVER_SETTINGS)
    failures: list[str] = []
    for _ in range(attempts):
        port = free_port()
        url = f"http://{HOST}:{port}"
        with log.open("ab") as sink:
            process = subprocess.Popen(
                moto_server_command(port),
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                env=server_env,
            )
        try:
            ready = _wait_until_ready(process, url, time.monotonic() + start_timeout)
        except MotoServerError as err:
            stop_process(process)
            failures.append(str(err))
            break
        except BaseException:
            stop_process(process)
            raise
        if not ready:
            stop_process(process)
            failures.append(f"port {port}: exited with code {process.returncode}")
            continue
        try:
            yield MotoServer(url=url, port=port, pid=process.pid, log=log)
        finally:
            stop_process(process)
        return
    msg = "moto_server did not start: " + "; ".join(failures) + "\n" + _log_tail(log)
    raise MotoServerError(msg)


@pytest.fixture
def moto_server(tmp_path: Path) -> Iterator[MotoServer]:
    """A fresh moto_server for one test (import this fixture into a test module to use it)."""
    with running_moto_server(tmp_path / "moto") as server:
        yield server
