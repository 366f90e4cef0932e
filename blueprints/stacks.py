"""What Gantry knows about each curated stack (``iac/stacks/<name>``): the resource types it builds, the
AWS services it touches (as IAM spells them, matching the OPA ``services`` policy), its tunable
parameters and which inputs the platform supplies rather than the request.

Plain data with no Django imports, so agents, selectors and tests can share it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Stack:
    name: str
    title: str
    resource_types: frozenset[str]
    primary_services: tuple[str, ...]  # what the requester asks for; refused early when not allowed
    supporting_services: tuple[str, ...]  # created alongside (keys, logs, roles); the policy gate checks
    name_parameter: str
    parameters: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Inputs that depend on the account/config, not the request (AMI, an existing VPC, the config's KMS
    # key); the infra agent fills them, blueprints never store them.
    platform_inputs: tuple[str, ...] = ("kms_key_arn",)

    @property
    def services(self) -> tuple[str, ...]:
        return self.primary_services + self.supporting_services


_INT = "integer"
_STR = "string"
_BOOL = "boolean"
_LIST = "array"

STACKS: dict[str, Stack] = {
    "web_tier": Stack(
        name="web_tier",
        title="Web tier (VPC + ALB + Auto Scaling group of EC2 instances)",
        resource_types=frozenset(
            {"vpc", "subnet", "alb", "asg", "ec2_instance", "security_group", "nat_gateway"}
        ),
        primary_services=("ec2", "elasticloadbalancing", "autoscaling"),
        supporting_services=("kms", "logs", "iam"),
        name_parameter="name",
        parameters={
            "name": {"type": _STR, "pattern": r"^[a-z0-9][a-z0-9-]{0,22}[a-z0-9]$"},
            "instance_type": {"type": _STR, "pattern": r"^[a-z][a-z0-9-]*[0-9][a-z0-9-]*\.[a-z0-9]+$"},
            "instance_count": {"type": _INT, "minimum": 1, "maximum": 50},
            "min_size": {"type": _INT, "minimum": 0, "maximum": 50, "nullable": True},
            "max_size": {"type": _INT, "minimum": 1, "maximum": 50, "nullable": True},
            "vpc_cidr": {"type": _STR},
            "az_count": {"type": _INT, "minimum": 2, "maximum": 6},
            "enable_nat_gateway": {"type": _BOOL},
            "internet_facing": {"type": _BOOL},
            "app_port": {"type": _INT, "minimum": 1, "maximum": 65535},
            "health_check_path": {"type": _STR},
            "deletion_protection": {"type": _BOOL},
        },
        platform_inputs=("ami_id", "kms_key_arn"),
    ),
    "data_tier": Stack(
        name="data_tier",
        title="Data tier (RDS instance + KMS key)",
        resource_types=frozenset({"rds_instance", "security_group"}),
        primary_services=("rds",),
        supporting_services=("ec2", "kms", "iam"),
        name_parameter="name",
        parameters={
            "name": {"type": _STR, "pattern": r"^[a-z][a-z0-9-]{0,39}$"},
            "engine": {"type": _STR, "enum": ["postgres", "mysql"]},
            "engine_version": {"type": _STR},
            "instance_class": {"type": _STR, "pattern": r"^db\.[a-z][a-z0-9-]*\d[a-z0-9-]*\.[a-z0-9]+$"},
            "allocated_storage": {"type": _INT, "minimum": 20, "maximum": 65536},
            "max_allocated_storage": {"type": _INT, "minimum": 0, "maximum": 65536},
            "multi_az": {"type": _BOOL},
            "db_name": {"type": _STR},
            "backup_retention_period": {"type": _INT, "minimum": 0, "maximum": 35},
            "deletion_protection": {"type": _BOOL},
        },
        platform_inputs=("vpc_id", "subnet_ids", "kms_key_arn"),
    ),
    "static_bucket": Stack(
        name="static_bucket",
        title="Static bucket (private, versioned, KMS-encrypted S3 bucket)",
        resource_types=frozenset({"s3_bucket"}),
        primary_services=("s3",),
        supporting_services=("kms",),
        name_parameter="bucket_name",
        parameters={
            "bucket_name": {"type": _STR, "pattern": r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"},
            "versioning_enabled": {"type": _BOOL},
            "force_destroy": {"type": _BOOL},
            "noncurrent_version_expiration_days": {"type": _INT, "minimum": 1, "maximum": 3650},
        },
    ),
    "eks_cluster": Stack(
        name="eks_cluster",
        title="EKS cluster (VPC + KMS key + managed node group)",
        resource_types=frozenset({"eks_cluster", "vpc", "subnet", "nat_gateway", "ec2_instance"}),
        primary_services=("eks",),
        supporting_services=("ec2", "kms", "iam", "logs", "autoscaling"),
        name_parameter="name",
        parameters={
            "name": {"type": _STR, "pattern": r"^[a-z][a-z0-9-]{0,22}[a-z0-9]$"},
            "kubernetes_version": {"type": _STR},
            "vpc_cidr": {"type": _STR},
            "az_count": {"type": _INT, "minimum": 2, "maximum": 6},
            "node_instance_types": {"type": _LIST},
            "node_desired_size": {"type": _INT, "minimum": 0, "maximum": 100},
            "node_min_size": {"type": _INT, "minimum": 0, "maximum": 100},
            "node_max_size": {"type": _INT, "minimum": 1, "maximum": 100},
            "endpoint_public_access": {"type": _BOOL},
        },
    ),
}

STACK_CHOICES = [(stack.name, stack.title) for stack in STACKS.values()]

# Which stack builds a requested resource type (create requests).
STACK_OF_TYPE: dict[str, str] = {
    "ec2_instance": "web_tier",
    "alb": "web_tier",
    "asg": "web_tier",
    "rds_instance": "data_tier",
    "s3_bucket": "static_bucket",
    "eks_cluster": "eks_cluster",
}
# Resource types that ride along with a stack without choosing it on their own.
COMPANION_TYPES = frozenset({"vpc", "subnet", "security_group", "nat_gateway"})


def parameter_schema(stack: str) -> dict[str, Any]:
    """A JSON-schema object describing the stack's tunable parameters."""
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": {key: dict(spec) for key, spec in STACKS[stack].parameters.items()},
    }


def parameter_errors(stack: str, parameters: dict[str, Any]) -> list[str]:
    """Plain-words problems with ``parameters`` for ``stack`` (unknown keys, wrong types, out of range)."""
    import re

    if stack not in STACKS:
        return [f"unknown stack {stack!r}"]
    known = STACKS[stack].parameters
    platform = STACKS[stack].platform_inputs
    errors: list[str] = []
    for key, value in parameters.items():
        if key in platform:
            continue  # checked by the renderer against the stack's variables
        spec = known.get(key)
        if spec is None:
            errors.append(f"{key} is not a parameter of {stack}")
            continue
        if value is None:
            if not spec.get("nullable"):
                errors.append(f"{key} cannot be empty")
            continue
        kind = spec["type"]
        if kind == _INT:
            if isinstance(value, bool) or not isinstance(value, int):
                errors.append(f"{key} must be a whole number")
                continue
            if "minimum" in spec and value < spec["minimum"]:
                errors.append(f"{key} must be at least {spec['minimum']}")
            if "maximum" in spec and value > spec["maximum"]:
                errors.append(f"{key} must be at most {spec['maximum']}")
        elif kind == _BOOL:
            if not isinstance(value, bool):
                errors.append(f"{key} must be true or false")
        elif kind == _STR:
            if not isinstance(value, str) or not value or len(value) > 255:
                errors.append(f"{key} must be a short text value")
                continue
            if "pattern" in spec and not re.match(spec["pattern"], value):
                errors.append(f"{key} {value!r} is not in the expected format")
            if "enum" in spec and value not in spec["enum"]:
                errors.append(f"{key} must be one of {', '.join(spec['enum'])}")
        elif kind == _LIST and (
            not isinstance(value, list) or not all(isinstance(item, str) and item for item in value)
        ):
            errors.append(f"{key} must be a list of text values")
    return errors
