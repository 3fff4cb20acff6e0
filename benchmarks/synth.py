"""Build a temporary tfgen project holding N synthetic environments for the --all benchmark."""

from __future__ import annotations

import copy
import ipaddress
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

# Tried in order: the first that exists is the model every synthetic environment copies.
# prod reads ${env:TERRAFORM_STATE_BUCKET}; a non-prod file keeps the copies self-contained.
BASE_CANDIDATES = ("staging", "dev", "prod")
NAME_FORMAT = "bench-{:04d}"
PRIVATE_RANGES = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")


def base_environment(root: Path, preferred: str | None = None) -> str:
    """The shipped environment the synthetic ones are copied from."""
    folder = root / "environments"
    for name in (preferred,) if preferred else BASE_CANDIDATES:
        if name and (folder / f"{name}.yaml").is_file():
            return name
    for path in sorted(folder.glob("*.yaml")):
        if not path.name.startswith("_"):
            return path.stem
    msg = f"no environment file in {folder}"
    raise FileNotFoundError(msg)


def _blocks(prefix: int) -> Iterator[ipaddress.IPv4Network]:
    for parent in PRIVATE_RANGES:
        net = ipaddress.IPv4Network(parent)
        if prefix >= net.prefixlen:
            yield from net.subnets(new_prefix=prefix)


def distinct_cidrs(count: int, base_prefix: int) -> list[str]:
    """``count`` distinct private blocks, as large as the base allows (/16 to /24).

    The base environment's prefix is kept when there are enough private blocks of
    that size (273 /16s exist); otherwise the smallest longer prefix that fits is used.
    """
    for prefix in range(max(16, base_prefix), 25):
        cidrs: list[str] = []
        for block in _blocks(prefix):
            cidrs.append(str(block))
            if len(cidrs) == count:
                return cidrs
    msg = f"cannot allocate {count} distinct private /16-/24 blocks"
    raise ValueError(msg)


def make_project(
    root: Path, dest: Path, count: int, *, base: str | None = None
) -> tuple[list[str], str]:
    """Copy ``templates/`` and the shared layers of ``root`` into ``dest``; add ``count`` envs.

    Each synthetic environment is the base environment's file with its own name, VPC
    CIDR block and ``Environment`` tag; its state key defaults from its name, so no two
    share a (bucket, key). An explicit ``backend.key`` in the base is made distinct too.

    Returns:
        The environment names, sorted, and the base environment's name.
    """
    base_name = base_environment(root, base)
    shutil.copytree(root / "templates", dest / "templates")
    envs = dest / "environments"
    envs.mkdir(parents=True)
    for layer in sorted((root / "environments").glob("_*.yaml")):
        shutil.copy2(layer, envs / layer.name)
    model: dict[str, Any] = (
        yaml.safe_load((root / "environments" / f"{base_name}.yaml").read_text("utf-8")) or {}
    )
    base_cidr = (model.get("network") or {}).get("vpc_cidr", "10.0.0.0/16")
    prefix = ipaddress.IPv4Network(str(base_cidr), strict=False).prefixlen
    names = [NAME_FORMAT.format(i) for i in range(1, count + 1)]
    for name, cidr in zip(names, distinct_cidrs(count, prefix), strict=True):
        doc = copy.deepcopy(model)
        doc.setdefault("network", {})["vpc_cidr"] = cidr
        if isinstance(doc.get("tags"), dict):
            doc["tags"]["Environment"] = name
        backend = doc.get("backend")
        if isinstance(backend, dict) and "key" in backend:
            backend["key"] = f"bench/{name}/terraform.tfstate"
        text = f"# Synthetic benchmark environment (copy of {base_name}.yaml).\n"
        text += yaml.safe_dump(doc, sort_keys=False)
        (envs / f"{name}.yaml").write_text(text, encoding="utf-8")
    return names, base_name
