"""Shared by the hostile-input tests: a recording loopback listener and a tfgen runner."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from click.testing import CliRunner

from generator.cli import app as cli_module
from generator.engine.sandbox import make_env
from tests.conftest import GOLDEN_ENVIRON


@dataclass
class Listener:
    """A TCP listener on loopback that records every connection made to it."""

    port: int
    accepted: list[str] = field(default_factory=list)


@contextmanager
def loopback_listener() -> Iterator[Listener]:
    """Listen on 127.0.0.1 (a free port); every connection is recorded, then closed."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.05)
    listener = Listener(port=server.getsockname()[1])
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, addr = server.accept()
            except OSError:
                continue
            listener.accepted.append(f"{addr[0]}:{addr[1]}")
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener
    finally:
        stop.set()
        thread.join()
        server.close()


@dataclass(frozen=True)
class Result:
    """A tfgen run: its exit code, stderr's lines and stdout."""

    exit_code: int
    lines: list[str]
    stdout: str

    @property
    def first(self) -> str:
        return self.lines[0] if self.lines else ""


def run(project: Path, *args: str) -> Result:
    """``tfgen --project-dir PROJECT ARGS`` in this process, with fresh in-memory caches."""
    make_env.cache_clear()
    from generator.engine.stack import _load_stack

    _load_stack.cache_clear()
    result = CliRunner().invoke(
        cli_module.cli, ["--project-dir", str(project), *args], env=GOLDEN_ENVIRON
    )
    assert "Traceback" not in result.stderr, result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Result(result.exit_code, result.stderr.splitlines(), result.stdout)


def snapshot(root: Path) -> dict[str, bytes]:
    """Every regular file under ``root`` with its bytes (to show nothing changed)."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }
