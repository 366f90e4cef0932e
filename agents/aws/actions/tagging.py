"""Resource Groups Tagging API: add or remove tags on resources named by ARN (in the config's account
and region)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, Field, field_validator

from ._common import StrictArgs, names_in
from .base import ActionContext, ActionRequestInvalid, ActionSpec, Downtime, Resolved, Target, tag_dict

ARN_BATCH = 20  # TagResources / UntagResources take twenty ARNs a call
MAX_TAGS = 50


def _check_key(key: str) -> str:
    if not 1 <= len(key) <= 128 or key.lower().startswith("aws:"):
        raise ValueError(f"tag key {key!r} must be 1-128 characters and not start with aws:")
    return key


class TagArgs(StrictArgs):
    tags: dict[str, str] = Field(min_length=1, max_length=MAX_TAGS)

    @field_validator("tags")
    @classmethod
    def _valid(cls, tags: dict[str, str]) -> dict[str, str]:
        for key, value in tags.items():
            _check_key(key)
            if len(value) > 256:
                raise ValueError(f"tag {key} has a value longer than 256 characters")
        return tags


class UntagArgs(StrictArgs):
    keys: list[str] = Field(min_length=1, max_length=MAX_TAGS)

    @field_validator("keys")
    @classmethod
    def _valid(cls, keys: list[str]) -> list[str]:
        return sorted({_check_key(k) for k in keys})


def _arn_parts(arn: str) -> tuple[str, str, str]:
    """(service, region, account) of an ARN."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        raise ActionRequestInvalid(f"{arn!r} is not an ARN.")
    return parts[2], parts[3], parts[4]


def observe_resources(ctx: ActionContext, ids: list[str]) -> dict[str, Target]:
    """Every requested ARN with its tags. The Tagging API lists only resources that carry (or, for
    some services, once carried) tags, so an ARN it does not list is taken as untagged; a missing one
    fails when tagged (FailedResourcesMap)."""
    if not ids:
        return {}

    def operation(tagging) -> dict[str, dict[str, str]]:
        found: dict[str, dict[str, str]] = {}
        for start in range(0, len(ids), 100):  # GetResources takes a hundred ARNs
            pages = tagging.get_paginator("get_resources").paginate(ResourceARNList=ids[start : start + 100])
            for page in pages:
                for mapping in page.get("ResourceTagMappingList", []):
                    found[mapping["ResourceARN"]] = tag_dict(mapping.get("Tags"))
        return found

    listed = ctx.clients.call("resourcegroupstaggingapi", operation)
    return {
        arn: Target(
            id=arn,
            arn=arn,
            name=listed.get(arn, {}).get("Name"),
            tags=listed.get(arn, {}),
            region=ctx.clients.region,
            state={"service": _arn_parts(arn)[0]},
        )
        for arn in ids
    }


def resolve_resources(ctx: ActionContext, selector: Mapping[str, Any]) -> list[Resolved]:
    arns = list(dict.fromkeys(names_in(selector, "ids") + names_in(selector, "names")))
    if not arns:
        raise ActionRequestInvalid("Name the resources by ARN.")
    account, region = ctx.clients.account.account_id, ctx.clients.region
    for arn in arns:
        _service, arn_region, arn_account = _arn_parts(arn)
        if arn_account not in (account, ""):
            raise ActionRequestInvalid(f"{arn} belongs to account {arn_account}, not {account}.")
        if arn_region not in (region, ""):
            raise ActionRequestInvalid(f"{arn} is in {arn_region}; this plan works in {region}.")
    found = observe_resources(ctx, arns)
    return [Resolved(found[a], named=True) for a in sorted(found)]


def failed_resources(response: Mapping[str, Any]) -> str | None:
    failed = response.get("FailedResourcesMap") or {}
    if not failed:
        return None
    return "; ".join(
        f"{arn}: {info.get('ErrorCode')} {info.get('ErrorMessage', '')}".strip()
        for arn, info in sorted(failed.items())
    )


def tag_request(args: BaseModel, targets: list[Target]) -> dict[str, Any]:
    return {"ResourceARNList": [t.arn for t in targets], "Tags": dict(sorted(args.tags.items()))}


def untag_request(args: BaseModel, targets: list[Target]) -> dict[str, Any]:
    return {"ResourceARNList": [t.arn for t in targets], "TagKeys": list(args.keys)}


def undo_tagging(args: BaseModel, targets: list[Target]) -> dict[str, Any] | None:
    """Remove the keys that were new everywhere; an overwritten value has no one-call undo."""
    if any(key in t.tags for t in targets for key in args.tags):
        return None
    return {"keys": sorted(args.tags)}


def undo_untagging(args: BaseModel, targets: list[Target]) -> dict[str, Any] | None:
    """Put the removed tags back when every target had the same values."""
    removed = [{k: t.tags[k] for k in args.keys if k in t.tags} for t in targets]
    if not removed[0] or any(r != removed[0] for r in removed):
        return None
    return {"tags": removed[0]}


def _tagging_action(name: str, operation: str, verb: str, label: str, **fields: Any) -> ActionSpec:
    return ActionSpec(
        name=name,
        service="tag",
        client="resourcegroupstaggingapi",
        operation=operation,
        verb=verb,
        label=label,
        target_type="resource",
        permissions=(f"tag:{operation}", "tag:GetResources", "<service>:TagResource or UntagResource"),
        batch_size=ARN_BATCH,
        risk="low",
        downtime=Downtime("none", 0),
        precondition={},
        resolve=resolve_resources,
        observe=observe_resources,
        skip_if_expected=True,
        response_problem=failed_resources,
        **fields,
    )


ACTIONS = (
    _tagging_action(
        "tagging.tag_resources",
        "TagResources",
        "tag",
        "Tag resources",
        args_model=TagArgs,
        request=tag_request,
        expected=lambda args, target: {"tags": dict(args.tags)},
        rollback="tagging.untag_resources",
        rollback_args=undo_tagging,
    ),
    _tagging_action(
        "tagging.untag_resources",
        "UntagResources",
        "untag",
        "Remove tags from resources",
        args_model=UntagArgs,
        request=untag_request,
        expected=lambda args, target: {"tags": dict.fromkeys(args.keys)},  # null: the key is gone
        rollback="tagging.tag_resources",
        rollback_args=undo_untagging,
    ),
)
