"""Rendering components: folders, state keys, remote state, and the render-time checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from generator.cli.app import cli
from generator.components.wire import REMOTE_STATE_FILE
from tests.conftest import write_tree
from tests.outtree import snapshot

ENVIRON = {"TERRAFORM_STATE_BUCKET": "acme-state-prod"}


def invoke(runner: CliRunner, project: Path, *args: str) -> Any:
    return runner.invoke(cli, [*args, "--project-dir", str(project)], env=ENVIRON)


def files_of(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_each_component_renders_into_its_own_folder(
    runner: CliRunner, components_project: Path
) -> None:
    result = invoke(runner, components_project, "render", "dev")
    assert result.exit_code == 0, result.stderr
    out = components_project / "out" / "dev"
    assert files_of(out) == ["app", "data", "network"]
    assert files_of(out / "network") == [
        ".tfgen-manifest.json",
        "backend.hcl",
        "network.tf",
        "versions.tf",
    ]
    assert files_of(out / "app") == [
        ".tfgen-manifest.json",
        "app.tf",
        "backend.hcl",
        REMOTE_STATE_FILE,
        "versions.tf",
    ]
    for name in ("network", "data", "app"):
        backend = (out / name / "backend.hcl").read_text(encoding="utf-8")
        assert f'key          = "acme/dev/{name}/terraform.tfstate"\n' in backend
    assert result.stderr.splitlines() == [
        "out/dev/network: 3 file(s) changed",
        "out/dev/data: 4 file(s) changed",
        "out/dev/app: 4 file(s) changed",
        "3 root modules: 3 written, 0 up to date, 0 failed",
    ]


def test_a_reference_renders_the_remote_state_expression(
    runner: CliRunner, components_project: Path
) -> None:
    assert invoke(runner, components_project, "render", "dev").exit_code == 0
    app = (components_project / "out/dev/app/app.tf").read_text(encoding="utf-8")
    assert "  vpc_id = data.terraform_remote_state.network.outputs.vpc_id\n" in app
    assert "    Secret = data.terraform_remote_state.data.outputs.db_secret_arn\n" in app


@pytest.mark.parametrize(
    ("written", "message"),
    [
        pytest.param(
            "{{ component.network.vpc_id | hcl }}",
            "component.network.vpc_id is Terraform code (another component's output), not a "
            "value: write {{ component.network.vpc_id }} without an HCL filter",
            id="quoted-by-hcl",
        ),
        pytest.param(
            "{{ component.network }}",
            "component.network is a component, not a value: read one of its outputs, "
            "component.network.<output>",
            id="a-component-itself",
        ),
    ],
)
def test_a_reference_written_as_a_value_is_refused_at_its_line(
    runner: CliRunner, components_project: Path, written: str, message: str
) -> None:
    # Quoted, the remote-state path would be a string Terraform takes literally.
    app = components_project / "templates" / "app.tf.j2"
    source = app.read_text(encoding="utf-8")
    app.write_text(source.replace("{{ component.network.vpc_id }}", written), encoding="utf-8")
    result = invoke(runner, components_project, "render", "dev")
    assert result.exit_code == 1
    assert f"error: templates/app.tf.j2:2: component app: {message}\n" in result.stderr
    assert not (components_project / "out" / "dev" / "app").exists()


def test_a_stack_without_components_says_so_when_a_template_reads_one(
    runner: CliRunner, engine_project: Path
) -> None:
    main = engine_project / "templates" / "main.tf.j2"
    main.write_text("# {{ component.network.vpc_id }}\n", encoding="utf-8")
    result = invoke(runner, engine_project, "render", "dev")
    assert result.exit_code == 1
    assert result.stderr == (
        "error: templates/main.tf.j2:1: template error: component.<name>.<output> reads "
        "another component's output, and this stack declares no components "
        "(templates/stack.yaml: components)\n"
    )


def test_the_remote_state_block_is_copied_from_the_producers_backend(
    runner: CliRunner, components_project: Path
) -> None:
    write_tree(
        components_project,
        {
            "environments/local.yaml": """
                endpoint: http://127.0.0.1:5000
                network:
                  vpc_cidr: 10.40.0.0/16
            """,
            # the emulator settings, as a stack renders them for an endpoint
            "templates/backend.hcl.j2": """
                {{ {"bucket": env.backend.bucket, "key": env.backend.key,
                    "region": env.backend.region, "encrypt": true, "use_lockfile": true}
                   | hcl_attrs }}
                {% if env.endpoint %}
                {{ {"endpoints": {"s3": env.endpoint}, "use_path_style": true,
                    "skip_credentials_validation": true, "skip_requesting_account_id": true,
                    "skip_metadata_api_check": true} | hcl_attrs }}
                {% endif %}
            """,
        },
    )
    result = invoke(runner, components_project, "render", "local", "--component", "data")
    assert result.exit_code == 0, result.stderr
    text = (components_project / "out/local/data" / REMOTE_STATE_FILE).read_text(encoding="utf-8")
    assert text.endswith(
        "# The outputs of component network, from its state (settings copied from "
        "../network/backend.hcl).\n"
        'data "terraform_remote_state" "network" {\n'
        '  backend = "s3"\n'
        "  config = {\n"
        '    bucket = "acme-state-nonprod"\n'
        '    key    = "acme/local/network/terraform.tfstate"\n'
        '    region = "eu-west-1"\n'
        "    endpoints = {\n"
        '      s3 = "http://127.0.0.1:5000"\n'
        "    }\n"
        "    use_path_style              = true\n"
        "    skip_credentials_validation = true\n"
        "    skip_requesting_account_id  = true\n"
        "    skip_metadata_api_check     = true\n"
        "  }\n"
        "}\n"
    )
    # --component data writes data only (network was rendered to check it, not written)
    assert files_of(components_project / "out/local") == ["data"]


def test_an_output_the_producer_does_not_declare(
    runner: CliRunner, components_project: Path
) -> None:
    write_tree(
        components_project,
        {
            "templates/app.tf.j2": """
                resource "aws_security_group" "app" {
                  vpc_id = {{ component.network.vpc_idd }}
                }
            """
        },
    )
    result = invoke(runner, components_project, "render", "dev")
    assert result.exit_code == 1
    assert (
        "error: templates/app.tf.j2:2: component.network.vpc_idd: component network declares "
        "no output 'vpc_idd' (did you mean 'vpc_id'?); its outputs: vpc_cidr, vpc_id\n"
    ) in result.stderr
    assert not (components_project / "out").exists()


def test_an_output_missing_in_one_environment_only(
    runner: CliRunner, components_project: Path
) -> None:
    write_tree(
        components_project,
        {
            "templates/network.tf.j2": """
                resource "aws_vpc" "main" {
                  cidr_block = {{ env.network.vpc_cidr | hcl }}
                }

                output "vpc_id" {
                  value = aws_vpc.main.id
                }
                {% if env.network.az_count == 3 %}

                output "vpc_cidr" {
                  value = aws_vpc.main.cidr_block
                }
                {% endif %}
            """,
            "templates/app.tf.j2": """
                resource "aws_security_group" "app" {
                  vpc_id = {{ component.network.vpc_id }}
                  description = {{ component.network.vpc_cidr }}
                }
            """,
        },
    )
    result = invoke(runner, components_project, "render", "--all")
    assert result.exit_code == 1
    assert (
        "templates/app.tf.j2:3: component.network.vpc_cidr: component network declares no "
        "output 'vpc_cidr'"
    ) in result.stderr
    assert "out/prod/app: 4 file(s) changed\n" in result.stderr
    assert "4 root modules: 3 written, 0 up to date, 1 failed\n" in result.stderr
    assert not (components_project / "out/dev").exists()


def test_a_secret_output_is_refused(runner: CliRunner, components_project: Path) -> None:
    write_tree(
        components_project,
        {
            "templates/data.tf.j2": """
                resource "random_password" "db" {
                  length = 32
                }

                output "db_secret_arn" {
                  value = "arn"
                }

                output "db_password" {
                  value     = random_password.db.result
                  sensitive = true
                }
            """,
            "templates/app.tf.j2": """
                resource "aws_security_group" "app" {
                  vpc_id = {{ component.network.vpc_id }}
                  tags = {
                    Secret = {{ component.data.db_password }}
                  }
                }
            """,
        },
    )
    result = invoke(runner, components_project, "validate", "dev")
    assert result.exit_code == 1
    assert (
        "error: templates/app.tf.j2:4: component.data.db_password: output 'db_password' of "
        "component data (data.tf) is sensitive; a remote state reader can read the "
        "producer's whole state"
    ) in result.stderr


@pytest.mark.parametrize(
    "value",
    [
        "random_password.db.result",
        "aws_db_instance.db.password",
        "aws_secretsmanager_secret_version.db.secret_string",
    ],
)
def test_an_output_carrying_a_secret_by_value_is_refused(
    runner: CliRunner, components_project: Path, value: str
) -> None:
    # Neither sensitive nor named like a secret: what it outputs is one.
    write_tree(
        components_project,
        {
            "templates/data.tf.j2": f"""
                resource "{value.split(".")[0]}" "db" {{
                }}

                output "db_secret_arn" {{
                  value = "arn"
                }}

                output "db_settings" {{
                  value = {{ master = {value} }}
                }}
            """,
            "templates/app.tf.j2": """
                resource "aws_security_group" "app" {
                  vpc_id      = {{ component.network.vpc_id }}
                  description = {{ component.data.db_settings }}
                }
            """,
        },
    )
    result = invoke(runner, components_project, "validate", "dev")
    assert result.exit_code == 1
    assert (
        "error: templates/app.tf.j2:3: component.data.db_settings: output 'db_settings' of "
        "component data (data.tf) carries a secret value; a remote state reader can read the "
        "producer's whole state"
    ) in result.stderr


def test_an_output_named_like_a_secret_is_refused(
    runner: CliRunner, components_project: Path
) -> None:
    write_tree(
        components_project,
        {
            "templates/network.tf.j2": """
                resource "aws_vpc" "main" {
                  cidr_block = {{ env.network.vpc_cidr | hcl }}
                }

                output "vpc_id" {
                  value = aws_vpc.main.id
                }

                output "api_token" {
                  value = aws_vpc.main.arn
                }
            """,
            "templates/data.tf.j2": """
                resource "aws_security_group" "db" {
                  vpc_id = {{ component.network.vpc_id }}
                  description = {{ component.network.api_token }}
                }

                output "db_secret_arn" {
                  value = "arn"
                }
            """,
        },
    )
    result = invoke(runner, components_project, "validate", "dev")
    assert result.exit_code == 1
    assert (
        "templates/data.tf.j2:3: component.network.api_token: output 'api_token' of component "
        "network (network.tf) is named like a secret"
    ) in result.stderr


def test_two_components_sharing_a_key(runner: CliRunner, components_project: Path) -> None:
    stack = (components_project / "templates/stack.yaml").read_text(encoding="utf-8")
    stack = stack.replace(
        "  app:\n",
        '  app:\n    key: "{{ env.project }}/shared/terraform.tfstate"\n',
    ).replace(
        "  data:\n",
        '  data:\n    key: "{{ env.project }}/shared/terraform.tfstate"\n',
    )
    (components_project / "templates/stack.yaml").write_text(stack, encoding="utf-8")
    result = invoke(runner, components_project, "validate", "dev")
    assert result.exit_code == 1
    # Each at the line of the key that makes it, once (not once per component of dev).
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    why = (
        "two root modules sharing one state overwrite each other's state: give one of them "
        "its own key (components.<name>.key in templates/stack.yaml)"
    )
    assert errors == [
        "error: templates/stack.yaml:5: components.data.key: component 'data' of environment "
        "'dev': state s3://acme-state-nonprod/acme/shared/terraform.tfstate is also the state "
        f"of component 'app' of environment 'dev' (templates/stack.yaml:8); {why}",
        "error: templates/stack.yaml:8: components.app.key: component 'app' of environment "
        "'dev': state s3://acme-state-nonprod/acme/shared/terraform.tfstate is also the state "
        f"of component 'data' of environment 'dev' (templates/stack.yaml:5); {why}",
    ]


def test_a_component_key_shared_across_environments(
    runner: CliRunner, components_project: Path
) -> None:
    staging = "network:\n  vpc_cidr: 10.20.0.0/16\n"
    write_tree(components_project, {"environments/staging.yaml": staging})
    stack = (components_project / "templates/stack.yaml").read_text(encoding="utf-8")
    stack = stack.replace(
        "  network:\n", '  network:\n    key: "{{ env.project }}/network.tfstate"\n'
    )
    (components_project / "templates/stack.yaml").write_text(stack, encoding="utf-8")
    result = invoke(runner, components_project, "validate", "dev", "staging")
    assert result.exit_code == 1
    # The key that both environments render is the stack's: the errors are at its line.
    assert (
        "error: templates/stack.yaml:3: components.network.key: component 'network' of "
        "environment 'dev': state s3://acme-state-nonprod/acme/network.tfstate is also the "
        "state of component 'network' of environment 'staging' (templates/stack.yaml:3)"
    ) in result.stderr
    assert (
        "error: templates/stack.yaml:3: components.network.key: component 'network' of "
        "environment 'staging': state"
    ) in result.stderr


def test_two_environments_sharing_a_backend_key_are_told_once_each(
    runner: CliRunner, components_project: Path
) -> None:
    # Every component key derives from backend.key: giving staging dev's key makes all
    # three components collide, and that one mistake is one error per environment.
    staging = "network:\n  vpc_cidr: 10.20.0.0/16\nbackend:\n  key: acme/dev/terraform.tfstate\n"
    write_tree(components_project, {"environments/staging.yaml": staging})
    result = invoke(runner, components_project, "validate", "dev", "staging")
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    states = ", ".join(
        f"s3://acme-state-nonprod/acme/dev/{c}/terraform.tfstate"
        for c in ("network", "data", "app")
    )
    why = (
        "two root modules sharing one state overwrite each other's state: give one of them "
        "its own backend.key (each component's key is derived from it)"
    )
    assert errors == [
        "error: environments/dev.yaml: backend.key: components 'network', 'data', 'app' of "
        f"environment 'dev': states {states} are also states of environment 'staging' "
        f"(environments/staging.yaml:4); {why}",
        "error: environments/staging.yaml:4: backend.key: components 'network', 'data', 'app' "
        f"of environment 'staging': states {states} are also states of environment 'dev' "
        f"(environments/dev.yaml); {why}",
    ]
    # Each root module's line names the place; the error is said in full once, above.
    assert "staging/app: failed: environments/staging.yaml:4: backend.key\n" in result.stderr
    assert "dev/network: failed: environments/dev.yaml: backend.key\n" in result.stderr


def test_components_must_agree_on_versions(runner: CliRunner, components_project: Path) -> None:
    write_tree(
        components_project,
        {
            "templates/versions_app.tf.j2": """
                terraform {
                  required_version = ">= 1.9"
                  required_providers {
                    aws = {
                      source  = "hashicorp/aws"
                      version = "~> 5.100"
                    }
                  }
                  backend "s3" {}
                }
            """,
        },
    )
    stack = (components_project / "templates/stack.yaml").read_text(encoding="utf-8")
    stack = stack.replace(
        "[backend.hcl.j2, versions.tf.j2, app.tf.j2]",
        "[backend.hcl.j2, versions_app.tf.j2, app.tf.j2]",
    )
    (components_project / "templates/stack.yaml").write_text(stack, encoding="utf-8")
    result = invoke(runner, components_project, "validate", "dev")
    assert result.exit_code == 3
    # At the template line of each pin that differs, naming the line of the one it differs from.
    assert result.stderr == (
        "error: templates/versions_app.tf.j2:2: component app: required_version is "
        '">= 1.9", but component network\'s is ">= 1.6" (templates/versions.tf.j2:2): all '
        "components of an environment agree on required_version and required_providers "
        '[out/dev/app/versions_app.tf:5, not written: required_version = ">= 1.9"]\n'
    )


@pytest.mark.parametrize(("version", "code"), [("~> 5.100", 0), ("~> 5.90", 3)])
def test_pins_split_over_two_terraform_blocks_are_compared_whole(
    runner: CliRunner, components_project: Path, version: str, code: int
) -> None:
    # Terraform merges a module's terraform blocks: app pins its provider in a second one.
    write_tree(
        components_project,
        {
            "templates/versions_app.tf.j2": """
                terraform {
                  required_version = ">= 1.6"
                  backend "s3" {}
                }
            """,
            "templates/providers_app.tf.j2": f"""
                terraform {{
                  required_providers {{
                    aws = {{
                      source  = "hashicorp/aws"
                      version = "{version}"
                    }}
                  }}
                }}
            """,
        },
    )
    stack = (components_project / "templates/stack.yaml").read_text(encoding="utf-8")
    stack = stack.replace(
        "[backend.hcl.j2, versions.tf.j2, app.tf.j2]",
        "[backend.hcl.j2, versions_app.tf.j2, providers_app.tf.j2, app.tf.j2]",
    )
    (components_project / "templates/stack.yaml").write_text(stack, encoding="utf-8")
    result = invoke(runner, components_project, "validate", "dev")
    assert result.exit_code == code, result.stderr
    if code:
        assert (
            "error: templates/providers_app.tf.j2:5: component app: "
            f'required_providers.aws.version is "{version}", but component network\'s is '
            '"~> 5.100" (templates/versions.tf.j2:6)'
        ) in result.stderr


def test_a_failing_component_is_named(runner: CliRunner, components_project: Path) -> None:
    write_tree(
        components_project,
        {"templates/data.tf.j2": 'resource "x" "y" {\n  a = {{ env.nothing }}\n}\n'},
    )
    result = invoke(runner, components_project, "render", "dev")
    assert result.exit_code == 1
    assert "error: templates/data.tf.j2:2: component data: template error: " in result.stderr
    assert not (components_project / "out").exists()


def test_validate_reports_each_component(runner: CliRunner, components_project: Path) -> None:
    result = invoke(runner, components_project, "validate", "dev", "prod")
    assert result.exit_code == 0, result.stderr
    assert "dev/network: valid (3 files verified)" in result.stderr
    assert "dev/app: valid (4 files verified)" in result.stderr
    assert "prod/data: valid (4 files verified)" in result.stderr


def test_an_unknown_component_option_is_a_usage_error(
    runner: CliRunner, components_project: Path
) -> None:
    result = invoke(runner, components_project, "render", "dev", "--component", "ap")
    assert result.exit_code == 2
    assert (
        "error: --component: unknown component 'ap' (did you mean 'app'?) "
        "(components: network, data, app)"
    ) in result.stderr


def test_component_option_on_a_stack_without_components(
    runner: CliRunner, engine_project: Path
) -> None:
    result = invoke(runner, engine_project, "validate", "dev", "--component", "app")
    assert result.exit_code == 2
    assert "the stack declares no components" in result.stderr


def test_a_component_rendered_alone_is_checked_against_its_readers(
    runner: CliRunner, components_project: Path
) -> None:
    assert invoke(runner, components_project, "render", "dev").exit_code == 0
    before = (components_project / "out/dev/network/network.tf").read_text(encoding="utf-8")
    network = components_project / "templates/network.tf.j2"
    network.write_text(
        network.read_text(encoding="utf-8").replace('output "vpc_id"', 'output "id"'),
        encoding="utf-8",
    )
    result = invoke(runner, components_project, "render", "dev", "--component", "network")
    assert result.exit_code == 1
    # At the line of each reader's template that reads the output network no longer has.
    assert (
        "error: templates/data.tf.j2:2: component.network.vpc_id: component network declares "
        "no output 'vpc_id'"
    ) in result.stderr
    assert "error: templates/app.tf.j2:2: component.network.vpc_id:" in result.stderr
    assert (components_project / "out/dev/network/network.tf").read_text(encoding="utf-8") == before
    # The readers are checked, not written: app alone still renders only app.
    network.write_text(
        network.read_text(encoding="utf-8").replace('output "id"', 'output "vpc_id"'),
        encoding="utf-8",
    )
    result = invoke(runner, components_project, "render", "dev", "--component", "network")
    assert result.exit_code == 0, result.stderr
    assert result.stderr.splitlines() == ["out/dev/network: up to date"]


@pytest.mark.parametrize("refusal", ["link", "hand-edit"])
def test_a_component_that_refuses_the_write_leaves_its_environment_as_it_was(
    runner: CliRunner, components_project: Path, tmp_path: Path, refusal: str
) -> None:
    # Every component of an environment is checked before any is written: network's new
    # files do not land while app's folder refuses the write.
    assert invoke(runner, components_project, "render", "dev").exit_code == 0
    app = components_project / "out/dev/app"
    if refusal == "link":
        elsewhere = tmp_path / "elsewhere"
        app.rename(elsewhere)
        app.symlink_to(elsewhere)
        expected = "error: out/dev/app: is a symbolic link; tfgen does not write through links"
    else:
        (app / "app.tf").write_text("# mine\n", encoding="utf-8")
        expected = "error: out/dev/app/app.tf: was edited by hand since tfgen wrote it"
    dev = components_project / "environments/dev.yaml"
    dev.write_text(dev.read_text(encoding="utf-8").replace("10.10.", "10.12."), encoding="utf-8")
    before = snapshot(components_project / "out")
    result = invoke(runner, components_project, "render", "dev")
    assert result.exit_code == 1
    assert result.stderr.startswith(expected), result.stderr
    assert snapshot(components_project / "out") == before
    assert "out/dev/network: failed: out/dev/app" in result.stderr
    assert result.stderr.count("error: ") == 1


def test_check_per_component(runner: CliRunner, components_project: Path) -> None:
    assert invoke(runner, components_project, "render", "dev").exit_code == 0
    app = components_project / "out/dev/app/app.tf"
    app.write_text(app.read_text(encoding="utf-8") + "# edit\n", encoding="utf-8")
    result = invoke(runner, components_project, "check", "dev", "--component", "network")
    assert result.exit_code == 0, result.stderr
    assert "out/dev/network: up to date" in result.stderr
    result = invoke(runner, components_project, "check", "dev")
    assert result.exit_code == 4
    assert "error: out/dev/app/app.tf: differs from a fresh render: edited by hand" in (
        result.stderr
    )
    assert "out/dev/data: up to date" in result.stderr
    result = invoke(runner, components_project, "diff", "dev", "--component", "app")
    assert result.exit_code == 0
    assert "-# edit\n" in result.stdout


def test_render_one_component(runner: CliRunner, components_project: Path) -> None:
    result = invoke(runner, components_project, "render", "dev", "--component", "app")
    assert result.exit_code == 0, result.stderr
    assert files_of(components_project / "out/dev") == ["app"]
    assert result.stderr == "out/dev/app: 4 file(s) changed\n"


def test_an_ephemeral_copy_has_its_own_component_states(
    runner: CliRunner, components_project: Path
) -> None:
    result = invoke(runner, components_project, "render", "dev", "--suffix", "pr7")
    assert result.exit_code == 0, result.stderr
    out = components_project / "out/dev-pr7"
    assert files_of(out) == ["app", "data", "network"]
    backend = (out / "data/backend.hcl").read_text(encoding="utf-8")
    assert 'key          = "acme/dev-pr7/data/terraform.tfstate"\n' in backend
    remote = (out / "app" / REMOTE_STATE_FILE).read_text(encoding="utf-8")
    assert '    key    = "acme/dev-pr7/network/terraform.tfstate"\n' in remote


def test_an_ephemeral_copy_never_shares_a_component_state_with_its_base(
    runner: CliRunner, components_project: Path
) -> None:
    stack = (components_project / "templates/stack.yaml").read_text(encoding="utf-8")
    stack = stack.replace("  app:\n", '  app:\n    key: "{{ env.project }}/app.tfstate"\n')
    (components_project / "templates/stack.yaml").write_text(stack, encoding="utf-8")
    result = invoke(runner, components_project, "validate", "dev", "--suffix", "pr7")
    assert result.exit_code == 1
    assert (
        "error: templates/stack.yaml:7: components.app.key: component 'app' of environment "
        "'dev-pr7': state s3://acme-state-nonprod/acme/app.tfstate is also the state of "
        "component 'app' of environment 'dev' (templates/stack.yaml:7)"
    ) in result.stderr
    assert result.stderr.count("error: ") == 1
