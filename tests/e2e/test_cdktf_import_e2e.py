"""The CDKTF deployment moved into catalog-api's three components, by import: nothing deleted.

The committed ``cdk.tf.json`` is applied into moto (state at the CDKTF key), as the team runs
it today. This is the README's "Moving from CDKTF", step by step: ``terraform state pull``;
``tfgen adopt`` (import implied: every component has a state of its own) writes one section of
import blocks per component and ``adopt/<env>.forget.tf``; ``tfgen render``; then, in the
waves of ``tfgen list --json``, each component is initialised, planned (imports and in-place
updates only, exactly the expected objects, ``tfgen gate`` passes) and applied. The old root,
given the forget file, plans only ``forget``, destroys nothing and ends with an empty state;
every object is still deployed, and a second plan of each component changes no resource.
Run alone with ``.venv/bin/python -m pytest -m e2e tests/e2e/test_cdktf_import_e2e.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from generator.adopt.blocks import removed_blocks
from tests.e2e.test_cdktf_fixture_e2e import (
    BUDGET,
    ENV,
    STATE_BUCKET,
    STATE_KEY,
    assert_seed_names_exist,
    component_of,
    deploy_cdktf_app,
    expected,
    render_fixture,
    state_addresses,
)
from tests.e2e.test_components_migration_e2e import import_wave_by_wave, plan_changes
from tests.e2e.test_e2e import Clock, failed, object_keys, s3_client, terraform, tfgen
from tests.moto_server import aws_subprocess_env, running_moto_server
from tests.tfhelpers import requires_terraform

REGION = "eu-west-1"


def retire(app: Path, forget: Path, also: list[str]) -> None:
    """Keep only the old root's terraform, provider and variable blocks, plus removed blocks."""
    doc = json.loads((app / "cdk.tf.json").read_text("utf-8"))
    kept = {k: doc[k] for k in ("terraform", "provider", "variable") if k in doc}
    (app / "cdk.tf.json").write_text(json.dumps(kept, indent=2), encoding="utf-8")
    extra = removed_blocks(sorted({a.split("[", 1)[0] for a in also}))
    (app / "forget.tf").write_text(forget.read_text("utf-8") + extra, encoding="utf-8")


@pytest.mark.e2e
@requires_terraform
def test_cdktf_state_moves_into_the_components_and_the_old_root_forgets(tmp_path: Path) -> None:
    clock = Clock(BUDGET * 2, tmp_path)
    data = expected()
    with running_moto_server(tmp_path / "moto") as server:
        # The CDKTF app's state, as the team has it.
        app, env = deploy_cdktf_app(clock, tmp_path, server.url)
        s3 = s3_client(server.url, REGION)
        assert object_keys(s3, STATE_BUCKET) == [STATE_KEY]
        assert_seed_names_exist(server.url)
        result = terraform(clock, "show", ["show", "-json"], app, env)
        assert result.returncode == 0, failed(result, "terraform show -json")
        assert state_addresses(json.loads(result.stdout)) == (
            set(data["moves"]) | set(data["removed"])
        )
        result = terraform(clock, "pull", ["state", "pull"], app, env)
        assert result.returncode == 0, failed(result, "terraform state pull")
        pulled = tmp_path / "cdktf.tfstate"
        pulled.write_text(result.stdout, encoding="utf-8")

        # tfgen adopt: offline, one joint matching, import blocks per component.
        project = tmp_path / "project"
        render_env = aws_subprocess_env(
            AWS_ENDPOINT_URL=server.url, TFGEN_LOCAL_STATE_BUCKET=STATE_BUCKET
        )
        out = render_fixture(project, render_env)
        at = ["--project-dir", str(project)]
        adopt = tfgen([*at, "adopt", ENV, "--state", str(pulled)], render_env)
        assert adopt.returncode == 0, failed(adopt, "tfgen adopt")
        assert "warning:" not in adopt.stderr, adopt.stderr  # every deployed name is kept
        owner = component_of(out)
        want: dict[str, set[str]] = {"network": set(), "data": set(), "app": set()}
        for target in data["moves"].values():
            want[owner[target.split("[", 1)[0]]].add(target)
        adoption = yaml.safe_load((project / "adopt" / f"{ENV}.yaml").read_text("utf-8"))
        imports = {
            name: {item["to"] for item in section["import"]}
            for name, section in adoption["components"].items()
        }
        assert imports == want
        render = tfgen([*at, "render", ENV], render_env)
        assert render.returncode == 0, failed(render, "tfgen render (with adopt.tf)")
        listed = tfgen([*at, "list", "--json"], render_env)
        assert listed.returncode == 0, failed(listed, "tfgen list --json")
        (row,) = [r for r in json.loads(listed.stdout) if r["name"] == ENV]
        assert row["waves"] == [["network"], ["data"], ["app"]]
        assert all((project / c["dir"] / "adopt.tf").is_file() for c in row["components"])

        # Wave by wave: imports and in-place updates only, proven by the gate, then applied.
        folders = import_wave_by_wave(clock, row, project, env, render_env, want)

        # The old root is retired: its configuration becomes the forget file tfgen wrote (what
        # moved) plus removed blocks for what tfgen does not render (the team's call: forget
        # it too). It destroys nothing and ends empty; every object is still deployed.
        retire(app, project / "adopt" / f"{ENV}.forget.tf", data["removed"])
        old, _ = plan_changes(clock, "old", app, {**env, "TF_VAR_endpoint": server.url})
        assert {c["change"]["actions"][0] for c in old} == {"forget"}
        assert {c["address"] for c in old} == set(data["moves"]) | set(data["removed"])
        gate = tfgen(["gate", str(app / "plan.json")], render_env)
        assert gate.returncode == 0, failed(gate, "tfgen gate (old root)")
        result = terraform(clock, "old-apply", ["apply", "tfplan"], app, env)
        assert result.returncode == 0, failed(result, "terraform apply (old root)")
        result = terraform(clock, "old-list", ["state", "list"], app, env)
        assert result.stdout.split() == []
        assert_seed_names_exist(server.url)

        # A second plan of each component changes no resource.
        for name, folder in folders.items():
            again, _ = plan_changes(clock, f"{name}-replan", folder, env)
            assert [c["address"] for c in again if c["change"]["actions"] != ["no-op"]] == []
    print(f"\ncdktf into components e2e timings: {clock.summary()}")
