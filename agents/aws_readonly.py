"""Read-only looks into a tenant's AWS account for agents: EC2, ECS, RDS and CloudWatch.

Every call goes through `tenants.aws.session_for_account` (AssumeRole, or the embedded sandbox) and the
per-(account, service) circuit breaker, with short timeouts and few retries (an assistant is waiting).
Results are compact dicts with capped lengths: enough to answer a question, small enough for a model's
context. Only Describe/List/Get calls exist here; nothing can change the account.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError
from django.core.exceptions import ValidationError

from tenants.aws import AwsAccessError, is_transient, session_for_account
from tenants.models import Config

from .circuit_breaker import CircuitBreaker, aws_breaker

T = TypeVar("T")

READ_CONFIG = BotoConfig(retries={"mode": "standard", "max_attempts": 2}, connect_timeout=3, read_timeout=15)
MAX_ITEMS = 50
MAX_TAGS = 10
MAX_DATAPOINTS = 500
CLOUDWATCH_MAX_POINTS_PER_CALL = 1440
STATISTICS = ("Average", "Sum", "Minimum", "Maximum", "SampleCount")
INSTANCE_ID = re.compile(r"^i-[0-9a-f]{8,17}$")


class AwsReadError(Exception):
    """AWS refused or could not answer; the message is safe to show."""


def is_outage(exc: BaseException) -> bool:
    """Does this error say the service (or the way to it) is unwell, rather than the request is wrong?"""
    if isinstance(exc, AwsAccessError | BotoCoreError):
        return True
    return isinstance(exc, ClientError) and is_transient(exc)


def _tags(tags: list[dict[str, str]] | None) -> dict[str, str]:
    return {t.get("Key", ""): t.get("Value", "") for t in (tags or [])[:MAX_TAGS]}


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else value


def _cap(limit: int | None) -> int:
    return max(1, min(int(limit or MAX_ITEMS), MAX_ITEMS))


class ReadOnlyAws:
    """The read-only AWS calls for one config's account and region."""

    def __init__(
        self,
        config: Config,
        *,
        region: str | None = None,
        breaker: CircuitBreaker | None = None,
        session_factory: Callable[..., Any] | None = None,
    ) -> None:
        account = config.account
        region = region or config.region
        allowed = sorted(set(account.regions) | {config.region})
        if region not in allowed:
            raise ValidationError(
                {
                    "region": f"{region} is not allowed for account {account.name}; use one of {', '.join(allowed)}."
                }
            )
        self.config, self.account, self.region = config, account, region
        self.breaker = breaker or aws_breaker()
        self._session_factory = session_factory or session_for_account

    def _call(self, service: str, operation: Callable[[Any], T]) -> T:
        def run() -> T:
            aws = self._session_factory(self.account, region=self.region)
            client = aws.session.client(
                service, region_name=self.region, endpoint_url=aws.endpoint_url, config=READ_CONFIG
            )
            return operation(client)

        try:
            return self.breaker.call((self.account.pk, service), run, is_failure=is_outage)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise AwsReadError(
                f"AWS {service} answered {error.get('Code', 'an error')}: {error.get('Message', '')}".strip()
            ) from exc
        except AwsAccessError as exc:
            raise AwsReadError(str(exc)) from exc
        except BotoCoreError as exc:
            raise AwsReadError(f"Could not reach AWS {service} in {self.region}: {exc}") from exc

    # --- EC2 ---------------------------------------------------------------------------------------

    def ec2_list_instances(self, *, state: str | None = None, limit: int | None = None) -> dict[str, Any]:
        limit = _cap(limit)
        filters = [{"Name": "instance-state-name", "Values": [state]}] if state else []

        def operation(ec2) -> tuple[list[dict], bool]:
            found: list[dict] = []
            for page in ec2.get_paginator("describe_instances").paginate(Filters=filters):
                for reservation in page.get("Reservations", []):
                    for instance in reservation.get("Instances", []):
                        if len(found) == limit:
                            return found, True
                        found.append(_instance_brief(instance))
            return found, False

        instances, truncated = self._call("ec2", operation)
        return {
            "region": self.region,
            "instances": instances,
            "count": len(instances),
            "truncated": truncated,
        }

    def ec2_describe_instance(self, *, instance_id: str) -> dict[str, Any]:
        instance_id = (instance_id or "").strip()
        if not INSTANCE_ID.match(instance_id):
            raise ValidationError({"instance_id": "An instance id looks like i-0123456789abcdef0."})

        def operation(ec2) -> dict | None:
            response = ec2.describe_instances(InstanceIds=[instance_id])
            for reservation in response.get("Reservations", []):
                for instance in reservation.get("Instances", []):
                    return instance
            return None

        try:
            instance = self._call("ec2", operation)
        except AwsReadError as exc:
            if "InvalidInstanceID" in str(exc):
                instance = None
            else:
                raise
        if instance is None:
            raise AwsReadError(f"No instance {instance_id} in {self.region}.")
        return {
            **_instance_brief(instance),
            "image_id": instance.get("ImageId"),
            "vpc_id": instance.get("VpcId"),
            "subnet_id": instance.get("SubnetId"),
            "security_groups": [g.get("GroupId") for g in instance.get("SecurityGroups", [])][:MAX_TAGS],
            "iam_instance_profile": (instance.get("IamInstanceProfile") or {}).get("Arn"),
            "monitoring": (instance.get("Monitoring") or {}).get("State"),
            "platform": instance.get("PlatformDetails") or instance.get("Platform"),
            "volumes": [
                {"device": m.get("DeviceName"), "volume_id": (m.get("Ebs") or {}).get("VolumeId")}
                for m in instance.get("BlockDeviceMappings", [])[:MAX_TAGS]
            ],
            "region": self.region,
        }

    # --- ECS ---------------------------------------------------------------------------------------

    def ecs_list_clusters(self, *, limit: int | None = None) -> dict[str, Any]:
        limit = _cap(limit)

        def operation(ecs) -> tuple[list[dict], bool]:
            arns: list[str] = []
            for page in ecs.get_paginator("list_clusters").paginate():
                arns.extend(page.get("clusterArns", []))
                if len(arns) > limit:
                    break
            shown = arns[:limit]
            clusters = ecs.describe_clusters(clusters=shown).get("clusters", []) if shown else []
            return [
                {
                    "name": c.get("clusterName"),
                    "status": c.get("status"),
                    "running_tasks": c.get("runningTasksCount"),
                    "pending_tasks": c.get("pendingTasksCount"),
                    "active_services": c.get("activeServicesCount"),
                }
                for c in clusters
            ], len(arns) > limit

        clusters, truncated = self._call("ecs", operation)
        return {"region": self.region, "clusters": clusters, "count": len(clusters), "truncated": truncated}

    def ecs_list_services(self, *, cluster: str, limit: int | None = None) -> dict[str, Any]:
        limit = _cap(limit)
        cluster = (cluster or "").strip()
        if not cluster:
            raise ValidationError({"cluster": "Name the cluster (ecs_list_clusters lists them)."})

        def operation(ecs) -> tuple[list[dict], bool]:
            arns: list[str] = []
            for page in ecs.get_paginator("list_services").paginate(cluster=cluster):
                arns.extend(page.get("serviceArns", []))
                if len(arns) > limit:
                    break
            services: list[dict] = []
            shown = arns[:limit]
            for start in range(0, len(shown), 10):  # DescribeServices takes ten at a time
                services.extend(
                    ecs.describe_services(cluster=cluster, services=shown[start : start + 10]).get(
                        "services", []
                    )
                )
            return [
                {
                    "name": s.get("serviceName"),
                    "status": s.get("status"),
                    "desired": s.get("desiredCount"),
                    "running": s.get("runningCount"),
                    "pending": s.get("pendingCount"),
                    "launch_type": s.get("launchType"),
                    "task_definition": (s.get("taskDefinition") or "").rsplit("/", 1)[-1],
                }
                for s in services
            ], len(arns) > limit

        services, truncated = self._call("ecs", operation)
        return {
            "region": self.region,
            "cluster": cluster,
            "services": services,
            "count": len(services),
            "truncated": truncated,
        }

    # --- RDS ---------------------------------------------------------------------------------------

    def rds_list_db_instances(self, *, limit: int | None = None) -> dict[str, Any]:
        limit = _cap(limit)

        def operation(rds) -> tuple[list[dict], bool]:
            found: list[dict] = []
            for page in rds.get_paginator("describe_db_instances").paginate():
                for db in page.get("DBInstances", []):
                    if len(found) == limit:
                        return found, True
                    found.append(
                        {
                            "id": db.get("DBInstanceIdentifier"),
                            "engine": db.get("Engine"),
                            "engine_version": db.get("EngineVersion"),
                            "class": db.get("DBInstanceClass"),
                            "status": db.get("DBInstanceStatus"),
                            "multi_az": db.get("MultiAZ"),
                            "storage_gb": db.get("AllocatedStorage"),
                            "encrypted": db.get("StorageEncrypted"),
                            "publicly_accessible": db.get("PubliclyAccessible"),
                            "endpoint": (db.get("Endpoint") or {}).get("Address"),
                        }
                    )
            return found, False

        instances, truncated = self._call("rds", operation)
        return {
            "region": self.region,
            "db_instances": instances,
            "count": len(instances),
            "truncated": truncated,
        }

    # --- CloudWatch --------------------------------------------------------------------------------

    def cloudwatch_list_alarms(
        self, *, state: str | None = None, name_prefix: str | None = None, limit: int | None = None
    ) -> dict[str, Any]:
        limit = _cap(limit)
        kwargs: dict[str, Any] = {"AlarmTypes": ["MetricAlarm"]}
        if state:
            kwargs["StateValue"] = state
        if name_prefix:
            kwargs["AlarmNamePrefix"] = name_prefix

        def operation(cloudwatch) -> tuple[list[dict], bool]:
            found: list[dict] = []
            for page in cloudwatch.get_paginator("describe_alarms").paginate(**kwargs):
                for alarm in page.get("MetricAlarms", []):
                    if len(found) == limit:
                        return found, True
                    found.append(
                        {
                            "name": alarm.get("AlarmName"),
                            "state": alarm.get("StateValue"),
                            "reason": (alarm.get("StateReason") or "")[:200],
                            "namespace": alarm.get("Namespace"),
                            "metric": alarm.get("MetricName"),
                            "statistic": alarm.get("Statistic"),
                            "comparison": alarm.get("ComparisonOperator"),
                            "threshold": alarm.get("Threshold"),
                            "updated": _iso(alarm.get("StateUpdatedTimestamp")),
                        }
                    )
            return found, False

        alarms, truncated = self._call("cloudwatch", operation)
        return {"region": self.region, "alarms": alarms, "count": len(alarms), "truncated": truncated}

    def cloudwatch_get_metric_statistics(
        self,
        *,
        namespace: str,
        metric_name: str,
        dimensions: dict[str, str] | None = None,
        hours: float = 3,
        period: int = 300,
        statistics: list[str] | None = None,
        now: datetime | None = None,
    ) -> dict[str, Any]:
        statistics = list(statistics or ["Average"])
        errors: dict[str, str] = {}
        unknown = sorted(set(statistics) - set(STATISTICS))
        if unknown:
            errors["statistics"] = f"Unknown statistic(s) {', '.join(unknown)}; use {', '.join(STATISTICS)}."
        if period < 60 or period % 60:
            errors["period"] = "The period is a multiple of 60 seconds."
        elif hours * 3600 / period > CLOUDWATCH_MAX_POINTS_PER_CALL:
            errors["period"] = (
                f"{hours:g} h at {period} s is more than {CLOUDWATCH_MAX_POINTS_PER_CALL} points; "
                "use a longer period or fewer hours."
            )
        if errors:
            raise ValidationError(errors)
        end = now or datetime.now(UTC)
        start = end - timedelta(hours=hours)
        dims = [{"Name": k, "Value": v} for k, v in sorted((dimensions or {}).items())][:MAX_TAGS]

        def operation(cloudwatch) -> list[dict]:
            return cloudwatch.get_metric_statistics(
                Namespace=namespace,
                MetricName=metric_name,
                Dimensions=dims,
                StartTime=start,
                EndTime=end,
                Period=period,
                Statistics=statistics,
            ).get("Datapoints", [])

        points = sorted(self._call("cloudwatch", operation), key=lambda p: p.get("Timestamp") or end)
        truncated = len(points) > MAX_DATAPOINTS
        points = points[-MAX_DATAPOINTS:]
        return {
            "region": self.region,
            "namespace": namespace,
            "metric": metric_name,
            "dimensions": dict(sorted((dimensions or {}).items())),
            "period": period,
            "start": start.isoformat(),
            "end": end.isoformat(),
            "unit": points[0].get("Unit") if points else None,
            "datapoints": [
                {"timestamp": _iso(p.get("Timestamp")), **{s: p.get(s) for s in statistics if s in p}}
                for p in points
            ],
            "count": len(points),
            "truncated": truncated,
        }


def _instance_brief(instance: dict[str, Any]) -> dict[str, Any]:
    tags = _tags(instance.get("Tags"))
    return {
        "id": instance.get("InstanceId"),
        "name": tags.get("Name"),
        "type": instance.get("InstanceType"),
        "state": (instance.get("State") or {}).get("Name"),
        "availability_zone": (instance.get("Placement") or {}).get("AvailabilityZone"),
        "private_ip": instance.get("PrivateIpAddress"),
        "public_ip": instance.get("PublicIpAddress"),
        "launched": _iso(instance.get("LaunchTime")),
        "tags": tags,
    }
