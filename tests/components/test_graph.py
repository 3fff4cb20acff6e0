"""The component graph: edges from references, apply waves, cycles, unknown components."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from generator.cli.app import cli
from generator.components.graph import component_graph, graph_dot, graph_mermaid
from generator.engine.stack import load_stack
from generator.errors import ConfigError
from tests.conftest import write_tree

ENVIRON = {"TERRAFORM_STATE_BUCKET": "acme-state-prod"}


def invoke(runner: CliRunner, project: Path, *args: str) -> Any:
    return runner.invoke(cli, [*args, "--project-dir", str(project)], env=ENVIRON)


def test_waves_follow_the_references(components_project: Path) -> None:
    graph = component_graph(load_stack(components_project / "templates"))
    assert graph is not None
    assert graph.components == ("network", "data", "app")
    assert [(e.producer, e.consumer) for e in graph.edges] == [
        ("data", "app"),
        ("network", "app"),
        ("network", "data"),
    ]
    assert graph.waves == (("network",), ("data",), ("app",))
    assert graph.destroy_waves == (("app",), ("data",), ("network",))


def test_independent_components_share_a_wave(components_project: Path) -> None:
    write_tree(
        components_project,
        {
            "templates/app.tf.j2": """
                resource "aws_security_group" "app" {
                  vpc_id = {{ component.network.vpc_id }}
                }
            """
        },
    )
    graph = component_graph(load_stack(components_project / "templates"))
    assert graph is not None
    assert graph.waves == (("network",), ("data", "app"))


def test_a_stack_without_components_has_no_graph(engine_project: Path) -> None:
    assert component_graph(load_stack(engine_project / "templates")) is None


def _cycle_of_three(project: Path) -> None:
    write_tree(
        project,
        {
            "templates/network.tf.j2": """
                resource "aws_vpc" "main" {
                  cidr_block = {{ env.network.vpc_cidr | hcl }}
                  tags = { App = {{ component.app.app_sg }} }
                }

                output "vpc_id" {
                  value = aws_vpc.main.id
                }
            """
        },
    )


def test_a_cycle_of_three_names_the_whole_path(components_project: Path) -> None:
    _cycle_of_three(components_project)
    with pytest.raises(ConfigError) as caught:
        component_graph(load_stack(components_project / "templates"))
    first = str(caught.value).splitlines()[0]
    assert first.startswith("templates/network.tf.j2:3: component.app.app_sg: ")
    assert "a cycle: network -> app -> data -> network" in first
    where = {(p.path, p.line) for p in caught.value.problems}
    assert where == {
        ("templates/app.tf.j2", 4),  # app reads data
        ("templates/data.tf.j2", 2),  # data reads network
        ("templates/network.tf.j2", 3),  # network reads app
    }


def test_a_cycle_fails_render_with_exit_1(runner: CliRunner, components_project: Path) -> None:
    _cycle_of_three(components_project)
    result = invoke(runner, components_project, "render", "dev")
    assert result.exit_code == 1
    assert "templates/network.tf.j2:3: component.app.app_sg: components read each other" in (
        result.stderr
    )
    assert "network -> app -> data -> network" in result.stderr
    assert not (components_project / "out").exists()


def test_an_unknown_component_is_refused_at_its_line(
    runner: CliRunner, components_project: Path
) -> None:
    write_tree(
        components_project,
        {
            "templates/app.tf.j2": """
                resource "aws_security_group" "app" {
                  vpc_id = {{ component.netwrk.vpc_id }}
                }
            """
        },
    )
    result = invoke(runner, components_project, "render", "dev")
    assert result.exit_code == 1
    assert (
        "templates/app.tf.j2:2: component.netwrk.vpc_id: unknown component 'netwrk' "
        "(did you mean 'network'?); the stack declares: app, data, network"
    ) in result.stderr
    assert not (components_project / "out").exists()


def test_a_computed_reference_to_an_unknown_component_fails_at_render(
    runner: CliRunner, components_project: Path
) -> None:
    write_tree(
        components_project,
        {
            "templates/app.tf.j2": """
                {% set name = "netw" ~ "ork2" %}
                resource "aws_security_group" "app" {
                  vpc_id = {{ component[name].vpc_id }}
                }
            """
        },
    )
    result = invoke(runner, components_project, "render", "dev")
    assert result.exit_code == 1
    assert "templates/app.tf.j2:3: component app: unknown component 'network2'" in result.stderr


def test_a_template_in_no_component_is_refused(components_project: Path) -> None:
    write_tree(components_project, {"templates/extra.tf.j2": "# nothing\n"})
    with pytest.raises(ConfigError, match=r"templates/stack\.yaml:1: components: extra\.tf\.j2"):
        load_stack(components_project / "templates")


def test_list_json_gives_components_edges_and_waves(
    runner: CliRunner, components_project: Path
) -> None:
    result = invoke(runner, components_project, "list", "--json")
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [r["name"] for r in rows] == ["dev", "prod"]
    dev = rows[0]
    assert dev["components"] == [
        {"name": "network", "dir": "out/dev/network", "key": "acme/dev/network/terraform.tfstate"},
        {"name": "data", "dir": "out/dev/data", "key": "acme/dev/data/terraform.tfstate"},
        {"name": "app", "dir": "out/dev/app", "key": "acme/dev/app/terraform.tfstate"},
    ]
    assert dev["edges"] == [
        {"producer": "data", "consumer": "app", "outputs": ["db_secret_arn"]},
        {"producer": "network", "consumer": "app", "outputs": ["vpc_id"]},
        {"producer": "network", "consumer": "data", "outputs": ["vpc_id"]},
    ]
    assert dev["waves"] == [["network"], ["data"], ["app"]]


def test_list_json_without_components_is_unchanged(runner: CliRunner, engine_project: Path) -> None:
    result = invoke(runner, engine_project, "list", "--json")
    assert result.exit_code == 0, result.stderr
    assert set(json.loads(result.stdout)[0]) == {
        "name",
        "file",
        "region",
        "bucket",
        "key",
        "endpoint",
    }


def test_list_graph_prints_dot_and_mermaid(runner: CliRunner, components_project: Path) -> None:
    app = components_project / "templates" / "app.tf.j2"
    app.write_text(
        app.read_text(encoding="utf-8") + "# {{ component.network.vpc_cidr }}\n", encoding="utf-8"
    )
    result = invoke(runner, components_project, "list", "--graph")
    assert result.exit_code == 0, result.stderr
    # Every output an edge carries is on its label; names are quoted for both languages.
    assert result.stdout == (
        "// Graphviz DOT (dot -Tsvg)\n"
        "digraph components {\n"
        "  rankdir=LR;\n"
        '  subgraph wave_0 { rank=same; "network"; }\n'
        '  subgraph wave_1 { rank=same; "data"; }\n'
        '  subgraph wave_2 { rank=same; "app"; }\n'
        '  "data" -> "app" [label="db_secret_arn"];\n'
        '  "network" -> "app" [label="vpc_cidr, vpc_id"];\n'
        '  "network" -> "data" [label="vpc_id"];\n'
        "}\n"
        "\n%% Mermaid (a ```mermaid block in Markdown)\n"
        "flowchart LR\n"
        "  subgraph wave_0[wave 0]\n"
        '    c_network["network"]\n'
        "  end\n"
        "  subgraph wave_1[wave 1]\n"
        '    c_data["data"]\n'
        "  end\n"
        "  subgraph wave_2[wave 2]\n"
        '    c_app["app"]\n'
        "  end\n"
        '  c_data -->|"db_secret_arn"| c_app\n'
        '  c_network -->|"vpc_cidr, vpc_id"| c_app\n'
        '  c_network -->|"vpc_id"| c_data\n'
    )
    listed = json.loads(invoke(runner, components_project, "list", "--json").stdout)
    assert listed[0]["edges"][1] == {
        "producer": "network",
        "consumer": "app",
        "outputs": ["vpc_cidr", "vpc_id"],
    }


def test_graph_names_that_are_keywords_and_odd_outputs_stay_quoted(
    components_project: Path,
) -> None:
    # `node` is a DOT keyword and `end` a Mermaid one; an output read as component.x["..."]
    # is whatever string the template wrote until a render checks it.
    graph = component_graph(load_stack(components_project / "templates"))
    assert graph is not None
    edge = graph.edges[0]
    odd = type(graph)(
        ("node", "end"),
        (type(edge)("end", "node", edge.where, ('a"b', "c|d")),),
        (("node",), ("end",)),
    )
    dot = graph_dot(odd)
    assert '  subgraph wave_0 { rank=same; "node"; }\n' in dot
    assert '  "node" -> "end" [label="a\\"b, c|d"];\n' in dot
    mermaid = graph_mermaid(odd)
    assert '    c_end["end"]\n' in mermaid
    assert '  c_node -->|"a#quot;b, c#124;d"| c_end\n' in mermaid


def test_list_graph_without_components_is_a_usage_error(
    runner: CliRunner, engine_project: Path
) -> None:
    result = invoke(runner, engine_project, "list", "--graph")
    assert result.exit_code == 2
    assert "the stack declares no components" in result.stderr


def test_list_json_and_graph_exclude_each_other(
    runner: CliRunner, components_project: Path
) -> None:
    result = invoke(runner, components_project, "list", "--json", "--graph")
    assert result.exit_code == 2
    assert "give --json or --graph, not both" in result.stderr
