"""Parse every rendered file back with python-hcl2 and check the invariants tfgen promises."""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Callable, Mapping
from typing import Any

from generator.constraints import bucket_name_problem, state_key_problem
from generator.errors import Problem, VerifyError
from generator.schema import EnvironmentConfig

BACKEND_FILE = "backend.hcl"
_LEFTOVER = re.compile(r"\{\{|\{%|\{#")
_STRING_ESCAPE = re.compile(r'\\(?:u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}|[\\"nrt])|\$\$\{|%%\{|\$\{|%\{')
_SIMPLE = {
    "\\\\": "\\",
    '\\"': '"',
    "\\n": "\n",
    "\\r": "\r",
    "\\t": "\t",
    "$${": "${",
    "%%{": "%{",
}
# Settings that only an environment with an emulated endpoint may render.
ENDPOINT_ONLY = (
    "endpoints",
    "skip_credentials_validation",
    "skip_requesting_account_id",
    "skip_metadata_api_check",
    "use_path_style",
)


class NotALiteralError(ValueError):
    """An HCL expression that was expected to be a plain string literal."""


def decode_hcl_string(raw: Any) -> str:
    """Turn a quoted HCL string literal, as python-hcl2 returns it, into its value.

    Raises:
        NotALiteralError: ``raw`` is not a quoted literal, or it interpolates
            (``${...}`` or ``%{...}``).
    """
    if not isinstance(raw, str) or len(raw) < 2 or raw[0] != '"' or raw[-1] != '"':
        msg = f"expected a quoted string literal, got {raw!r}"
        raise NotALiteralError(msg)

    def repl(match: re.Match[str]) -> str:
        token = match.group(0)
        if token in ("${", "%{"):
            msg = f"expected a literal string, found a template sequence {token!r}"
            raise NotALiteralError(msg)
        if token in _SIMPLE:
            return _SIMPLE[token]
        return chr(int(token[2:], 16))

    return _STRING_ESCAPE.sub(repl, raw[1:-1])


def parse_hcl(name: str, text: str) -> dict[str, Any]:
    """Parse one rendered file; a syntax error becomes a VerifyError at its line and column."""
    from lark.exceptions import LarkError, UnexpectedInput

    try:
        result: dict[str, Any] = _hcl_loads()(text)
    except UnexpectedInput as err:
        line, column = getattr(err, "line", None), getattr(err, "column", None)
        where = f" (column {column})" if column not in (None, -1) else ""
        raise VerifyError(
            Problem(
                f"rendered file is not valid HCL{where}",
                path=name,
                line=line if line not in (None, -1) else None,
            )
        ) from err
    except (LarkError, ValueError) as err:
        msg = f"rendered file is not valid HCL: {err}"
        raise VerifyError.at(msg, path=name) from err
    return result


@functools.cache
def _hcl_loads() -> Callable[[str], dict[str, Any]]:
    """``hcl2.loads``, without the node positions that it computes and never returns.

    python-hcl2 builds its Lark parser with ``propagate_positions=True``, so every tree
    node gets the line and column range of its children: about a quarter of the parse
    time, and ``hcl2.loads`` puts none of it in its result. This runs python-hcl2's own
    cached parser (same grammar, parse table, lexer and post-lexer: the same syntax errors
    at the same token positions) with that position wrapper taken off its tree-building
    callbacks, then python-hcl2's own transform and serialize. Should lark's internals
    not be laid out as expected, it is plain ``hcl2.loads``.
    """
    import hcl2  # deferred: the parser is only needed once something was rendered
    import hcl2.api
    import hcl2.parser

    try:
        from lark.parse_tree_builder import PropagatePositions

        frontend = copy.copy(hcl2.parser.parser().parser)  # lark's ParsingFrontend
        frontend.parser = lalr = copy.copy(frontend.parser)  # LALR_Parser
        lalr.parser = table = copy.copy(lalr.parser)  # the parse-table driver
        table.callbacks = {
            rule: cb.node_builder if isinstance(cb, PropagatePositions) else cb
            for rule, cb in table.callbacks.items()
        }
    except (ImportError, AttributeError):
        loads: Callable[[str], dict[str, Any]] = hcl2.loads
        return loads

    transformer = _rule_transformer()

    def fast_loads(text: str) -> dict[str, Any]:
        # As hcl2.api.parses_to_tree, then hcl2.loads: the newline is python-hcl2's own.
        tree = frontend.parse(text + "\n")
        result: dict[str, Any] = hcl2.api.serialize(transformer().transform(tree))
        return result

    return fast_loads


def _rule_transformer() -> Callable[[], Any]:
    """The transformer of ``hcl2.api.transform``, its rule methods bound once per instance.

    lark wraps each ``@v_args`` method of python-hcl2's RuleTransformer in a descriptor that
    builds a new wrapper (``functools.update_wrapper`` included) every time the transformer
    looks a rule up, once per tree node. Binding each one on the instance, once, gives the
    transformer the very same bound wrapper without rebuilding it per node.
    """
    from hcl2.transformer import RuleTransformer

    try:
        from lark.visitors import _VArgsWrapper
    except ImportError:  # lark moved it: plain instances, as hcl2.api.transform makes them
        return lambda: RuleTransformer(discard_new_line_or_comments=False)
    names = sorted(
        {
            name
            for cls in RuleTransformer.__mro__
            for name, value in vars(cls).items()
            if isinstance(value, _VArgsWrapper)
        }
    )

    def make() -> Any:
        transformer = RuleTransformer(discard_new_line_or_comments=False)
        for name in names:
            setattr(transformer, name, getattr(transformer, name))
        return transformer

    return make


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
    problems: list[Problem] = []
    parsed: dict[str, dict[str, Any]] = {}
    for name, text in sorted(files.items()):
        display = f"{out_prefix}/{name}"
        for lineno, line in enumerate(text.splitlines(), start=1):
            if _LEFTOVER.search(line):
                problems.append(
                    Problem(
                        "leftover template syntax ('{{', '{%' or '{#')", path=display, line=lineno
                    )
                )
        try:
            parsed[name] = parse_hcl(display, text)
        except VerifyError as err:
            problems.extend(err.problems)
    if BACKEND_FILE not in files:
        problems.append(Problem(f"no {BACKEND_FILE} was rendered", path=out_prefix))
    elif BACKEND_FILE in parsed:
        problems.extend(_check_backend_hcl(parsed[BACKEND_FILE], f"{out_prefix}/{BACKEND_FILE}"))
    tf = {n: d for n, d in parsed.items() if n.endswith(".tf")}
    if len(tf) == sum(1 for n in files if n.endswith(".tf")):
        problems.extend(_check_terraform_block(tf, out_prefix))
    if config.endpoint is None:
        # backend.endpoint alone (an S3-compatible state store) allows overrides in
        # backend.hcl only; the provider must still talk to real AWS.
        checked = (
            parsed
            if config.backend.endpoint is None
            else {n: d for n, d in parsed.items() if n != BACKEND_FILE}
        )
        problems.extend(_check_no_endpoints(checked, out_prefix))
    if problems:
        raise VerifyError(*problems)
    return parsed


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


def _blocks(doc: Mapping[str, Any], kind: str) -> list[dict[str, Any]]:
    found = doc.get(kind, [])
    return [b for b in found if isinstance(b, dict)] if isinstance(found, list) else []


def _check_terraform_block(tf: Mapping[str, Mapping[str, Any]], prefix: str) -> list[Problem]:
    problems: list[Problem] = []
    terraform_blocks = [
        (name, block) for name, doc in sorted(tf.items()) for block in _blocks(doc, "terraform")
    ]
    if len(terraform_blocks) != 1:
        where = ", ".join(n for n, _ in terraform_blocks) or "none"
        problems.append(
            Problem(
                f"expected exactly one terraform block, found {len(terraform_blocks)} ({where})",
                path=prefix,
            )
        )
        return problems
    name, block = terraform_blocks[0]
    display = f"{prefix}/{name}"
    if "required_version" not in block:
        problems.append(Problem("the terraform block has no required_version", path=display))
    providers = _blocks(block, "required_providers")
    if not providers or "aws" not in providers[0]:
        problems.append(Problem("required_providers does not pin hashicorp/aws", path=display))
    backends = _blocks(block, "backend")
    labels = [label for b in backends for label in b if label != "__is_block__"]
    if labels != ['"s3"']:
        problems.append(
            Problem(
                f'expected exactly one backend "s3" block, found {labels or "none"}', path=display
            )
        )
    else:
        body = {k: v for k, v in backends[0]['"s3"'].items() if not k.startswith("__")}
        if body:
            problems.append(
                Problem(
                    'the backend "s3" block must be empty (settings belong in backend.hcl), '
                    f"found {', '.join(sorted(body))}",
                    path=display,
                )
            )
    return problems


def _check_no_endpoints(parsed: Mapping[str, Any], prefix: str) -> list[Problem]:
    """Only an environment that declares an endpoint may point anywhere but real AWS.

    Anywhere in the output, the settings in ENDPOINT_ONLY are refused. Inside ``provider``
    blocks, the ``terraform`` block (its ``backend``) and ``backend.hcl``, where every
    argument configures how AWS is reached, any endpoint override (``endpoint``,
    ``endpoints``, ``*_endpoint``), path-style addressing, ``skip_*`` check or ``insecure``
    is refused too: the provider and backend spell these several ways (``s3_use_path_style``,
    the deprecated ``force_path_style``, ``sts_endpoint``...). Resource arguments that merely
    share a name (an SNS subscription's ``endpoint``, ``skip_final_snapshot``) are not
    settings of this kind, so the broad patterns stay inside those blocks.
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
                walk(value, name, here, strict or (not path and key in connection_blocks))
        elif isinstance(node, list):
            for item in node:
                walk(item, name, path, strict)

    for name, doc in sorted(parsed.items()):
        walk(doc, name, (), name == BACKEND_FILE)
    return problems
