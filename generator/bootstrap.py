"""tfgen bootstrap: a root module (local state) that creates an environment's state bucket.

It renders ``templates/bootstrap/*.j2`` into ``out/_bootstrap/<env>/`` (no environment
name starts with ``_``, so the folder never meets an environment's output), verifies
the result with rules of its own, and writes it like any render.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generator.config import LoadedEnvironment, Override, load_environment
from generator.errors import Problem, VerifyError
from generator.pipeline import OUT_DIR, output_display
from generator.render import TEMPLATES_DIR, render_environment
from generator.schema import EnvironmentConfig
from generator.verify import ENDPOINT_ONLY, NotALiteralError, decode_hcl_string, parse_hcl
from generator.writer import WriteResult, write_output

BOOTSTRAP = "bootstrap"
BOOTSTRAP_OUT = "_bootstrap"
_LEFTOVER = re.compile(r"\{\{|\{%|\{#")
_PUBLIC_ACCESS = (
    "block_public_acls",
    "block_public_policy",
    "ignore_public_acls",
    "restrict_public_buckets",
)


@dataclass(frozen=True)
class BootstrapResult:
    """A bootstrap module rendered, verified and written."""

    loaded: LoadedEnvironment
    files: dict[str, str]
    display: str
    written: WriteResult


def render_bootstrap(
    *,
    project_dir: Path,
    name: str,
    out_dir: Path | None = None,
    overrides: Sequence[Override] = (),
    environ: Mapping[str, str] | None = None,
    force: bool = False,
) -> BootstrapResult:
    """Render, verify and write the bootstrap module of one environment.

    Args:
        project_dir: the project root.
        name: the environment whose state bucket (and lock table) to create.
        out_dir: the output root; ``<project_dir>/out`` when None.
        overrides: ``--set`` values.
        environ: variables for ``${env:...}``; ``os.environ`` when None.
        force: overwrite generated files that were edited by hand.

    Returns:
        What was rendered and written into ``<out>/_bootstrap/<env>/``.

    Raises:
        ConfigError: the environment is invalid.
        RenderError: a bootstrap template failed.
        VerifyError: the module breaks a bootstrap rule; nothing was written.
        OutputError: the folder cannot be written safely.
    """
    out_root = (out_dir if out_dir is not None else project_dir / OUT_DIR) / BOOTSTRAP_OUT
    loaded = load_environment(project_dir, name, overrides=overrides, environ=environ)
    files = render_environment(
        loaded.config,
        project_dir / TEMPLATES_DIR,
        source=loaded.source,
        subfolder=BOOTSTRAP,
        command=BOOTSTRAP,
    )
    display = output_display(out_root, project_dir, loaded.config.name)
    verify_bootstrap(files, loaded.config, out_prefix=display)
    written = write_output(out_root / loaded.config.name, files, display=display, force=force)
    return BootstrapResult(loaded=loaded, files=files, display=display, written=written)


def verify_bootstrap(
    files: Mapping[str, str], config: EnvironmentConfig, *, out_prefix: str
) -> None:
    """Check a rendered bootstrap module before anything is written.

    The rules: every file parses; one terraform block pinning the AWS provider and no
    backend (the module keeps local state); a bucket named exactly as the backend names
    it, with versioning, default encryption, a full public access block, a policy that
    denies non-TLS access and expiry of old versions; the lock table when the backend
    names one; no endpoint overrides unless the environment declares an endpoint.

    Raises:
        VerifyError: one problem per broken rule.
    """
    problems: list[Problem] = []
    parsed: dict[str, dict[str, Any]] = {}
    for name, text in sorted(files.items()):
        display = f"{out_prefix}/{name}"
        for lineno, line in enumerate(text.splitlines(), start=1):
            if _LEFTOVER.search(line):
                problems.append(Problem("leftover template syntax", path=display, line=lineno))
        try:
            parsed[name] = parse_hcl(display, text)
        except VerifyError as err:
            problems.extend(err.problems)
    if problems:
        raise VerifyError(*problems)

    def rule(message: str) -> None:
        problems.append(Problem(message, path=out_prefix))

    _check_terraform(parsed, rule)
    resources = _collect(parsed, "resource")
    data = _collect(parsed, "data")
    _check_bucket(resources, data, config.backend.bucket, rule)
    table = config.backend.dynamodb_table
    locks = resources.get("aws_dynamodb_table", [])
    if table:
        if [_literal(t.get("name")) for t in locks] != [table]:
            rule(f"expected one aws_dynamodb_table named {table!r} (backend.dynamodb_table)")
        elif _literal(locks[0].get("hash_key")) != "LockID":
            rule("the lock table's hash_key must be LockID, as the S3 backend expects")
    elif locks:
        rule("a lock table is rendered, but the backend names no dynamodb_table")
    if config.endpoint is None and config.backend.endpoint is None:
        for key in sorted(_keys(parsed) & set(ENDPOINT_ONLY)):
            rule(f"{key} is set, but the environment declares no endpoint")
    if problems:
        raise VerifyError(*problems)


def _check_terraform(parsed: Mapping[str, Any], rule: Callable[[str], None]) -> None:
    blocks = [b for doc in parsed.values() for b in _list(doc.get("terraform"))]
    if len(blocks) != 1:
        rule(f"expected exactly one terraform block, found {len(blocks)}")
        return
    block = blocks[0]
    if "required_version" not in block:
        rule("the terraform block has no required_version")
    providers = _list(block.get("required_providers"))
    if not providers or "aws" not in providers[0]:
        rule("required_providers does not pin hashicorp/aws")
    if "backend" in block or "cloud" in block:
        rule("the bootstrap module keeps local state: it may not declare a backend")


def _check_bucket(
    resources: Mapping[str, list[dict[str, Any]]],
    data: Mapping[str, list[dict[str, Any]]],
    bucket: str,
    rule: Callable[[str], None],
) -> None:
    buckets = [_literal(b.get("bucket")) for b in resources.get("aws_s3_bucket", [])]
    if buckets != [bucket]:
        rule(f"expected one aws_s3_bucket named exactly {bucket!r} (backend.bucket): {buckets}")
    statuses = [
        _literal(v.get("status"))
        for r in resources.get("aws_s3_bucket_versioning", [])
        for v in _list(r.get("versioning_configuration"))
    ]
    if statuses != ["Enabled"]:
        rule("state bucket versioning must be Enabled")
    if not resources.get("aws_s3_bucket_server_side_encryption_configuration"):
        rule("the state bucket has no default encryption")
    blocks = resources.get("aws_s3_bucket_public_access_block", [])
    if len(blocks) != 1 or not all(blocks[0].get(k) is True for k in _PUBLIC_ACCESS):
        rule(f"the state bucket needs a public access block with {', '.join(_PUBLIC_ACCESS)}")
    if not resources.get("aws_s3_bucket_policy") or not _denies_insecure_transport(data):
        rule("the state bucket needs a policy denying requests without TLS (aws:SecureTransport)")
    expiring = [
        rule_block
        for r in resources.get("aws_s3_bucket_lifecycle_configuration", [])
        for rule_block in _list(r.get("rule"))
        if _list(rule_block.get("noncurrent_version_expiration"))
    ]
    if not expiring:
        rule("the state bucket needs a lifecycle rule expiring noncurrent versions")


def _denies_insecure_transport(data: Mapping[str, list[dict[str, Any]]]) -> bool:
    for document in data.get("aws_iam_policy_document", []):
        for statement in _list(document.get("statement")):
            if _literal(statement.get("effect")) != "Deny":
                continue
            for condition in _list(statement.get("condition")):
                values = [_literal(v) for v in condition.get("values", [])]
                if _literal(condition.get("variable")) == "aws:SecureTransport" and values == [
                    "false"
                ]:
                    return True
    return False


def _collect(parsed: Mapping[str, Any], kind: str) -> dict[str, list[dict[str, Any]]]:
    """``resource``/``data`` blocks by type, labels unquoted: {type: [body, ...]}."""
    found: dict[str, list[dict[str, Any]]] = {}
    for doc in parsed.values():
        for entry in _list(doc.get(kind)):
            for label, named in entry.items():
                if not isinstance(named, dict):
                    continue
                bodies = [b for b in named.values() if isinstance(b, dict)]
                found.setdefault(label.strip('"'), []).extend(bodies)
    return found


def _keys(node: Any) -> set[str]:
    if isinstance(node, dict):
        return set(node).union(*(_keys(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_keys(v) for v in node))
    return set()


def _list(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _literal(raw: Any) -> str | None:
    try:
        return decode_hcl_string(raw)
    except NotALiteralError:
        return None
