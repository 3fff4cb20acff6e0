"""The typed model of one environment: frozen pydantic models with strict, real constraints."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

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
RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)


def _retention(value: int) -> int:
    if value not in RETENTION_DAYS:
        msg = f"CloudWatch Logs keeps logs for one of {', '.join(map(str, RETENTION_DAYS))} days"
        raise ValueError(msg)
    return value


RetentionDays = Annotated[int, AfterValidator(_retention)]


class StrictModel(BaseModel):
    """Base of every section: frozen, unknown keys forbidden, no silent type coercion."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


# --------------------------------------------------------------------------- sections


class Backend(StrictModel):
    """Where Terraform keeps this environment's state: an S3 bucket and key."""

    bucket: BucketName
    key: StateKey = Field(description="defaults to <project>/<env>/terraform.tfstate")
    region: Region = Field(description="defaults to the environment's region")
    encrypt: bool = True
    use_lockfile: bool = True
    dynamodb_table: (
        Annotated[str, Field(min_length=3, max_length=255, pattern=r"^[A-Za-z0-9_.-]+$")] | None
    ) = None
    endpoint: Url | None = Field(
        default=None, description="S3-compatible endpoint for the state store only"
    )
    use_path_style: bool = False

    @model_validator(mode="after")
    def _safe(self) -> Backend:
        if not self.encrypt:
            msg = "encrypt: state must be encrypted at rest; encrypt may not be false"
            raise ValueError(msg)
        if not self.use_lockfile and not self.dynamodb_table:
            msg = "state locking is off: keep use_lockfile: true or name a dynamodb_table"
            raise ValueError(msg)
        return self


class Network(StrictModel):
    """The VPC: address range, availability zones and NAT layout."""

    vpc_cidr: VpcCidr
    az_count: int = Field(default=2, ge=2, le=3)
    nat_per_az: bool = False
    flow_log_retention_days: RetentionDays = 30


class EnvironmentConfig(StrictModel):
    """One environment, fully layered, interpolated and validated."""

    name: EnvName = Field(description="set from the file name; an environment file omits it")
    project: ProjectName
    region: Region
    endpoint: Url | None = Field(
        default=None,
        description="an emulated or S3-compatible AWS endpoint (moto, LocalStack); local only",
    )
    tags: dict[TagKey, TagValue] = Field(default_factory=dict, max_length=40)
    backend: Backend
    network: Network

    @model_validator(mode="before")
    @classmethod
    def _backend_defaults(cls, data: Any) -> Any:
        """Fill ``backend.key`` and ``backend.region`` from the environment when absent."""
        if not isinstance(data, dict):
            return data
        backend = data.get("backend")
        if isinstance(backend, dict):
            backend = dict(backend)
            name, project = data.get("name"), data.get("project")
            if "key" not in backend and isinstance(name, str) and isinstance(project, str):
                backend["key"] = f"{project}/{name}/terraform.tfstate"
            if "region" not in backend and isinstance(data.get("region"), str):
                backend["region"] = data["region"]
            data = {**data, "backend": backend}
        return data

    @property
    def prefix(self) -> str:
        """The name every resource starts with: ``<project>-<env>``."""
        return f"{self.project}-{self.name}"
