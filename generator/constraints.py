"""Reusable field constraints (names, regions, CIDRs, buckets, keys) and the strict model base."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
)

# --------------------------------------------------------------------------- constraints

ENV_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,31}$")
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


def _check(problem: str | None) -> None:
    if problem:
        raise ValueError(problem)


def _bucket(value: str) -> str:
    _check(bucket_name_problem(value))
    return value


def _state_key(value: str) -> str:
    _check(state_key_problem(value))
    return value


def _region(value: str) -> str:
    if not _REGION_RE.fullmatch(value):
        msg = f"{value!r} is not an AWS region name (for example eu-west-1)"
        raise ValueError(msg)
    return value


def _cidr(value: str) -> str:
    try:
        net = ipaddress.IPv4Network(value, strict=True)
    except ValueError as err:
        msg = f"{value!r} is not an IPv4 CIDR block with host bits zero ({err})"
        raise ValueError(msg) from None
    if not 16 <= net.prefixlen <= 24:
        msg = f"a VPC CIDR block has a prefix from /16 to /24, not /{net.prefixlen}"
        raise ValueError(msg)
    if not net.is_private:
        msg = f"{value} is not a private (RFC 1918) range"
        raise ValueError(msg)
    return value


def _url(value: str) -> str:
    if not _URL_RE.fullmatch(value):
        msg = f"{value!r} is not an http(s) URL"
        raise ValueError(msg)
    return value.rstrip("/")


def _env_name(value: str) -> str:
    if not ENV_NAME_RE.fullmatch(value):
        msg = (
            "an environment name has 1 to 32 lowercase letters, digits and hyphens "
            "and starts with a letter"
        )
        raise ValueError(msg)
    return value


def _project(value: str) -> str:
    if not _PROJECT_RE.fullmatch(value):
        msg = (
            "a project name has 1 to 20 lowercase letters, digits and hyphens, "
            "starting with a letter"
        )
        raise ValueError(msg)
    return value


BucketName = Annotated[str, AfterValidator(_bucket)]
StateKey = Annotated[str, AfterValidator(_state_key)]
Region = Annotated[str, AfterValidator(_region)]
VpcCidr = Annotated[str, AfterValidator(_cidr)]
Url = Annotated[str, AfterValidator(_url)]
EnvName = Annotated[str, AfterValidator(_env_name)]
ProjectName = Annotated[str, AfterValidator(_project)]
TagKey = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[\w .:/=+\-@]+$")]
TagValue = Annotated[str, Field(max_length=256, pattern=r"^[\w .:/=+\-@]*$")]
# CloudWatch Logs accepts only these retention periods.
# fmt: off
RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180,
    365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
)
# fmt: on


def _retention(value: int) -> int:
    if value not in RETENTION_DAYS:
        msg = f"CloudWatch Logs keeps logs for one of {', '.join(map(str, RETENTION_DAYS))} days"
        raise ValueError(msg)
    return value


RetentionDays = Annotated[int, AfterValidator(_retention)]


class StrictModel(BaseModel):
    """Base of every section: frozen, unknown keys forbidden, no silent type coercion."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
