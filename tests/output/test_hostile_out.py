"""Nothing found in out/ is trusted: each hostile thing planted there gets its exact exit code,
a located message, no traceback, and changes nothing outside out/<env>'s generated files.

``out/`` may be committed, so whatever lies in it may come from a pull request. Each row
starts from a copy of the shipped project with ``out/dev`` rendered once, a README at the
project root and a victim folder beside the project; it plants a link, a crafted journal or
manifest, a FIFO or a device, runs ``render``, ``check`` and ``diff``, and compares the whole
tmp folder (bytes, mtimes, inodes) before and after.

Rows that could block (a FIFO, a device) run the CLI in a subprocess with a timeout and a
memory limit, so a regression fails instead of hanging the suite or eating the machine.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import pkgutil
import re
import resource
import shutil
import stat
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import generator
from generator.cli import app as cli_module
from generator.errors import DriftError, OutputError
from generator.output.atomic import JOURNAL_LIMIT
from generator.output.safeio import FILE_LIMIT, MANIFEST
from generator.output.writer import read_manifest, recover_output, write_output
from tests.conftest import ROOT, keep_one_root
from tests.outtree import snapshot

STAGING = "out/.tfgen-dev.staging"
JOURNAL = "out/.tfgen-dev.journal"
COMMANDS = (("render", "dev"), ("check", "dev"), ("diff", "dev"))
# The message every untrusted journal, manifest or staging folder ends with.
HINT = (
    r"tfgen changed nothing: check out/\.tfgen-dev\.staging and out/\.tfgen-dev\.journal "
    r"for anything of yours, then remove them by hand"
)
SUBPROCESS_TIMEOUT = 30
SUBPROCESS_MEMORY = 2 << 30


# --------------------------------------------------------------------------- helpers


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Site:
    """A rendered project and a victim folder beside it, both under one tmp folder."""

    base: Path
    project: Path
    victim: Path

    @property
    def out(self) -> Path:
        return self.project / "out" / "dev"

    def path(self, rel: str) -> Path:
        return self.project / rel


@pytest.fixture(scope="module")
def rendered_once(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped project (a few templates) with out/dev rendered, once for this module."""
    project = tmp_path_factory.mktemp("hostile") / "project"
    for name in ("environments", "templates"):
        shutil.copytree(ROOT / name, project / name)
    keep_one_root(project)
    result = CliRunner().invoke(cli_module.cli, ["render", "dev", "--project-dir", str(project)])
    assert result.exit_code == 0, result.output
    out = project / "out" / "dev"
    (out / ".terraform" / "providers").mkdir(parents=True)
    (out / ".terraform" / "providers" / "bin").write_bytes(b"\x7fELF provider")
    (out / ".terraform.lock.hcl").write_text("# lock\n", encoding="utf-8")
    (out / "notes.txt").write_text("mine\n", encoding="utf-8")
    (project / "README.md").write_text("# the project's README\n", encoding="utf-8")
    return project


@pytest.fixture
def site(rendered_once: Path, tmp_path: Path) -> Site:
    project = tmp_path / "project"
    shutil.copytree(rendered_once, project, symlinks=True)
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "precious.txt").write_text("not tfgen's\n", encoding="utf-8")
    return Site(tmp_path, project, victim)


def run_in_process(site: Site, args: tuple[str, ...]) -> tuple[int, str]:
    result = CliRunner().invoke(cli_module.cli, [*args, "--project-dir", str(site.project)])
    return result.exit_code, result.stderr


def _limit_memory() -> None:  # runs in the child, before exec
    resource.setrlimit(resource.RLIMIT_AS, (SUBPROCESS_MEMORY, SUBPROCESS_MEMORY))


def run_subprocess(site: Site, args: tuple[str, ...]) -> tuple[int, str]:
    """The CLI in a child process: a FIFO that blocks or a device that never ends fails."""
    command = [sys.executable, "-m", "generator", *args, "--project-dir", str(site.project)]
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
        preexec_fn=_limit_memory,
        check=False,
        cwd=site.base,
    )
    return done.returncode, done.stderr


# --------------------------------------------------------------------------- plants


def plant_staging_link_up(site: Site) -> None:
    """The scenario of issue 11: one render deleted the README and moved templates/."""
    site.path(STAGING).symlink_to("..", target_is_directory=True)


def plant_staging_link_up_with_journal(site: Site) -> None:
    site.path(STAGING).symlink_to("..", target_is_directory=True)
    journal = {"version": 1, "mode": "swap", "staging": [0, 0], "new": ["README.md"], "old": []}
    site.path(JOURNAL).write_text(json.dumps(journal), encoding="utf-8")


def plant_staging_link_victim(site: Site) -> None:
    site.path(STAGING).symlink_to(site.victim, target_is_directory=True)


def plant_staging_file(site: Site) -> None:
    site.path(STAGING).write_text("not a folder\n", encoding="utf-8")


def plant_staging_with_a_fifo(site: Site) -> None:
    site.path(STAGING).mkdir()
    os.mkfifo(site.path(STAGING) / "main.tf")


def plant_staging_with_a_link(site: Site) -> None:
    site.path(STAGING).mkdir()
    (site.path(STAGING) / "main.tf").symlink_to(site.victim / "precious.txt")


def plant_staging_with_a_hard_link(site: Site) -> None:
    site.path(STAGING).mkdir()
    os.link(site.victim / "precious.txt", site.path(STAGING) / "main.tf")


def plant_journal(body: object) -> Callable[[Site], None]:
    """A journal with ``body`` (JSON, or raw text when a str), beside an empty staging folder."""

    def plant(site: Site) -> None:
        site.path(STAGING).mkdir()
        text = body if isinstance(body, str) else json.dumps(body)
        site.path(JOURNAL).write_text(text, encoding="utf-8")

    return plant


def plant_journal_removing(name: Callable[[Site], str]) -> Callable[[Site], None]:
    """A crafted (version 1) journal that asks recovery to remove ``name``."""

    def plant(site: Site) -> None:
        body = {"version": 1, "mode": "replace", "install": [], "remove": [name(site)]}
        plant_journal(body)(site)

    return plant


def plant_journal_v2_with_a_known_hash(site: Site) -> None:
    """Today's format and the real hash of a user's file: still refused (wrong inode)."""
    notes = (site.out / "notes.txt").read_bytes()
    body = {
        "version": 2,
        "mode": "replace",
        "staging": [1, 2],
        "install": [],
        "remove": [["notes.txt", sha(notes)]],
    }
    plant_journal(body)(site)


def plant_journal_v2_with_a_bad_name(name: str) -> Callable[[Site], None]:
    def plant(site: Site) -> None:
        site.path(STAGING).mkdir()
        info = site.path(STAGING).lstat()
        body = {
            "version": 2,
            "mode": "replace",
            "staging": [info.st_dev, info.st_ino],
            "install": [],
            "remove": [[name, "0" * 64]],
        }
        site.path(JOURNAL).write_text(json.dumps(body), encoding="utf-8")

    return plant


def plant_journal_link(site: Site) -> None:
    site.path(JOURNAL).symlink_to(site.victim / "precious.txt")


def plant_journal_fifo(site: Site) -> None:
    os.mkfifo(site.path(JOURNAL))


def plant_journal_folder(site: Site) -> None:
    site.path(JOURNAL).mkdir()


def plant_journal_huge(site: Site) -> None:
    with site.path(JOURNAL).open("wb") as handle:
        handle.truncate(JOURNAL_LIMIT + 1)


def plant_manifest(body: Callable[[Site], object]) -> Callable[[Site], None]:
    def plant(site: Site) -> None:
        value = body(site)
        text = value if isinstance(value, str) else json.dumps(value)
        (site.out / MANIFEST).write_text(text, encoding="utf-8")

    return plant


def plant_manifest_fifo(site: Site) -> None:
    (site.out / MANIFEST).unlink()
    os.mkfifo(site.out / MANIFEST)


def manifest_listing_the_lock_file(site: Site) -> object:
    """A manifest that claims the user's lock file, with its real hash: render removed it."""
    files = read_manifest(site.out)
    files[".terraform.lock.hcl"] = sha((site.out / ".terraform.lock.hcl").read_bytes())
    return {"generator": "tfgen", "files": files}


def plant_out_link(site: Site) -> None:
    """out/dev a link to a faithful copy elsewhere: check used to say "up to date"."""
    shutil.copytree(site.out, site.victim / "dev", symlinks=True)
    shutil.rmtree(site.out)
    site.out.symlink_to(site.victim / "dev", target_is_directory=True)


def plant_generated_link(site: Site) -> None:
    copy = site.victim / "network.tf"
    copy.write_bytes((site.out / "network.tf").read_bytes())
    (site.out / "network.tf").unlink()
    (site.out / "network.tf").symlink_to(copy)


def _replace_generated(make: Callable[[Path], None]) -> Callable[[Site], None]:
    def plant(site: Site) -> None:
        (site.out / "network.tf").unlink()
        make(site.out / "network.tf")

    return plant


def _make_socket(path: Path) -> None:
    # A relative bind from the folder itself: tmp paths can exceed AF_UNIX's 108 bytes.
    script = "import socket; socket.socket(socket.AF_UNIX).bind('network.tf')"
    subprocess.run([sys.executable, "-c", script], cwd=path.parent, check=True)


def _make_device(path: Path) -> None:
    os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(1, 5))  # what /dev/zero is


def _make_huge(path: Path) -> None:
    with path.open("wb") as handle:
        handle.truncate(FILE_LIMIT + 1)


@dataclass(frozen=True)
class Case:
    id: str
    plant: Callable[[Site], None]
    message: str
    code: int = 1
    commands: tuple[tuple[str, ...], ...] = COMMANDS
    subprocess: bool = False


UNREADABLE = r"out/\.tfgen-dev\.journal: unreadable journal of an interrupted write \(.+\); "
BAD_MANIFEST = r"out/dev/\.tfgen-manifest\.json: "
IN_THE_WAY = r"out/dev/network\.tf: is in the way of a generated file"

CASES = [
    # ------------------------------------------------------------------ the staging folder
    Case(
        "staging-link-to-the-project",
        plant_staging_link_up,
        rf"{STAGING}: is a symbolic link; tfgen never follows links; {HINT}",
    ),
    Case(
        "staging-link-to-the-project-with-a-journal",
        plant_staging_link_up_with_journal,
        rf"({STAGING}: is a symbolic link|{UNREADABLE})",
    ),
    Case(
        "staging-link-to-a-victim",
        plant_staging_link_victim,
        rf"{STAGING}: is a symbolic link; tfgen never follows links; {HINT}",
    ),
    Case("staging-is-a-file", plant_staging_file, rf"{STAGING}: is not a folder; {HINT}"),
    Case(
        "staging-holds-a-fifo",
        plant_staging_with_a_fifo,
        rf"{STAGING}: holds entries tfgen did not put there \(main\.tf\); {HINT}",
        subprocess=True,
    ),
    Case(
        "staging-holds-a-link",
        plant_staging_with_a_link,
        rf"{STAGING}: holds entries tfgen did not put there \(main\.tf\); {HINT}",
    ),
    Case(
        "staging-holds-a-hard-link-to-a-victim",
        plant_staging_with_a_hard_link,
        rf"{STAGING}: holds entries tfgen did not put there \(main\.tf\); {HINT}",
    ),
    # ------------------------------------------------------------------ crafted journals
    Case(
        "journal-removes-the-readme",
        plant_journal_removing(lambda _site: "../../README.md"),
        rf"{UNREADABLE}{HINT}",
    ),
    Case(
        "journal-removes-an-absolute-path",
        plant_journal_removing(lambda site: str(site.victim / "precious.txt")),
        rf"{UNREADABLE}{HINT}",
    ),
    Case(
        "journal-removes-the-lock-file",
        plant_journal_removing(lambda _site: ".terraform.lock.hcl"),
        rf"{UNREADABLE}{HINT}",
    ),
    Case(
        "journal-v2-knows-a-users-hash",
        plant_journal_v2_with_a_known_hash,
        rf"{JOURNAL}: does not belong to {STAGING} \(another folder's inode\); {HINT}",
    ),
    *(
        Case(
            f"journal-v2-names-{slug}",
            plant_journal_v2_with_a_bad_name(name),
            rf"{UNREADABLE}{HINT}",
        )
        for slug, name in [
            ("parent", "../../README.md"),
            ("absolute", "/etc/hostname"),
            ("lock-file", ".terraform.lock.hcl"),
            ("dot", "."),
            ("nul", "a\0.tf"),
            ("manifest-lookalike", ".tfgen-other"),
        ]
    ),
    # ------------------------------------------------------------------ wrong shapes
    Case(
        "journal-missing-keys",
        plant_journal({"version": 1, "mode": "replace"}),
        rf"{UNREADABLE}{HINT}",
    ),
    Case(
        "journal-number-for-a-list",
        plant_journal({"version": 1, "mode": "replace", "install": 5, "remove": []}),
        rf"{UNREADABLE}{HINT}",
    ),
    Case(
        "journal-swap-number-for-a-list",
        plant_journal({"version": 1, "mode": "swap", "staging": [0, 0], "new": 5, "old": 5}),
        rf"{UNREADABLE}{HINT}",
    ),
    Case(
        "journal-nested-100000-deep",
        plant_journal(
            '{"version": 1, "mode": "replace", "install": ' + "[" * 100_000 + "]" * 100_000 + "}"
        ),
        rf"{UNREADABLE}{HINT}",
    ),
    Case(
        "journal-not-json",
        plant_journal("\xff garbage"),
        rf"{UNREADABLE}{HINT}",
    ),
    Case(
        "journal-is-a-link",
        plant_journal_link,
        rf"{JOURNAL}: is a symbolic link; tfgen never follows links; {HINT}",
    ),
    Case(
        "journal-is-a-fifo",
        plant_journal_fifo,
        rf"{JOURNAL}: is not a regular file; {HINT}",
        subprocess=True,
    ),
    Case(
        "journal-is-a-folder",
        plant_journal_folder,
        rf"{JOURNAL}: is not a regular file; {HINT}",
    ),
    Case(
        "journal-over-its-bound",
        plant_journal_huge,
        rf"{JOURNAL}: is larger than {JOURNAL_LIMIT} bytes, more than tfgen reads back; {HINT}",
    ),
    # ------------------------------------------------------------------ manifests
    Case(
        "manifest-nested-100000-deep",
        plant_manifest(
            lambda _site: '{"generator": "tfgen", "files": ' + "[" * 100_000 + "]" * 100_000 + "}"
        ),
        rf"{BAD_MANIFEST}the manifest is not valid JSON \(nested deeper than 32 levels\)",
    ),
    Case(
        "manifest-claims-the-lock-file",
        plant_manifest(manifest_listing_the_lock_file),
        rf"{BAD_MANIFEST}not a tfgen manifest",
    ),
    Case(
        "manifest-number-for-files",
        plant_manifest(lambda _site: {"generator": "tfgen", "files": 5}),
        rf"{BAD_MANIFEST}not a tfgen manifest",
    ),
    Case(
        "manifest-extra-key",
        plant_manifest(
            lambda site: {"generator": "tfgen", "files": read_manifest(site.out), "x": 1}
        ),
        rf"{BAD_MANIFEST}not a tfgen manifest",
    ),
    Case(
        "manifest-is-a-fifo",
        plant_manifest_fifo,
        rf"({BAD_MANIFEST}is not a regular file|out/dev/\.tfgen-manifest\.json: is in the way)",
        subprocess=True,
    ),
    # ------------------------------------------------------------------ out/<env> itself
    Case(
        "output-folder-is-a-link",
        plant_out_link,
        r"out/dev: is a symbolic link; tfgen (does not|never) (reads or )?writes? through links",
    ),
    Case(
        "generated-name-is-a-link",
        plant_generated_link,
        r"out/dev/network\.tf: is a symbolic link; tfgen never (reads or )?writes through links",
    ),
    Case(
        "generated-name-is-a-fifo",
        _replace_generated(os.mkfifo),
        IN_THE_WAY,
        subprocess=True,
    ),
    Case(
        "generated-name-is-a-char-device",
        _replace_generated(_make_device),
        IN_THE_WAY,
        subprocess=True,
    ),
    Case(
        "generated-name-is-a-socket",
        _replace_generated(_make_socket),
        IN_THE_WAY,
        subprocess=True,
    ),
    Case(
        "generated-name-is-a-folder",
        _replace_generated(lambda path: path.mkdir()),
        IN_THE_WAY,
    ),
    Case(
        "generated-file-over-the-bound",
        _replace_generated(_make_huge),
        rf"out/dev/network\.tf: is larger than {FILE_LIMIT} bytes, more than tfgen reads back",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_out_changes_nothing(site: Site, case: Case) -> None:
    case.plant(site)
    before = snapshot(site.base)
    run = run_subprocess if case.subprocess else run_in_process
    for command in case.commands:
        code, stderr = run(site, command)
        what = f"{' '.join(command)}: {stderr}"
        assert code == case.code, what
        assert re.search(case.message, stderr), what
        assert "Traceback" not in stderr, what
        assert snapshot(site.base) == before, f"{' '.join(command)} changed files"


# --------------------------------------------------------------------------- left-overs


def test_a_staging_folder_left_by_a_failure_never_blocks_the_next_run(site: Site) -> None:
    """A crash before the journal leaves new files (one link each) in the staging folder."""
    staging = site.path(STAGING)
    staging.mkdir()
    (staging / "network.tf").write_text("partly writ", encoding="utf-8")
    (staging / MANIFEST).write_text("", encoding="utf-8")
    os.link(site.out / "notes.txt", staging / "notes.txt")  # a spare link of a user's file
    mine = {n: (site.out / n).read_bytes() for n in ("notes.txt", ".terraform.lock.hcl")}
    code, stderr = run_in_process(site, ("check", "dev"))
    assert code == 0, stderr
    assert not staging.exists()
    assert {n: (site.out / n).read_bytes() for n in mine} == mine
    assert (site.out / "notes.txt").stat().st_nlink == 1


def _leftovers(site: Site) -> list[str]:
    return sorted(p.name for p in (site.project / "out").iterdir() if p.name.startswith(".tfgen"))


def _change_input(site: Site) -> None:
    dev = site.path("environments/dev.yaml")
    dev.write_text(dev.read_text(encoding="utf-8").replace("10.10.0.0/16", "10.11.0.0/16"))


@pytest.fixture
def immutable(site: Site) -> Iterator[Path]:
    """out/dev that not even root can change (chattr +i), made writable again afterwards."""
    if os.geteuid() != 0:
        site.out.chmod(0o555)
        yield site.out
        site.out.chmod(0o755)
        return
    done = subprocess.run(["chattr", "+i", str(site.out)], capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"chattr +i is not supported here: {done.stderr!r}")
    try:
        yield site.out
    finally:
        subprocess.run(["chattr", "-i", str(site.out)], check=True)


def test_an_unwritable_output_folder_gives_one_error_and_no_debris(
    site: Site, immutable: Path
) -> None:
    _change_input(site)
    before = snapshot(site.project / "out")
    for _ in range(2):  # the second run sees what the first left: nothing
        code, stderr = run_in_process(site, ("render", "dev"))
        assert code == 1, stderr
        assert re.search(
            r"^(error: )?out/dev: cannot write output: (Operation not permitted|Permission denied)",
            stderr,
            re.MULTILINE,
        ), stderr
        assert len(stderr.strip().splitlines()) == 1, stderr
        assert "Traceback" not in stderr
        assert _leftovers(site) == []
        assert snapshot(site.project / "out") == before


NOBODY = 65534


def _render_as_nobody(project: Path) -> tuple[int, str]:
    """Fork; the child drops root (so mode bits count) and renders dev in-process."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 70
        try:
            os.dup2(write, 2)
            # pytest replaced sys.stderr with its capture: messages go to the pipe instead.
            sys.stderr = open(write, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
            # Every module a render may import lazily is loaded while still root: the
            # checkout (and its .venv) may sit in a folder only root can read (a CI clone).
            for found in pkgutil.walk_packages(generator.__path__, "generator."):
                importlib.import_module(found.name)
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            cli_module.main(["render", "dev", "--project-dir", str(project)])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            traceback.print_exc()
        finally:
            sys.stderr.flush()
            os._exit(code)
    os.close(write)
    with os.fdopen(read, encoding="utf-8", errors="replace") as stream:
        stderr = stream.read()
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), stderr


@pytest.fixture
def nobodys_site(site: Site) -> Iterator[Site]:
    """The site copied where user nobody can reach it, owned by nobody (root only)."""
    if os.geteuid() != 0:
        pytest.skip("needs root to become another user")
    base = Path(tempfile.mkdtemp(prefix="tfgen-ro-", dir="/tmp"))
    try:
        base.chmod(0o755)
        project = base / "project"
        shutil.copytree(site.project, project, symlinks=True)
        for path in [project, *project.rglob("*")]:
            os.lchown(path, NOBODY, NOBODY)
        yield Site(base, project, site.victim)
    finally:
        shutil.rmtree(base)


@pytest.mark.parametrize("with_folder", [True, False], ids=["with-.terraform", "files-only"])
def test_a_read_only_output_folder_never_leaves_a_staging_folder(
    nobodys_site: Site, with_folder: bool
) -> None:
    """chmod 0555 out/dev, as a user: a folder in it cannot move; files-only still swaps."""
    site = nobodys_site
    if not with_folder:
        shutil.rmtree(site.out / ".terraform")
    _change_input(site)
    site.out.chmod(0o555)
    for _ in range(2):
        code, stderr = _render_as_nobody(site.project)
        assert "Traceback" not in stderr
        assert _leftovers(site) == [], stderr
        if with_folder:
            assert code == 1, stderr
            assert re.search(r"out/dev: cannot write output: Permission denied", stderr), stderr
            assert len(stderr.strip().splitlines()) == 1, stderr
        else:
            assert code == 0, stderr
            assert "10.11.0.0/16" in (site.out / "network.tf").read_text(encoding="utf-8")
            assert stat.S_IMODE(site.out.stat().st_mode) == 0o555  # the mode is kept
    site.out.chmod(0o755)
    code, stderr = _render_as_nobody(site.project)
    assert code == 0, stderr
    assert (site.out / ".terraform").is_dir() is with_folder
    assert _leftovers(site) == []


# --------------------------------------------------------------------------- fuzzing

OLD = {"a.tf": "a = 1\n", "b.tf": "b = 1\n"}
NEW = {"a.tf": "a = 2\n", "c.tf": "c = 1\n"}
GENERATED_HASHES = sorted({sha(t.encode()) for t in (*OLD.values(), *NEW.values())})
NAMES = [
    *OLD,
    *NEW,
    MANIFEST,
    "notes.txt",
    ".terraform.lock.hcl",
    ".terraform",
    "../../README.md",
    "../notes.txt",
    "/etc/hostname",
    "",
    ".",
    "..",
    "a/b.tf",
    "a\0.tf",
    ".tfgen-dev.journal",
]
JSON_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=12)
    | st.sampled_from(NAMES)
    | st.sampled_from([*GENERATED_HASHES, "0" * 64, "Z" * 64])
)
JSONISH = st.recursive(
    JSON_LEAVES,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["version", "mode", "staging", "new", "old", "install", "remove"])
            | st.text(max_size=6),
            children,
            max_size=6,
        )
    ),
    max_leaves=25,
)
FUZZ = settings(
    max_examples=max(300, settings().max_examples),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@dataclass(frozen=True)
class Bed:
    """A small output root for fuzzing: out/dev from OLD, user entries, a staging folder."""

    base: Path

    @property
    def out(self) -> Path:
        return self.base / "project" / "out" / "dev"

    @property
    def staging(self) -> Path:
        return self.out.parent / ".tfgen-dev.staging"


def make_bed(base: Path, staged: str) -> Bed:
    bed = Bed(base)
    write_output(bed.out, OLD, display="out/dev")
    (bed.out / "notes.txt").write_text("mine\n", encoding="utf-8")
    (bed.out / ".terraform.lock.hcl").write_text("# lock\n", encoding="utf-8")
    (bed.out / ".terraform").mkdir()
    (bed.out / ".terraform" / "provider").write_bytes(b"\x7fELF")
    (base / "project" / "README.md").write_text("readme\n", encoding="utf-8")
    (base / "victim").mkdir()
    (base / "victim" / "precious.txt").write_text("precious\n", encoding="utf-8")
    if staged != "none":
        bed.staging.mkdir()
        (bed.staging / "a.tf").write_text(NEW["a.tf"], encoding="utf-8")
        (bed.staging / "c.tf").write_text(NEW["c.tf"], encoding="utf-8")
    if staged == "carried":
        os.link(bed.out / "notes.txt", bed.staging / "notes.txt")
        (bed.staging / "folder").mkdir()
    return bed


def users_view(bed: Bed) -> dict[str, object]:
    """What must survive anything: the user's entries, the README and the victim."""
    view = {rel: v for rel, v in snapshot(bed.base).items() if "/out/" not in f"/{rel}/"}
    view.update(
        (f"out/dev/{rel}", v)
        for rel, v in snapshot(bed.out).items()
        if rel.split("/")[0] in {"notes.txt", ".terraform.lock.hcl", ".terraform"}
    )
    return {k: v[:2] for k, v in view.items()}  # content, not mtimes: a move back is fine


def assert_generated_is_old_or_new(bed: Bed) -> None:
    for name in {*OLD, *NEW}:
        path = bed.out / name
        if path.exists():
            assert path.read_text(encoding="utf-8") in (OLD.get(name), NEW.get(name)), name


@st.composite
def journals(draw: st.DrawFn, identity: list[int]) -> object:
    """Journals close to the real shape (every field sometimes wrong), or anything at all."""
    if draw(st.booleans()):
        return draw(JSONISH)
    name = st.sampled_from(NAMES)
    digest = st.sampled_from([*GENERATED_HASHES, "0" * 64, "short"])
    mode = draw(st.sampled_from(["swap", "replace", "other"]))
    body: dict[str, object] = {
        "version": draw(st.sampled_from([2, 2, 2, 1, "2", True, 2.0])),
        "mode": mode,
        "staging": draw(st.sampled_from([identity, identity, [0, 0], identity[:1], "x"])),
    }
    if mode == "swap":
        body["new"] = draw(st.dictionaries(name, digest, max_size=4))
        body["old"] = draw(st.dictionaries(name, digest, max_size=4))
    else:
        body["install"] = draw(
            st.lists(st.tuples(name, digest, st.none() | digest).map(list), max_size=4)
        )
        body["remove"] = draw(st.lists(st.tuples(name, digest).map(list), max_size=4))
    if draw(st.integers(0, 9)) == 0:
        body.pop(draw(st.sampled_from(sorted(body))))
    if draw(st.integers(0, 9)) == 0:
        body[draw(st.text(max_size=4))] = draw(JSON_LEAVES)
    return body


@FUZZ
@given(data=st.data(), staged=st.sampled_from(["none", "files", "carried"]))
def test_fuzzed_journals_never_crash_and_never_delete(data: st.DataObject, staged: str) -> None:
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as patch:
        patch.setattr(os, "fsync", lambda _fd: None)
        bed = make_bed(Path(tmp), staged)
        identity = [0, 0]
        if staged != "none":
            info = bed.staging.lstat()
            identity = [info.st_dev, info.st_ino]
        body = data.draw(journals(identity))
        raw = data.draw(
            st.sampled_from([json.dumps(body).encode(), json.dumps(body)[:-1].encode()])
            | st.binary(max_size=64)
        )
        (bed.out.parent / ".tfgen-dev.journal").write_bytes(raw)
        before = users_view(bed)
        try:
            recover_output(bed.out, display="out/dev")
        except OutputError as err:
            assert re.match(r"^out/(dev|\.tfgen-dev\.(journal|staging))\b", str(err)), str(err)
        assert users_view(bed) == before
        assert_generated_is_old_or_new(bed)


@FUZZ
@given(
    body=JSONISH
    | st.fixed_dictionaries(
        {
            "generator": st.sampled_from(["tfgen", "other"]),
            "files": st.dictionaries(
                st.sampled_from(NAMES),
                st.sampled_from([*GENERATED_HASHES, sha(b"mine\n"), sha(b"# lock\n"), "x"]),
                max_size=5,
            ),
        }
    ),
    nested=st.integers(min_value=0, max_value=5000),
)
def test_fuzzed_manifests_never_crash_and_never_delete(body: object, nested: int) -> None:
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as patch:
        patch.setattr(os, "fsync", lambda _fd: None)
        bed = make_bed(Path(tmp), "none")
        text = json.dumps(body)
        if nested % 7 == 0:  # sometimes wrapped in deep brackets
            text = "[" * nested + text + "]" * nested
        (bed.out / MANIFEST).write_text(text, encoding="utf-8")
        before = users_view(bed)
        for attempt in (
            lambda: read_manifest(bed.out, display="out/dev"),
            lambda: write_output(bed.out, NEW, display="out/dev"),
        ):
            try:
                attempt()
            except (OutputError, DriftError) as err:  # drift: a .tf the manifest does not list
                assert str(err).startswith("out/dev"), str(err)
        assert users_view(bed) == before
        assert_generated_is_old_or_new(bed)


# --------------------------------------------------------------------------- list


@pytest.mark.parametrize("layout", ["no-folder", "empty-folder", "only-layers"])
@pytest.mark.parametrize("as_json", [False, True], ids=["table", "json"])
def test_list_without_any_environment_exits_1(tmp_path: Path, layout: str, as_json: bool) -> None:
    """A CI matrix built from an empty list would plan nothing and go green."""
    project = tmp_path / "project"
    project.mkdir()
    if layout != "no-folder":
        (project / "environments").mkdir()
    if layout == "only-layers":
        (project / "environments" / "_defaults.yaml").write_text("tags: {}\n", encoding="utf-8")
    args = ["list", "--project-dir", str(project), *(["--json"] if as_json else [])]
    result = CliRunner().invoke(cli_module.cli, args)
    assert result.exit_code == 1, result.output
    expected = "no environments/ folder" if layout == "no-folder" else "no environment in it"
    assert re.search(rf"environments/: {expected}", result.stderr), result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
