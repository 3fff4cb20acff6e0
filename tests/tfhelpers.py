"""Locate terraform, the offline provider mirror and checkov; run them against a rendered folder."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

import pytest

# The registry root of a filesystem mirror holding hashicorp/aws 5.100.x. Override with
# TFGEN_PROVIDER_MIRROR where the mirror lives elsewhere.
DEFAULT_MIRROR = "/opt/tf-plugins"


@cache
def terraform_bin() -> str | None:
    return shutil.which("terraform")


@cache
def provider_mirror() -> Path | None:
    root = Path(os.environ.get("TFGEN_PROVIDER_MIRROR", DEFAULT_MIRROR))
    aws = root / "registry.terraform.io" / "hashicorp" / "aws"
    return root if aws.is_dir() and any(aws.glob("5.100.*")) else None


def skip_reason() -> str | None:
    """Why terraform tests cannot run here, or None when they can."""
    if terraform_bin() is None:
        return "terraform is not on PATH"
    if provider_mirror() is None:
        return (
            f"no hashicorp/aws 5.100.x filesystem mirror at "
            f"{os.environ.get('TFGEN_PROVIDER_MIRROR', DEFAULT_MIRROR)} (set TFGEN_PROVIDER_MIRROR)"
        )
    return None


_SKIP_WITHOUT_TERRAFORM = pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or "")

_Test = TypeVar("_Test", bound=Callable[..., Any])


def requires_terraform(test: _Test) -> _Test:
    """Mark a test that runs terraform: the `terraform` marker, and a skip saying why here."""
    return pytest.mark.terraform(_SKIP_WITHOUT_TERRAFORM(test))  # type: ignore[no-any-return]


def cli_config(directory: Path) -> Path:
    """Write a terraform CLI config that installs providers only from the mirror."""
    mirror = provider_mirror()
    assert mirror is not None
    path = directory / "terraformrc"
    path.write_text(
        f'provider_installation {{\n  filesystem_mirror {{\n    path = "{mirror}"\n  }}\n}}\n',
        encoding="utf-8",
    )
    return path


def terraform_env(config_dir: Path, **extra: str) -> dict[str, str]:
    """An environment for terraform: mirror-only providers, no checkpoint calls, no colour."""
    env = dict(os.environ)
    env.update(
        TF_CLI_CONFIG_FILE=str(cli_config(config_dir)),
        CHECKPOINT_DISABLE="1",
        TF_IN_AUTOMATION="1",
        TF_INPUT="0",
    )
    env.update(extra)
    return env


def run_terraform(
    args: list[str], cwd: Path, env: dict[str, str], timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run ``terraform -chdir=cwd ARGS`` and return the completed process (never raises)."""
    binary = terraform_bin()
    assert binary is not None
    return subprocess.run(
        [binary, f"-chdir={cwd}", *args, "-no-color"],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


# --------------------------------------------------------------------------- checkov


def _checkov() -> str | None:
    configured = os.environ.get("TFGEN_CHECKOV")
    if configured:
        return configured if Path(configured).is_file() else None
    return shutil.which("checkov")


def _checkov_skip_reason() -> str:
    configured = os.environ.get("TFGEN_CHECKOV")
    if configured:
        return f"TFGEN_CHECKOV={configured} is not a file"
    return (
        "checkov not found: `make test` installs it into .venv-checkov and sets TFGEN_CHECKOV; "
        "or put checkov (tests/requirements-checkov.txt) on PATH"
    )


requires_checkov = pytest.mark.skipif(_checkov() is None, reason=_checkov_skip_reason())


def run_checkov(directory: Path) -> dict[str, object]:
    """checkov's JSON report on a rendered folder (terraform only, offline, no API key)."""
    binary = _checkov()
    assert binary is not None
    env = {k: v for k, v in os.environ.items() if k not in {"BC_API_KEY", "PRISMA_API_URL"}}
    proc = subprocess.run(
        [
            binary,
            "-d",
            str(directory),
            "--framework",
            "terraform",
            "--quiet",
            "--compact",
            "-o",
            "json",
            "--skip-download",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    # Exit 1 means failed checks; the JSON says which. Anything else is checkov failing.
    assert proc.returncode in (0, 1), proc.stderr[-4000:]
    report = json.loads(proc.stdout)
    if isinstance(report, list):  # one entry per framework; only terraform was asked for
        (report,) = report
    assert isinstance(report, dict)
    return report


def failed_checks(report: dict[str, object]) -> str:
    """One line per failed check of a checkov report, for an assertion message."""
    results = report.get("results", {})
    failed = results.get("failed_checks", []) if isinstance(results, dict) else []
    return "\n".join(
        f"{r['check_id']} {r['resource']} ({r['file_path']}): {r['check_name']}" for r in failed
    )
