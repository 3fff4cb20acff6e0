"""``tfgen init DIR``: a starter project that renders and validates as written, and never
overwrites, follows a link or leaves a half-written folder behind."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from generator.cli.app import cli
from generator.commands import init as scaffold
from generator.errors import OutputError
from tests.tfhelpers import requires_terraform, run_terraform, terraform_env

EXPECTED_FILES = {
    ".gitignore",
    "environments/_defaults.yaml",
    "environments/dev.yaml",
    "templates/backend.hcl.j2",
    "templates/bucket.tf.j2",
    "templates/providers.tf.j2",
    "templates/schema.json",
    "templates/versions.tf.j2",
}
RENDERED = {"backend.hcl", "bucket.tf", "providers.tf", "versions.tf"}
# The variables the starter project reads, unset for every run here.
CLEAN_ENV: dict[str, str | None] = {"TFGEN_STATE_BUCKET": None, "AWS_ENDPOINT_URL": None}


def invoke(*args: str, env: dict[str, str | None] | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), env={**CLEAN_ENV, **(env or {})})


def tree(root: Path) -> dict[str, tuple[bytes | str, int]]:
    """Every entry under ``root`` (links not followed): its bytes or link target, and mtime."""
    found: dict[str, tuple[bytes | str, int]] = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        if path.is_symlink():
            found[path.relative_to(root).as_posix()] = (str(path.readlink()), info.st_mtime_ns)
        elif path.is_file():
            found[path.relative_to(root).as_posix()] = (path.read_bytes(), info.st_mtime_ns)
        else:
            found[path.relative_to(root).as_posix() + "/"] = (b"", info.st_mtime_ns)
    return found


def files_of(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def package_data() -> dict[str, bytes]:
    """The starter files as shipped in the package, under the names init writes."""
    base = resources.files("generator").joinpath("data", "init")
    found: dict[str, bytes] = {}

    def walk(node: object, prefix: str) -> None:
        for child in node.iterdir():  # type: ignore[attr-defined]
            name = scaffold.RENAMED.get(child.name, child.name)
            if child.is_dir():
                walk(child, f"{prefix}{name}/")
            else:
                found[f"{prefix}{name}"] = child.read_bytes()

    walk(base, "")
    return found


# --------------------------------------------------------------------------- writing


def test_init_writes_the_starter_project_verbatim(tmp_path: Path) -> None:
    target = tmp_path / "new" / "project"
    result = invoke("init", str(target))
    assert result.exit_code == 0, result.output
    assert files_of(target) == EXPECTED_FILES
    for name, data in package_data().items():  # the project named after its folder
        assert (target / name).read_bytes() == data.replace(b"myproject", b"project"), name
    assert "render dev" in result.stderr


def test_init_into_an_existing_empty_folder(tmp_path: Path) -> None:
    target = tmp_path / "empty"
    target.mkdir()
    result = invoke("init", str(target))
    assert result.exit_code == 0, result.output
    assert files_of(target) == EXPECTED_FILES


def test_the_starter_project_renders_from_its_own_folder(tmp_path: Path) -> None:
    """As the issue asks: ``tfgen init /tmp/x && cd /tmp/x && tfgen render dev`` exits 0."""
    target = tmp_path / "x"
    assert invoke("init", str(target)).exit_code == 0
    environ = {k: v for k, v in os.environ.items() if k not in CLEAN_ENV}
    proc = subprocess.run(
        [sys.executable, "-m", "generator", "render", "dev"],
        cwd=target,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert files_of(target / "out" / "dev") >= RENDERED
    backend = (target / "out" / "dev" / "backend.hcl").read_text(encoding="utf-8")
    assert 'bucket       = "x-tfstate-change-me"' in backend
    assert 'key          = "x/dev/terraform.tfstate"' in backend
    assert "use_lockfile = true" in backend


def test_the_state_bucket_comes_from_the_variable(tmp_path: Path) -> None:
    target = tmp_path / "x"
    assert invoke("init", str(target)).exit_code == 0
    result = invoke(
        "--project-dir",
        str(target),
        "render",
        "dev",
        env={"TFGEN_STATE_BUCKET": "acme-state-dev"},
    )
    assert result.exit_code == 0, result.output
    backend = (target / "out" / "dev" / "backend.hcl").read_text(encoding="utf-8")
    assert '"acme-state-dev"' in backend


def test_a_mistyped_key_gets_a_did_you_mean_at_its_line(tmp_path: Path) -> None:
    target = tmp_path / "x"
    assert invoke("init", str(target)).exit_code == 0
    dev = target / "environments" / "dev.yaml"
    text = dev.read_text(encoding="utf-8").replace("force_destroy:", "force_destory:")
    dev.write_text(text, encoding="utf-8")
    line = text.splitlines().index("  force_destory: true") + 1
    result = invoke("--project-dir", str(target), "validate", "dev")
    assert result.exit_code == 1
    assert f"environments/dev.yaml:{line}: bucket.force_destory: " in result.stderr
    assert "bucket.force_destroy" in result.stderr
    assert "Traceback" not in result.stderr


@requires_terraform
@pytest.mark.terraform
def test_the_rendered_starter_project_passes_terraform_validate_and_fmt(tmp_path: Path) -> None:
    target = tmp_path / "x"
    assert invoke("init", str(target)).exit_code == 0
    result = invoke("--project-dir", str(target), "render", "dev")
    assert result.exit_code == 0, result.output
    out = target / "out" / "dev"
    env = terraform_env(tmp_path, TF_DATA_DIR=str(tmp_path / "tfdata"))
    proc = run_terraform(["init", "-backend=false", "-input=false"], out, env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = run_terraform(["validate"], out, env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Success!" in proc.stdout
    proc = run_terraform(["fmt", "-check", "-recursive", "-diff"], out, env)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# --------------------------------------------------------------------------- refusing


@pytest.mark.parametrize(
    "existing",
    [
        pytest.param({"main.tf": b"# mine\n"}, id="a-file"),
        pytest.param({".git/HEAD": b"ref: refs/heads/main\n"}, id="only-hidden"),
        pytest.param({"environments/dev.yaml": b"project: mine\n"}, id="same-name"),
    ],
)
def test_a_non_empty_folder_is_refused_and_left_as_it_was(
    tmp_path: Path, existing: dict[str, bytes]
) -> None:
    target = tmp_path / "taken"
    for name, data in existing.items():
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        (target / name).write_bytes(data)
    before = tree(tmp_path)
    result = invoke("init", str(target))
    assert result.exit_code == 1
    assert f"error: {target}: is not empty" in result.stderr
    assert "overwrites nothing" in result.stderr
    assert "Traceback" not in result.stderr
    assert tree(tmp_path) == before


def test_a_link_to_an_empty_folder_is_refused_and_not_followed(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real, target_is_directory=True)
    before = tree(tmp_path)
    result = invoke("init", str(link))
    assert result.exit_code == 1
    assert f"error: {link}: is a symbolic link" in result.stderr
    assert "Traceback" not in result.stderr
    assert tree(tmp_path) == before
    assert list(real.iterdir()) == []


def test_a_dangling_link_is_refused_and_nothing_is_created(tmp_path: Path) -> None:
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "nowhere")
    result = invoke("init", str(link))
    assert result.exit_code == 1
    assert "is a symbolic link" in result.stderr
    assert not (tmp_path / "nowhere").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["link"]


def test_a_folder_under_a_file_is_refused_with_its_path(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("mine\n", encoding="utf-8")
    before = tree(tmp_path)
    result = invoke("init", str(blocker / "project"))
    assert result.exit_code == 1
    assert "error: " in result.stderr
    assert "Not a directory" in result.stderr
    assert "Traceback" not in result.stderr
    assert tree(tmp_path) == before


def test_a_file_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("mine\n", encoding="utf-8")
    before = tree(tmp_path)
    result = invoke("init", str(target))
    assert result.exit_code == 1
    assert f"error: {target}: exists and is not a folder" in result.stderr
    assert tree(tmp_path) == before


def test_a_failed_write_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_write = scaffold._write_new
    written: list[Path] = []

    def failing(path: Path, data: bytes) -> None:
        if len(written) == 3:
            raise OSError(28, "No space left on device", str(path))
        real_write(path, data)
        written.append(path)

    monkeypatch.setattr(scaffold, "_write_new", failing)
    target = tmp_path / "new" / "deeper" / "project"
    with pytest.raises(OutputError, match="No space left on device") as info:
        scaffold.init_project(target)
    assert info.value.exit_code == 1
    assert len(written) == 3
    assert not (tmp_path / "new").exists()
    assert list(tmp_path.iterdir()) == []


def test_a_failed_write_into_an_empty_folder_keeps_the_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(path: Path, data: bytes) -> None:
        raise OSError(13, "Permission denied", str(path))

    monkeypatch.setattr(scaffold, "_write_new", failing)
    target = tmp_path / "empty"
    target.mkdir()
    with pytest.raises(OutputError, match="Permission denied"):
        scaffold.init_project(target)
    assert target.is_dir()
    assert list(target.iterdir()) == []


def test_a_file_appearing_meanwhile_is_never_overwritten(tmp_path: Path) -> None:
    """Files are created with O_EXCL and O_NOFOLLOW: an existing name or link fails."""
    path = tmp_path / "taken"
    path.write_bytes(b"mine\n")
    with pytest.raises(FileExistsError):
        scaffold._write_new(path, b"theirs\n")
    assert path.read_bytes() == b"mine\n"
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(FileExistsError):
        scaffold._write_new(link, b"theirs\n")
    assert not (tmp_path / "elsewhere").exists()
