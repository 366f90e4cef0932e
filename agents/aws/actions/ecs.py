"""ECS: set a service's desired task count (cluster + service names)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, StrictInt

from ._common import StrictArgs, missing, names_in
from .base import (
    ActionContext,
    ActionFailed,
    ActionRequestInvalid,
    ActionSpec,
    Downtime,
    Resolved,
    Target,
    tag_dict,
)

DESCRIBE_BATCH = 10  # DescribeServices takes ten at a time


class DesiredCount(StrictArgs):
    desired_count: StrictInt


def _service_target(service: dict[str, Any], cluster: str, region: str) -> Target:
    name = service["serviceName"]
    return Target(
        id=f"{cluster}/{name}",
        arn=service["serviceArn"],
        name=name,
        tags=tag_dict(service.get("tags"), "key", "value"),
        region=region,
        state={
            "cluster": cluster,
            "status": service.get("status"),
            "desired_count": service.get("desiredCount"),
            "task_definition": (service.get("taskDefinition") or "").rsplit("/", 1)[-1],
        },
    )


def _describe(ctx: ActionContext, cluster: str, names: list[str]) -> dict[str, Target]:
    def operation(ecs) -> dict[str, Target]:
        found: dict[str, Target] = {}
        for start in range(0, len(names), DESCRIBE_BATCH):
            response = ecs.describe_services(
                cluster=cluster, services=names[start : start + DESCRIBE_BATCH], include=["TAGS"]
            )
            for service in response.get("services", []):
                target = _service_target(service, cluster, ctx.clients.region)
                found[target.name or ""] = target
        return found

    try:
        return ctx.clients.call("ecs", operation)
    except ActionFailed as exc:
        if exc.code == "ClusterNotFoundException":
            raise ActionRequestInvalid(f"No ECS cluster {cluster} in {ctx.clients.region}.") from exc
        raise


def _by_cluster(ids: list[str]) -> dict[str, list[str]]:
    """ "cluster/service" ids grouped by cluster."""
    grouped: dict[str, list[str]] = {}
    for raw in ids:
        cluster, _, service = raw.rpartition("/")
        if not cluster or not service:
            raise ActionRequestInvalid(f"An ECS service id is cluster/service, not {raw!r}.")
        grouped.setdefault(cluster, []).append(service)
    return grouped


def resolve_services(ctx: ActionContext, selector: Mapping[str, Any]) -> list[Resolved]:
    ids = names_in(selector, "ids")
    cluster = (selector.get("cluster") or "").strip() if isinstance(selector.get("cluster"), str) else ""
    services = names_in(selector, "names") + names_in(selector, "service")
    if services and not cluster:
        raise ActionRequestInvalid("Name the ECS cluster the service runs in.")
    if not (ids or services):
        raise ActionRequestInvalid("Name the ECS service and its cluster.")
    wanted = _by_cluster(ids)
    if services:
        wanted.setdefault(cluster, []).extend(services)
    resolved: dict[str, Resolved] = {}
    for name, names in sorted(wanted.items()):
        names = list(dict.fromkeys(names))
        found = _describe(ctx, name, names)
        missing(f"service in cluster {name} named", names, set(found), {}, ctx.clients.region)
        resolved.update({t.id: Resolved(t, named=True) for t in found.values()})
    return [resolved[k] for k in sorted(resolved)]


def observe_services(ctx: ActionContext, ids: list[str]) -> dict[str, Target]:
    seen: dict[str, Target] = {}
    for cluster, names in _by_cluster(list(ids)).items():
        try:
            found = _describe(ctx, cluster, names)
        except ActionRequestInvalid:  # the cluster is gone, so are its services
            continue
        seen.update({t.id: t for t in found.values() if t.state["status"] != "INACTIVE"})
    return seen


def update_request(args: BaseModel, targets: list[Target]) -> dict[str, Any]:
    [target] = targets
    return {"cluster": target.state["cluster"], "service": target.name, "desiredCount": args.desired_count}


ACTIONS = (
    ActionSpec(
        name="ecs.update_service",
        service="ecs",
        client="ecs",
        operation="UpdateService",
        verb="scale",
        label="Set ECS service desired count",
        target_type="ecs_service",
        permissions=("ecs:UpdateService", "ecs:DescribeServices"),
        batch_size=1,
        risk="medium",
        downtime=Downtime("none while scaling up; fewer tasks serve traffic when scaling down", 0),
        precondition={"status": ("ACTIVE",)},
        args_model=DesiredCount,
        resolve=resolve_services,
        observe=observe_services,
        request=update_request,
        expected=lambda args, target: {"desired_count": args.desired_count},
        rollback="ecs.update_service",
        rollback_args=lambda args, targets: {"desired_count": targets[0].state["desired_count"]},
        count_field="desired_count",
        skip_if_expected=True,
        notes=("Verified: the service records the new desired count; ECS starts or stops tasks after.",),
    ),
)
