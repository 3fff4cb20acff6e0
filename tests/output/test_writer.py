"""The writer: atomic swap, user files untouched, stale files removed, hand edits refused."""

from __future__ import annotations

import errno
import json
from pathlib import Path
from typing import Any

import pytest

from generator.errors import OutputError
from generator.output import atomic
from generator.output.safeio import sha256_text
from generator.output.writer import (
    MANIFEST,
    manifest_text,
    read_manifest,
    recover_output,
    write_output,
)
from tests.outtree import contents, generated_set, snapshot

OLD = {"a.tf": "a = 1\n", "b.tf": "b = 1\n", "d.tf": "d = 1\n"}
NEW = {"a.tf": "a = 2\n", "c.tf": "c = 1\n", "d.tf": "d = 1\n"}


@pytest.fixture(params=["exchange", "replace"])
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test with the renameat2 swap and again with the journaled per-file fallback."""
    if request.param == "replace":
        monkeypatch.setattr(atomic, "_LIBC_RENAMEAT2", None)
    return str(request.param)


def user_entries(directory: Path, outside: Path) -> None:
    """What terraform and a user leave in out/<env>/, plus a link pointing outside."""
    (directory / ".terraform" / "providers").mkdir(parents=True)
    (directory / ".terraform" / "providers" / "bin").write_bytes(b"\x7fELF provider")
    (directory / ".terraform" / "terraform.tfstate").write_text("{}", encoding="utf-8")
    (directory / ".terraform.lock.hcl").write_text("# lock\n", encoding="utf-8")
    (directory / "notes.txt").write_text("mine\n", encoding="utf-8")
    outside.write_text("outside\n", encoding="utf-8")
    (directory / "escape.link").symlink_to(outside)


def users_view(directory: Path) -> dict[str, Any]:
    """The snapshot of everything in ``directory`` that tfgen did not generate."""
    owned = {*read_manifest(directory), MANIFEST}
    return {
        rel: entry
        for rel, entry in snapshot(directory).items()
        if rel != "." and rel.split("/")[0] not in owned
    }


def leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.name.startswith(".tfgen"))


def test_first_write_creates_the_folder_with_a_manifest(tmp_path: Path, mode: str) -> None:
    target = tmp_path / "out" / "dev"
    result = write_output(target, OLD, display="out/dev")
    assert result.written == ("a.tf", "b.tf", "d.tf")
    assert (result.removed, result.unchanged) == ((), ())
    assert generated_set(target) == {
        **{n: t.encode() for n, t in OLD.items()},
        MANIFEST: manifest_text(OLD).encode(),
    }
    assert read_manifest(target) == {n: sha256_text(t) for n, t in OLD.items()}
    assert leftovers(tmp_path / "out") == []


def test_rewrite_swaps_the_set_and_keeps_every_user_entry(tmp_path: Path, mode: str) -> None:
    target = tmp_path / "out" / "dev"
    write_output(target, OLD, display="out/dev")
    user_entries(target, tmp_path / "outside.txt")
    mine = users_view(target)
    result = write_output(target, NEW, display="out/dev")
    assert (result.written, result.removed, result.unchanged) == (
        ("a.tf", "c.tf"),
        ("b.tf",),
        ("d.tf",),
    )
    assert generated_set(target) == {
        **{n: t.encode() for n, t in NEW.items()},
        MANIFEST: manifest_text(NEW).encode(),
    }
    assert not (target / "b.tf").exists()
    # Same bytes, same mtimes, same inodes: user files were never rewritten or copied.
    assert users_view(target) == mine
    assert (tmp_path / "outside.txt").read_text(encoding="utf-8") == "outside\n"
    assert (target / ".terraform.lock.hcl").stat().st_nlink == 1
    assert leftovers(tmp_path / "out") == []


def test_an_unchanged_render_touches_nothing(tmp_path: Path, mode: str) -> None:
    target = tmp_path / "out" / "dev"
    write_output(target, OLD, display="out/dev")
    before = snapshot(tmp_path / "out")
    result = write_output(target, OLD, display="out/dev")
    assert (result.written, result.removed) == ((), ())
    assert result.unchanged == ("a.tf", "b.tf", "d.tf")
    assert snapshot(tmp_path / "out") == before


def test_the_folder_keeps_its_permissions(tmp_path: Path, mode: str) -> None:
    target = tmp_path / "out" / "dev"
    write_output(target, OLD, display="out/dev")
    target.chmod(0o750)
    write_output(target, NEW, display="out/dev")
    assert target.stat().st_mode & 0o777 == 0o750


@pytest.mark.parametrize("name", ["a.tf", "b.tf"], ids=["rendered-again", "stale"])
def test_a_hand_edit_is_refused_then_forced(tmp_path: Path, mode: str, name: str) -> None:
    target = tmp_path / "out" / "dev"
    write_output(target, OLD, display="out/dev")
    (target / name).write_text("edited by hand\n", encoding="utf-8")
    before = snapshot(tmp_path / "out")
    with pytest.raises(OutputError, match=rf"^out/dev/{name}: was edited by hand.*--force"):
        write_output(target, NEW, display="out/dev")
    assert snapshot(tmp_path / "out") == before
    write_output(target, NEW, display="out/dev", force=True)
    assert generated_set(target)["a.tf"] == NEW["a.tf"].encode()
    assert not (target / "b.tf").exists()


def test_a_hand_edit_that_matches_the_new_render_is_accepted(tmp_path: Path, mode: str) -> None:
    target = tmp_path / "out" / "dev"
    write_output(target, OLD, display="out/dev")
    (target / "a.tf").write_text(NEW["a.tf"], encoding="utf-8")
    write_output(target, NEW, display="out/dev")
    assert read_manifest(target)["a.tf"] == sha256_text(NEW["a.tf"])


def test_a_file_tfgen_did_not_write_is_not_overwritten(tmp_path: Path, mode: str) -> None:
    target = tmp_path / "out" / "dev"
    target.mkdir(parents=True)
    (target / "a.tf").write_text("# written by someone else\n", encoding="utf-8")
    before = snapshot(tmp_path / "out")
    with pytest.raises(OutputError, match=r"^out/dev/a\.tf: exists but tfgen did not write it"):
        write_output(target, NEW, display="out/dev")
    assert snapshot(tmp_path / "out") == before
    write_output(target, NEW, display="out/dev", force=True)
    assert (target / "a.tf").read_text(encoding="utf-8") == NEW["a.tf"]


def test_a_symlink_at_a_generated_name_is_never_written_through(tmp_path: Path, mode: str) -> None:
    target = tmp_path / "out" / "dev"
    write_output(target, OLD, display="out/dev")
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n", encoding="utf-8")
    (target / "a.tf").unlink()
    (target / "a.tf").symlink_to(victim)
    before = snapshot(tmp_path)
    for force in (False, True):
        with pytest.raises(OutputError, match=r"^out/dev/a\.tf: is a symbolic link"):
            write_output(target, NEW, display="out/dev", force=force)
    assert snapshot(tmp_path) == before


def test_a_folder_at_a_generated_name_is_refused(tmp_path: Path, mode: str) -> None:
    target = tmp_path / "out" / "dev"
    (target / "c.tf").mkdir(parents=True)
    with pytest.raises(OutputError, match=r"^out/dev/c\.tf: is in the way of a generated file"):
        write_output(target, NEW, display="out/dev", force=True)


def test_a_stale_name_that_is_now_the_users_is_kept(tmp_path: Path, mode: str) -> None:
    target = tmp_path / "out" / "dev"
    write_output(target, OLD, display="out/dev")
    (target / "b.tf").unlink()
    (target / "b.tf").mkdir()
    (target / "b.tf" / "kept").write_text("x", encoding="utf-8")
    write_output(target, NEW, display="out/dev")
    assert (target / "b.tf" / "kept").read_text(encoding="utf-8") == "x"


def test_links_at_the_folder_or_root_are_refused(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "dev").symlink_to(real)
    with pytest.raises(OutputError, match=r"^out/dev: is a symbolic link"):
        write_output(tmp_path / "out" / "dev", NEW, display="out/dev")
    (tmp_path / "elsewhere").symlink_to(real, target_is_directory=True)
    with pytest.raises(OutputError, match=r"^out: is a symbolic link"):
        write_output(tmp_path / "elsewhere" / "dev", NEW, display="out/dev")
    assert list(real.iterdir()) == []


def test_an_output_root_that_is_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "out").write_text("not a folder", encoding="utf-8")
    with pytest.raises(OutputError, match=r"^out: exists and is not a directory"):
        write_output(tmp_path / "out" / "dev", NEW, display="out/dev")
    (tmp_path / "file").write_text("x", encoding="utf-8")
    with pytest.raises(OutputError, match=r"cannot create the output folder: Not a directory"):
        write_output(tmp_path / "file" / "out" / "dev", NEW, display="file/out/dev")
    assert (tmp_path / "out").read_text(encoding="utf-8") == "not a folder"


@pytest.mark.parametrize(
    "name", ["", ".", "..", "a/b.tf", "../x.tf", "a\\b", "nul\0.tf", MANIFEST, ".tfgen-x"]
)
def test_unsafe_file_names_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(OutputError, match=r"^out/dev: refusing to write"):
        write_output(tmp_path / "out" / "dev", {name: "x"}, display="out/dev")
    assert not (tmp_path / "out" / "dev").exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not valid JSON"),
        (b"\xff\xfe".decode("latin-1"), "not valid JSON"),
        ('{"files": {}}', "not a tfgen manifest"),
        ('{"generator": "tfgen", "files": {"../x.tf": "' + "0" * 64 + '"}}', "not a tfgen"),
        ('{"generator": "tfgen", "files": {"a.tf": "short"}}', "not a tfgen manifest"),
        ('["generator", "tfgen"]', "not a tfgen manifest"),
    ],
)
def test_a_broken_manifest_is_an_error_until_forced(
    tmp_path: Path, text: str, message: str
) -> None:
    target = tmp_path / "out" / "dev"
    write_output(target, OLD, display="out/dev")
    (target / MANIFEST).write_text(text, encoding="latin-1")
    with pytest.raises(OutputError, match=rf"^out/dev/\.tfgen-manifest\.json: .*{message}"):
        read_manifest(target, display="out/dev")
    with pytest.raises(OutputError, match=message):
        write_output(target, NEW, display="out/dev")
    write_output(target, NEW, display="out/dev", force=True)
    assert read_manifest(target) == {n: sha256_text(t) for n, t in NEW.items()}


def test_a_manifest_that_is_a_link_is_not_followed(tmp_path: Path) -> None:
    target = tmp_path / "out" / "dev"
    target.mkdir(parents=True)
    fake = tmp_path / "fake.json"
    fake.write_text(json.dumps({"generator": "tfgen", "files": {}}), encoding="utf-8")
    (target / MANIFEST).symlink_to(fake)
    with pytest.raises(OutputError, match=r"is a symbolic link"):
        read_manifest(target, display="out/dev")
    assert read_manifest(tmp_path / "missing") == {}


def test_exchange_unsupported_by_the_filesystem_falls_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = atomic._renameat2
    calls: list[int] = []

    def no_exchange(src: Path, dst: Path, flags: int) -> None:
        calls.append(flags)
        if flags == atomic._RENAME_EXCHANGE:
            raise OSError(errno.EINVAL, "Invalid argument", str(src))
        real(src, dst, flags)

    target = tmp_path / "out" / "dev"
    write_output(target, OLD, display="out/dev")
    user_entries(target, tmp_path / "outside.txt")
    mine = users_view(target)
    monkeypatch.setattr(atomic, "_renameat2", no_exchange)
    write_output(target, NEW, display="out/dev")
    assert atomic._RENAME_EXCHANGE in calls
    assert generated_set(target)["c.tf"] == NEW["c.tf"].encode()
    assert users_view(target) == mine
    assert leftovers(tmp_path / "out") == []


def test_recovery_keeps_both_copies_when_a_moved_folder_was_recreated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash between moving .terraform/ and the swap, then `terraform init` again."""
    target = tmp_path / "out" / "dev"
    write_output(target, OLD, display="out/dev")
    user_entries(target, tmp_path / "outside.txt")

    def crash(src: Path, dst: Path, flags: int) -> None:
        msg = "killed"  # stands in for SIGKILL: no rollback may run
        raise SystemExit(msg)

    monkeypatch.setattr(atomic, "_renameat2", crash)
    monkeypatch.setattr(atomic, "_rollback", lambda _txn: None)
    with pytest.raises(SystemExit):
        write_output(target, NEW, display="out/dev")
    monkeypatch.undo()
    staging = tmp_path / "out" / ".tfgen-dev.staging"
    assert (staging / ".terraform" / "providers" / "bin").exists()
    assert not (target / ".terraform").exists()
    (target / ".terraform").mkdir()  # terraform init, before tfgen ran again
    (target / ".terraform" / "new").write_text("new", encoding="utf-8")
    for _ in range(2):  # refuses every time until the user decides
        with pytest.raises(OutputError, match=r"^out/\.tfgen-dev\.staging/\.terraform: kept"):
            recover_output(target, display="out/dev")
    with pytest.raises(OutputError, match=r"created again since"):
        write_output(target, NEW, display="out/dev")
    assert (staging / ".terraform" / "providers" / "bin").read_bytes() == b"\x7fELF provider"
    (target / ".terraform" / "new").unlink()
    (target / ".terraform").rmdir()
    write_output(target, NEW, display="out/dev")
    assert (target / ".terraform" / "providers" / "bin").read_bytes() == b"\x7fELF provider"
    assert generated_set(target)["c.tf"] == NEW["c.tf"].encode()
    assert leftovers(tmp_path / "out") == []


def test_recover_output_without_anything_to_do_changes_nothing(tmp_path: Path) -> None:
    target = tmp_path / "out" / "dev"
    recover_output(target, display="out/dev")
    assert not (tmp_path / "out").exists()
    write_output(target, OLD, display="out/dev")
    before = contents(tmp_path / "out")
    recover_output(target, display="out/dev")
    assert contents(tmp_path / "out") == before


def test_an_unreadable_journal_stops_the_write(tmp_path: Path) -> None:
    target = tmp_path / "out" / "dev"
    write_output(target, OLD, display="out/dev")
    (tmp_path / "out" / ".tfgen-dev.journal").write_text("garbage", encoding="utf-8")
    with pytest.raises(OutputError, match=r"^out/\.tfgen-dev\.journal: unreadable journal"):
        write_output(target, NEW, display="out/dev")
    assert generated_set(target)["b.tf"] == OLD["b.tf"].encode()
