"""Parse every rendered file back with python-hcl2 and check the invariants tfgen promises."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from generator.engine.core import EnvironmentConfig
from generator.engine.formats import bucket_name_problem, state_key_problem
from generator.errors import Problem, VerifyError
from generator.verify import hclparse as _hclparse
from generator.verify.hclparse import VERIFY_VERSION, NotALiteralError, decode_hcl_string
from generator.verify.leftover import leftover_lines
from generator.verify.references import check_references
from generator.verify.reftree import Declared, Traversal
from generator.verify.tfjson import JSON_SUFFIX, parse_tf_json

BACKEND_FILE = "backend.hcl"
__all__ = [
    "ENDPOINT_ONLY",
    "VERIFY_VERSION",
    "NotALiteralError",
    "decode_hcl_string",
    "parse_hcl",
    "parse_tf_json",
    "verify_rendered",
]
# What a template left unrendered looks like (also used by bootstrap's own check).
LEFTOVER = re.compile(r"\{\{|\{%|\{#")
# Settings that only an environment with an emulated endpoint may render.
ENDPOINT_ONLY = (
    "endpoints",
    "skip_credentials_validation",
    "skip_requesting_account_id",
    "skip_metadata_api_check",
    "use_path_style",
)


def parse_hcl(name: str, text: str) -> dict[str, Any]:
    """Parse one rendered file; a syntax error becomes a VerifyError at its line and column.

    A ``*.tf.json`` file is read as JSON (see :func:`parse_tf_json`). An attribute set twice
    in one block, or a key given twice in one object, is a VerifyError naming both lines:
    python-hcl2 would keep the last value silently, and Terraform refuses the first.
    """
    return _parse_hcl(name, text).result


def _parse_hcl(name: str, text: str) -> _hclparse.Parsed:
    """:func:`parse_hcl`, with the references and declarations of a ``.tf`` file."""
    if name.endswith(JSON_SUFFIX):
        return _hclparse.Parsed(parse_tf_json(name, text), ())
    try:
        parsed = _hclparse.parse(text, cached=name.rpartition("/")[2] != BACKEND_FILE)
    except Exception as err:
        is_syntax, line, column = _hclparse.syntax_error(err)
        if is_syntax and line is not None:
            where = f" (column {column})" if column is not None else ""
            problem = Problem(f"rendered file is not valid HCL{where}", path=name, line=line)
            raise VerifyError(problem) from err
        if is_syntax or isinstance(err, ValueError):
            msg = f"rendered file is not valid HCL: {err}"
            raise VerifyError.at(msg, path=name) from err
        if isinstance(err, RecursionError):  # python-hcl2's transformer recurses per level
            msg = "rendered file is nested too deeply for python-hcl2 to read back"
            raise VerifyError.at(msg, path=name) from err
        raise
    if parsed.repeated:
        raise VerifyError(
            *(Problem(r.message, path=name, line=r.line, key=r.key) for r in parsed.repeated)
        )
    return parsed


# --------------------------------------------------------------------------- .tf.json


# Labels each top-level block type takes in Terraform's JSON syntax.
def parse_rendered(
    files: Mapping[str, str], out_prefix: str
) -> tuple[dict[str, dict[str, Any]], list[Problem]]:
    """Parse every rendered file back, and find template syntax left in any of them.

    Returns:
        The parsed form of every file that parses, and one problem per leftover line or
        file that does not.
    """
    parsed, problems, _references = _parse_all(files, out_prefix)
    return parsed, problems


_References = dict[str, tuple[tuple[Traversal, ...], tuple[Declared, ...]]]


def _parse_all(
    files: Mapping[str, str], out_prefix: str
) -> tuple[dict[str, dict[str, Any]], list[Problem], _References]:
    """:func:`parse_rendered`, with each ``.tf`` file's references and declarations."""
    problems: list[Problem] = []
    parsed: dict[str, dict[str, Any]] = {}
    references: _References = {}
    for name, text in sorted(files.items()):
        display = f"{out_prefix}/{name}"
        lines = leftover_lines(text) if LEFTOVER.search(text) else []
        for lineno in lines:
            msg = "leftover template syntax ('{{', '{%' or '{#') outside a string"
            problems.append(Problem(msg, path=display, line=lineno))
        try:
            full = _parse_hcl(display, text)
        except VerifyError as err:
            problems.extend(err.problems)
            continue
        parsed[name] = full.result
        if name.endswith(".tf"):
            references[name] = (full.references, full.declared)
    return parsed, problems, references


def verify_rendered(
    files: Mapping[str, str], config: EnvironmentConfig, *, out_prefix: str
) -> dict[str, dict[str, Any]]:
    """Check a rendered set before anything is written.

    Args:
        files: output file name -> text, as rendered.
        config: the environment they were rendered from.
        out_prefix: how the output folder is named in messages (``out/prod``).

    Returns:
        The parsed form of every file.

    Raises:
        VerifyError: one problem per broken rule, naming the file and the rule.
    """
    parsed, problems, references = _parse_all(files, out_prefix)
    if BACKEND_FILE not in files:
        problems.append(Problem(f"no {BACKEND_FILE} was rendered", path=out_prefix))
    elif BACKEND_FILE in parsed:
        problems.extend(_check_backend_hcl(parsed[BACKEND_FILE], f"{out_prefix}/{BACKEND_FILE}"))
    tf = {n: d for n, d in parsed.items() if n.endswith((".tf", JSON_SUFFIX))}
    if len(tf) == sum(1 for n in files if n.endswith((".tf", JSON_SUFFIX))):
        problems.extend(check_terraform_block(tf, out_prefix))
        if not any(n.endswith(JSON_SUFFIX) for n in tf):  # JSON declares without a tree
            problems.extend(check_references(references, out_prefix))
    if config.endpoint is None:
        # backend.endpoint alone (an S3-compatible state store) allows overrides in
        # backend.hcl only; the provider must still talk to real AWS.
        checked = (
            parsed
            if config.backend.endpoint is None
            else {n: d for n, d in parsed.items() if n != BACKEND_FILE}
        )
        problems.extend(check_no_endpoints(checked, out_prefix))
    if problems:
        raise VerifyError(*(at_template(p, files, out_prefix) for p in problems))
    return parsed


def at_template(problem: Problem, files: Mapping[str, str], prefix: str) -> Problem:
    """A problem in rendered text, moved to the template line that rendered it.

    The message keeps the output line it was found at, named as not written, and shows it.
    """
    origin = getattr(files, "origin", None)
    if origin is None or problem.line is None or not (problem.path or "").startswith(prefix + "/"):
        return problem
    name = (problem.path or "").removeprefix(prefix + "/")
    lines = files[name].splitlines() if name in files else []
    found = origin(name, problem.line) if problem.line <= len(lines) else None
    if found is None:  # not a rendered line (the end of the file): the output's line it is
        return problem
    shown = lines[problem.line - 1].strip()
    via = getattr(found, "via", ())  # the lines that included or called the template's
    where = f" ({', '.join(via)})" if via else ""
    text = _FIRST_LINE.sub(
        lambda m: _first_at(m, origin, name, problem.path or "", len(lines)), problem.message
    )
    message = f"{text}{where} [{problem.path}:{problem.line}, not written: {shown}]"
    return Problem(message, path=found[0], line=found[1], key=problem.key)


# "(first on line N)" of a repeated attribute or key: N is a line of the rendered text.
_FIRST_LINE = re.compile(r"\(first on line (\d+)\)")


def _first_at(
    match: re.Match[str], origin: Callable[[str, int], Any], name: str, path: str, count: int
) -> str:
    """``(first at templates/x.tf.j2:2, out/dev/x.tf:5)``, or the match as it was."""
    line = int(match[1])
    found = origin(name, line) if line <= count else None
    if found is None:
        return match[0]
    return f"(first at {found[0]}:{found[1]}, {path}:{line})"


def _check_backend_hcl(doc: Mapping[str, Any], display: str) -> list[Problem]:
    problems: list[Problem] = []

    def rule(message: str, key: str) -> None:
        problems.append(Problem(message, path=display, key=key))

    values: dict[str, str] = {}
    for key in ("bucket", "key", "region"):
        if key not in doc:
            rule("missing: the S3 backend needs bucket, key and region", key)
            continue
        try:
            values[key] = decode_hcl_string(doc[key])
        except NotALiteralError as err:
            rule(str(err), key)
            continue
        if not values[key].strip():
            rule("empty or only whitespace: terraform init would fail", key)
    if values.get("bucket", "").strip():
        problem = bucket_name_problem(values["bucket"])
        if problem:
            rule(problem, "bucket")
    if values.get("key", "").strip():
        problem = state_key_problem(values["key"])
        if problem:
            rule(problem, "key")
    if doc.get("encrypt") is not True:
        rule("state must be encrypted: encrypt = true", "encrypt")
    lockfile = doc.get("use_lockfile") is True
    table = doc.get("dynamodb_table")
    try:
        has_table = table is not None and bool(decode_hcl_string(table).strip())
    except NotALiteralError as err:
        rule(str(err), "dynamodb_table")
        has_table = False
    if not (lockfile or has_table):
        rule(
            "state locking is not configured (use_lockfile = true or dynamodb_table)",
            "use_lockfile",
        )
    return problems


def blocks_of(doc: Mapping[str, Any], kind: str) -> list[dict[str, Any]]:
    """The ``kind`` blocks (``terraform``, ``provider``...) of one parsed file."""
    found = doc.get(kind, [])
    return [b for b in found if isinstance(b, dict)] if isinstance(found, list) else []


def check_terraform_block(
    tf: Mapping[str, Mapping[str, Any]], prefix: str, *, local_state: bool = False
) -> list[Problem]:
    """The terraform blocks: a required_version, hashicorp/aws pinned, and the backend.

    A module may split its settings over several terraform blocks (``versions.tf`` and
    ``backend.tf`` is common, and Terraform merges them); what Terraform allows only once,
    ``required_providers`` and the backend, must appear exactly once across them.

    Args:
        tf: parsed ``.tf``/``.tf.json`` files by name.
        prefix: how the output folder is named in messages.
        local_state: the module keeps local state (bootstrap): no backend at all; otherwise
            exactly one empty ``backend "s3"`` block (its settings are in backend.hcl).
    """
    blocks = [
        (name, block) for name, doc in sorted(tf.items()) for block in blocks_of(doc, "terraform")
    ]
    if not blocks:
        return [Problem("expected a terraform block, found none", path=prefix)]

    def where(found: list[tuple[str, Any]]) -> str:
        return ", ".join(sorted({n for n, _ in found}))

    def at(found: list[tuple[str, Any]]) -> str:
        names = {n for n, _ in found} or {n for n, _ in blocks}
        return f"{prefix}/{names.pop()}" if len(names) == 1 else prefix

    problems: list[Problem] = []
    if not any("required_version" in block for _, block in blocks):
        problems.append(Problem("the terraform block has no required_version", path=at([])))
    providers = [(n, p) for n, block in blocks for p in blocks_of(block, "required_providers")]
    if len(providers) > 1:
        problems.append(
            Problem(
                f"expected one required_providers block, found {len(providers)} "
                f"({where(providers)}): Terraform refuses a second",
                path=at(providers),
            )
        )
    elif not providers or "aws" not in providers[0][1]:
        problems.append(
            Problem("required_providers does not pin hashicorp/aws", path=at(providers))
        )
    backends = [(n, b) for n, block in blocks for b in blocks_of(block, "backend")]
    clouds = [(n, c) for n, block in blocks for c in blocks_of(block, "cloud")]
    if local_state:
        if backends or clouds:
            msg = "the bootstrap module keeps local state: it may not declare a backend"
            problems.append(Problem(msg, path=at(backends + clouds)))
        return problems
    labels = [label for _, b in backends for label in b if label != "__is_block__"]
    if labels != ['"s3"'] or clouds:
        found = (
            f"{labels or 'none'}" if len(backends) < 2 else f"{len(backends)} ({where(backends)})"
        )
        found += " and a cloud block" if clouds else ""
        problems.append(
            Problem(f'expected exactly one backend "s3" block, found {found}', path=at(backends))
        )
    else:
        name, backend = backends[0]
        body = {k: v for k, v in backend['"s3"'].items() if not k.startswith("__")}
        if body:
            problems.append(
                Problem(
                    'the backend "s3" block must be empty (settings belong in backend.hcl), '
                    f"found {', '.join(sorted(body))}",
                    path=f"{prefix}/{name}",
                )
            )
    return problems


def check_no_endpoints(parsed: Mapping[str, Any], prefix: str) -> list[Problem]:
    """Only an environment that declares an endpoint may point anywhere but real AWS.

    Only ``provider`` blocks, the ``terraform`` block (its ``backend``) and ``backend.hcl``
    are checked: there every argument configures how AWS is reached, so the settings in
    ENDPOINT_ONLY and any endpoint override (``endpoint``,
    ``endpoints``, ``*_endpoint``), path-style addressing, ``skip_*`` check or ``insecure``
    is refused too: the provider and backend spell these several ways (``s3_use_path_style``,
    the deprecated ``force_path_style``, ``sts_endpoint``...). Resource arguments that merely
    share a name (an SNS subscription's ``endpoint``, ``skip_final_snapshot``) are not
    settings of this kind, nor are a local or variable named ``endpoints`` or the
    ``endpoints`` argument of ``self_managed_event_source``.
    """
    problems: list[Problem] = []
    # NOTE: python-hcl2 gives block labels with their quotes ('"aws"'), so labels never
    # match these patterns; only argument and nested block names do.
    connection_setting = re.compile(
        r"endpoints?|[a-z0-9_]+_endpoint|(?:s3_)?(?:use|force)_path_style|skip_[a-z0-9_]+|insecure"
    )
    connection_blocks = {"provider", "terraform"}

    def walk(node: Any, name: str, path: tuple[str, ...], strict: bool) -> None:
        if isinstance(node, dict):
            # Keys of a block body (or of backend.hcl itself) are argument names; keys of an
            # object value are data (default_tags' tag names) and only meet ENDPOINT_ONLY.
            arguments = strict and (not path or node.get("__is_block__") is True)
            for key, value in node.items():
                if not isinstance(key, str) or key.startswith("__"):
                    continue
                here = (*path, key.strip('"'))
                if key in ENDPOINT_ONLY or (arguments and connection_setting.fullmatch(key)):
                    problems.append(
                        Problem(
                            f"{key} is set, but the environment declares no endpoint: only an "
                            "emulated environment may override endpoints or skip checks",
                            path=f"{prefix}/{name}",
                            key=".".join(here),
                        )
                    )
                walk(value, name, here, strict)
        elif isinstance(node, list):
            for item in node:
                walk(item, name, path, strict)

    for name, doc in sorted(parsed.items()):
        if name == BACKEND_FILE:
            walk(doc, name, (), True)
            continue
        # Only provider blocks and the terraform block (its backend) configure how AWS is
        # reached: a local, variable or resource argument of the same name is data.
        for kind in sorted(connection_blocks):
            if kind in doc:
                walk({kind: doc[kind]}, name, (), True)
        # terraform_remote_state's config is a backend's: its ENDPOINT_ONLY keys count.
        remote = [
            {'"terraform_remote_state"': b['"terraform_remote_state"']}
            for b in blocks_of(doc, "data")
            if '"terraform_remote_state"' in b
        ]
        if remote:
            walk({"data": remote}, name, (), False)
    return problems
