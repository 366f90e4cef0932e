"""Auto Scaling: set a group's desired capacity, within its min..max."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, StrictInt

from ._common import StrictArgs, missing, names_in
from .base import ActionContext, ActionRequestInvalid, ActionSpec, Downtime, Resolved, Target, tag_dict


class DesiredCapacity(StrictArgs):
    desired_capacity: StrictInt


def _describe(ctx: ActionContext, names: list[str]) -> dict[str, Target]:
    region = ctx.clients.region

    def operation(autoscaling) -> dict[str, Target]:
        found: dict[str, Target] = {}
        pages = autoscaling.get_paginator("describe_auto_scaling_groups").paginate(
            AutoScalingGroupNames=names
        )
        for page in pages:
            for group in page.get("AutoScalingGroups", []):
                name = group["AutoScalingGroupName"]
                found[name] = Target(
                    id=name,
                    arn=group["AutoScalingGroupARN"],
                    name=name,
                    tags=tag_dict(group.get("Tags")),
                    region=region,
                    state={
                        "status": group.get("Status") or "active",  # only set while deleting
                        "desired_capacity": group.get("DesiredCapacity"),
                        "min_size": group.get("MinSize"),
                        "max_size": group.get("MaxSize"),
                    },
                )
        return found

    return ctx.clients.call("autoscaling", operation) if names else {}


def resolve_groups(ctx: ActionContext, selector: Mapping[str, Any]) -> list[Resolved]:
    names = list(dict.fromkeys(names_in(selector, "ids") + names_in(selector, "names")))
    if not names:
        raise ActionRequestInvalid("Name the Auto Scaling group.")
    found = _describe(ctx, names)
    missing("Auto Scaling group", names, set(found), {}, ctx.clients.region)
    return [Resolved(found[n], named=True) for n in sorted(found)]


def observe_groups(ctx: ActionContext, ids: list[str]) -> dict[str, Target]:
    return _describe(ctx, list(ids))


def within_bounds(ctx: ActionContext, target: Target) -> str | None:
    count, low, high = ctx.args.desired_capacity, target.state["min_size"], target.state["max_size"]
    if not low <= count <= high:
        return f"desired capacity {count} is outside the group's min..max ({low}..{high})"
    return None


def set_capacity_request(args: BaseModel, targets: list[Target]) -> dict[str, Any]:
    [target] = targets
    return {
        "AutoScalingGroupName": target.id,
        "DesiredCapacity": args.desired_capacity,
        "HonorCooldown": False,
    }


ACTIONS = (
    ActionSpec(
        name="autoscaling.set_desired_capacity",
        service="autoscaling",
        client="autoscaling",
        operation="SetDesiredCapacity",
        verb="scale",
        label="Set Auto Scaling group desired capacity",
        target_type="autoscaling_group",
        permissions=("autoscaling:SetDesiredCapacity", "autoscaling:DescribeAutoScalingGroups"),
        batch_size=1,
        risk="medium",
        downtime=Downtime("none while scaling out; instances are terminated when scaling in", 0),
        precondition={"status": ("active",)},
        args_model=DesiredCapacity,
        resolve=resolve_groups,
        observe=observe_groups,
        request=set_capacity_request,
        expected=lambda args, target: {"desired_capacity": args.desired_capacity},
        rollback="autoscaling.set_desired_capacity",
        rollback_args=lambda args, targets: {"desired_capacity": targets[0].state["desired_capacity"]},
        check_target=within_bounds,
        count_field="desired_capacity",
        skip_if_expected=True,
        notes=("Verified: the group records the new desired capacity; instances launch or stop after.",),
    ),
)
