"""Build the `aws` engine's plan document: the exact, ordered API calls on resolved targets.

Targets are resolved with read-only calls; Gantry checks preconditions itself (the sandbox happily
reboots a stopped instance). A target matched by a filter in the wrong state is left out and listed in
`skipped`; a target the user named in the wrong state is an error. The document's sha256 is over its
canonical JSON, so an approval binds to exactly these calls on exactly these targets.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from tenants.models import AccountMode, Config

from . import actions as catalogue
from .actions.base import (
    ALREADY_THERE,
    RISKS,
    ActionContext,
    ActionFailed,
    ActionRequestInvalid,
    ActionSpec,
    NothingToDo,
    Target,
    json_safe,
)
from .client import ActionClients
from .cost import cost_delta

SCHEMA_VERSION = 1
ENGINE = "aws"
TOKEN_NAMESPACE = uuid.UUID("6f0c1d2e-8a47-4a52-9d43-4a1f3c0e2b91")
SELECTOR_KEYS = frozenset({"ids", "names", "tags", "cluster", "service", "region"})
NO_DRY_RUN = "This API has no DryRun; a missing permission shows when the action runs."


@dataclass(frozen=True)
class ActionPlan:
    document: dict[str, Any]
    bytes: bytes
    sha256: str
    summary: dict[str, Any]
    cost_delta: dict[str, Any]


def canonical_bytes(document: Mapping[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), default=str).encode()


def document_sha256(document: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_bytes(document)).hexdigest()


def describe_selector(selector: Mapping[str, Any]) -> str:
    parts = []
    for key, value in sorted(selector.items()):
        if isinstance(value, Mapping):
            value = ", ".join(f"{k}={v}" for k, v in sorted(value.items()))
        elif isinstance(value, list | tuple):
            value = ", ".join(str(v) for v in value)
        parts.append(f"{key} {value}")
    return "; ".join(parts) or "none"


def parse_args(spec: ActionSpec, params: Mapping[str, Any] | None) -> BaseModel:
    try:
        return spec.args_model.model_validate(dict(params or {}))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'parameters'}: {err['msg']}" for err in exc.errors()
        )
        raise ActionRequestInvalid(f"Bad parameters for {spec.name}: {problems}.") from None


def _check_count(spec: ActionSpec, args: BaseModel, limits: Mapping[str, Any]) -> None:
    if spec.count_field is None:
        return
    count = getattr(args, spec.count_field)
    if count < 0:
        raise ActionRequestInvalid(f"{spec.count_field} must not be negative (got {count}).")
    cap = limits.get("max_count")
    if cap is not None and count > int(cap):
        raise ActionRequestInvalid(f"{spec.count_field} {count} is above this config's cap of {cap}.")


def _token(account_id: str, region: str, run_id: Any, index: int, params: Mapping[str, Any]) -> str:
    """Stable for one run's action (so a retried call dedupes where the API honours it), new per run."""
    seed = f"{account_id}:{region}:{run_id}:{index}:{canonical_bytes(params).decode()}"
    return str(uuid.uuid5(TOKEN_NAMESPACE, seed))


def permission_check(spec: ActionSpec, ctx: ActionContext, params: Mapping[str, Any]) -> dict[str, Any]:
    """Call the API with DryRun where it has one; the outcome is recorded, never raised, so a gate
    can block a plan whose role lacks the permission."""
    if not spec.dry_run:
        return {"ok": None, "detail": NO_DRY_RUN}
    try:
        spec.invoke(ctx, {**params, "DryRun": True})
    except ActionFailed as exc:
        if exc.code == "DryRunOperation":
            return {"ok": True, "detail": "DryRun: the request would have succeeded."}
        if exc.code == "UnauthorizedOperation":
            return {"ok": False, "detail": f"Missing permission: {exc}"}
        return {"ok": False, "detail": str(exc)}
    return {"ok": False, "detail": "The DryRun call was carried out instead of checked; not trusted."}


def rollback_entry(spec: ActionSpec, args: BaseModel, targets: list[Target]) -> dict[str, Any] | None:
    if spec.rollback is None:
        return None
    undo = catalogue.get(spec.rollback)
    raw = spec.rollback_args(args, targets)
    if raw is None:
        return None
    undo_args = parse_args(undo, raw)
    return {
        "action": undo.name,
        "args": json_safe(undo_args.model_dump(mode="json")),
        "parameters": json_safe(undo.request(undo_args, targets)),
    }


def action_entry(
    spec: ActionSpec,
    *,
    index: int,
    args: BaseModel,
    targets: list[Target],
    parameters: Mapping[str, Any],
    check: Mapping[str, Any],
) -> dict[str, Any]:
    return json_safe(
        {
            "index": index,
            "name": spec.name,
            "label": spec.label,
            "service": spec.service,
            "operation": spec.operation,
            "args": args.model_dump(mode="json"),
            "parameters": dict(parameters),
            "targets": [t.to_dict() for t in targets],
            "precondition": {k: list(v) for k, v in spec.precondition.items()},
            "expected": {t.id: spec.expected(args, t) for t in targets},
            "rollback": rollback_entry(spec, args, targets),
            "downtime": {"text": spec.downtime.text, "seconds": spec.downtime.seconds},
            "risk": spec.risk_for(args),
            "permissions": list(spec.permissions),
            "permission_check": dict(check),
        }
    )


def summarize(actions: list[dict[str, Any]], skipped: list[dict[str, Any]]) -> dict[str, Any]:
    risks = [a["risk"] for a in actions]
    seconds = [a["downtime"]["seconds"] for a in actions]
    if any(s is None for s in seconds):
        downtime = next(a["downtime"]["text"] for a in actions if a["downtime"]["seconds"] is None)
    elif sum(seconds):
        downtime = f"about {sum(seconds)} s in all ({actions[0]['downtime']['text']})"
    else:
        downtime = "none"
    return {
        "label": actions[0]["label"] if actions else "",
        "actions": len(actions),
        "targets": sum(len(a["targets"]) for a in actions),
        "services": sorted({a["service"] for a in actions}),
        "highest_risk": max(risks, key=RISKS.index) if risks else None,
        "downtime": downtime,
        "skipped": len(skipped),
    }


def build_action_plan(
    config: Config,
    *,
    action: str,
    params: dict[str, Any],
    selector: dict[str, Any],
    limits: dict[str, Any] | None = None,
    run_id: int | str | None = None,
    allow_free_command: bool = False,
) -> ActionPlan:
    spec = catalogue.get(action)
    selector = json_safe(dict(selector or {}))
    unknown = sorted(set(selector) - SELECTOR_KEYS)
    if unknown:
        raise ActionRequestInvalid(
            f"Unknown selector key(s) {', '.join(unknown)}; use {', '.join(sorted(SELECTOR_KEYS))}."
        )
    clients = ActionClients(config, region=selector.get("region"), run_id=run_id)
    args = parse_args(spec, params)
    _check_count(spec, args, limits or {})
    ctx = ActionContext(clients=clients, args=args, run_id=run_id, allow_free_command=allow_free_command)
    if spec.check_args is not None:
        spec.check_args(ctx)

    targets: list[Target] = []
    skipped: list[dict[str, Any]] = []
    for found in spec.resolve(ctx, selector):
        target = found.target
        problem = (spec.check_target(ctx, target) if spec.check_target else None) or spec.skip_reason(
            args, target
        )
        if problem is None:
            targets.append(target)
        elif found.named and problem != ALREADY_THERE:
            raise ActionRequestInvalid(f"{target.id} cannot be acted on ({spec.label}): {problem}.")
        else:
            skipped.append({**target.to_dict(), "reason": problem})
    if not targets:
        if skipped:
            reasons = "; ".join(sorted({s["reason"] for s in skipped}))
            why = f"{len(skipped)} matched, none in the needed state ({reasons})"
        else:
            why = "none matched"
        raise NothingToDo(
            f"Nothing to do for {spec.label}: {why}; filters used: {describe_selector(selector)}.",
            filters=selector,
        )

    account = config.account
    entries: list[dict[str, Any]] = []
    for index, start in enumerate(range(0, len(targets), spec.batch_size)):
        batch = targets[start : start + spec.batch_size]
        parameters = spec.request(args, batch)
        if spec.idempotency_param:
            parameters[spec.idempotency_param] = _token(
                account.account_id, clients.region, run_id, index, parameters
            )
        check = permission_check(spec, ctx, parameters)
        entries.append(
            action_entry(spec, index=index, args=args, targets=batch, parameters=parameters, check=check)
        )

    summary = summarize(entries, skipped)
    delta = cost_delta([(spec, targets)])
    document = json_safe(
        {
            "schema_version": SCHEMA_VERSION,
            "engine": ENGINE,
            "account_id": account.account_id,
            "sandbox": account.mode == AccountMode.SANDBOX,
            "region": clients.region,
            "config": config.name,
            "run_id": run_id,
            "action": spec.name,
            "allowed_services": sorted(account.allowed_services),
            "service_allowed": not account.allowed_services or spec.service in account.allowed_services,
            "selector": selector,
            "actions": entries,
            "skipped": skipped,
            "summary": summary,
            "cost_delta": delta,
            "notes": [*spec.notes, *([spec.sandbox_note] if clients.sandbox and spec.sandbox_note else [])],
        }
    )
    raw = canonical_bytes(document)
    return ActionPlan(
        document=document,
        bytes=raw,
        sha256=hashlib.sha256(raw).hexdigest(),
        summary=summary,
        cost_delta=delta,
    )
