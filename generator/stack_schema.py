"""The catalog-api stack sections of an environment: service, load balancer, database, CDN, ..."""

from __future__ import annotations

import re
from typing import Annotated, Literal, NamedTuple

from pydantic import (
    AfterValidator,
    Field,
    model_validator,
)

from generator.constraints import RetentionDays, StrictModel

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
ACCOUNT_ID_LEN = 12


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
