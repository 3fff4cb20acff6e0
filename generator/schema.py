"""The typed model of one environment: frozen pydantic models with strict, real constraints."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

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
_SUBNET_NEWBITS = 3
_PRIVATE_FIRST = 4
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
    availability_zones: (
        list[Annotated[str, Field(pattern=r"^[a-z]{2}(-[a-z]+)+-\d[a-z]$")]] | None
    ) = Field(
        default=None,
        description="zone names, one per AZ; default the region's a, b, c (the first az_count)",
    )

    @model_validator(mode="after")
    def _zones(self) -> Network:
        zones = self.availability_zones
        if zones is not None and (len(zones) != self.az_count or len(set(zones)) != len(zones)):
            msg = f"availability_zones: list {self.az_count} different zones (az_count)"
            raise ValueError(msg)
        return self

    def zones(self, region: str) -> list[str]:
        """The zone names the subnets use, pinned so the set never changes by itself."""
        if self.availability_zones is not None:
            return list(self.availability_zones)
        return [f"{region}{letter}" for letter in "abc"[: self.az_count]]

    @property
    def subnet_prefix(self) -> int:
        """Every subnet is an eighth of the VPC: room for 3 public and 3 private, 2 spare."""
        return ipaddress.IPv4Network(self.vpc_cidr).prefixlen + _SUBNET_NEWBITS

    @property
    def public_subnet_cidrs(self) -> list[str]:
        """One public subnet per AZ: the first eighths of the VPC (0, 1, 2)."""
        return self._subnets(0)

    @property
    def private_subnet_cidrs(self) -> list[str]:
        """One private subnet per AZ: the upper half of the VPC (eighths 4, 5, 6)."""
        return self._subnets(_PRIVATE_FIRST)

    def _subnets(self, first: int) -> list[str]:
        eighths = list(ipaddress.IPv4Network(self.vpc_cidr).subnets(new_prefix=self.subnet_prefix))
        return [str(net) for net in eighths[first : first + self.az_count]]


# --------------------------------------------------------------------------- stack sections
# The catalog-api stack: one service on ECS Fargate behind an ALB (and optionally
# CloudFront), PostgreSQL on RDS, autoscaling, logs and alarms. Every optional feature an
# emulator cannot serve (CloudFront, WAF, KMS keys, access-log buckets, autoscaling) has a
# switch here so that an environment can turn it off.

_SERVICE_NAME_RE = re.compile(r"^[a-z][a-z0-9]{0,9}$")
_IMAGE_RE = re.compile(
    r"^(?:[a-z0-9.-]+(?::\d{1,5})?/)?[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*"
    r"(?::[\w][\w.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$"
)
_PARTITION = r"arn:aws(?:-cn|-us-gov)?"
_ACCOUNT = r"\d{12}"
_REGION_PART = r"[a-z]{2}(?:-gov|-iso|-isob)?-[a-z]+-\d"
_ACM_ARN_RE = re.compile(
    rf"^{_PARTITION}:acm:(?P<region>{_REGION_PART}):{_ACCOUNT}:certificate/[0-9a-f-]{{36}}$"
)
# valueFrom of an ECS secret: the secret ARN, optionally :json-key:version-stage:version-id.
_SECRET_ARN_RE = re.compile(
    rf"^{_PARTITION}:secretsmanager:(?P<region>{_REGION_PART}):{_ACCOUNT}:"
    r"secret:[A-Za-z0-9/_+=.@-]{1,512}(?::[A-Za-z0-9_.-]*:[A-Za-z0-9_-]*:[A-Za-z0-9-]*)?$"
)
_ECR_IMAGE_RE = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/"
    r"(?P<repo>[a-z0-9._/-]+?)(?::[\w][\w.-]*)?(?:@sha256:[a-f0-9]{64})?$"
)
_SECRET_SUFFIX_RE = re.compile(r"-[A-Za-z0-9]{6}$")
_ENV_VAR_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
# Names that hold a credential: their values belong in Secrets Manager, not in a file.
_SECRET_NAME_RE = re.compile(r"(PASSWORD|PASSWD|SECRET|TOKEN|PRIVATE_?KEY|API_?KEY)", re.I)
_PATH_RE = re.compile(r"^/[A-Za-z0-9._~!$&'()*+,;=:@%/-]{0,1023}$")
_PATH_PATTERN_RE = re.compile(r"^/[A-Za-z0-9._~!$&'()+,;=:@%/*?-]{0,254}$")
_DOMAIN_RE = re.compile(
    r"^(?:\*\.)?(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$"
)
_EMAIL_RE = re.compile(r"^[A-Za-z0-9._%+-]{1,64}@(?:[A-Za-z0-9-]{1,63}\.)+[A-Za-z]{2,63}$")
_DB_IDENT_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_DB_USER_RE = re.compile(r"^[a-z][a-z0-9_]{0,15}$")
_DB_RESERVED_USERS = frozenset({"admin", "postgres", "rdsadmin", "rdsrepladmin", "root", "user"})
_INSTANCE_CLASS_RE = re.compile(r"^db\.[a-z][a-z0-9-]*\.[a-z0-9]+$")
_PG_VERSION_RE = re.compile(r"^(?P<major>1[3-7])(?:\.(?P<minor>\d{1,2}))?$")
_COUNTRY_RE = re.compile(r"^[A-Z]{2}$")

# Fargate's valid cpu (units) -> memory (MiB) combinations.
FARGATE_MEMORY: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4096 + 1, 1024)),
    1024: tuple(range(2048, 8192 + 1, 1024)),
    2048: tuple(range(4096, 16384 + 1, 1024)),
    4096: tuple(range(8192, 30720 + 1, 1024)),
    8192: tuple(range(16384, 61440 + 1, 4096)),
    16384: tuple(range(32768, 122880 + 1, 8192)),
}
# AWS name limits that the derived names must respect.
LB_NAME_MAX = 32  # ALB and target group names
BUCKET_NAME_MAX = 63
_ACCOUNT_ID_LEN = 12


def _matcher(pattern: re.Pattern[str], what: str) -> AfterValidator:
    def check(value: str) -> str:
        if not pattern.fullmatch(value):
            msg = f"{value!r} is not {what}"
            raise ValueError(msg)
        return value

    return AfterValidator(check)


def _secret_name(value: str) -> str:
    if not _ENV_VAR_RE.fullmatch(value):
        msg = f"{value!r} is not an environment variable name (letters, digits, '_')"
        raise ValueError(msg)
    return value


def _plain_name(value: str) -> str:
    _secret_name(value)
    if _SECRET_NAME_RE.search(value):
        msg = (
            f"{value!r} names a credential: never put its value in a file; store it in "
            "AWS Secrets Manager and list its ARN under service.secrets"
        )
        raise ValueError(msg)
    return value


ServiceName = Annotated[
    str, _matcher(_SERVICE_NAME_RE, "a service name (1 to 10 lowercase letters and digits)")
]
ImageRef = Annotated[
    str, Field(max_length=255), _matcher(_IMAGE_RE, "a container image reference (repo:tag)")
]
AcmArn = Annotated[str, _matcher(_ACM_ARN_RE, "an ACM certificate ARN")]
SecretArn = Annotated[
    str, _matcher(_SECRET_ARN_RE, "a Secrets Manager secret ARN (arn:aws:secretsmanager:...)")
]
PlainVarName = Annotated[str, AfterValidator(_plain_name)]
SecretVarName = Annotated[str, AfterValidator(_secret_name)]
UrlPath = Annotated[str, _matcher(_PATH_RE, "a URL path starting with '/'")]
PathPattern = Annotated[str, _matcher(_PATH_PATTERN_RE, "a CloudFront path pattern like /static/*")]
DomainName = Annotated[str, _matcher(_DOMAIN_RE, "a lowercase DNS name such as api.example.com")]
Email = Annotated[str, _matcher(_EMAIL_RE, "an e-mail address")]
Percent = Annotated[int, Field(ge=1, le=100)]
Cooldown = Annotated[int, Field(ge=0, le=3600, description="seconds")]


def arn_region(arn: str) -> str | None:
    """The region field of an ACM or Secrets Manager ARN (None when it is neither)."""
    for pattern in (_ACM_ARN_RE, _SECRET_ARN_RE):
        match = pattern.fullmatch(arn)
        if match:
            return match.group("region")
    return None


class Service(StrictModel):
    """The container service: image, size, port, health check and its configuration.

    ``environment`` holds plain values; anything secret is a Secrets Manager ARN under
    ``secrets`` and reaches the container through ``valueFrom``, never as text.
    """

    name: ServiceName = "api"
    image: ImageRef
    cpu: int = Field(default=256, description="Fargate CPU units: 256, 512, ... 16384")
    memory: int = Field(default=512, description="MiB; must be valid for the chosen cpu")
    container_port: int = Field(default=8080, ge=1024, le=65535)
    desired_count: int = Field(default=1, ge=1, le=100)
    health_check_path: UrlPath = "/health"
    health_check_grace_period_seconds: int = Field(default=60, ge=0, le=2_147_483_647)
    certificate_arn: AcmArn | None = Field(
        default=None, description="ACM certificate for the ALB's HTTPS listener (same region)"
    )
    environment: dict[PlainVarName, Annotated[str, Field(max_length=4096)]] = Field(
        default_factory=dict, max_length=100
    )
    secrets: dict[SecretVarName, SecretArn] = Field(default_factory=dict, max_length=50)
    read_only_root_filesystem: bool = True

    @model_validator(mode="after")
    def _valid(self) -> Service:
        allowed = FARGATE_MEMORY.get(self.cpu)
        if allowed is None:
            msg = f"cpu: Fargate takes one of {', '.join(map(str, FARGATE_MEMORY))}, not {self.cpu}"
            raise ValueError(msg)
        if self.memory not in allowed:
            msg = (
                f"memory: with cpu {self.cpu} Fargate takes {allowed[0]} to {allowed[-1]} MiB "
                f"in steps of {allowed[1] - allowed[0]}, not {self.memory}"
            )
            raise ValueError(msg)
        both = sorted(set(self.environment) & set(self.secrets) | _DB_VARS & self.names)
        if both:
            msg = (
                f"{', '.join(both)}: each variable is set once; DB_* are set by the stack "
                "(DB_HOST, DB_PORT, DB_NAME, DB_USERNAME, DB_PASSWORD)"
            )
            raise ValueError(msg)
        return self

    @property
    def names(self) -> set[str]:
        """Every variable name the configuration sets."""
        return set(self.environment) | set(self.secrets)

    @property
    def secret_resource_arns(self) -> list[str]:
        """The secrets ``secrets`` reads, as IAM resources (sorted, each once).

        A ``valueFrom`` may end in ``:json-key:version-stage:version-id``, which IAM does
        not know; and an ARN without the 6-character suffix Secrets Manager appends
        (a partial ARN) only matches with ``-??????``.
        """
        found = set()
        for arn in self.secrets.values():
            base = ":".join(arn.split(":")[:7])
            if not _SECRET_SUFFIX_RE.search(base):
                base += "-??????"
            found.add(base)
        return sorted(found)

    @property
    def ecr_repository(self) -> EcrRepository | None:
        """The ECR repository the image comes from, or None for another registry."""
        match = _ECR_IMAGE_RE.match(self.image)
        if match is None:
            return None
        return EcrRepository(
            account=match.group("account"), region=match.group("region"), name=match.group("repo")
        )


class EcrRepository(NamedTuple):
    """An ECR repository, parsed from an image reference."""

    account: str
    region: str
    name: str


# The variables through which the stack hands the database to the container.
_DB_VARS = frozenset({"DB_HOST", "DB_PORT", "DB_NAME", "DB_USERNAME", "DB_PASSWORD"})


class LoadBalancer(StrictModel):
    """The public Application Load Balancer in front of the service."""

    deletion_protection: bool = False
    access_logs: bool = Field(
        default=False, description="ALB access logs to an S3 bucket this stack creates"
    )
    idle_timeout: int = Field(default=60, ge=1, le=4000)
    deregistration_delay: int = Field(default=30, ge=0, le=3600)
    ssl_policy: Literal[
        "ELBSecurityPolicy-TLS13-1-2-2021-06",
        "ELBSecurityPolicy-TLS13-1-2-Res-2021-06",
        "ELBSecurityPolicy-TLS13-1-3-2021-06",
        "ELBSecurityPolicy-TLS-1-2-Ext-2018-06",
        "ELBSecurityPolicy-FS-1-2-Res-2020-10",
    ] = "ELBSecurityPolicy-TLS13-1-2-2021-06"


class Autoscaling(StrictModel):
    """Target tracking on the service's average CPU and memory."""

    enabled: bool = True
    min_capacity: int = Field(default=1, ge=1, le=100)
    max_capacity: int = Field(default=2, ge=1, le=100)
    cpu_target: int = Field(default=60, ge=10, le=90, description="percent")
    memory_target: int = Field(default=70, ge=10, le=90, description="percent")
    scale_in_cooldown: Cooldown = 300
    scale_out_cooldown: Cooldown = 60

    @model_validator(mode="after")
    def _range(self) -> Autoscaling:
        if self.enabled and self.min_capacity >= self.max_capacity:
            msg = (
                f"min_capacity ({self.min_capacity}) must be below max_capacity "
                f"({self.max_capacity}), or the service can never scale"
            )
            raise ValueError(msg)
        return self


class Database(StrictModel):
    """RDS PostgreSQL; the master password is created and kept by RDS in Secrets Manager."""

    engine_version: str = Field(
        default="16",
        description="major ('16', minor upgrades automatic) or major.minor ('16.4')",
    )
    instance_class: Annotated[
        str, _matcher(_INSTANCE_CLASS_RE, "an RDS instance class such as db.t4g.micro")
    ] = "db.t4g.micro"
    db_name: Annotated[str, _matcher(_DB_IDENT_RE, "a PostgreSQL database name")] = "catalog"
    username: Annotated[str, _matcher(_DB_USER_RE, "a PostgreSQL user name (max 16)")] = (
        "catalog_admin"
    )
    allocated_storage: int = Field(default=20, ge=20, le=65536, description="GiB")
    max_allocated_storage: int | None = Field(
        default=None, ge=21, le=65536, description="GiB; storage autoscaling up to this size"
    )
    multi_az: bool = False
    backup_retention_days: int = Field(default=7, ge=1, le=35)
    deletion_protection: bool = False
    skip_final_snapshot: bool = True
    performance_insights_retention_days: int = Field(
        default=7, description="7 (free) or a multiple of 31 up to 731"
    )
    monitoring_interval: Literal[0, 1, 5, 10, 15, 30, 60] = Field(
        default=60, description="enhanced monitoring, seconds (0 turns it off)"
    )
    log_min_duration_ms: int = Field(
        default=1000, ge=-1, le=2_147_483_647, description="log statements slower than this"
    )
    performance_insights: bool = True
    custom_parameters: bool = Field(
        default=True,
        description="the stack's parameter group: slow-query and DDL logging, TLS-only connections",
    )

    @model_validator(mode="after")
    def _valid(self) -> Database:
        if not _PG_VERSION_RE.fullmatch(self.engine_version):
            msg = (
                f"engine_version: {self.engine_version!r} is not a supported PostgreSQL "
                "version (13 to 17, as '16' or '16.4')"
            )
            raise ValueError(msg)
        if self.username in _DB_RESERVED_USERS:
            msg = f"username: {self.username!r} is reserved by RDS or PostgreSQL"
            raise ValueError(msg)
        pi = self.performance_insights_retention_days
        if pi != 7 and not (pi % 31 == 0 and 31 <= pi <= 731):
            msg = "performance_insights_retention_days: 7, or a multiple of 31 up to 731"
            raise ValueError(msg)
        if self.max_allocated_storage is not None and (
            self.max_allocated_storage <= self.allocated_storage
        ):
            msg = "max_allocated_storage must exceed allocated_storage (or be omitted)"
            raise ValueError(msg)
        return self

    @property
    def major_version(self) -> str:
        """The PostgreSQL major version, for the parameter group family (``postgres16``)."""
        return self.engine_version.split(".", 1)[0]


class GeoRestriction(StrictModel):
    """Which countries CloudFront serves (a business decision, so there is no default)."""

    type: Literal["whitelist", "blacklist"]
    locations: list[Annotated[str, _matcher(_COUNTRY_RE, "an ISO 3166-1 alpha-2 code")]] = Field(
        min_length=1, max_length=250
    )


class Cdn(StrictModel):
    """CloudFront in front of the ALB: API paths uncached, static paths cached.

    Every path not listed in ``static_paths`` is API: the default behavior caches
    nothing and forwards all viewer headers except Host, cookies and query strings, so a
    new API route can never be cached by mistake.
    """

    enabled: bool = False
    price_class: Literal["PriceClass_100", "PriceClass_200", "PriceClass_All"] = "PriceClass_100"
    certificate_arn: AcmArn | None = Field(
        default=None, description="ACM certificate in us-east-1 covering every alias"
    )
    aliases: list[DomainName] = Field(default_factory=list, max_length=100)
    origin_domain_name: DomainName | None = Field(
        default=None,
        description=(
            "the DNS name (pointing at the ALB, covered by service.certificate_arn) that "
            "CloudFront connects to over HTTPS"
        ),
    )
    static_paths: list[PathPattern] = Field(
        default_factory=lambda: ["/static/*", "/assets/*"], min_length=1, max_length=20
    )
    static_default_ttl: int = Field(default=86400, ge=0, le=31_536_000)
    logging: bool = Field(default=False, description="access logs to the stack's log bucket")
    default_root_object: Annotated[str, Field(min_length=1, max_length=255)] | None = None
    hsts_preload: bool = Field(
        default=False,
        description="consent to the browsers' HSTS preload list (every subdomain HTTPS-only)",
    )
    geo_restriction: GeoRestriction | None = None

    @model_validator(mode="after")
    def _valid(self) -> Cdn:
        if self.aliases and not self.certificate_arn:
            msg = "aliases need certificate_arn (an ACM certificate in us-east-1)"
            raise ValueError(msg)
        if self.certificate_arn and not self.aliases:
            msg = "certificate_arn is only used with aliases: list the domain names it covers"
            raise ValueError(msg)
        if self.certificate_arn and arn_region(self.certificate_arn) != "us-east-1":
            msg = "certificate_arn: CloudFront only uses ACM certificates from us-east-1"
            raise ValueError(msg)
        if len(set(self.static_paths)) != len(self.static_paths):
            msg = "static_paths: each path pattern once"
            raise ValueError(msg)
        return self


class Waf(StrictModel):
    """AWS WAF with AWS managed rules on the ALB (and on CloudFront when it is on)."""

    enabled: bool = False
    rate_limit: int = Field(
        default=2000, ge=100, le=2_000_000_000, description="requests per 5 minutes per IP"
    )


class Kms(StrictModel):
    """A customer managed KMS key for logs, alarms, the database and its secret."""

    enabled: bool = False
    deletion_window_days: int = Field(default=30, ge=7, le=30)


class Logs(StrictModel):
    """CloudWatch Logs for the service, ECS Exec, the database and WAF."""

    retention_days: RetentionDays = 30
    access_log_expiration_days: int = Field(
        default=90, ge=1, le=3650, description="S3 access logs (ALB, CloudFront) are deleted after"
    )


class Alarms(StrictModel):
    """CloudWatch alarms and the SNS topic they notify."""

    email: Email | None = None
    period_seconds: Literal[60, 300, 900, 3600] = 300
    evaluation_periods: int = Field(default=2, ge=1, le=100)
    alb_5xx_count: int = Field(default=10, ge=1, description="ALB-generated 5XX per period")
    target_4xx_rate_percent: Percent = 10
    unhealthy_hosts: int = Field(default=1, ge=1, le=1000)
    ecs_cpu_percent: Percent = 85
    ecs_memory_percent: Percent = 85
    rds_cpu_percent: Percent = 80
    rds_free_storage_gib: int = Field(default=5, ge=1, le=65536)
    rds_connections: int = Field(default=100, ge=1, le=100_000)


class EnvironmentConfig(StrictModel):
    """One environment, fully layered, interpolated and validated.

    ``hardened: true`` (prod sets it) turns on the production rules: HTTPS only, NAT per
    AZ, multi-AZ database with deletion protection and a final snapshot, WAF, a customer
    managed KMS key, access logs, and a year of log retention. It is a flag rather than a
    rule on ``name == "prod"`` because names vary (``prod-eu``, ``production``, and an
    ephemeral ``prod-pr12`` made with ``--suffix``), while the flag travels with the file
    and its layers: a copy of prod is hardened whatever it is called.
    """

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
    hardened: bool = Field(
        default=False,
        description="production rules: HTTPS only, multi-AZ, deletion protection, WAF, KMS, ...",
    )
    service: Service
    load_balancer: LoadBalancer = Field(default_factory=LoadBalancer)
    autoscaling: Autoscaling = Field(default_factory=Autoscaling)
    database: Database = Field(default_factory=Database)
    cdn: Cdn = Field(default_factory=Cdn)
    waf: Waf = Field(default_factory=Waf)
    kms: Kms = Field(default_factory=Kms)
    logs: Logs = Field(default_factory=Logs)
    alarms: Alarms = Field(default_factory=Alarms)

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

    @model_validator(mode="after")
    def _stack_rules(self) -> EnvironmentConfig:
        """Rules that span sections; each problem is reported at its own dotted key."""
        problems = [*self._region_problems(), *self._name_problems(), *self._wiring_problems()]
        if self.hardened:
            problems.extend(self._hardened_problems())
        if problems:
            raise ValidationError.from_exception_data(
                type(self).__name__,
                [
                    InitErrorDetails(
                        type=PydanticCustomError("stack_rule", "{message}", {"message": msg}),
                        loc=loc,
                        input=None,
                    )
                    for loc, msg in problems
                ],
            )
        return self

    def _region_problems(self) -> list[tuple[tuple[str, ...], str]]:
        # A task that reads a secret from another region gets AccessDenied / not found at
        # start-up, and an ALB can only use a certificate from its own region.
        found: list[tuple[tuple[str, ...], str]] = []
        for var, arn in self.service.secrets.items():
            if arn_region(arn) != self.region:
                found.append(
                    (
                        ("service", "secrets", var),
                        f"the secret is in {arn_region(arn)}, the service runs in {self.region}",
                    )
                )
        found.extend(
            (("network", "availability_zones"), f"{zone} is not a zone of {self.region}")
            for zone in self.network.zones(self.region)
            if zone[:-1] != self.region
        )
        cert = self.service.certificate_arn
        if cert and arn_region(cert) != self.region:
            found.append(
                (
                    ("service", "certificate_arn"),
                    f"the ALB needs a certificate from its own region {self.region}, "
                    f"not {arn_region(cert)}",
                )
            )
        return found

    def _name_problems(self) -> list[tuple[tuple[str, ...], str]]:
        prefix = self.prefix
        if "--" in prefix or prefix.endswith("-"):
            return [
                (
                    ("name",),
                    f"resource names start with {prefix!r}, which may not contain '--' or end "
                    "with '-' (RDS and load balancer names forbid it)",
                )
            ]
        over = [
            (what, name, limit) for what, name, limit in self.longest_names() if len(name) > limit
        ]
        if not over:
            return []
        room = min(len(self.name) - (len(name) - limit) for _, name, limit in over)
        listed = "; ".join(
            f"the {what} {name!r} would have {len(name)} characters, AWS allows {limit}"
            for what, name, limit in over
        )
        return [
            (
                ("name",),
                f"{listed}: use an environment name (with its suffix) of at most {room} "
                "characters, or a shorter project or service name",
            )
        ]

    def longest_names(self) -> list[tuple[str, str, int]]:
        """The derived names closest to an AWS length limit: (what, name, limit).

        The log bucket name ends with the 12-digit account ID, known only at apply time.
        """
        return [
            ("load balancer name", self.alb_name, LB_NAME_MAX),
            ("target group name", self.target_group_name, LB_NAME_MAX),
            (
                "log bucket name",
                f"{self.log_bucket_prefix}{'0' * _ACCOUNT_ID_LEN}",
                BUCKET_NAME_MAX,
            ),
        ]

    def _wiring_problems(self) -> list[tuple[tuple[str, ...], str]]:
        found: list[tuple[tuple[str, ...], str]] = []
        scaling = self.autoscaling
        if scaling.enabled and not (
            scaling.min_capacity <= self.service.desired_count <= scaling.max_capacity
        ):
            found.append(
                (
                    ("service", "desired_count"),
                    f"{self.service.desired_count} is outside autoscaling's "
                    f"{scaling.min_capacity}..{scaling.max_capacity}",
                )
            )
        if self.cdn.enabled and self.service.certificate_arn and not self.cdn.origin_domain_name:
            found.append(
                (
                    ("cdn", "origin_domain_name"),
                    "the ALB redirects HTTP to HTTPS, so CloudFront must reach it over HTTPS "
                    "by a name its certificate covers: set a DNS name that points at the ALB "
                    "and is covered by service.certificate_arn",
                )
            )
        if self.cdn.logging and not self.cdn.enabled:
            found.append((("cdn", "logging"), "CloudFront logging needs cdn.enabled: true"))
        if self.endpoint and self.needs_edge_provider:
            found.append(
                (
                    ("cdn", "enabled"),
                    f"CloudFront's web ACL and log delivery need a provider in {self.edge_region}, "
                    "which is not emulated: turn off cdn (or waf and cdn.logging) in an "
                    "environment with an endpoint",
                )
            )
        return found

    def _hardened_problems(self) -> list[tuple[tuple[str, ...], str]]:
        rules: list[tuple[bool, tuple[str, ...], str]] = [
            (
                self.service.certificate_arn is not None,
                ("service", "certificate_arn"),
                "required: the ALB may not serve plain HTTP",
            ),
            (self.network.nat_per_az, ("network", "nat_per_az"), "must be true"),
            (self.database.multi_az, ("database", "multi_az"), "must be true"),
            (
                self.database.deletion_protection,
                ("database", "deletion_protection"),
                "must be true",
            ),
            (
                not self.database.skip_final_snapshot,
                ("database", "skip_final_snapshot"),
                "must be false: keep a final snapshot",
            ),
            (
                self.database.custom_parameters,
                ("database", "custom_parameters"),
                "must be true: connections must use TLS and queries be logged",
            ),
            (
                self.database.backup_retention_days >= 7,
                ("database", "backup_retention_days"),
                "at least 7 days",
            ),
            (
                self.load_balancer.deletion_protection,
                ("load_balancer", "deletion_protection"),
                "must be true",
            ),
            (self.load_balancer.access_logs, ("load_balancer", "access_logs"), "must be true"),
            (self.waf.enabled, ("waf", "enabled"), "must be true"),
            (self.kms.enabled, ("kms", "enabled"), "must be true"),
            (self.logs.retention_days >= 365, ("logs", "retention_days"), "at least 365"),
            (
                self.network.flow_log_retention_days >= 365,
                ("network", "flow_log_retention_days"),
                "at least 365",
            ),
            (
                not self.cdn.enabled or self.cdn.certificate_arn is not None,
                ("cdn", "certificate_arn"),
                "required when cdn.enabled: viewers get TLS 1.2+ on your own domain",
            ),
            (
                not self.cdn.enabled or self.cdn.logging,
                ("cdn", "logging"),
                "must be true when cdn.enabled",
            ),
        ]
        return [(loc, f"{msg} (hardened environment)") for ok, loc, msg in rules if not ok]

    @property
    def prefix(self) -> str:
        """The name every resource starts with: ``<project>-<service>-<env>``."""
        return f"{self.project}-{self.service.name}-{self.name}"

    @property
    def alb_name(self) -> str:
        """The load balancer's name (at most 32 characters)."""
        return self.prefix

    @property
    def target_group_name(self) -> str:
        """The target group's name, at most 32 characters.

        It carries the port, so that a port change creates the new group before the old
        one, still used by the listener, is destroyed (create_before_destroy).
        """
        return f"{self.prefix}-{self.service.container_port}"

    @property
    def log_bucket_prefix(self) -> str:
        """The access-log bucket's name without the account ID that completes it."""
        return f"{self.prefix}-logs-"

    @property
    def needs_log_bucket(self) -> bool:
        """Whether any access log (ALB, CloudFront) goes to the stack's S3 bucket."""
        return self.load_balancer.access_logs or (self.cdn.enabled and self.cdn.logging)

    @property
    def needs_edge_provider(self) -> bool:
        """Whether anything must be created in us-east-1 (CloudFront's WAF, log delivery)."""
        return self.cdn.enabled and (self.waf.enabled or self.cdn.logging)

    @property
    def edge_region(self) -> str:
        """Where CloudFront-scoped resources (its WAF web ACL, their logs) must live."""
        return "us-east-1"
