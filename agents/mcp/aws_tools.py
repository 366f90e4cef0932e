"""Read-only AWS tools on the account behind a config of the token's tenant (its default config unless
one is named), each checked against `aws.read` on that config. Calls go through `agents.aws_readonly`
(AssumeRole or the sandbox, circuit breaker, caps)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from agents.aws_readonly import MAX_ITEMS, STATISTICS, ReadOnlyAws
from tenants.tokens import TokenIdentity

from .registry import ConfigArgs, tool
from .scope import config_in_scope

# Reading an account is narrowed like planning: a restricted (prod) config's account is readable only by
# admins and the members granted that config, not by every viewer of the tenant.
READ = "aws.read"


class AwsArgs(ConfigArgs):
    region: str | None = Field(
        None,
        pattern=r"^[a-z]{2}(-gov)?-[a-z]+-\d$",
        description="A region the account allows (default: the config's).",
    )


class ListArgs(AwsArgs):
    limit: int = Field(20, ge=1, le=MAX_ITEMS)


def _aws(identity: TokenIdentity, args: AwsArgs) -> ReadOnlyAws:
    config = config_in_scope(identity, args.config, action=READ)
    return ReadOnlyAws(config, region=args.region)


def _with_config(reader: ReadOnlyAws, result: dict[str, Any]) -> dict[str, Any]:
    return {"config": reader.config.name, "account": reader.account.name, **result}


class Ec2ListArgs(ListArgs):
    state: Literal["pending", "running", "stopping", "stopped", "shutting-down", "terminated"] | None = None


@tool("ec2_list_instances", action=READ, args=Ec2ListArgs)
def ec2_list_instances(identity: TokenIdentity, args: Ec2ListArgs) -> dict[str, Any]:
    """EC2 instances in the config's account and region (id, name, type, state, zone, addresses, tags)."""
    reader = _aws(identity, args)
    return _with_config(reader, reader.ec2_list_instances(state=args.state, limit=args.limit))


class Ec2DescribeArgs(AwsArgs):
    instance_id: str = Field(description="i-0123456789abcdef0")


@tool("ec2_describe_instance", action=READ, args=Ec2DescribeArgs)
def ec2_describe_instance(identity: TokenIdentity, args: Ec2DescribeArgs) -> dict[str, Any]:
    """One EC2 instance in detail: image, network, security groups, instance profile, volumes, tags."""
    reader = _aws(identity, args)
    return _with_config(reader, reader.ec2_describe_instance(instance_id=args.instance_id))


@tool("ecs_list_clusters", action=READ, args=ListArgs)
def ecs_list_clusters(identity: TokenIdentity, args: ListArgs) -> dict[str, Any]:
    """ECS clusters with their running and pending task and active service counts."""
    reader = _aws(identity, args)
    return _with_config(reader, reader.ecs_list_clusters(limit=args.limit))


class EcsServicesArgs(ListArgs):
    cluster: str = Field(min_length=1, max_length=255, description="Cluster name or ARN.")


@tool("ecs_list_services", action=READ, args=EcsServicesArgs)
def ecs_list_services(identity: TokenIdentity, args: EcsServicesArgs) -> dict[str, Any]:
    """The services of one ECS cluster: desired, running and pending counts, launch type, task definition."""
    reader = _aws(identity, args)
    return _with_config(reader, reader.ecs_list_services(cluster=args.cluster, limit=args.limit))


@tool("rds_list_db_instances", action=READ, args=ListArgs)
def rds_list_db_instances(identity: TokenIdentity, args: ListArgs) -> dict[str, Any]:
    """RDS database instances: engine, class, status, Multi-AZ, storage, encryption, public access."""
    reader = _aws(identity, args)
    return _with_config(reader, reader.rds_list_db_instances(limit=args.limit))


class AlarmsArgs(ListArgs):
    state: Literal["OK", "ALARM", "INSUFFICIENT_DATA"] | None = None
    name_prefix: str | None = Field(None, max_length=255)


@tool("cloudwatch_list_alarms", action=READ, args=AlarmsArgs)
def cloudwatch_list_alarms(identity: TokenIdentity, args: AlarmsArgs) -> dict[str, Any]:
    """CloudWatch metric alarms with their state, reason, metric and threshold."""
    reader = _aws(identity, args)
    return _with_config(
        reader,
        reader.cloudwatch_list_alarms(state=args.state, name_prefix=args.name_prefix, limit=args.limit),
    )


Statistic = Literal["Average", "Sum", "Minimum", "Maximum", "SampleCount"]
assert set(Statistic.__args__) == set(STATISTICS)


class MetricArgs(AwsArgs):
    namespace: str = Field(min_length=1, max_length=255, description="e.g. AWS/EC2")
    metric_name: str = Field(min_length=1, max_length=255, description="e.g. CPUUtilization")
    dimensions: dict[str, str] = Field(default_factory=dict, description='e.g. {"InstanceId": "i-…"}')
    hours: float = Field(3, gt=0, le=24 * 14, description="How far back to look.")
    period: int = Field(300, ge=60, le=86_400, description="Seconds per datapoint (a multiple of 60).")
    statistics: list[Statistic] = Field(default_factory=lambda: ["Average"], min_length=1, max_length=5)


@tool("cloudwatch_get_metric_statistics", action=READ, args=MetricArgs)
def cloudwatch_get_metric_statistics(identity: TokenIdentity, args: MetricArgs) -> dict[str, Any]:
    """Datapoints of one CloudWatch metric over the last hours (at most 500 points)."""
    reader = _aws(identity, args)
    return _with_config(
        reader,
        reader.cloudwatch_get_metric_statistics(
            namespace=args.namespace,
            metric_name=args.metric_name,
            dimensions=args.dimensions,
            hours=args.hours,
            period=args.period,
            statistics=list(args.statistics),
        ),
    )
