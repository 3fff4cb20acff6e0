"""tfgen bootstrap: a root module (local state) per state bucket, creating the bucket.

One module is rendered per distinct state bucket (with its lock table), into
``out/_bootstrap/<bucket>/`` (no environment name starts with ``_``, so the folder never
meets an environment's output), whichever environment asks for it: environments that
share a bucket share its module, which lists them all in a comment. The templates are
package data (``generator/data/bootstrap/*.j2``); a project's own
``templates/bootstrap/`` replaces them. The result is verified with verify's shared
rules plus the bucket's own, and written like any render.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generator.engine.core import EnvironmentConfig
from generator.engine.formats import local_http
from generator.engine.render import render_environment, template_names
from generator.engine.stack import Stack, load_stack
from generator.errors import ConfigError, Problem, TfgenError, VerifyError, merge_errors
from generator.output.writer import WriteResult, write_output
from generator.pipeline import RunOptions, output_display, select_environments
from generator.project import LoadedEnvironment, Project, load_project
from generator.verify.rules import (
    NotALiteralError,
    check_no_endpoints,
    check_terraform_block,
    decode_hcl_string,
    parse_rendered,
)

BOOTSTRAP = "bootstrap"
BOOTSTRAP_OUT = "_bootstrap"
# The engine's own bootstrap templates, shipped in the wheel: <PACKAGE_TEMPLATES>/bootstrap/.
PACKAGE_TEMPLATES = Path(__file__).resolve().parent.parent / "data"
# How messages name them: they are tfgen's files, not a path of the project.
PACKAGE_DISPLAY = "<tfgen>"
LISTING_FILE = "state_bucket.tf"
STATE_FILE = "terraform.tfstate"
# A folder name that is a plain S3 bucket name (the schema has checked the full rules).
_BUCKET_FOLDER = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_PUBLIC_ACCESS = (
    "block_public_acls",
    "block_public_policy",
    "ignore_public_acls",
    "restrict_public_buckets",
)
# What every environment sharing a bucket must agree on: (dotted key, value getter).
_SHARED: tuple[tuple[str, Callable[[EnvironmentConfig], object]], ...] = (
    ("backend.region", lambda c: c.backend.region),
    ("backend.dynamodb_table", lambda c: c.backend.dynamodb_table),
    ("backend.endpoint", lambda c: c.backend.endpoint),
    ("endpoint", lambda c: c.endpoint),
)


@dataclass(frozen=True)
class BucketModule:
    """The bootstrap module of one state bucket: rendered and written, or failed."""

    bucket: str
    environments: tuple[LoadedEnvironment, ...]
    display: str
    files: dict[str, str]
    written: WriteResult | None
    error: TfgenError | None
    # Local states of the old per-environment layout (out/_bootstrap/<env>/) to move here.
    old_states: tuple[str, ...] = ()
    # What the module leaves out and why (the TLS-only policy of an emulated store).
    notes: tuple[str, ...] = ()
    # Where it is written (display is relative to the project; this is the real path).
    folder: Path = Path()

    @property
    def names(self) -> tuple[str, ...]:
        """The environments whose state the bucket holds, sorted."""
        return tuple(e.config.name for e in self.environments)


@dataclass(frozen=True)
class BootstrapReport:
    """Every bucket module of a bootstrap run, and the environments that failed to load."""

    modules: tuple[BucketModule, ...]
    errors: tuple[TfgenError, ...]

    def failure(self) -> TfgenError | None:
        """The error the run ends with (the highest exit code wins), or None."""
        errors = [*self.errors, *(m.error for m in self.modules if m.error is not None)]
        return merge_errors(errors)


def bootstrap_templates(project: Project) -> Stack:
    """The templates to render ``bootstrap/`` from: the project's stack, else tfgen's own."""
    if template_names(project.stack.templates_dir / BOOTSTRAP):
        return project.stack
    return load_stack(PACKAGE_TEMPLATES, display=PACKAGE_DISPLAY)


def render_bootstrap(options: RunOptions) -> BootstrapReport:
    """Render, verify and write the bootstrap module of each state bucket the run names.

    The buckets are those of ``options.environments`` (or of every environment with
    ``all_environments``). Every other environment of the project is loaded too, to
    find all that share a bucket; one that cannot be loaded is left out of the listing.
    A module is rendered from the first environment of its bucket (by name), so it is
    the same whichever environment asks for it.

    Args:
        options: the environments, output root, ``--set`` values, variables and ``force``
            (``suffix``, ``workers`` and ``write`` are not read).

    Returns:
        One module per bucket, in the order the environments were given, and the errors
        of requested environments that could not be loaded.

    Raises:
        ConfigError: ``--all`` found no environment files.
    """
    project = load_project(options.project_dir)
    requested = select_environments(
        project, options.environments, all_environments=options.all_environments
    )
    loaded: dict[str, LoadedEnvironment] = {}
    errors: list[TfgenError] = []
    for name in requested:
        try:
            loaded[name] = _load(project, options, name)
        except TfgenError as err:
            errors.append(err)
    for name in project.environment_names():
        if name not in requested:
            try:
                loaded[name] = _load(project, options, name)
            except TfgenError:
                continue  # not asked for: it only cannot be listed as sharing a bucket
    by_bucket: dict[str, list[LoadedEnvironment]] = {}
    for env in sorted(loaded.values(), key=lambda e: e.config.name):
        by_bucket.setdefault(env.config.backend.bucket, []).append(env)
    buckets = dict.fromkeys(loaded[n].config.backend.bucket for n in requested if n in loaded)
    out_root = options.out_root / BOOTSTRAP_OUT
    templates = bootstrap_templates(project)
    modules = [
        _bucket_module(options, templates, out_root, bucket, tuple(by_bucket[bucket]))
        for bucket in buckets
    ]
    return BootstrapReport(modules=tuple(modules), errors=tuple(errors))


def _load(project: Project, options: RunOptions, name: str) -> LoadedEnvironment:
    return project.load_environment(name, overrides=options.overrides, environ=options.environ)


def _bucket_module(
    options: RunOptions,
    templates: Stack,
    out_root: Path,
    bucket: str,
    envs: tuple[LoadedEnvironment, ...],
) -> BucketModule:
    display = output_display(out_root, options.project_dir, bucket)
    try:
        _check_shared(bucket, envs)
        first = envs[0]
        files = render_environment(
            templates,
            first.config,
            source=first.source,
            subfolder=BOOTSTRAP,
            command=BOOTSTRAP,
        )
        files = _with_listing(files, envs)
        notes = verify_bootstrap(files, first.config, out_prefix=display)
        written = write_output(out_root / bucket, files, display=display, force=options.force)
    except TfgenError as err:
        return BucketModule(bucket, envs, display, {}, None, err)
    old = tuple(
        output_display(out_root, options.project_dir, f"{e.config.name}/{STATE_FILE}")
        for e in envs
        if (out_root / e.config.name / STATE_FILE).is_file()
        and not (out_root / bucket / STATE_FILE).exists()
    )
    return BucketModule(
        bucket, envs, display, files, written, None, old, tuple(notes), out_root / bucket
    )


def _check_shared(bucket: str, envs: Sequence[LoadedEnvironment]) -> None:
    """Refuse a bucket whose environments disagree on what its one module creates."""
    if not _BUCKET_FOLDER.fullmatch(bucket) or ".." in bucket:
        msg = f"state bucket {bucket!r} cannot name a bootstrap folder"
        raise ConfigError.at(msg, path=envs[0].source, key="backend.bucket")
    first = envs[0]
    problems = [
        Problem(
            f"shares state bucket {bucket!r} with environment {first.config.name!r} "
            f"({first.source}), which has {key} {get(first.config)!r}, this one "
            f"{get(env.config)!r}; one bucket has one bootstrap module: make them agree",
            path=env.source,
            key=key,
        )
        for env in envs[1:]
        for key, get in _SHARED
        if get(env.config) != get(first.config)
    ]
    if problems:
        raise ConfigError(*problems)


def _with_listing(files: Mapping[str, str], envs: Sequence[LoadedEnvironment]) -> dict[str, str]:
    """Add, after the header of the bucket's file, a comment naming every state it holds."""
    target = LISTING_FILE if LISTING_FILE in files else min(files)
    width = max(len(e.config.name) for e in envs)
    keys = max(len(e.config.backend.key) for e in envs)
    lines = [f"# This bucket holds the state of {len(envs)} environment(s):"]
    lines.extend(
        f"#   {e.config.name:<{width}}  {e.config.backend.key:<{keys}}  ({e.source})" for e in envs
    )
    header, sep, body = files[target].partition("\n\n")
    text = header + "\n" + "\n".join(lines) + sep + body if sep else files[target]
    return {**files, target: text}


def verify_bootstrap(
    files: Mapping[str, str], config: EnvironmentConfig, *, out_prefix: str
) -> list[str]:
    """Check a rendered bootstrap module before anything is written.

    The rules: every file parses; one terraform block pinning the AWS provider and no
    backend (the module keeps local state); a bucket named exactly as the backend names
    it, with versioning, default encryption, a full public access block, a policy that
    denies non-TLS access and expiry of old versions; the lock table when the backend
    names one; no endpoint overrides unless the environment declares an endpoint.

    The TLS-only policy is the one rule relaxed, and only where the state store is an
    emulator on loopback over plain http (:func:`~generator.engine.formats.local_http`):
    there the policy refuses every request, ``terraform init`` included.

    Returns:
        Notes for the user: what the module leaves out, and why.

    Raises:
        VerifyError: one problem per broken rule.
    """
    parsed, problems = parse_rendered(files, out_prefix)
    if problems:
        raise VerifyError(*problems)

    def rule(message: str) -> None:
        problems.append(Problem(message, path=out_prefix))

    problems.extend(check_terraform_block(parsed, out_prefix, local_state=True))
    resources = _collect(parsed, "resource")
    data = _collect(parsed, "data")
    store = config.backend.endpoint or config.endpoint
    tls_only = bool(resources.get("aws_s3_bucket_policy")) and _denies_insecure_transport(data)
    notes: list[str] = []
    if not tls_only and local_http(store):
        notes.append(
            f"{out_prefix}: the state bucket has no policy denying requests without TLS: its "
            f"endpoint {store} is plain http on loopback (an emulator), which such a policy "
            "would refuse; a bucket anywhere else gets it"
        )
    elif not tls_only:
        rule("the state bucket needs a policy denying requests without TLS (aws:SecureTransport)")
    _check_bucket(resources, config.backend.bucket, rule)
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
        # verify's own rule, as for every render: only an emulated store may be pointed at.
        problems.extend(check_no_endpoints(parsed, out_prefix))
    if problems:
        raise VerifyError(*problems)
    return notes


def _check_bucket(
    resources: Mapping[str, list[dict[str, Any]]],
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


def _list(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _literal(raw: Any) -> str | None:
    try:
        return decode_hcl_string(raw)
    except NotALiteralError:
        return None
