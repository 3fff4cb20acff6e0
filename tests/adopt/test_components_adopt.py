"""tfgen adopt for a stack with components: one joint matching, imports per component."""

# ruff: noqa: E501 - state fixtures and messages read best whole

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from generator.adopt.rendered import component_instances
from generator.cli.app import cli
from generator.pipeline import render_units
from generator.project import load_project
from generator.verify.rules import parse_rendered
from tests.adopt.helpers import show_json, show_resource, write_json
from tests.components.conftest import COMPONENT_STACK
from tests.conftest import write_tree
from tests.outtree import snapshot
from tests.tfhelpers import requires_terraform, run_terraform, terraform_env

# The inline stack's security groups, given names (as the shipped stack's have): a name
# alone does not tell the app's group from another deployment's; the VPC it names does.
NAMED = {
    "templates/data.tf.j2": """
        resource "aws_security_group" "db" {
          name   = "acme-db"
          vpc_id = {{ component.network.vpc_id }}
        }

        resource "aws_secretsmanager_secret" "db" {
          name = "db"
        }

        output "db_secret_arn" {
          value = aws_secretsmanager_secret.db.arn
        }
    """,
    "templates/app.tf.j2": """
        resource "aws_security_group" "app" {
          name   = "acme-app"
          vpc_id = {{ component.network.vpc_id }}
          tags = {
            Secret = {{ component.data.db_secret_arn }}
          }
        }
    """,
}


def project(tmp_path: Path, **changes: str) -> Path:
    root = tmp_path / "p"
    write_tree(root, {**COMPONENT_STACK, **NAMED, **changes})
    return root


def single_state(tmp_path: Path) -> Path:
    """One state holding what the components split (CDKTF-like names), and two leftovers."""
    resources = [
        show_resource("aws_vpc", "vpc", {"id": "vpc-1", "cidr_block": "10.10.0.0/16"}),
        show_resource("aws_vpc", "old", {"id": "vpc-9", "cidr_block": "10.99.0.0/16"}),
        show_resource(
            "aws_security_group", "app_sg", {"id": "sg-1", "name": "acme-app", "vpc_id": "vpc-1"}
        ),
        show_resource(
            "aws_security_group", "app_old", {"id": "sg-9", "name": "acme-app", "vpc_id": "vpc-9"}
        ),
        show_resource(
            "aws_security_group", "db_sg", {"id": "sg-2", "name": "acme-db", "vpc_id": "vpc-1"}
        ),
        show_resource(
            "aws_secretsmanager_secret",
            "secret",
            {"id": "arn:aws:sm:db", "arn": "arn:aws:sm:db", "name": "db"},
        ),
    ]
    return write_json(tmp_path / "old.json", show_json(resources))


def tfgen(root: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--project-dir", str(root), *args])
    return result.exit_code, result.stderr


def adopt_file(root: Path) -> str:
    return (root / "adopt" / "dev.yaml").read_text(encoding="utf-8")


def test_a_reference_through_remote_state_names_the_producers_resource(tmp_path: Path) -> None:
    root = project(tmp_path)
    loaded = load_project(root)
    units = render_units(loaded, "dev", out_root=root / "out")
    parsed = {str(u.component): parse_rendered(u.files, u.display)[0] for u in units}
    by_address = {i.address: i for i in component_instances(parsed)}
    assert sorted(by_address) == [
        "app:aws_security_group.app",
        "data:aws_secretsmanager_secret.db",
        "data:aws_security_group.db",
        "network:aws_vpc.main",
    ]
    assert by_address["app:aws_security_group.app"].references == {
        "vpc_id": ("network:aws_vpc.main", "id")
    }
    assert by_address["app:aws_security_group.app"].own_address == "aws_security_group.app"
    assert by_address["data:aws_security_group.db"].references == {
        "vpc_id": ("network:aws_vpc.main", "id")
    }


def test_components_are_matched_jointly_and_each_imports_into_its_own_adopt_tf(
    tmp_path: Path,
) -> None:
    root = project(tmp_path)
    code, err = tfgen(root, "adopt", "dev", "--state", str(single_state(tmp_path)), "--import")
    assert code == 0, err
    lines = err.splitlines()
    assert lines[0] == "adopt dev: 4 imported, 0 to be created, 2 left in the old state"
    assert lines[1:7] == [
        "  import  app:aws_security_group.app  (id sg-1)",
        "  import  data:aws_secretsmanager_secret.db  (id arn:aws:sm:db)",
        "  import  data:aws_security_group.db  (id sg-2)",
        "  import  network:aws_vpc.main  (id vpc-1)",
        "  stays   aws_vpc.old  (nothing renders it: left in the old state)",
        "  stays   aws_security_group.app_old  (nothing renders it: left in the old state)",
    ]
    assert "wrote adopt/dev.yaml" in lines
    assert not any(line.startswith("note:") for line in lines)  # --import was given
    # The next steps run from here as written: the project, and the waves in their order.
    chdir = shlex.quote(f"-chdir={root / 'out' / 'dev' / 'COMPONENT'}")
    assert lines[-1] == (
        f"next: tfgen render dev --project-dir {shlex.quote(str(root))}, then wave by wave "
        f"(network -> data -> app), for each COMPONENT: terraform {chdir} plan "
        f"-out=adopt.plan, terraform {chdir} show -json adopt.plan > adopt-plan.json, "
        "and tfgen gate adopt-plan.json"
    )
    text = adopt_file(root)
    assert "\ncomponents:\n" in text
    assert '  "network":\n    import:\n      - to: "aws_vpc.main"\n        id: "vpc-1"\n' in text
    assert (
        '  "app":\n    import:\n      - to: "aws_security_group.app"\n        id: "sg-1"\n' in text
    )
    # The app's group is the one in the VPC the network component renders, not sg-9.
    assert "sg-9" not in text
    forget = (root / "adopt" / "dev.forget.tf").read_text(encoding="utf-8")
    forgotten = [line.split("= ")[1] for line in forget.splitlines() if "from =" in line]
    assert forgotten == [
        "aws_secretsmanager_secret.secret",
        "aws_security_group.app_sg",
        "aws_security_group.db_sg",
        "aws_vpc.vpc",
    ]
    assert "lifecycle {\n    destroy = false\n  }" in forget

    code, err = tfgen(root, "render", "dev")
    assert code == 0, err
    out = root / "out" / "dev"
    network = (out / "network" / "adopt.tf").read_text(encoding="utf-8")
    assert 'import {\n  to = aws_vpc.main\n  id = "vpc-1"\n}\n' in network
    assert "# Generated by tfgen from adopt/dev.yaml; do not edit." in network
    data = (out / "data" / "adopt.tf").read_text(encoding="utf-8")
    assert 'import {\n  to = aws_security_group.db\n  id = "sg-2"\n}\n' in data
    assert 'import {\n  to = aws_secretsmanager_secret.db\n  id = "arn:aws:sm:db"\n}\n' in data
    app = (out / "app" / "adopt.tf").read_text(encoding="utf-8")
    assert app.count("import {") == 1
    assert 'to = aws_security_group.app\n  id = "sg-1"' in app
    assert tfgen(root, "check", "dev")[0] == 0
    # An ephemeral copy has states of its own: the imports are never its own.
    assert tfgen(root, "render", "dev", "--suffix", "pr1")[0] == 0
    assert not list((root / "out" / "dev-pr1").rglob("adopt.tf"))
    (root / "adopt" / "dev.yaml").unlink()  # deleting the file removes the blocks
    assert tfgen(root, "check", "dev")[0] == 4
    assert tfgen(root, "render", "dev")[0] == 0
    assert not list(out.rglob("adopt.tf"))


def test_without_import_the_import_is_implied_and_said(tmp_path: Path) -> None:
    root = project(tmp_path)
    code, err = tfgen(root, "adopt", "dev", "--state", str(single_state(tmp_path)))
    assert code == 0, err
    assert err.splitlines()[1] == (
        "note: each component has a state of its own, so objects move by import (--import implied)"
    )
    assert "moved:" not in adopt_file(root)
    assert (root / "adopt" / "dev.forget.tf").exists()


def test_an_object_two_components_claim_equally_is_a_tie_and_nothing_is_written(
    tmp_path: Path,
) -> None:
    # The plain inline stack: both security groups are known only by the VPC they name.
    root = tmp_path / "p"
    write_tree(root, COMPONENT_STACK)
    state = show_json(
        [
            show_resource("aws_vpc", "vpc", {"id": "vpc-1", "cidr_block": "10.10.0.0/16"}),
            show_resource("aws_security_group", "main", {"id": "sg-1", "vpc_id": "vpc-1"}),
        ]
    )
    path = write_json(tmp_path / "s.json", state)
    code, err = tfgen(root, "adopt", "dev", "--state", str(path), "--import")
    assert code == 1
    assert err.splitlines() == [
        f"error: {path}: aws_security_group.main: a tie between app:aws_security_group.app "
        "and data:aws_security_group.db (both match on vpc_id); pin one by hand in the "
        "adoption file (pin: {old: new})"
    ]
    assert not (root / "adopt").exists()
    # A pin in the data component's section settles it, and is kept.
    write_tree(
        root,
        {
            "adopt/dev.yaml": """
                components:
                  data:
                    pin:
                      "aws_security_group.main": "aws_security_group.db"
            """
        },
    )
    code, err = tfgen(root, "adopt", "dev", "--state", str(path), "--import")
    assert code == 0, err
    assert "  import  data:aws_security_group.db  (id sg-1)" in err.splitlines()
    assert "  create  app:aws_security_group.app" in err.splitlines()
    text = adopt_file(root)
    assert (
        '  "data":\n    import:\n      - to: "aws_security_group.db"\n        id: "sg-1"\n'
        "    # pin: {old address: new address, or null} overrides the matcher (by hand)\n"
        '    pin:\n      "aws_security_group.main": "aws_security_group.db"\n'
    ) in text
    # Adopting again keeps the pin.
    code, err = tfgen(root, "adopt", "dev", "--state", str(path), "--import")
    assert code == 0, err
    assert '"aws_security_group.main": "aws_security_group.db"' in adopt_file(root)


def test_two_instances_in_two_components_tied_on_one_object_each(tmp_path: Path) -> None:
    # Two old groups in the one VPC: each rendered group sees both as equally good.
    root = tmp_path / "p"
    write_tree(root, COMPONENT_STACK)
    state = show_json(
        [
            show_resource("aws_vpc", "vpc", {"id": "vpc-1", "cidr_block": "10.10.0.0/16"}),
            show_resource("aws_security_group", "a", {"id": "sg-1", "vpc_id": "vpc-1"}),
            show_resource("aws_security_group", "b", {"id": "sg-2", "vpc_id": "vpc-1"}),
        ]
    )
    path = write_json(tmp_path / "s.json", state)
    code, err = tfgen(root, "adopt", "dev", "--state", str(path))
    assert code == 1
    assert err.splitlines() == [
        f"error: {path}: data:aws_security_group.db: a tie between aws_security_group.a and "
        "aws_security_group.b (both match on vpc_id); pin one by hand in the adoption file "
        "(pin: {old: new})",
        f"error: {path}: app:aws_security_group.app: a tie between aws_security_group.a and "
        "aws_security_group.b (both match on vpc_id); pin one by hand in the adoption file "
        "(pin: {old: new})",
    ]
    assert not (root / "adopt").exists()


HOSTILE: list[tuple[str, str, str]] = [
    (
        "unknown component",
        "components:\n  netwrok:\n    import: []\n",
        "adopt/dev.yaml:2: components.netwrok: the stack has no component 'netwrok' (components: network, data, app)",
    ),
    (
        "section not a mapping",
        "components:\n  app:\n    - to: aws_security_group.app\n",
        "adopt/dev.yaml:2: components.app: a component's section maps import and pin",
    ),
    (
        "components not a mapping",
        "components: [network]\n",
        "adopt/dev.yaml:1: components: components maps each component to its import and pin",
    ),
    (
        "a move in a component",
        'components:\n  app:\n    moved:\n      - from: "aws_security_group.x"\n        to: "aws_security_group.app"\n',
        "adopt/dev.yaml:3: components.app.moved: unknown key (allowed: import, pin)",
    ),
    (
        "top-level blocks",
        'import:\n  - to: "aws_vpc.main"\n    id: "vpc-1"\n',
        "adopt/dev.yaml:1: import: the stack has components: each one's blocks go under components.<component> (import, pin)",
    ),
    (
        "an import id HCL would interpret",
        'components:\n  network:\n    import:\n      - to: "aws_vpc.main"\n        id: "vpc-${x}"\n',
        "adopt/dev.yaml:5: components.network.import.0.id: holds '${', which HCL would interpret: not an id any AWS API returns",
    ),
    (
        "an address of another component",
        'components:\n  app:\n    import:\n      - to: "aws_vpc.main"\n        id: "vpc-1"\n',
        "adopt/dev.yaml:4: components.app.import.0.to: aws_vpc.main is not a resource of component app; each section names addresses of its own component",
    ),
    (
        "one object pinned by two components",
        'components:\n  app:\n    pin:\n      "aws_security_group.x": "aws_security_group.app"\n  data:\n    pin:\n      "aws_security_group.x": "aws_security_group.db"\n',
        "adopt/dev.yaml:7: components.data.pin.aws_security_group.x: already pinned by component app",
    ),
]


@pytest.mark.parametrize(
    ("text", "expected"), [h[1:] for h in HOSTILE], ids=[h[0] for h in HOSTILE]
)
def test_a_hostile_adoption_file_is_one_located_line_and_nothing_is_written(
    tmp_path: Path, text: str, expected: str
) -> None:
    root = project(tmp_path)
    assert tfgen(root, "render", "dev")[0] == 0
    (root / "adopt").mkdir()
    (root / "adopt" / "dev.yaml").write_text(text, encoding="utf-8")
    before = snapshot(root)
    for command in ("render", "check"):
        code, err = tfgen(root, command, "dev")
        assert code == 1, (command, err)
        assert err.splitlines()[0] == f"error: {expected}", command
    assert snapshot(root) == before


def test_adopt_refuses_a_pin_to_another_components_address(tmp_path: Path) -> None:
    root = project(tmp_path)
    write_tree(
        root,
        {"adopt/dev.yaml": 'components:\n  app:\n    pin:\n      "aws_vpc.vpc": "aws_vpc.main"\n'},
    )
    before = snapshot(root)
    code, err = tfgen(root, "adopt", "dev", "--state", str(single_state(tmp_path)))
    assert code == 1
    assert err.splitlines() == [
        "error: adopt/dev.yaml:4: components.app.pin.aws_vpc.vpc: aws_vpc.main is not a "
        "resource of component app; each section names addresses of its own component"
    ]
    assert snapshot(root) == before


def test_a_stack_without_components_refuses_a_components_section(tmp_path: Path) -> None:
    from tests.conftest import ENGINE_STACK

    root = tmp_path / "p"
    write_tree(root, {**ENGINE_STACK, "adopt/dev.yaml": "components:\n  app: {}\n"})
    code, err = tfgen(root, "render", "dev")
    assert code == 1
    assert err.splitlines()[0] == (
        "error: adopt/dev.yaml:1: components: the stack declares no components; its blocks "
        "are moved, import, removed, pin"
    )


@requires_terraform
def test_terraform_validates_each_component_with_its_imports_and_the_forget_file(
    tmp_path: Path,
) -> None:
    root = project(tmp_path)
    assert tfgen(root, "adopt", "dev", "--state", str(single_state(tmp_path)))[0] == 0
    assert tfgen(root, "render", "dev")[0] == 0
    env = terraform_env(tmp_path)
    for name in ("network", "data", "app"):
        folder = root / "out" / "dev" / name
        assert (folder / "adopt.tf").is_file()
        proc = run_terraform(["init", "-backend=false", "-input=false"], folder, env)
        assert proc.returncode == 0, (name, proc.stderr)
        proc = run_terraform(["validate"], folder, env)
        assert proc.returncode == 0, (name, proc.stdout, proc.stderr)
        proc = run_terraform(["fmt", "-check", "-diff"], folder, env)
        assert proc.returncode == 0, (name, proc.stdout)
    # The old root, retired: only the forget file (and the provider it names).
    old = tmp_path / "old-root"
    old.mkdir()
    (old / "forget.tf").write_bytes((root / "adopt" / "dev.forget.tf").read_bytes())
    (old / "versions.tf").write_bytes((root / "out/dev/network/versions.tf").read_bytes())
    assert run_terraform(["init", "-backend=false", "-input=false"], old, env).returncode == 0
    proc = run_terraform(["validate"], old, env)
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
