"""EC2: start, stop and reboot instances named by id or Name, or matched by tags."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from ._common import NoArgs, carries, missing, names_in, tags_in
from .base import ActionContext, ActionRequestInvalid, ActionSpec, Downtime, Resolved, Target, tag_dict

PERMISSIONS_READ = ("ec2:DescribeInstances",)
FILTER_VALUES = 200  # DescribeInstances takes at most 200 values per filter


def _describe(ctx: ActionContext, filters: list[dict[str, Any]]) -> list[Target]:
    region = ctx.clients.region

    def operation(ec2) -> list[Target]:
        found: list[Target] = []
        for page in ec2.get_paginator("describe_instances").paginate(Filters=filters):
            for reservation in page.get("Reservations", []):
                owner = reservation.get("OwnerId", ctx.clients.account.account_id)
                for instance in reservation.get("Instances", []):
                    tags = tag_dict(instance.get("Tags"))
                    iid = instance["InstanceId"]
                    found.append(
                        Target(
                            id=iid,
                            arn=f"arn:aws:ec2:{region}:{owner}:instance/{iid}",
                            name=tags.get("Name"),
                            tags=tags,
                            region=region,
                            state={
                                "state": (instance.get("State") or {}).get("Name"),
                                "instance_type": instance.get("InstanceType"),
                            },
                        )
                    )
        return sorted(found, key=lambda t: t.id)

    return ctx.clients.call("ec2", operation)


def _tag_filters(tags: Mapping[str, str]) -> list[dict[str, Any]]:
    return [{"Name": f"tag:{k}", "Values": [v]} for k, v in sorted(tags.items())]


def resolve_instances(ctx: ActionContext, selector: Mapping[str, Any]) -> list[Resolved]:
    ids, names, tags = names_in(selector, "ids"), names_in(selector, "names"), tags_in(selector)
    region = ctx.clients.region
    if not (ids or names or tags):
        raise ActionRequestInvalid("Name the instances: ids, Name tags or a tag filter such as Env=staging.")
    resolved: dict[str, Resolved] = {}
    if ids:
        found = [t for t in observe_instances(ctx, ids).values() if carries(t.tags, tags)]
        missing("instance", ids, {t.id for t in found}, tags, region)
        resolved.update({t.id: Resolved(t, named=True) for t in found})
    if names:
        found = _describe(ctx, [{"Name": "tag:Name", "Values": names}, *_tag_filters(tags)])
        missing("instance named", names, {t.name for t in found if t.name}, tags, region)
        resolved.update({t.id: Resolved(t, named=True) for t in found})
    if tags and not (ids or names):
        resolved.update({t.id: Resolved(t, named=False) for t in _describe(ctx, _tag_filters(tags))})
    return [resolved[k] for k in sorted(resolved)]


def observe_instances(ctx: ActionContext, ids: list[str]) -> dict[str, Target]:
    ids = list(ids)
    seen: dict[str, Target] = {}
    for start in range(0, len(ids), FILTER_VALUES):
        chunk = ids[start : start + FILTER_VALUES]
        seen.update({t.id: t for t in _describe(ctx, [{"Name": "instance-id", "Values": chunk}])})
    return seen


def instance_ids(args: BaseModel, targets: list[Target]) -> dict[str, Any]:
    return {"InstanceIds": [t.id for t in targets]}


def _reach(state: str):
    def expected(args: BaseModel, target: Target) -> dict[str, Any]:
        return {"state": state}

    return expected


def _instance_action(name: str, operation: str, verb: str, label: str, **fields: Any) -> ActionSpec:
    return ActionSpec(
        name=name,
        service="ec2",
        client="ec2",
        operation=operation,
        verb=verb,
        label=label,
        target_type="ec2_instance",
        permissions=(f"ec2:{operation}", *PERMISSIONS_READ),
        batch_size=50,
        args_model=NoArgs,
        resolve=resolve_instances,
        observe=observe_instances,
        request=instance_ids,
        dry_run=True,
        **fields,
    )


ACTIONS = (
    _instance_action(
        "ec2.start_instances",
        "StartInstances",
        "start",
        "Start EC2 instances",
        risk="low",
        downtime=Downtime("none: the instances come up", 0),
        precondition={"state": ("stopped",)},
        expected=_reach("running"),
        rollback="ec2.stop_instances",
        cost_sign=1,
    ),
    _instance_action(
        "ec2.stop_instances",
        "StopInstances",
        "stop",
        "Stop EC2 instances",
        risk="medium",
        downtime=Downtime("down until started again; instance-store data and public IPs are lost", None),
        precondition={"state": ("running",)},
        expected=_reach("stopped"),
        rollback="ec2.start_instances",
        cost_sign=-1,
    ),
    _instance_action(
        "ec2.reboot_instances",
        "RebootInstances",
        "reboot",
        "Reboot EC2 instances",
        risk="medium",
        downtime=Downtime("about a minute per instance while it reboots", 60),
        precondition={"state": ("running",)},
        expected=_reach("running"),
    ),
)
