"""Secrets Manager: rotate a secret (named by name or ARN) with its rotation function."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, Field

from ._common import StrictArgs, names_in
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

LAMBDA_ARN = r"^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]+(:[A-Za-z0-9_$-]+)?$"
SANDBOX_NOTE = (
    "The sandbox rotates a secret without a rotation function, and the new current version has no value."
)


class RotateArgs(StrictArgs):
    rotation_lambda_arn: str | None = Field(default=None, pattern=LAMBDA_ARN)
    rotate_after_days: int | None = Field(default=None, ge=1, le=1000)


def _current(stages: Mapping[str, list[str]]) -> str | None:
    return next((version for version, labels in stages.items() if "AWSCURRENT" in labels), None)


def _describe(ctx: ActionContext, secret_id: str) -> Target | None:
    def operation(sm) -> dict[str, Any]:
        return sm.describe_secret(SecretId=secret_id)

    try:
        secret = ctx.clients.call("secretsmanager", operation)
    except ActionFailed as exc:
        if exc.code == "ResourceNotFoundException":
            return None
        raise
    return Target(
        id=secret["ARN"],
        arn=secret["ARN"],
        name=secret.get("Name"),
        tags=tag_dict(secret.get("Tags")),
        region=ctx.clients.region,
        state={
            "deleted": secret.get("DeletedDate") is not None,
            "rotation_lambda": secret.get("RotationLambdaARN") or None,
            "current_version": _current(secret.get("VersionIdsToStages") or {}),
        },
    )


def resolve_secrets(ctx: ActionContext, selector: Mapping[str, Any]) -> list[Resolved]:
    names = list(dict.fromkeys(names_in(selector, "ids") + names_in(selector, "names")))
    if not names:
        raise ActionRequestInvalid("Name the secret by name or ARN.")
    found: dict[str, Target] = {}
    unknown = []
    for name in names:
        target = _describe(ctx, name)
        if target is None:
            unknown.append(name)
        else:
            found[target.id] = target
    if unknown:
        raise ActionRequestInvalid(f"No secret {', '.join(unknown)} in {ctx.clients.region}.")
    return [Resolved(found[k], named=True) for k in sorted(found)]


def observe_secrets(ctx: ActionContext, ids: list[str]) -> dict[str, Target]:
    return {tid: t for tid in ids if (t := _describe(ctx, tid)) is not None}


def rotation_configured(ctx: ActionContext, target: Target) -> str | None:
    if target.state["rotation_lambda"] or ctx.args.rotation_lambda_arn or ctx.clients.sandbox:
        return None
    return "rotation is not configured for this secret; give rotation_lambda_arn to set it up"


def rotate_request(args: BaseModel, targets: list[Target]) -> dict[str, Any]:
    [target] = targets
    params: dict[str, Any] = {"SecretId": target.arn, "RotateImmediately": True}
    if args.rotation_lambda_arn:
        params["RotationLambdaARN"] = args.rotation_lambda_arn
    if args.rotate_after_days:
        params["RotationRules"] = {"AutomaticallyAfterDays": args.rotate_after_days}
    return params


def new_version_is_current(
    ctx: ActionContext, targets: list[Target], response: Mapping[str, Any]
) -> dict[str, dict]:
    """After-state: the version the rotation created (the request's token) should be AWSCURRENT."""
    seen = observe_secrets(ctx, [t.id for t in targets])
    version = response.get("VersionId")
    return {
        tid: {
            **t.state,
            "tags": t.tags,
            "new_version": version,
            "rotated": t.state["current_version"] == version,
        }
        for tid, t in seen.items()
    }


ACTIONS = (
    ActionSpec(
        name="secretsmanager.rotate_secret",
        service="secretsmanager",
        client="secretsmanager",
        operation="RotateSecret",
        verb="rotate",
        label="Rotate secrets",
        target_type="secret",
        permissions=("secretsmanager:RotateSecret", "secretsmanager:DescribeSecret", "lambda:InvokeFunction"),
        batch_size=1,
        risk="medium",
        downtime=Downtime(
            "none if clients re-read the secret; old credentials stop working after rotation", 0
        ),
        precondition={"deleted": (False,)},
        args_model=RotateArgs,
        resolve=resolve_secrets,
        observe=observe_secrets,
        request=rotate_request,
        expected=lambda args, target: {"rotated": True},
        after=new_version_is_current,
        check_target=rotation_configured,
        idempotency_param="ClientRequestToken",
        sandbox_note=SANDBOX_NOTE,
    ),
)
