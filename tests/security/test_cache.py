"""A cache can only make tfgen faster: forged, planted, raced or copied entries change nothing."""

from __future__ import annotations

import contextlib
import json
import marshal
import os
import pickle
import shutil
import stat
import threading
import time
from pathlib import Path
from typing import Any

import jinja2
import pytest

from generator import cache
from generator.engine.render import render_environment
from generator.engine.sandbox import make_env
from generator.project import load_project
from generator.verify import hclparse
from tests.conftest import ENGINE_STACK, GOLDEN_ENVIRON, write_tree
from tests.security.helpers import run, snapshot


@pytest.fixture
def homes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """This test's own cache folder and key folder (a fresh key)."""
    cache_home, config_home = tmp_path / "xdg-cache", tmp_path / "xdg-config"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache_home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config_home))
    monkeypatch.delenv(cache.NO_CACHE_VARIABLE, raising=False)
    return cache_home / "tfgen", config_home / "tfgen" / "cache.key"


@pytest.fixture
def project(tmp_path: Path, homes: tuple[Path, Path]) -> Path:
    del homes
    root = tmp_path / "p"
    write_tree(root, ENGINE_STACK)
    return root


def rendered_backend(project: Path) -> str:
    make_env.cache_clear()
    loaded = load_project(project).load_environment("dev", environ=GOLDEN_ENVIRON)
    files = render_environment(load_project(project).stack, loaded.config, source=loaded.source)
    return files["backend.hcl"]


def code_that_touches(marker: Path) -> bytes:
    """marshal of module code that creates ``marker`` when run (a planted payload)."""
    return marshal.dumps(compile(f"open({str(marker)!r}, 'w').close()", "<planted>", "exec"))


class _Touch:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.marker}",))


def test_the_key_lives_outside_the_cache_folder_and_is_private(
    project: Path, homes: tuple[Path, Path]
) -> None:
    folder, key = homes
    assert run(project, "render", "dev").exit_code == 0
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700
    assert not key.is_relative_to(folder)
    assert len(key.read_bytes()) == 32
    assert {"jinja", "parse"} <= {p.name for p in folder.iterdir()}


@pytest.mark.parametrize("how", ["group-readable", "link", "wrong-size"])
def test_a_key_that_is_not_private_turns_every_cache_off(
    homes: tuple[Path, Path], tmp_path: Path, how: str
) -> None:
    _, key = homes
    key.parent.mkdir(parents=True, mode=0o700)
    if how == "link":
        other = tmp_path / "other.key"
        other.write_bytes(b"k" * 32)
        other.chmod(0o600)
        key.symlink_to(other)
    else:
        key.write_bytes(b"k" * (32 if how == "group-readable" else 31))
        key.chmod(0o640 if how == "group-readable" else 0o600)
    cache._keys.clear()
    assert cache.folder("parse") is None
    cache._keys.clear()


def test_a_forged_parse_entry_for_an_empty_bucket_still_fails_verification(
    project: Path, homes: tuple[Path, Path]
) -> None:
    folder, _ = homes
    template = project / "templates/backend.hcl.j2"
    template.write_text(
        'bucket = ""\nkey = {{ env.backend.key | hcl }}\nregion = {{ env.region | hcl }}\n'
    )
    text = rendered_backend(project)
    assert 'bucket = ""' in text
    forged = json.dumps(
        {
            "format": "tfgen-parse",
            "versions": hclparse._versions(),
            "key": hclparse.cache_key(text),
            "result": {"bucket": '"planted"', "key": '"k"', "region": '"eu-west-1"'},
            "repeated": [],
        }
    ).encode()
    sub = folder / hclparse.PARSE_CACHE
    sub.mkdir(parents=True, exist_ok=True, mode=0o700)
    name = f"{hclparse.cache_key(text)}.json"
    (sub / name).write_bytes(forged)  # planted, unsealed
    assert run(project, "render", "dev").exit_code == 3
    cache.write(sub, name, forged)  # even sealed by this user's own key
    result = run(project, "render", "dev")
    assert result.exit_code == 3
    assert result.first.startswith("error: out/dev/backend.hcl:")
    assert not (project / "out/dev").exists()
    assert run(project, "check", "dev").exit_code != 0


@pytest.mark.parametrize("payload", ["pickle", "marshal-code", "marshal-42", "yaml-memory"])
def test_a_planted_entry_never_runs_and_changes_nothing(
    project: Path, homes: tuple[Path, Path], tmp_path: Path, payload: str
) -> None:
    folder, _ = homes
    assert run(project, "render", "dev").exit_code == 0
    expected = snapshot(project / "out")
    marker = tmp_path / "ran"
    data = {
        "pickle": b"\x80\x04" + pickle.dumps(_Touch(marker)),
        "marshal-code": code_that_touches(marker),
        "marshal-42": marshal.dumps(42),
        "yaml-memory": b"[\xff\xff\xff\x7f",
    }[payload]
    entries = [p for sub in folder.iterdir() for p in sub.iterdir()]
    assert entries
    for entry in entries:
        entry.write_bytes(data)
    shutil.rmtree(project / "out")
    assert run(project, "render", "dev").exit_code == 0
    assert snapshot(project / "out") == expected
    assert not marker.exists()
    # The same bytes sealed with this user's key (as if tfgen had written them): still
    # nothing runs, since each reader checks the shape of what it loads.
    if payload != "pickle":
        for entry in [p for sub in folder.iterdir() for p in sub.iterdir()]:
            cache.write(entry.parent, entry.name, data)
        shutil.rmtree(project / "out")
        assert run(project, "render", "dev").exit_code == 0
        assert snapshot(project / "out") == expected


def test_a_cache_folder_from_another_user_or_machine_is_ignored(
    project: Path, homes: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, _ = homes
    marker = tmp_path / "ran"
    assert run(project, "render", "dev").exit_code == 0
    expected = snapshot(project / "out")
    # Someone with their own key (another machine, a CI cache from another branch) seals
    # a payload into every jinja entry ...
    for entry in (folder / "jinja").iterdir():
        checksum = cache.read(entry.parent, entry.name, 1 << 22)
        assert checksum is not None
        body = checksum.partition(b"\0")[0] + b"\0" + code_that_touches(marker)
        cache.write(entry.parent, entry.name, body)
    # ... and this user restores that folder: their key is not this one.
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "this-user-config"))
    cache._keys.clear()
    shutil.rmtree(project / "out")
    assert run(project, "render", "dev").exit_code == 0
    assert snapshot(project / "out") == expected
    assert not marker.exists()


def test_the_swap_race_never_reads_an_entry_tfgen_did_not_write(
    project: Path, homes: tuple[Path, Path], tmp_path: Path
) -> None:
    folder, _ = homes
    marker = tmp_path / "ran"
    assert run(project, "render", "dev").exit_code == 0
    expected = snapshot(project / "out")
    # The attacker's folder: the same entry names, each a payload.
    planted = tmp_path / "planted"
    shutil.copytree(folder, planted)
    for entry in (planted / "jinja").iterdir():
        entry.write_bytes(code_that_touches(marker))
    real, aside = folder, tmp_path / "aside"
    stop = threading.Event()
    flips = [0]

    def flip() -> None:
        while not stop.is_set():
            try:
                real.rename(aside)
                real.symlink_to(planted)
                real.unlink()
                aside.rename(real)
            except OSError:  # tfgen made a new folder in the gap: put the real one back
                while aside.exists():
                    if real.is_symlink():
                        real.unlink()
                    shutil.rmtree(real, ignore_errors=True)
                    with contextlib.suppress(OSError):
                        aside.rename(real)
            flips[0] += 1

    thread = threading.Thread(target=flip)
    thread.start()
    try:
        for _ in range(4):
            shutil.rmtree(project / "out", ignore_errors=True)
            result = run(project, "render", "dev")
            assert result.exit_code == 0, result.lines
            assert snapshot(project / "out") == expected
    finally:
        stop.set()
        thread.join()
    assert flips[0] > 0
    assert not marker.exists()


def test_jinja_entries_are_bounded_and_never_hold_folded_giants(
    project: Path, homes: tuple[Path, Path]
) -> None:
    folder, _ = homes
    main = project / "templates/main.tf.j2"
    main.write_text(main.read_text() + "# {{ ('%099999d' % 1)[:3] }} {{ ('x' * 99999)[:2] }}\n")
    assert run(project, "render", "dev").exit_code == 0
    sizes = [p.stat().st_size for p in (folder / "jinja").iterdir()]
    assert sizes
    assert max(sizes) < 64 * 1024


@pytest.mark.parametrize("kind", ["fifo", "dev-zero-link"])
def test_an_entry_that_is_a_fifo_or_a_device_link_never_blocks(
    project: Path, homes: tuple[Path, Path], kind: str
) -> None:
    folder, _ = homes
    assert run(project, "render", "dev").exit_code == 0
    expected = snapshot(project / "out")
    for entry in [p for sub in folder.iterdir() for p in sub.iterdir()]:
        entry.unlink()
        if kind == "fifo":
            os.mkfifo(entry)
        else:
            entry.symlink_to("/dev/zero")
    shutil.rmtree(project / "out")
    started = time.monotonic()
    assert run(project, "validate", "dev").exit_code == 0
    assert run(project, "render", "dev").exit_code == 0
    assert time.monotonic() - started < 20
    assert snapshot(project / "out") == expected


def test_pruning_a_folder_swapped_for_a_link_deletes_nothing(
    homes: tuple[Path, Path], tmp_path: Path
) -> None:
    folder, _ = homes
    sub = cache.folder("parse")
    assert sub is not None
    victim = tmp_path / "victim"
    victim.mkdir()
    for index in range(5):
        (victim / f"precious-{index}").write_bytes(b"x" * 100)
    shutil.rmtree(sub)
    sub.symlink_to(victim)
    cache.prune(sub, max_entries=1, max_bytes=10)
    assert sorted(p.name for p in victim.iterdir()) == [f"precious-{i}" for i in range(5)]
    assert folder.is_dir()


def test_planted_or_misshapen_template_scans_change_no_edge(
    tmp_path: Path, homes: tuple[Path, Path]
) -> None:
    from generator.engine import scancache
    from tests.components.conftest import COMPONENT_STACK

    folder, _ = homes
    root = tmp_path / "c"
    write_tree(root, COMPONENT_STACK)
    expected = run(root, "list", "--json")
    assert expected.exit_code == 0, expected.lines
    assert '"data"' in expected.stdout
    entries = sorted((folder / scancache.FOLDER).iterdir())
    assert len(entries) == 5  # one per template: backend, versions, network, data, app
    # Warm, the stack loads from these entries and never asks Jinja to parse.
    parses: list[str] = []
    original = jinja2.Environment.parse

    def counting(self: jinja2.Environment, source: str, name: str | None = None, *a: Any) -> Any:
        parses.append(name or "")
        return original(self, source, name, *a)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(jinja2.Environment, "parse", counting)
        assert run(root, "list", "--json").stdout == expected.stdout
    assert parses == []
    # An edge to a component that does not exist, planted; then shapes tfgen never writes,
    # planted and then sealed with this user's own key: each is a miss, the scan is redone.
    forged = marshal.dumps((1, (), (("nowhere", "x", 1),)))
    misshapen = [
        marshal.dumps(42),
        b"\xff\x00",
        marshal.dumps((1, (), (("network", "vpc_id", -1),))),
        marshal.dumps((1, (7,), ())),
        marshal.dumps((2, (), ())),
        marshal.dumps((1, [], [])),
    ]
    for payload in [forged, *misshapen]:
        for entry in entries:
            entry.write_bytes(payload)
        assert run(root, "list", "--json").stdout == expected.stdout
        if payload is not forged:
            for entry in entries:
                cache.write(entry.parent, entry.name, payload)
            assert run(root, "list", "--json").stdout == expected.stdout
