"""catalog-api as components: its graph, its wiring, and check over every component.

The wiring itself (remote-state blocks, missing outputs, secrets, cycles, shared keys) is
tested on an inline stack in tests/components/; here, what the shipped stack declares.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from click.testing import CliRunner

from generator.cli.app import cli
from generator.errors import EXIT_DRIFT
from tests.conftest import GOLDEN_ENVIRON, ROOT

# What app and data read, by producer: at least five wired outputs, the issue asks.
EDGES = {
    ("network", "data"): ["db_security_group_id", "private_subnet_ids"],
    ("network", "app"): [
        "alb_security_group_id",
        "private_subnet_ids",
        "public_subnet_ids",
        "tasks_security_group_id",
        "vpc_id",
    ],
    ("data", "app"): [
        "db_address",
        "db_identifier",
        "db_name",
        "db_port",
        "db_secret_arn",
        "kms_key_arn",
    ],
}


def _list(runner: CliRunner) -> list[dict[str, object]]:
    result = runner.invoke(cli, ["--project-dir", str(ROOT), "list", "--json"], env=GOLDEN_ENVIRON)
    assert result.exit_code == 0, result.stderr
    rows: list[dict[str, object]] = json.loads(result.stdout)
    return rows


def test_every_environment_applies_network_then_data_then_app(runner: CliRunner) -> None:
    rows = _list(runner)
    assert [r["name"] for r in rows] == ["dev", "local", "prod", "staging"]
    for row in rows:
        assert row["waves"] == [["network"], ["data"], ["app"]]
        components = row["components"]
        assert isinstance(components, list)
        assert [c["key"] for c in components] == [
            f"catalog/{row['name']}/{c}/terraform.tfstate" for c in ("network", "data", "app")
        ]


def test_the_edges_carry_the_wired_outputs(runner: CliRunner) -> None:
    for row in _list(runner):
        edges = row["edges"]
        assert isinstance(edges, list)
        # Found in the templates when the stack loads, so the same in every environment
        # (kms_key_arn is read only where kms.enabled; render checks it per environment).
        found = {(e["producer"], e["consumer"]): e["outputs"] for e in edges}
        assert found == EDGES, row["name"]


def test_check_covers_every_component(runner: CliRunner, tmp_path: Path) -> None:
    project = tmp_path / "project"
    for name in ("environments", "templates"):
        shutil.copytree(ROOT / name, project / name)
    args = ["--project-dir", str(project)]
    assert runner.invoke(cli, [*args, "render", "--all"], env=GOLDEN_ENVIRON).exit_code == 0
    result = runner.invoke(cli, [*args, "check", "--all"], env=GOLDEN_ENVIRON)
    assert result.exit_code == 0, result.stderr
    assert result.stderr.splitlines()[-1] == ("12 root modules: 12 up to date, 0 drifted, 0 failed")
    ecs = project / "out" / "prod" / "app" / "ecs.tf"
    ecs.write_text(ecs.read_text(encoding="utf-8").replace("FARGATE", "EC2", 1), "utf-8")
    result = runner.invoke(cli, [*args, "check", "prod"], env=GOLDEN_ENVIRON)
    assert result.exit_code == EXIT_DRIFT
    assert "out/prod/app: 1 file(s) differ" in result.stderr
    assert "out/prod/network: up to date" in result.stderr
    assert "--- a/out/prod/app/ecs.tf" in result.stdout


def test_check_flags_the_one_root_render_left_from_before_components(
    runner: CliRunner, project: Path
) -> None:
    # out/prod as the single-state stack wrote it: a manifest and its files at the top.
    args = ["--project-dir", str(project)]
    out = project / "out" / "prod"
    out.mkdir(parents=True)
    (out / "versions.tf").write_text("terraform {}\n", encoding="utf-8")
    digest = hashlib.sha256(b"terraform {}\n").hexdigest()
    manifest = {"files": {"versions.tf": digest}, "generator": "tfgen"}
    (out / ".tfgen-manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    rendered = runner.invoke(cli, [*args, "render", "prod"], env=GOLDEN_ENVIRON)
    assert rendered.exit_code == 0, rendered.stderr
    assert (out / "versions.tf").is_file()  # render leaves the old root: it is a state's config
    assert rendered.stderr.startswith(
        "warning: out/prod: 1 file(s) of the one root module rendered here before the stack "
        "had components are still there;"
    )
    result = runner.invoke(cli, [*args, "check", "prod"], env=GOLDEN_ENVIRON)
    assert result.exit_code == EXIT_DRIFT, result.stderr
    assert "error: out/prod/versions.tf: belongs to the one root module" in result.stderr
    assert "out/prod: 1 file(s) differ" in result.stderr
    assert "run: tfgen render" not in result.stderr  # render would not fix it
    (out / "versions.tf").unlink()
    assert runner.invoke(cli, [*args, "check", "prod"], env=GOLDEN_ENVIRON).exit_code == 0
    again = runner.invoke(cli, [*args, "render", "prod"], env=GOLDEN_ENVIRON)
    assert "warning:" not in again.stderr


def test_a_hostile_manifest_left_above_the_components_is_an_error_for_check_only(
    runner: CliRunner, project: Path
) -> None:
    args = ["--project-dir", str(project)]
    out = project / "out" / "prod"
    out.mkdir(parents=True)
    (out / ".tfgen-manifest.json").write_text("{", encoding="utf-8")
    rendered = runner.invoke(cli, [*args, "render", "prod"], env=GOLDEN_ENVIRON)
    assert rendered.exit_code == 0, rendered.stderr  # render never reads it
    assert "warning:" not in rendered.stderr
    result = runner.invoke(cli, [*args, "check", "prod"], env=GOLDEN_ENVIRON)
    assert result.exit_code == 1
    assert "error: out/prod/.tfgen-manifest.json: the manifest is not valid JSON" in result.stderr
    assert "Traceback" not in result.stderr
