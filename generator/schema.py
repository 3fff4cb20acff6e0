"""The typed model of one environment: frozen pydantic models with strict, real constraints.

Field constraints live in :mod:`generator.constraints`, the stack sections in
:mod:`generator.stack_schema`; this module holds the backend, the network and the whole
environment with its cross-section rules.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any

from pydantic import (
    Field,
    ValidationError,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from generator.constraints import (
    BucketName,
    EnvName,
    ProjectName,
    Region,
    RetentionDays,
    StateKey,
    StrictModel,
    TagKey,
    TagValue,
    Url,
    VpcCidr,
)
from generator.stack_schema import (
    ACCOUNT_ID_LEN,
    BUCKET_NAME_MAX,
    LB_NAME_MAX,
    Alarms,
    Autoscaling,
    Cdn,
    Database,
    Kms,
    LoadBalancer,
    Logs,
    Service,
    Waf,
    arn_region,
)

# Every subnet is an eighth of the VPC; private subnets start at the upper half.
_SUBNET_NEWBITS = 3
_PRIVATE_FIRST = 4

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
                f"{self.log_bucket_prefix}{'0' * ACCOUNT_ID_LEN}",
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
