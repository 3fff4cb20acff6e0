"""Every stack the repository ships, and the environments (and variants) each is tested with.

One registry for the suite that runs terraform, checkov and the credential scan over every
shipped stack (``test_shipped_stacks.py``) and for each stack's own tests.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from click.testing import CliRunner

from generator.cli.app import cli
from tests.conftest import GOLDEN_ENVIRON, ROOT


@dataclass(frozen=True)
class ShippedStack:
    """A shipped project: its folder, the cases rendered from it, what checkov must find."""

    name: str
    project: Path
    # case -> (environment, extra CLI arguments): the shipped environments and variants
    # that take template branches no shipped environment takes.
    cases: dict[str, tuple[str, tuple[str, ...]]]
    environ: dict[str, str | None] = field(default_factory=dict)
    # Cases checkov judges (not an emulator environment), and how much it must read.
    checkov_cases: tuple[str, ...] = ()
    min_resources: int = 1
    min_passed: int = 0


@dataclass(frozen=True)
class RenderedCase:
    """One case rendered through the CLI into a folder of its own; terraform's data beside it.

    ``root`` is ``out/<env>``; ``modules`` its root modules: ``root`` itself, or one folder
    per component. ``files`` are keyed by their path under ``root`` (``app/ecs.tf``).
    """

    stack: str
    name: str
    root: Path
    data_dir: Path
    files: dict[str, str]
    modules: tuple[Path, ...] = ()


def _sets(*pairs: str) -> tuple[str, ...]:
    return tuple(arg for pair in pairs for arg in ("--set", pair))


CATALOG = ShippedStack(
    name="catalog-api",
    project=ROOT,
    cases={
        "dev": ("dev", ()),
        "staging": ("staging", ()),
        "prod": ("prod", ()),
        # Every optional feature on in a cheap environment: CloudFront without a
        # certificate, WAF on both scopes, KMS keys in both regions, both access logs.
        "dev-all-options": (
            "dev",
            _sets(
                "cdn.enabled=true",
                "cdn.logging=true",
                "waf.enabled=true",
                "kms.enabled=true",
                "load_balancer.access_logs=true",
                "load_balancer.deletion_protection=true",
                "autoscaling.enabled=false",
                "database.monitoring_interval=0",
                "database.max_allocated_storage=100",
                "database.performance_insights=false",
                "service.image=public.ecr.aws/docker/library/nginx:1.27",
                "service.secrets.API_TOKEN="
                "arn:aws:secretsmanager:eu-west-1:123456789012:secret:api-token",
            ),
        ),
    },
    environ=dict(GOLDEN_ENVIRON),
    checkov_cases=("dev", "staging", "prod", "dev-all-options"),
    min_resources=41,
)
EVENT_PIPELINE = ShippedStack(
    name="event-pipeline",
    project=ROOT / "examples" / "event-pipeline",
    cases={
        "dev": ("dev", ()),
        "local": ("local", ()),
        "prod": ("prod", ()),
        # No prefix, access logs, no point-in-time recovery, another consumer service,
        # no redrive restriction; and a suffixed copy.
        "dev-all-options": (
            "dev",
            _sets(
                "ingest.prefix=",
                "ingest.access_log_bucket=events-access-logs-dev",
                "table.point_in_time_recovery=false",
                "consumer.service=ecs-tasks.amazonaws.com",
                "queue.restrict_redrive=false",
                "kms.deletion_window_days=7",
            ),
        ),
        "dev-pr7": ("dev", ("--suffix", "pr7")),
    },
    # The variables the example reads; unset, so every default is what is tested.
    environ={
        "EVENTS_STATE_BUCKET": None,
        "EVENTS_PROD_STATE_BUCKET": None,
        "TFGEN_LOCAL_STATE_BUCKET": None,
        "AWS_ENDPOINT_URL": None,
    },
    # checkov judges what would run in AWS; local is an emulator with what it cannot serve off.
    checkov_cases=("dev", "prod", "dev-all-options", "dev-pr7"),
    min_resources=20,
    min_passed=81,
)
STACKS = {s.name: s for s in (CATALOG, EVENT_PIPELINE)}
# Every (stack, case) pair, as pytest ids "stack/case".
ALL_CASES = [(s.name, case) for s in STACKS.values() for case in s.cases]
CHECKOV_CASES = [(s.name, case) for s in STACKS.values() for case in s.checkov_cases]
# An inline checkov skip, as every shipped stack writes it: the check and why.
SKIP_RE = re.compile(r"^\s*# checkov:skip=(?P<id>CKV2?_AWS_\d+):(?P<reason>.*)$", re.M)
# What a leaked credential looks like in HCL: a literal assigned to a credential-named
# argument, a PEM private key, an AWS access key ID.
CREDENTIAL_RES = (
    re.compile(r'^\s*\w*(password|passwd|secret_string|token|private_key)\w*\s*=\s*"', re.I | re.M),
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"),
)


def render_case(stack: ShippedStack, case: str, base: Path) -> RenderedCase:
    """Render one case with the CLI into ``base/<case>/`` (its own output root)."""
    env_name, args = stack.cases[case]
    out = base / case
    argv = ["--project-dir", str(stack.project), "render", env_name, *args, "--out", str(out)]
    run = CliRunner().invoke(cli, argv, env=stack.environ)
    assert run.exit_code == 0, run.output
    (root,) = (p for p in out.iterdir() if p.is_dir() and not p.name.startswith("."))
    files = {
        p.relative_to(root).as_posix(): p.read_text(encoding="utf-8")
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    }
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    return RenderedCase(
        stack.name, case, root, base / f"{case}.tfdata", files, tuple(folders) or (root,)
    )


def render_stack(stack: ShippedStack, base: Path) -> dict[str, RenderedCase]:
    """Every case of ``stack``, rendered under ``base``."""
    return {case: render_case(stack, case, base) for case in stack.cases}
