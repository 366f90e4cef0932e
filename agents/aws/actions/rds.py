"""RDS: snapshot, reboot, stop and start DB instances named by identifier or matched by tags."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, Field

from ._common import NoArgs, StrictArgs, carries, missing, names_in, tags_in
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

READ = ("rds:DescribeDBInstances",)


class SnapshotArgs(StrictArgs):
    # The snapshot is named <db>-<suffix>: deterministic, so the plan shows it and a rerun cannot
    # silently make a second one.
    snapshot_suffix: str = Field(default="gantry", pattern=r"^[A-Za-z0-9]+(-[A-Za-z0-9]+)*$", max_length=60)


def snapshot_id(args: BaseModel, db_id: str) -> str:
    return f"{db_id}-{args.snapshot_suffix}"


def _db_target(db: dict[str, Any], region: str) -> Target:
    return Target(
        id=db["DBInstanceIdentifier"],
        arn=db["DBInstanceArn"],
        name=db["DBInstanceIdentifier"],
        tags=tag_dict(db.get("TagList")),
        region=region,
        state={
            "status": db.get("DBInstanceStatus"),
            "instance_class": db.get("DBInstanceClass"),
            "engine": db.get("Engine"),
            "multi_az": bool(db.get("MultiAZ")),
        },
    )


def _all_dbs(ctx: ActionContext) -> list[Target]:
    def operation(rds) -> list[Target]:
        return [
            _db_target(db, ctx.clients.region)
            for page in rds.get_paginator("describe_db_instances").paginate()
            for db in page.get("DBInstances", [])
        ]

    return ctx.clients.call("rds", operation)


def _snapshot_status(ctx: ActionContext, name: str) -> str | None:
    def operation(rds) -> str | None:
        snapshots = rds.describe_db_snapshots(DBSnapshotIdentifier=name).get("DBSnapshots", [])
        return snapshots[0].get("Status") if snapshots else None

    try:
        return ctx.clients.call("rds", operation)
    except ActionFailed as exc:
        if exc.code == "DBSnapshotNotFound":
            return None
        raise


def _observer(with_snapshot: bool):
    def observe(ctx: ActionContext, ids: list[str]) -> dict[str, Target]:
        wanted = set(ids)
        seen = {t.id: t for t in _all_dbs(ctx) if t.id in wanted}
        if with_snapshot:
            seen = {
                tid: Target(**{**t.to_dict(), "state": {**t.state, "snapshot": _snapshot_status(ctx, snapshot_id(ctx.args, tid))}})
                for tid, t in seen.items()
            }  # fmt: skip
        return seen

    return observe


def _resolver(with_snapshot: bool):
    observe = _observer(with_snapshot)

    def resolve(ctx: ActionContext, selector: Mapping[str, Any]) -> list[Resolved]:
        names = list(dict.fromkeys(names_in(selector, "ids") + names_in(selector, "names")))
        tags = tags_in(selector)
        if not (names or tags):
            raise ActionRequestInvalid("Name the DB instances by identifier or a tag filter.")
        dbs = [t for t in _all_dbs(ctx) if carries(t.tags, tags) and (not names or t.id in names)]
        missing("DB instance", names, {t.id for t in dbs}, tags, ctx.clients.region)
        seen = observe(ctx, [t.id for t in dbs]) if with_snapshot else {t.id: t for t in dbs}
        return [Resolved(seen[k], named=bool(names)) for k in sorted(seen)]

    return resolve


def snapshot_absent(ctx: ActionContext, target: Target) -> str | None:
    if target.state.get("snapshot") is not None:
        return f"snapshot {snapshot_id(ctx.args, target.id)} already exists; choose another snapshot_suffix"
    return None


def _db_request(args: BaseModel, targets: list[Target]) -> dict[str, Any]:
    [target] = targets
    return {"DBInstanceIdentifier": target.id}


def _snapshot_request(args: BaseModel, targets: list[Target]) -> dict[str, Any]:
    [target] = targets
    return {
        "DBInstanceIdentifier": target.id,
        "DBSnapshotIdentifier": snapshot_id(args, target.id),
        "Tags": [{"Key": "gantry:snapshot-of", "Value": target.id}],
    }


def _status(value: str):
    return lambda args, target: {"status": value}


def _db_action(name: str, operation: str, verb: str, label: str, **fields: Any) -> ActionSpec:
    with_snapshot = fields.pop("with_snapshot", False)
    return ActionSpec(
        name=name,
        service="rds",
        client="rds",
        operation=operation,
        verb=verb,
        label=label,
        target_type="rds_instance",
        permissions=(f"rds:{operation}", *READ),
        batch_size=1,
        resolve=_resolver(with_snapshot),
        observe=_observer(with_snapshot),
        request=fields.pop("request", _db_request),
        args_model=fields.pop("args_model", NoArgs),
        **fields,
    )


ACTIONS = (
    _db_action(
        "rds.create_db_snapshot",
        "CreateDBSnapshot",
        "snapshot",
        "Snapshot RDS DB instances",
        risk="low",
        downtime=Downtime("none for Multi-AZ; a brief I/O pause on Single-AZ", 0),
        precondition={"status": ("available",)},
        expected=lambda args, target: {"snapshot": "available"},
        args_model=SnapshotArgs,
        request=_snapshot_request,
        check_target=snapshot_absent,
        with_snapshot=True,
        notes=("The snapshot is kept until someone deletes it; snapshot storage is billed.",),
    ),
    _db_action(
        "rds.reboot_db_instance",
        "RebootDBInstance",
        "reboot",
        "Reboot RDS DB instances",
        risk="medium",
        downtime=Downtime("a minute or two per instance while it reboots", 120),
        precondition={"status": ("available",)},
        expected=_status("available"),
    ),
    _db_action(
        "rds.stop_db_instance",
        "StopDBInstance",
        "stop",
        "Stop RDS DB instances",
        risk="high",
        downtime=Downtime("down until started again (AWS restarts it after 7 days)", None),
        precondition={"status": ("available",)},
        expected=_status("stopped"),
        rollback="rds.start_db_instance",
        cost_sign=-1,
    ),
    _db_action(
        "rds.start_db_instance",
        "StartDBInstance",
        "start",
        "Start RDS DB instances",
        risk="low",
        downtime=Downtime("none: the instances come up", 0),
        precondition={"status": ("stopped",)},
        expected=_status("available"),
        rollback="rds.stop_db_instance",
        cost_sign=1,
    ),
)
