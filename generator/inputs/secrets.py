"""No secrets in configuration: secret-named keys hold references (ARNs), never literal values.

Checked on the layered, interpolated data before validation, so a secret that arrives
through ``${env:...}`` or ``--set`` is refused too: it would end up in the rendered
Terraform, in plans and in state. Messages name the file, line and key, never the value.

The rule, for every key at any depth: the key is split into words (at ``_``, ``-``, ``.``,
spaces and camelCase); it names a secret when one of its words, or two adjacent words
joined, is a secret word or ends with one (``DB_PASSWORD``, ``dbPassword``, ``DBPASSWORD``,
``pgpassword``, ``GITHUBTOKEN``, ``MYSECRET``, ``api-key``, ``privatekey``), unless its last
word is a metadata word (``PASSWORD_MIN_LENGTH``, ``TOKEN_TTL``, ``*_ARN``,
``secret_recovery_window_days``). A key the rule catches wrongly goes through only when the
stack lists its dotted path (a glob) in the ``allow`` set given to :func:`find_secrets`.
"""

from __future__ import annotations

import fnmatch
import itertools
import re
from collections.abc import Collection
from typing import Any

from generator.errors import ConfigError, KeyPath, Locate, Problem

# A key names a secret when one of its words (split at '_', '-', '.', spaces and camelCase)
# is one of these or ends with one (DBPASSWORD, githubtoken), or two adjacent words join
# into one (api + key -> apikey).
SECRET_WORDS = frozenset(
    {
        "password",
        "passwords",
        "passwd",
        "passphrase",
        "pwd",
        "secret",
        "secrets",
        "token",
        "tokens",
        "apikey",
        "privatekey",
        "accesskey",
        "secretkey",
        "credential",
        "credentials",
        "creds",
    }
)
# ... unless its last word says it is about the secret, not the secret itself
# (db_password_arn, token_ttl, password_length, secret_recovery_window_days).
METADATA_WORDS = frozenset(
    {
        "arn",
        "arns",
        "id",
        "ids",
        "ttl",
        "days",
        "hours",
        "minutes",
        "seconds",
        "length",
        "count",
        "enabled",
        "version",
        "rotation",
    }
)
# What a secret may be instead: a reference to Secrets Manager or to an SSM parameter.
# A container definition's valueFrom also takes a JSON key, version stage and version id.
SECRET_REFERENCE = re.compile(
    r"^arn:aws(?:-[a-z]+)*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@!-]+"
    r"(?::[^:\s]*){0,3}$"
    r"|^arn:aws(?:-[a-z]+)*:ssm:[a-z0-9-]+:\d{12}:parameter/[A-Za-z0-9/_.-]+$"
)
# Values that are secrets wherever they appear.
_SECRET_VALUES = (
    (re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----"), "a private key"),
    (re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])"), "an AWS access key id"),
    # Tokens whose format says what they are (each provider's documented prefix).
    (
        re.compile(r"(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{40,})"),
        "a GitHub token",
    ),
    (re.compile(r"(?<![A-Za-z0-9])xox[abposr]-[A-Za-z0-9-]{10,}"), "a Slack token"),
    (re.compile(r"(?<![A-Za-z0-9])[rs]k_live_[A-Za-z0-9]{20,}"), "a Stripe live key"),
    (re.compile(r"(?<![A-Za-z0-9_-])AIza[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])"), "a Google API key"),
)
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
ADVICE = (
    "store it in AWS Secrets Manager (or SSM Parameter Store) and give its ARN "
    "(arn:aws:secretsmanager:<region>:<account>:secret:<name>) instead"
)


_SECRET_SUFFIX = re.compile("(?:" + "|".join(sorted(SECRET_WORDS, key=len, reverse=True)) + ")$")


def names_secret(key: str) -> bool:
    """Whether ``key`` names a secret (``DB_PASSWORD``, ``DBPASSWORD``, ``apiKey``...).

    A word (or two adjacent words joined) that is a secret word or ends with one names
    a secret, in any case and with or without separators, unless the key's last word is
    a metadata word (see the module docstring).
    """
    words = [w.lower() for w in _WORD.findall(key)]
    if not words or words[-1] in METADATA_WORDS:
        return False
    joined = [a + b for a, b in itertools.pairwise(words)]
    return any(_SECRET_SUFFIX.search(w) for w in (*words, *joined))


def allowed(path: KeyPath, allow: Collection[str]) -> bool:
    """Whether the dotted ``path`` matches one of the ``allow`` globs (``tags.TOKEN_*``).

    Matching is case-sensitive (:func:`fnmatch.fnmatchcase`); ``*`` also matches dots.
    """
    dotted = ".".join(path)
    return any(fnmatch.fnmatchcase(dotted, pattern) for pattern in allow)


def is_secret_reference(value: Any) -> bool:
    """Whether ``value`` is a Secrets Manager secret ARN or an SSM parameter ARN."""
    return isinstance(value, str) and SECRET_REFERENCE.fullmatch(value) is not None


def find_secrets(data: Any, locate: Locate, allow: Collection[str] = frozenset()) -> list[Problem]:
    """Every literal secret in a configuration tree, one problem each (values never shown).

    Args:
        data: the layered, interpolated configuration (dicts, lists, scalars).
        locate: maps a key path to the file and line it came from.
        allow: dotted key globs the stack declares as not secret although their names
            look like one (``tags.TOKEN_BUCKET``, ``service.environment.PASSWORD_*``): the
            explicit way through for a name the rule catches wrongly. A key matching one
            (and everything under it) escapes the name rule only; a value that looks
            like a private key or an AWS access key id is refused wherever it is.

    Returns:
        One problem per secret-named key holding a literal, and per value that looks
        like a private key or an AWS access key id, wherever it is.
    """
    problems: list[Problem] = []

    def report(path: KeyPath, message: str) -> None:
        file, line = locate(path)
        problems.append(Problem(message, path=file, line=line, key=".".join(path) or None))

    def walk(node: Any, path: KeyPath, secret: bool) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                here = (*path, str(key))
                if allow and allowed(here, allow):
                    walk(value, here, False)
                else:
                    walk(value, here, secret or names_secret(str(key)))
            return
        if isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, (*path, str(index)), secret)
            return
        if isinstance(node, str):
            for pattern, what in _SECRET_VALUES:
                if pattern.search(node):
                    report(path, f"this value looks like {what}: never put one in configuration")
                    return
        if secret and _is_literal(node):
            report(path, f"a secret may not be written in configuration; {ADVICE}")

    walk(data, (), False)
    return problems


def check_no_secrets(data: Any, locate: Locate, allow: Collection[str] = frozenset()) -> None:
    """Raise a ConfigError listing every literal secret in ``data`` (see :func:`find_secrets`).

    Raises:
        ConfigError: at least one secret was found.
    """
    problems = find_secrets(data, locate, allow)
    if problems:
        raise ConfigError(*problems)


def _is_literal(value: Any) -> bool:
    """A value that could be a secret: text or a number, not a flag, not empty, not an ARN."""
    if value is None or isinstance(value, bool):
        return False
    if isinstance(value, str):
        return bool(value.strip()) and not is_secret_reference(value)
    return True
