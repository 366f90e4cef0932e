"""Operations on running resources as tools. Each creates an `aws` run whose action plan a person reviews
and approves in Gantry; none touches the account before that approval (`request_apply` asks for it, as
for Terraform runs). The tool waits a little for the plan so the answer can show it."""

from __future__ import annotations

import json
import re
import time
from typing import Any

from django.conf import settings
from pydantic import Field

from agents.aws import actions as catalogue
from agents.aws.actions.base import ActionRequestInvalid
from agents.aws.engine import PLAN_FILE
from runs import artifacts
from runs.models import ArtifactKind, Run
from runs.services import MAX_REQUEST_CHARS, run_cancel, run_create, run_create_from_source
from runs.states import END_STATES, RunStatus
from tenants.tokens import TokenIdentity

from .registry import ToolArgs, ToolFailure, tool
from .run_tools import run_brief
from .scope import config_in_scope, run_in_scope

S = RunStatus
PLANNED = frozenset({*END_STATES, S.AWAITING_APPROVAL, S.NEEDS_CLARIFICATION})
INSTANCE_ID = r"^i-[0-9a-f]{8,17}$"


def wait_seconds() -> float:
    return float(getattr(settings, "GANTRY_TOOL_WAIT_SECONDS", 20))


class OpsArgs(ToolArgs):
    config: str | None = Field(
        None, description="Config name or id (default: your first usable non-prod one)."
    )


def _answer(run: Run) -> dict[str, Any]:
    """The run, waited on (briefly) until its plan is ready, with the action plan when there is one."""
    deadline = time.monotonic() + wait_seconds()
    while run.status not in PLANNED and time.monotonic() < deadline:
        time.sleep(0.5)
        run.refresh_from_db()
    answer: dict[str, Any] = {"run": run_brief(run)}
    plan = artifacts.latest(run, ArtifactKind.PLAN_JSON_REDACTED)
    if plan is not None:
        answer["plan"] = _plan_brief(plan)
        answer["plan_sha256"] = run.plan_sha256 or None
    if run.status == S.AWAITING_APPROVAL:
        answer["next_step"] = (
            "Review the action plan, then `request_apply` to ask approvers. Nothing ran yet."
        )
    elif run.status not in END_STATES:
        answer["next_step"] = "Planning is under way: call `run_status` to follow it."
    return answer


def _plan_brief(artifact) -> dict[str, Any]:
    document = json.loads(artifacts.artifact_read(artifact))
    return {
        "file": PLAN_FILE,
        "summary": document.get("summary"),
        "cost_delta": document.get("cost_delta"),
        "skipped": document.get("skipped"),
        "actions": [
            {
                "name": a["name"],
                "targets": [
                    {"id": t["id"], "name": t.get("name"), "state": t.get("state")} for t in a["targets"]
                ],
                "expected": a.get("expected"),
                "rollback": (a.get("rollback") or {}).get("action"),
                "risk": a.get("risk"),
                "downtime": (a.get("downtime") or {}).get("text"),
            }
            for a in document.get("actions", [])
        ],
    }


def _action_run(identity: TokenIdentity, args: OpsArgs, action: str, params: dict, selector: dict, text: str):
    try:
        catalogue.get(action)  # an unknown name is a clear error before anything is created
    except ActionRequestInvalid as exc:
        raise ToolFailure(str(exc), code="invalid") from None
    config = config_in_scope(identity, args.config, action="run.create")
    source = {"action": action, "params": params, "selector": selector}
    run = run_create_from_source(
        user=identity.user, config_id=config.pk, engine="aws", source=source, request_text=text, agent="ops"
    )
    return _answer(Run.objects.select_related("config").get(pk=run.pk))


class InstancesArgs(OpsArgs):
    instance_ids: list[str] = Field(
        min_length=1, max_length=50, description="EC2 instance ids, e.g. ['i-0abc12345678']."
    )

    def ids(self) -> list[str]:
        bad = [i for i in self.instance_ids if not re.match(INSTANCE_ID, i)]
        if bad:
            raise ToolFailure(f"Not an EC2 instance id: {', '.join(bad)}.", code="invalid")
        return list(dict.fromkeys(self.instance_ids))


@tool("ec2_start_instance", action="run.create", args=InstancesArgs, read_only=False)
def ec2_start_instance(identity: TokenIdentity, args: InstancesArgs) -> dict[str, Any]:
    """Plan starting stopped EC2 instances (a reviewed run; nothing starts before a person approves it).
    Returns the run id, the action plan and its status."""
    ids = args.ids()
    return _action_run(identity, args, "ec2.start_instances", {}, {"ids": ids}, f"start {' '.join(ids)}")


@tool("ec2_stop_instance", action="run.create", args=InstancesArgs, read_only=False)
def ec2_stop_instance(identity: TokenIdentity, args: InstancesArgs) -> dict[str, Any]:
    """Plan stopping running EC2 instances (a reviewed run; nothing stops before a person approves it).
    Returns the run id, the action plan and its status."""
    ids = args.ids()
    return _action_run(identity, args, "ec2.stop_instances", {}, {"ids": ids}, f"stop {' '.join(ids)}")


class EcsServiceArgs(OpsArgs):
    cluster: str = Field(min_length=1, max_length=255, description="ECS cluster name.")
    service: str = Field(min_length=1, max_length=255, description="ECS service name.")
    desired_count: int = Field(ge=0, le=10_000, description="The number of tasks to run.")


@tool("ecs_update_service", action="run.create", args=EcsServiceArgs, read_only=False)
def ecs_update_service(identity: TokenIdentity, args: EcsServiceArgs) -> dict[str, Any]:
    """Plan setting an ECS service's desired task count (a reviewed run). Returns the run id, the action
    plan and its status."""
    selector = {"cluster": args.cluster, "names": [args.service]}
    text = f"scale service {args.service} in cluster {args.cluster} to {args.desired_count}"
    return _action_run(
        identity, args, "ecs.update_service", {"desired_count": args.desired_count}, selector, text
    )


class RdsSnapshotArgs(OpsArgs):
    db_instance_identifier: str = Field(min_length=1, max_length=63, description="RDS DB instance id.")


@tool("rds_create_snapshot", action="run.create", args=RdsSnapshotArgs, read_only=False)
def rds_create_snapshot(identity: TokenIdentity, args: RdsSnapshotArgs) -> dict[str, Any]:
    """Plan a manual snapshot of an RDS DB instance (a reviewed run). Returns the run id, the action plan
    and its status."""
    name = args.db_instance_identifier
    return _action_run(
        identity, args, "rds.create_db_snapshot", {}, {"names": [name]}, f"snapshot database {name}"
    )


class OpsRequestArgs(OpsArgs):
    text: str = Field(
        min_length=1,
        max_length=MAX_REQUEST_CHARS,
        description="An operation in plain words, e.g. 'restart EC2 instances tagged Env=staging'.",
    )


@tool("ops_request", action="run.create", args=OpsRequestArgs, read_only=False)
def ops_request(identity: TokenIdentity, args: OpsRequestArgs) -> dict[str, Any]:
    """An operation on running resources in plain words (start, stop, reboot, scale, snapshot, rotate a
    secret, a read-only command). It becomes a reviewed run exactly as in the console; returns the run,
    its action plan and status, or the questions Gantry needs answered."""
    config = config_in_scope(identity, args.config, action="run.create")
    run = run_create(user=identity.user, config_id=config.pk, request_text=args.text)
    return _answer(Run.objects.select_related("config").get(pk=run.pk))


class OpsRunArgs(OpsArgs):
    action: str = Field(
        min_length=3, max_length=64, description="A catalogue action, e.g. 'ec2.reboot_instances'."
    )
    params: dict[str, Any] = Field(default_factory=dict, description="The action's arguments.")
    targets: dict[str, Any] = Field(
        description="What to act on: any of ids, names, tags ({key: value}), cluster, service, region."
    )


@tool("ops_run", action="run.create", args=OpsRunArgs, read_only=False)
def ops_run(identity: TokenIdentity, args: OpsRunArgs) -> dict[str, Any]:
    """Plan one catalogue action on the named targets (a reviewed run, nothing runs before approval).
    Returns the run id, the action plan and its status."""
    text = f"{args.action} on {json.dumps(args.targets, sort_keys=True)}"
    return _action_run(identity, args, args.action, dict(args.params), dict(args.targets), text)


class OpsRunIdArgs(ToolArgs):
    run_id: int = Field(ge=1, description="The run's id.")


@tool("ops_status", action="view", args=OpsRunIdArgs)
def ops_status(identity: TokenIdentity, args: OpsRunIdArgs) -> dict[str, Any]:
    """An operations run: its status, each action's result (request id, verified after-state) and the
    last log lines."""
    run = run_in_scope(identity, args.run_id)
    outputs = run.outputs or {}
    return {
        "run": run_brief(run),
        "actions": outputs.get("actions") or {},
        "receipt": outputs.get("receipt"),
        "log": run.log_tail.splitlines()[-50:],
    }


class OpsCancelArgs(OpsRunIdArgs):
    reason: str = Field("", max_length=500, description="Why, for the audit trail.")


@tool("ops_cancel", action="run.cancel", args=OpsCancelArgs, read_only=False)
def ops_cancel(identity: TokenIdentity, args: OpsCancelArgs) -> dict[str, Any]:
    """Cancel a run that has not started applying (an apply in progress runs to its end)."""
    run_in_scope(identity, args.run_id)
    run = run_cancel(user=identity.user, run_id=args.run_id, reason=args.reason)
    return {"run": run_brief(Run.objects.select_related("config").get(pk=run.pk)), "cancelled": True}
