"""What an operation would touch, for the console preview before submit: the targets resolved now with
read-only calls, the downtime, the risk and the cost per day. The run's own plan resolves them again;
this is a look, not a promise."""

from __future__ import annotations

from typing import Any

from tenants.aws import AwsAccessError
from tenants.models import Config

from .actions.base import ActionFailed, ActionRequestInvalid, NothingToDo
from .plan import build_action_plan

MAX_SHOWN = 10


def preview_impact(config: Config, user, source: dict[str, Any]) -> dict[str, Any]:
    if not Config.objects.for_user(user, "aws.read").filter(pk=config.pk).exists():
        return {
            "error": f"Your role may not read the account behind {config.name}; the run will resolve the targets."
        }
    try:
        plan = build_action_plan(
            config,
            action=source["action"],
            params=source.get("params") or {},
            selector=source.get("selector") or {},
        )
    except NothingToDo as exc:
        return {"nothing": str(exc)}
    except (ActionRequestInvalid, ActionFailed, AwsAccessError) as exc:
        return {"error": str(exc)}
    targets = [t for action in plan.document["actions"] for t in action["targets"]]
    return {
        "summary": plan.summary,
        "targets": targets[:MAX_SHOWN],
        "more": max(0, len(targets) - MAX_SHOWN),
        "skipped": plan.document.get("skipped") or [],
        "cost": plan.cost_delta,
    }
