"""The engine's named formats: AWS regions, S3 bucket names, CIDR blocks, ARNs, DNS names, ...

Each format is a pure function that returns why a string does not qualify, or None when it
does. The same functions serve the schema (``"format": "aws-region"`` in any stack's
``schema.json``), the engine core and the verifier, so a rule is written once.
"""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
from collections.abc import Callable

from generator.layout import ENV_NAME_RE

_REGION_RE = re.compile(
    r"^(us|eu|ap|sa|ca|me|af|il|mx|cn)(-gov|-iso|-isob)?-"
    r"(north|south|east|west|central|northeast|southeast|northwest|southwest)-[1-9]$"
)
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IPV4_RE = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")
_BUCKET_BAD_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_BUCKET_BAD_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
_PROJECT_RE = re.compile(r"^[a-z][a-z0-9-]{0,19}$")
_URL_RE = re.compile(r"^https?://[A-Za-z0-9.\-\[\]:]+(:\d{1,5})?(/.*)?$")
_PARTITION = r"aws(?:-cn|-us-gov|-iso|-iso-b)?"
_ARN_RE = re.compile(
    rf"^arn:(?P<partition>{_PARTITION}):(?P<service>[a-z0-9-]+):"
    r"(?P<region>[a-z]{2}(?:-gov|-iso|-isob)?-[a-z]+-\d)?:(?P<account>\d{12}|aws)?:"
    r"(?P<resource>[^\s]{1,2048})$"
)
# What each service's ARNs look like after ``arn:<partition>:<service>:<region>:<account>:``;
# a service not listed here is checked by the general shape only.
_ARN_RESOURCES: dict[str, re.Pattern[str]] = {
    "acm": re.compile(r"^certificate/[0-9a-f-]{36}$"),
    # valueFrom of a container secret: the name, optionally :json-key:version-stage:version-id.
    "secretsmanager": re.compile(
        r"^secret:[A-Za-z0-9/_+=.@-]{1,512}(?::[A-Za-z0-9_.-]*:[A-Za-z0-9_-]*:[A-Za-z0-9-]*)?$"
    ),
    "ssm": re.compile(r"^parameter/[A-Za-z0-9/_.-]{1,2048}$"),
    "kms": re.compile(r"^(?:key/[0-9a-f-]{36}|alias/[A-Za-z0-9/_-]{1,256})$"),
    "sns": re.compile(r"^[A-Za-z0-9_-]{1,256}(?:\.fifo)?$"),
    "sqs": re.compile(r"^[A-Za-z0-9_-]{1,80}(?:\.fifo)?$"),
    "iam": re.compile(r"^(?:role|policy|user|group)/[\w+=,.@/-]{1,512}$"),
    "logs": re.compile(r"^log-group:[\w#/.-]{1,512}(?::\*)?$"),
}
# Services whose ARNs carry no region (IAM) or no account (none here) by design.
_GLOBAL_SERVICES = frozenset({"iam"})
_DNS_RE = re.compile(
    r"^(?:\*\.)?(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$"
)
_EMAIL_RE = re.compile(r"^[A-Za-z0-9._%+-]{1,64}@(?:[A-Za-z0-9-]{1,63}\.)+[A-Za-z]{2,63}$")
_ENV_VAR_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_IMAGE_RE = re.compile(
    r"^(?:[a-z0-9.-]+(?::\d{1,5})?/)?[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*"
    r"(?::[\w][\w.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$"
)
_PATH_RE = re.compile(r"^/[A-Za-z0-9._~!$&'()*+,;=:@%/-]{0,1023}$")
_PATH_PATTERN_RE = re.compile(r"^/[A-Za-z0-9._~!$&'()+,;=:@%/*?-]{0,254}$")
_ZONE_RE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d[a-z]$")


def bucket_name_problem(value: str) -> str | None:
    """Say why ``value`` is not a valid S3 bucket name, or return None when it is.

    Shared by the schema (input errors) and the verifier (rendered backend.hcl).
    """
    if not value.strip():
        return "the bucket name is empty or only whitespace"
    if len(value) < 3 or len(value) > 63:
        return f"an S3 bucket name has 3 to 63 characters, not {len(value)}"
    if not _BUCKET_RE.fullmatch(value):
        return (
            "an S3 bucket name uses lowercase letters, digits, '.' and '-', "
            "and starts and ends with a letter or digit"
        )
    if ".." in value or ".-" in value or "-." in value:
        return "an S3 bucket name may not contain '..', '.-' or '-.'"
    if _IPV4_RE.fullmatch(value):
        return "an S3 bucket name may not look like an IP address"
    if value.startswith(_BUCKET_BAD_PREFIXES) or value.endswith(_BUCKET_BAD_SUFFIXES):
        return "an S3 bucket name may not use a prefix or suffix that AWS reserves"
    return None


def state_key_problem(value: str) -> str | None:
    """Say why ``value`` is not a safe state object key, or return None when it is."""
    if not value.strip():
        return "the state key is empty or only whitespace"
    if value != value.strip():
        return "the state key has leading or trailing whitespace"
    if value.startswith("/"):
        return "the state key may not start with '/'"
    if len(value) > 1024:
        return "the state key is longer than 1024 characters"
    segments = value.split("/")
    if any(s == "" for s in segments):
        return "the state key may not contain '//' or end with '/'"
    if any(s in {".", ".."} for s in segments):
        return "the state key may not contain a '.' or '..' segment"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        return "the state key may not contain control characters"
    return None


def region_problem(value: str) -> str | None:
    """Why ``value`` is not an AWS region name."""
    if _REGION_RE.fullmatch(value):
        return None
    return f"{value!r} is not an AWS region name (for example eu-west-1)"


def _ipv4_network(value: str) -> tuple[ipaddress.IPv4Network | None, str | None]:
    try:
        return ipaddress.IPv4Network(value, strict=True), None
    except ValueError as err:
        return None, f"{value!r} is not an IPv4 CIDR block with host bits zero ({err})"


def private_cidr_problem(value: str) -> str | None:
    """Why ``value`` is not a private (RFC 1918) IPv4 CIDR block with host bits zero."""
    net, problem = _ipv4_network(value)
    if net is None:
        return problem
    if not net.is_private:
        return f"{value} is not a private (RFC 1918) range"
    return None


def vpc_cidr_problem(value: str) -> str | None:
    """Why ``value`` cannot be the address range of an AWS VPC (private, /16 to /24)."""
    net, problem = _ipv4_network(value)
    if net is None:
        return problem
    if not 16 <= net.prefixlen <= 24:
        return f"a VPC CIDR block has a prefix from /16 to /24, not /{net.prefixlen}"
    return private_cidr_problem(value)


def url_problem(value: str) -> str | None:
    """Why ``value`` is not an http(s) URL."""
    return None if _URL_RE.fullmatch(value) else f"{value!r} is not an http(s) URL"


def local_http(value: object) -> bool:
    """Whether ``value`` is a plain-http URL on this machine's loopback (an emulator's).

    ``localhost``, ``127.0.0.0/8`` and ``::1`` only; anything else (https, another host, a
    name that merely starts like one, such as ``127.0.0.1.example.com``) is not.
    """
    if not isinstance(value, str):
        return False
    try:
        parts = urllib.parse.urlsplit(value)
        host = parts.hostname
    except ValueError:
        return False
    if parts.scheme != "http" or host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def env_name_problem(value: str) -> str | None:
    """Why ``value`` is not an environment name."""
    if ENV_NAME_RE.fullmatch(value):
        return None
    return (
        "an environment name has 1 to 32 lowercase letters, digits and hyphens "
        "and starts with a letter"
    )


def project_problem(value: str) -> str | None:
    """Why ``value`` is not a project name."""
    if _PROJECT_RE.fullmatch(value):
        return None
    return (
        "a project name has 1 to 20 lowercase letters, digits and hyphens, starting with a letter"
    )


def arn_parts(value: str) -> dict[str, str] | None:
    """The fields of an ARN (partition, service, region, account, resource), or None."""
    match = _ARN_RE.fullmatch(value)
    if match is None:
        return None
    return {k: v or "" for k, v in match.groupdict().items()}


def arn_problem(value: str, service: str | None = None) -> str | None:
    """Why ``value`` is not an ARN (of ``service``, when given)."""
    parts = arn_parts(value)
    what = f"an ARN of {service}" if service else "an ARN"
    if parts is None:
        return f"{value!r} is not {what} (arn:aws:<service>:<region>:<account>:<resource>)"
    if service is None:
        return None
    if parts["service"] != service:
        return f"{value!r} is not {what}: it is an ARN of {parts['service']}"
    if service not in _GLOBAL_SERVICES and not (parts["region"] and parts["account"]):
        return f"{value!r} is not {what}: it names no region or account"
    resource = _ARN_RESOURCES.get(service)
    if resource is not None and not resource.fullmatch(parts["resource"]):
        return f"{value!r} is not {what}: {parts['resource']!r} is not a {service} resource"
    return None


def _matcher(pattern: re.Pattern[str], what: str) -> Callable[[str], str | None]:
    def problem(value: str) -> str | None:
        return None if pattern.fullmatch(value) else f"{value!r} is not {what}"

    return problem


# Every named format a stack's schema may use; ``arn:<service>`` is handled by
# :func:`format_problem` for any service.
FORMATS: dict[str, Callable[[str], str | None]] = {
    "aws-region": region_problem,
    "aws-availability-zone": _matcher(_ZONE_RE, "an availability zone name such as eu-west-1a"),
    "s3-bucket-name": bucket_name_problem,
    "s3-key": state_key_problem,
    "private-ipv4-cidr": private_cidr_problem,
    "aws-vpc-cidr": vpc_cidr_problem,
    "arn": arn_problem,
    "dns-name": _matcher(_DNS_RE, "a lowercase DNS name such as api.example.com"),
    "email": _matcher(_EMAIL_RE, "an e-mail address"),
    "env-var-name": _matcher(_ENV_VAR_RE, "an environment variable name (letters, digits, '_')"),
    "container-image": _matcher(_IMAGE_RE, "a container image reference (repo:tag)"),
    "url-path": _matcher(_PATH_RE, "a URL path starting with '/'"),
    "url-path-pattern": _matcher(_PATH_PATTERN_RE, "a URL path pattern like /static/*"),
    "http-url": url_problem,
    "tfgen-env-name": env_name_problem,
    "tfgen-project": project_problem,
}


def known_format(name: str) -> bool:
    """Whether ``name`` is a format the engine provides."""
    return name in FORMATS or (name.startswith("arn:") and len(name) > len("arn:"))


def format_problem(name: str, value: str) -> str | None:
    """Why ``value`` does not have format ``name`` (None when it does or the name is unknown)."""
    if name.startswith("arn:"):
        return arn_problem(value, name.removeprefix("arn:"))
    check = FORMATS.get(name)
    return None if check is None else check(value)
