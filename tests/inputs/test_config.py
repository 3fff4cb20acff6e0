"""Loading environments: layering, overrides, interpolation, validation and error locations.

Engine tests: they run on the small stack of ``tests.conftest.ENGINE_STACK``, never on the
shipped one.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from generator.errors import ConfigError
from generator.inputs.environment import Override, _deep_merge, list_environments
from generator.inputs.yamldoc import YamlDoc
from generator.project import load_project
from tests.conftest import write_tree

ENV = {"TERRAFORM_STATE_BUCKET": "acme-state"}


def test_environments_load(engine_project: Path) -> None:
    project = engine_project
    assert set(list_environments(project)) == {"dev", "prod"}
    for name in list_environments(project):
        config = load_project(project).load_environment(name, environ=ENV).config
        assert config.name == name
        assert config.backend.key == f"acme/{name}/terraform.tfstate"


def test_layers_are_not_environments(engine_project: Path) -> None:
    project = engine_project
    write_tree(project, {"environments/_extra.yaml": "tags: {a: b}\n"})
    assert "_extra" not in list_environments(project)
    assert "_defaults" not in list_environments(project)


def test_defaults_then_extends_then_own_values(engine_project: Path) -> None:
    project = engine_project
    write_tree(
        project,
        {
            "environments/_one.yaml": """
                tags: {Layer: one, Shared: one}
                network: {az_count: 3}
            """,
            "environments/_two.yaml": """
                tags: {Layer: two}
            """,
            "environments/qa.yaml": """
                extends: [_one, _two]
                tags: {Own: qa}
                network: {vpc_cidr: 10.40.0.0/16}
            """,
        },
    )
    config = load_project(project).load_environment("qa", environ=ENV).config
    assert config.tags["Layer"] == "two"  # later layer wins
    assert config.tags["Shared"] == "one"  # maps merge deeply
    assert config.tags["Own"] == "qa"
    assert config.tags["ManagedBy"] == "tfgen"  # from _defaults
    assert config.values["network"]["az_count"] == 3
    assert config.values["network"]["vpc_cidr"] == "10.40.0.0/16"


def test_lists_replace_instead_of_merging() -> None:
    doc = YamlDoc(path="x.yaml", data={})
    merged = _deep_merge({"a": [1, 2], "m": {"x": 1}}, {"a": [3], "m": {"y": 2}}, doc, (), {})
    assert merged == {"a": [3], "m": {"x": 1, "y": 2}}


def test_extends_cycle_is_reported(engine_project: Path) -> None:
    project = engine_project
    write_tree(
        project,
        {
            "environments/_a.yaml": "extends: [_b]\n",
            "environments/_b.yaml": "extends: [_a]\n",
            "environments/qa.yaml": "extends: [_a]\nnetwork: {vpc_cidr: 10.40.0.0/16}\n",
        },
    )
    with pytest.raises(ConfigError, match=r"extends cycle: qa -> _a -> _b -> _a"):
        load_project(project).load_environment("qa", environ=ENV)


def test_extends_must_name_a_layer(engine_project: Path) -> None:
    project = engine_project
    write_tree(project, {"environments/qa.yaml": "extends: [dev]\n"})
    with pytest.raises(
        ConfigError, match=r"environments/qa\.yaml:1: extends: 'dev' is not a layer"
    ):
        load_project(project).load_environment("qa", environ=ENV)


def test_default_key_and_region_come_from_the_environment(engine_project: Path) -> None:
    project = engine_project
    config = load_project(project).load_environment("dev", environ=ENV).config
    assert config.backend.key == f"{config.project}/dev/terraform.tfstate"
    assert config.backend.region == config.region


def test_suffix_names_an_ephemeral_environment(engine_project: Path) -> None:
    project = engine_project
    config = load_project(project).load_environment("dev", environ=ENV, suffix="pr5706").config
    assert config.name == "dev-pr5706"
    assert config.backend.key == f"{config.project}/dev-pr5706/terraform.tfstate"


def test_prod_bucket_comes_from_the_variable(engine_project: Path) -> None:
    project = engine_project
    config = (
        load_project(project)
        .load_environment("prod", environ={"TERRAFORM_STATE_BUCKET": "acme-x"})
        .config
    )
    assert config.backend.bucket == "acme-x"


@pytest.mark.parametrize("value", [None, "", "   ", "\t\n"])
def test_prod_bucket_variable_missing_names_file_line_and_variable(
    engine_project: Path, value: str | None
) -> None:
    project = engine_project
    environ = {} if value is None else {"TERRAFORM_STATE_BUCKET": value}
    lines = (project / "environments/prod.yaml").read_text().splitlines()
    line = next(i for i, text in enumerate(lines, 1) if "TERRAFORM_STATE_BUCKET" in text)
    with pytest.raises(ConfigError) as info:
        load_project(project).load_environment("prod", environ=environ)
    assert str(info.value).startswith(f"environments/prod.yaml:{line}: backend.bucket: ")
    assert "TERRAFORM_STATE_BUCKET" in str(info.value)


def test_overrides_are_typed_and_applied_last(engine_project: Path) -> None:
    project = engine_project
    overrides = [Override.parse("network.az_count=3"), Override.parse("tags.Owner=team-a")]
    config = load_project(project).load_environment("dev", environ=ENV, overrides=overrides).config
    assert config.values["network"]["az_count"] == 3
    assert config.tags["Owner"] == "team-a"


def test_override_with_wrong_type_names_set(engine_project: Path) -> None:
    project = engine_project
    with pytest.raises(ConfigError, match=r"^--set: network\.az_count: "):
        load_project(project).load_environment(
            "dev", environ=ENV, overrides=[Override.parse("network.az_count=x")]
        )


@pytest.mark.parametrize("text", ["novalue", "=3", "a..b=1"])
def test_malformed_override(text: str) -> None:
    with pytest.raises(ConfigError, match=r"expected dotted\.key=value"):
        Override.parse(text)


def test_unknown_key_gets_a_did_you_mean_with_its_line(engine_project: Path) -> None:
    project = engine_project
    write_tree(
        project,
        {"environments/qa.yaml": "network:\n  vpc_cidr: 10.40.0.0/16\n  nat_per_azz: true\n"},
    )
    with pytest.raises(ConfigError) as info:
        load_project(project).load_environment("qa", environ=ENV)
    assert str(info.value) == (
        "environments/qa.yaml:3: network.nat_per_azz: unknown key; "
        "did you mean 'network.nat_per_az'?"
    )


def test_every_problem_gets_its_own_line(engine_project: Path) -> None:
    project = engine_project
    write_tree(
        project,
        {
            "environments/qa.yaml": (
                "region: mars-1\nnetwork:\n  vpc_cidr: 300.1.0.0/16\n  az_count: 9\n"
            )
        },
    )
    with pytest.raises(ConfigError) as info:
        load_project(project).load_environment("qa", environ=ENV)
    lines = str(info.value).splitlines()
    assert any(line.startswith("environments/qa.yaml:1: region: ") for line in lines)
    assert any(line.startswith("environments/qa.yaml:3: network.vpc_cidr: ") for line in lines)
    assert any(line.startswith("environments/qa.yaml:4: network.az_count: ") for line in lines)


def test_values_from_defaults_are_reported_in_defaults(engine_project: Path) -> None:
    project = engine_project
    path = project / "environments/_defaults.yaml"
    path.write_text(path.read_text().replace("region: eu-west-1", "region: nowhere"))
    with pytest.raises(ConfigError, match=r"environments/_defaults\.yaml:\d+: region: "):
        load_project(project).load_environment("dev", environ=ENV)


def test_name_key_is_rejected(engine_project: Path) -> None:
    project = engine_project
    write_tree(
        project, {"environments/qa.yaml": "name: other\nnetwork: {vpc_cidr: 10.40.0.0/16}\n"}
    )
    with pytest.raises(ConfigError, match=r"qa\.yaml:1: name: the environment name comes from"):
        load_project(project).load_environment("qa", environ=ENV)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("Prod", "invalid environment name"),
        ("../prod", "invalid environment name"),
        ("a/b", "invalid environment name"),
        ("/etc/passwd", "invalid environment name"),
        ("", "invalid environment name"),
        ("a" * 33, "invalid environment name"),
        ("_defaults", "is a shared layer"),
        ("prdo", "unknown environment 'prdo'.*did you mean 'prod'"),
    ],
)
def test_environment_names(engine_project: Path, name: str, message: str) -> None:
    project = engine_project
    with pytest.raises(ConfigError, match=message):
        load_project(project).load_environment(name, environ=ENV)


def test_backend_encrypt_false_and_no_locking_are_refused(engine_project: Path) -> None:
    project = engine_project
    write_tree(
        project,
        {
            "environments/qa.yaml": """
                backend: {encrypt: false}
                network: {vpc_cidr: 10.40.0.0/16}
            """,
            "environments/qb.yaml": """
                backend: {use_lockfile: false}
                network: {vpc_cidr: 10.40.0.0/16}
            """,
        },
    )
    with pytest.raises(ConfigError, match="encrypt may not be false"):
        load_project(project).load_environment("qa", environ=ENV)
    with pytest.raises(ConfigError, match="state locking is off"):
        load_project(project).load_environment("qb", environ=ENV)


def test_dynamodb_locking_is_accepted(engine_project: Path) -> None:
    project = engine_project
    write_tree(
        project,
        {
            "environments/qa.yaml": """
            backend: {use_lockfile: false, dynamodb_table: tf-locks}
            network: {vpc_cidr: 10.40.0.0/16}
        """
        },
    )
    config = load_project(project).load_environment("qa", environ=ENV).config
    assert config.backend.dynamodb_table == "tf-locks"
