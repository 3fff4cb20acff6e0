"""Locate terraform and the offline provider mirror; run terraform against a rendered folder."""

from __future__ import annotations

import os
import shutil
import subprocess
from functools import cache
from pathlib import Path

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


requires_terraform = pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or "")


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
