"""An inline stack with three components (network, data, app) wired by their outputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import ENGINE_STACK, write_tree

COMPONENT_STACK: dict[str, str] = {
    **{k: v for k, v in ENGINE_STACK.items() if k != "templates/main.tf.j2"},
    "templates/stack.yaml": """
        components:
          network:
            templates: [backend.hcl.j2, versions.tf.j2, network.tf.j2]
          data:
            templates: [backend.hcl.j2, versions.tf.j2, data.tf.j2]
          app:
            templates: [backend.hcl.j2, versions.tf.j2, app.tf.j2]
    """,
    "templates/network.tf.j2": """
        resource "aws_vpc" "main" {
          cidr_block = {{ env.network.vpc_cidr | hcl }}
        }

        output "vpc_id" {
          value = aws_vpc.main.id
        }

        output "vpc_cidr" {
          value = aws_vpc.main.cidr_block
        }
    """,
    "templates/data.tf.j2": """
        resource "aws_security_group" "db" {
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
          vpc_id = {{ component.network.vpc_id }}
          tags = {
            Secret = {{ component.data.db_secret_arn }}
          }
        }
    """,
}


@pytest.fixture
def components_project(tmp_path: Path) -> Path:
    """The inline stack of three components, with dev and prod."""
    dest = tmp_path / "components-project"
    write_tree(dest, COMPONENT_STACK)
    return dest
