"""The adoption file: strict reading, its YAML round trip, and the HCL it renders."""

# ruff: noqa: E501 - one hostile case a line

from __future__ import annotations

from pathlib import Path

import pytest

from generator.adopt.blocks import (
    Adoption,
    Import,
    Moved,
    adoption_yaml,
    load_adoption,
    render_adoption,
)
from generator.errors import ConfigError
from generator.inputs.yamlsource import parse_yaml
from generator.verify.rules import parse_hcl
from tests.tfhelpers import requires_terraform, run_terraform, terraform_env

ADOPTION = Adoption(
    moved=(Moved("aws_subnet.private_0", "aws_subnet.private[0]", ("cidr_block",)),),
    imports=(Import('aws_iam_role.r["api"]', "app-api"),),
    removed=("aws_secretsmanager_secret.db_secret",),
    pins={"aws_lb.old": "aws_lb.public", "aws_sqs_queue.legacy": None},
)


def test_the_file_reads_back_as_written() -> None:
    text = adoption_yaml(ADOPTION, note=["a note"])
    assert text.startswith("# a note\n")
    assert load_adoption(parse_yaml(text, "adopt/dev.yaml")) == ADOPTION


def test_the_rendered_blocks_parse_back() -> None:
    text = render_adoption(ADOPTION, source="adopt/dev.yaml", command="tfgen render dev")
    parsed = parse_hcl("adopt.tf", text)
    assert [list(b) for b in parsed["moved"]] == [["from", "to", "__is_block__"]]
    assert parsed["import"][0]["id"] == '"app-api"'
    assert parsed["removed"][0]["lifecycle"][0]["destroy"] is False


@requires_terraform
def test_the_rendered_blocks_are_fmt_canonical(tmp_path: Path) -> None:
    (tmp_path / "adopt.tf").write_text(
        render_adoption(ADOPTION, source="adopt/dev.yaml", command="tfgen render dev")
    )
    result = run_terraform(["fmt", "-check", "-diff"], tmp_path, terraform_env(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr


BAD = [
    ("unknown-key", "moves: []\n", r"^adopt/dev\.yaml:1: moves: unknown key \(allowed: moved, import, removed, pin\)$"),
    ("bad-address", "moved:\n  - from: aws_vpc\n    to: aws_vpc.main\n", r"^adopt/dev\.yaml:2: moved\.0\.from: expected a resource address"),
    ("injection", 'moved:\n  - from: "aws_vpc.a\\n}\\nresource \\"x\\" \\"y\\" {"\n    to: aws_vpc.main\n', r"^adopt/dev\.yaml:2: moved\.0\.from: expected a resource address"),
    ("id-newline", 'import:\n  - to: aws_vpc.main\n    id: "vpc-1\\nx"\n', r"^adopt/dev\.yaml:3: import\.0\.id: holds a control character"),
    ("id-template", 'import:\n  - to: aws_vpc.main\n    id: "${file(\\"/etc/passwd\\")}"\n', r"^adopt/dev\.yaml:3: import\.0\.id: holds '\"'"),
    ("id-dollar", 'import:\n  - to: aws_vpc.main\n    id: "a${b}"\n', r"^adopt/dev\.yaml:3: import\.0\.id: holds '\$\{'"),
    ("removed-instance", "removed:\n  - aws_vpc.main[0]\n", r"^adopt/dev\.yaml:2: removed\.0: expected a resource address without an instance key"),
    ("pin-not-a-map", "pin: [a]\n", r"^adopt/dev\.yaml:1: pin: pin maps an old address"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "text", "message"), BAD, ids=[b[0] for b in BAD])
def test_a_hostile_adoption_file_is_a_located_error(case: str, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_adoption(parse_yaml(text, "adopt/dev.yaml"))
