"""The intent schema: what a plain-language request asks for, validated and versioned.

Both parsers (the offline rule-based one in ``agents.offline_parser`` and the LLM one) produce an
``Intent``; the router, the clarification step and the domain agents consume it. The schema is plain
pydantic v2 with no Django imports, so it can be used from tasks, the MCP server and tests alike.

Compatibility: ``SCHEMA_VERSION`` changes whenever a field is removed or its meaning changes; adding an
optional field does not change it. ``Intent.model_validate`` refuses a payload of another version.
"""

from __future__ import annotations

import re
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from agents import timerange

SCHEMA_VERSION = "1"

REGION_RE = re.compile(r"^[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}$")
INSTANCE_TYPE_RE = re.compile(r"^[a-z][a-z0-9-]*\d[a-z0-9-]*\.[a-z0-9]+$")
INSTANCE_CLASS_RE = re.compile(r"^db\.[a-z][a-z0-9-]*\d[a-z0-9-]*\.[a-z0-9]+$")
WINDOW_RE = re.compile(r"^\d{1,6}[mhd]$")
SNAKE_RE = re.compile(r"^[a-z][a-z0-9_:.-]{0,63}$")
MAX_COMMAND = 256
# A shell command is carried as written; control characters (newlines included) never are.
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")

_WINDOW_SECONDS = {"m": 60, "h": 3600, "d": 86400}


class Action(StrEnum):
    CREATE = "create"
    MODIFY = "modify"
    DESTROY = "destroy"
    QUERY = "query"
    OPERATE = "operate"


class Domain(StrEnum):
    INFRA = "infra"
    CONFIG = "config"
    OPS = "ops"
    COST = "cost"
    SECURITY = "security"
    MONITORING = "monitoring"
    ML = "ml"
    COMPLIANCE = "compliance"


class Environment(StrEnum):
    DEV = "dev"
    STAGING = "staging"
    PROD = "prod"


class Currency(StrEnum):
    INR = "INR"
    USD = "USD"
    EUR = "EUR"
    GBP = "GBP"


class Period(StrEnum):
    HOUR = "hour"
    DAY = "day"
    MONTH = "month"


class ResourceType(StrEnum):
    EC2_INSTANCE = "ec2_instance"
    ALB = "alb"
    NLB = "nlb"
    ASG = "asg"
    RDS_INSTANCE = "rds_instance"
    S3_BUCKET = "s3_bucket"
    EKS_CLUSTER = "eks_cluster"
    LAMBDA_FUNCTION = "lambda_function"
    VPC = "vpc"
    SUBNET = "subnet"
    SECURITY_GROUP = "security_group"
    NAT_GATEWAY = "nat_gateway"
    EBS_VOLUME = "ebs_volume"
    EFS_FILE_SYSTEM = "efs_file_system"
    DYNAMODB_TABLE = "dynamodb_table"
    ELASTICACHE_CLUSTER = "elasticache_cluster"
    SQS_QUEUE = "sqs_queue"
    SNS_TOPIC = "sns_topic"
    CLOUDFRONT_DISTRIBUTION = "cloudfront_distribution"
    ECS_SERVICE = "ecs_service"
    ECR_REPOSITORY = "ecr_repository"
    IAM_ROLE = "iam_role"
    ROUTE53_ZONE = "route53_zone"
    CLOUDWATCH_ALARM = "cloudwatch_alarm"
    LOG_GROUP = "log_group"
    API_GATEWAY = "api_gateway"
    SAGEMAKER_ENDPOINT = "sagemaker_endpoint"
    SECRET = "secret"  # noqa: S105 (a Secrets Manager secret, named as written: "db/password")


class Operation(StrEnum):
    """Operations on live resources (action ``operate``, domain ``ops``); the ops agent maps each to
    its catalogue entries. Other domains keep their own verbs in ``Intent.operation`` (``install``,
    ``patch``, ``cost_report``...)."""

    START = "start"
    STOP = "stop"
    RESTART = "restart"
    SCALE = "scale"
    SNAPSHOT = "snapshot"
    ROTATE = "rotate"
    RUN_COMMAND = "run_command"
    TAG = "tag"
    UNTAG = "untag"


class Flag(StrEnum):
    """Why parts of a request were not read as intent: code (HCL, shell with metacharacters, JSON
    policy documents) or instructions addressed to the system rather than a request."""

    EMBEDDED_CODE = "embedded_code"
    INSTRUCTION = "instruction"


class LogLevel(StrEnum):
    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    CRITICAL = "critical"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, use_enum_values=False)


class Budget(_Model):
    """A spending ceiling stated in the request. Conversion between currencies and periods belongs to
    the cost side (``iac.pricing``), which owns exchange rates; this model only carries what was said."""

    amount: Decimal = Field(gt=0, max_digits=18, decimal_places=4)
    currency: Currency
    period: Period


class Resource(_Model):
    """One kind of resource the request is about: to create, to change, to act on or to ask about.

    ``count`` is how many to create (create) or the desired count (modify/scale); ``None`` means "all
    that match" for queries and operations. ``names`` are identifiers as written (bucket, function,
    cluster, database names)."""

    type: ResourceType
    count: int | None = Field(default=None, ge=0, le=1000)
    names: list[str] = Field(default_factory=list)
    instance_type: str | None = None
    instance_class: str | None = None
    engine: str | None = None
    engine_version: str | None = Field(default=None, max_length=32)
    storage_gb: int | None = Field(default=None, ge=1, le=10_000_000)
    multi_az: bool | None = None
    node_count: int | None = Field(default=None, ge=0, le=10_000)
    node_instance_type: str | None = None
    min_count: int | None = Field(default=None, ge=0, le=10_000)
    max_count: int | None = Field(default=None, ge=0, le=10_000)
    memory_mb: int | None = Field(default=None, ge=1, le=1_048_576)
    runtime: str | None = Field(default=None, max_length=32)
    attributes: dict[str, str] = Field(default_factory=dict)

    @field_validator("names")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        for name in value:
            if not name or len(name) > 255:
                raise ValueError("resource names must be 1..255 characters")
        return value

    @field_validator("instance_type", "node_instance_type")
    @classmethod
    def _instance_type(cls, value: str | None) -> str | None:
        if value is not None and not INSTANCE_TYPE_RE.match(value):
            raise ValueError(f"not an EC2 instance type: {value!r}")
        return value

    @field_validator("instance_class")
    @classmethod
    def _instance_class(cls, value: str | None) -> str | None:
        if value is not None and not INSTANCE_CLASS_RE.match(value):
            raise ValueError(f"not an RDS instance class: {value!r}")
        return value

    @model_validator(mode="after")
    def _bounds(self) -> Resource:
        if self.min_count is not None and self.max_count is not None and self.min_count > self.max_count:
            raise ValueError("min_count is greater than max_count")
        return self


class Ambiguity(_Model):
    """Something the parser could not decide; the clarification step asks ``question`` and offers
    ``options`` (free text is allowed too)."""

    field: str = Field(min_length=1, max_length=64)
    question: str = Field(min_length=1, max_length=300)
    options: list[str] = Field(default_factory=list)


class TimeRange(_Model):
    """A time range as written (``text``) and normalized (``expression``, see ``agents.timerange``);
    ``agents.timerange.resolve`` turns the expression into start and end in the config's timezone."""

    expression: str = Field(min_length=1, max_length=32)
    text: str = Field(default="", max_length=100)

    @field_validator("expression")
    @classmethod
    def _expression(cls, value: str) -> str:
        if not timerange.is_expression(value):
            raise ValueError(f"not a time range expression: {value!r}")
        return value


class Params(_Model):
    """Details of queries and operations. Every field is optional; the domain agent that handles the
    intent reads the ones it understands."""

    services: list[str] = Field(default_factory=list)  # AWS services in scope, e.g. ["ec2"] for cost
    checks: list[str] = Field(default_factory=list)  # e.g. ["public_access"], ["tagging"]
    frameworks: list[str] = Field(default_factory=list)  # e.g. ["cis", "pci_dss"]
    window: str | None = None  # look-back window: "30m", "24h", "7d"
    period: Period | None = None  # granularity of a cost question ("daily spend")
    log_level: LogLevel | None = None
    packages: list[str] = Field(default_factory=list)  # e.g. ["nginx"]
    features: list[str] = Field(default_factory=list)  # e.g. ["ssl"]
    task: str | None = None  # ML task, e.g. "sentiment"
    group_by: str | None = None
    time_range: TimeRange | None = None  # what "last 6 hours", "this week", "since Monday" name
    command: str | None = Field(default=None, max_length=MAX_COMMAND)  # run_command's shell text
    tag_keys: list[str] = Field(default_factory=list)  # tag keys to remove (untag)

    @field_validator("command")
    @classmethod
    def _command(cls, value: str | None) -> str | None:
        if value is not None and (not value.strip() or _CONTROL_RE.search(value)):
            raise ValueError("a command is one line of text without control characters")
        return value

    @field_validator("tag_keys")
    @classmethod
    def _tag_keys(cls, value: list[str]) -> list[str]:
        for key in value:
            if not key or len(key) > 128:
                raise ValueError("tag keys are 1..128 characters")
        return value

    @field_validator("window")
    @classmethod
    def _window(cls, value: str | None) -> str | None:
        if value is not None and not WINDOW_RE.match(value):
            raise ValueError("window must look like 30m, 24h or 7d")
        return value

    @field_validator("services", "checks", "frameworks", "packages", "features")
    @classmethod
    def _words(cls, value: list[str]) -> list[str]:
        for item in value:
            if not SNAKE_RE.match(item):
                raise ValueError(f"not a short lowercase word: {item!r}")
        return value

    @property
    def window_seconds(self) -> int | None:
        if self.window is None:
            return None
        return int(self.window[:-1]) * _WINDOW_SECONDS[self.window[-1]]


class Intent(_Model):
    """A parsed request. ``resources`` are what to create, or the targets of a change, an operation
    or a question; ``filters`` select existing resources by tag; ``tags`` are applied to what is
    created or changed (or added by a ``tag`` operation).

    For operations (action ``operate``, domain ``ops``), ``operation`` is an ``Operation`` and each
    target is a resource as the user named it: instance ids, ASG and database names and secret names
    in ``names``, an ECS service's cluster in ``attributes["cluster"]``, a role word ("the web
    servers") in ``attributes["role"]`` (a hint to resolve, never a tag filter), the desired count of
    a scale in ``count``. ``flags`` say the request carried code or instructions to the system; such
    an intent also has a ``request`` ambiguity and nothing taken from that text (``agents.screening``)."""

    schema_version: Literal["1"] = SCHEMA_VERSION
    action: Action
    domain: Domain
    resources: list[Resource] = Field(default_factory=list)
    region: str | None = None
    environment: Environment | None = None
    budget: Budget | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    filters: dict[str, str] = Field(default_factory=dict)
    operation: str | None = Field(default=None, max_length=64)
    params: Params = Field(default_factory=Params)
    constraints: list[str] = Field(default_factory=list)
    assumptions: list[str] = Field(default_factory=list)
    ambiguities: list[Ambiguity] = Field(default_factory=list)
    flags: list[Flag] = Field(default_factory=list)
    confidence: float = Field(ge=0.0, le=1.0)
    raw_text: str = Field(default="", max_length=10_000)
    parser: str = Field(default="offline", max_length=32)

    @field_validator("region")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        if value is not None and not REGION_RE.match(value):
            raise ValueError(f"not an AWS region code: {value!r}")
        return value

    @field_validator("tags", "filters")
    @classmethod
    def _tags(cls, value: dict[str, str]) -> dict[str, str]:
        for key, val in value.items():
            if not key or len(key) > 128 or len(val) > 256:
                raise ValueError("tag keys are 1..128 characters and values at most 256")
        return value

    @field_validator("constraints")
    @classmethod
    def _constraints(cls, value: list[str]) -> list[str]:
        for item in value:
            if not SNAKE_RE.match(item):
                raise ValueError(f"constraints are short snake_case words, not {item!r}")
        return value

    @property
    def is_flagged(self) -> bool:
        """The request carried code or instructions to the system: agents ask or refuse."""
        return bool(self.flags)

    @property
    def is_ambiguous(self) -> bool:
        return bool(self.ambiguities)

    @property
    def targets(self) -> list[Resource]:
        """The existing resources a modify/destroy/operate/query acts on (empty for create, where
        ``resources`` are new). Combine with ``filters`` and ``environment`` to select them."""
        return [] if self.action == Action.CREATE else list(self.resources)

    @property
    def resource_types(self) -> list[str]:
        return [resource.type.value for resource in self.resources]

    def resources_of(self, kind: ResourceType | str) -> list[Resource]:
        return [resource for resource in self.resources if resource.type == kind]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (Decimal becomes a string, enums their values); round-trips through
        ``Intent.model_validate``."""
        return self.model_dump(mode="json")
