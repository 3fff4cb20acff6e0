"""Shared fixtures: a copy of the project in tmp_path, a CLI runner, the golden switch."""

from __future__ import annotations

import os
import shutil
import textwrap
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import settings

from generator.components.wire import render_components
from generator.engine.core import EnvironmentConfig
from generator.engine.render import render_environment
from generator.project import Project

ROOT = Path(__file__).resolve().parent.parent
# Fixed values for the variables the shipped environments read, so goldens are stable.
GOLDEN_ENVIRON = {"TERRAFORM_STATE_BUCKET": "example-tfstate-prod"}

settings.register_profile("ci", max_examples=500, deadline=None)
settings.register_profile("dev", max_examples=100, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="Rewrite tests/golden/ from the current templates (review the diff!).",
    )


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


def write_tree(root: Path, files: Mapping[str, str]) -> None:
    """Write ``{relative path: text}`` under ``root``, dedenting each text."""
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")


# A few of the shipped templates as one root module: what the tests of inputs, output and
# failure handling render (fast), rather than every component of catalog-api.
# main.tf.j2 declares the data.aws_caller_identity the others use (references must resolve).
ONE_ROOT_TEMPLATES = (
    "backend.hcl.j2",
    "versions.tf.j2",
    "providers.tf.j2",
    "network.tf.j2",
    "main.tf.j2",
)


def keep_one_root(project: Path, kept: tuple[str, ...] = ONE_ROOT_TEMPLATES) -> Path:
    """Keep ``kept`` of ``project``'s top-level templates and render them as one root module.

    The stack's ``components`` section becomes blank lines, so that every other line of
    ``stack.yaml`` keeps its number (errors located there stay where they were).
    """
    for template in (project / "templates").glob("*.j2"):
        if not template.name.startswith("_") and template.name not in kept:
            template.unlink()
    stack = project / "templates" / "stack.yaml"
    lines = stack.read_text(encoding="utf-8").split("\n")
    inside = False
    for number, line in enumerate(lines):
        if line.startswith("components:"):
            inside = True
        elif line and not line[0].isspace() and not line.startswith("#"):
            inside = False
        if inside:
            lines[number] = ""
    stack.write_text("\n".join(lines), encoding="utf-8")
    return project


def render_files(project: Project, config: EnvironmentConfig, source: str) -> dict[str, str]:
    """Every file one environment renders, keyed ``<component>/<file>`` when it has components.

    A stack with components is rendered, verified and wired as ``render`` does it; one
    without is rendered only (the caller verifies, if it wants).
    """
    if project.graph is None:
        return render_environment(project.stack, config, source=source)
    units = render_components(
        project.stack, project.graph, config, source=source, out_prefix=f"out/{config.name}"
    )
    return {f"{unit.name}/{file}": text for unit in units for file, text in unit.files.items()}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of this repository's environments/ and templates/ in tmp_path."""
    dest = tmp_path / "project"
    dest.mkdir()
    for name in ("environments", "templates"):
        shutil.copytree(ROOT / name, dest / name)
    return dest


# A small stack built inline for engine tests (copier's build_file_tree idea): the engine is
# tested on it, never on the shipped environments, which tests/stacks/test_stack.py covers.
ENGINE_STACK: dict[str, str] = {
    "templates/schema.json": """
        {
          "$schema": "https://json-schema.org/draft/2020-12/schema",
          "type": "object",
          "required": ["network"],
          "properties": {
            "network": {
              "type": "object",
              "additionalProperties": false,
              "required": ["vpc_cidr"],
              "properties": {
                "vpc_cidr": {"type": "string", "format": "aws-vpc-cidr"},
                "az_count": {"type": "integer", "minimum": 2, "maximum": 3, "default": 2},
                "nat_per_az": {"type": "boolean", "default": false}
              }
            }
          }
        }
    """,
    "templates/versions.tf.j2": """
        terraform {
          required_version = ">= 1.6"
          required_providers {
            aws = {
              source  = "hashicorp/aws"
              version = "~> 5.100"
            }
          }
          backend "s3" {}
        }
    """,
    "templates/backend.hcl.j2": """
        {{ {"bucket": env.backend.bucket, "key": env.backend.key, "region": env.backend.region,
            "encrypt": true, "use_lockfile": true} | hcl_attrs }}
    """,
    "templates/main.tf.j2": """
        resource "aws_vpc" "main" {
          cidr_block = {{ env.network.vpc_cidr | hcl }}
          tags       = {{ env.tags | hcl(indent=2) }}
        }
    """,
    "environments/_defaults.yaml": """
        project: acme
        region: eu-west-1
        tags:
          ManagedBy: tfgen
        backend:
          bucket: acme-state-nonprod
        network:
          az_count: 2
    """,
    "environments/dev.yaml": """
        network:
          vpc_cidr: 10.10.0.0/16
    """,
    "environments/prod.yaml": """
        # prod's state bucket is named by the deploying account
        backend:
          bucket: ${env:TERRAFORM_STATE_BUCKET}
        network:
          vpc_cidr: 10.30.0.0/16
          az_count: 3
    """,
}


@pytest.fixture
def engine_project(tmp_path: Path) -> Path:
    """A small inline stack (schema, three templates, dev and prod) in tmp_path."""
    dest = tmp_path / "engine-project"
    write_tree(dest, ENGINE_STACK)
    return dest


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def golden_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    for key, value in GOLDEN_ENVIRON.items():
        monkeypatch.setenv(key, value)
    yield dict(GOLDEN_ENVIRON)


@pytest.fixture(autouse=True, scope="session")
def _private_tfgen_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """tfgen's caches go to a folder of this test session, never the user's ~/.cache/tfgen."""
    saved = {k: os.environ.get(k) for k in ("XDG_CACHE_HOME", "XDG_CONFIG_HOME", "TFGEN_NO_CACHE")}
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg-cache"))
    os.environ["XDG_CONFIG_HOME"] = str(tmp_path_factory.mktemp("xdg-config"))
    os.environ.pop("TFGEN_NO_CACHE", None)
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
