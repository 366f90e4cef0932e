"""Tools over the audit log and the blueprint library (reads, through the pages' selectors and filters)."""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace
from typing import Any, Literal

from django.contrib.auth import get_user_model
from pydantic import Field

from blueprints.selectors import blueprint_library
from runs.filtersets import AuditEventFilterSet
from runs.selectors import audit_events_for_user
from runs.states import RunStatus
from tenants.tokens import TokenIdentity

from .registry import ToolArgs, ToolFailure, tool
from .scope import config_in_scope


class SearchAuditArgs(ToolArgs):
    q: str = Field("", max_length=200, description="Free text: summary, actor, object id or request id.")
    action: str = Field(
        "", max_length=64, description="An action (run.applied) or a family (run.approval.*)."
    )
    actor: str = Field("", max_length=254, description="The actor's email.")
    config: str | None = Field(None, description="Config name or id: events of its runs and of the config.")
    status: list[RunStatus] = Field(default_factory=list, max_length=20, description="Runs reaching these.")
    created_after: date | None = Field(None, description="From this day (inclusive), YYYY-MM-DD.")
    created_before: date | None = Field(None, description="Up to this day (inclusive), YYYY-MM-DD.")
    limit: int = Field(20, ge=1, le=50)


@tool("search_audit", action="audit.view", args=SearchAuditArgs)
def search_audit(identity: TokenIdentity, args: SearchAuditArgs) -> dict[str, Any]:
    """Search the tenant's audit log (the same filters as the Audit page), newest first."""
    data: dict[str, Any] = {
        key: value
        for key, value in {
            "q": args.q,
            "action": args.action,
            "created_after": args.created_after.isoformat() if args.created_after else "",
            "created_before": args.created_before.isoformat() if args.created_before else "",
        }.items()
        if value
    }
    if args.config:
        data["config"] = str(config_in_scope(identity, args.config).pk)
    if args.actor:
        member = (
            get_user_model()
            .objects.filter(email__iexact=args.actor, memberships__tenant=identity.tenant)
            .values_list("pk", flat=True)
            .first()
        )
        if member is None:
            raise ToolFailure(f"No member {args.actor} in {identity.tenant.slug}.", code="not_found")
        data["user"] = str(member)
    query = _QueryDict(data, [s.value for s in args.status])
    request = SimpleNamespace(user=identity.user, auth=identity, gantry=None)
    filterset = AuditEventFilterSet(
        query, queryset=audit_events_for_user(identity.user, tenant=identity.tenant), request=request
    )
    if not filterset.is_valid():
        errors = {k: [str(m) for m in v] for k, v in filterset.errors.items()}
        raise ToolFailure(
            "Invalid search: " + "; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()),
            code="invalid",
            details=errors,
        )
    events = list(filterset.qs[: args.limit + 1])
    return {
        "events": [
            {
                "id": e.pk,
                "at": e.created_at.isoformat(),
                "actor": e.actor_label or "system",
                "action": e.action,
                "object": f"{e.object_type}:{e.object_id}" if e.object_type else None,
                "summary": e.summary[:300],
                "request_id": e.request_id or None,
            }
            for e in events[: args.limit]
        ],
        "count": min(len(events), args.limit),
        "truncated": len(events) > args.limit,
    }


class _QueryDict(dict):
    """The little of QueryDict a FilterSet form reads: `status` is a list, the rest single values."""

    def __init__(self, data: dict[str, str], statuses: list[str]) -> None:
        super().__init__(data)
        self._statuses = statuses
        if statuses:
            self["status"] = statuses

    def getlist(self, key: str, default=None):
        if key == "status":
            return list(self._statuses)
        return [self[key]] if key in self else (default or [])


class ListBlueprintsArgs(ToolArgs):
    query: str = Field("", max_length=200, description="Words matched against name, description and stack.")
    stack: str = Field("", max_length=32, description="Only this stack (e.g. web_tier).")
    status: Literal["", "draft", "approved"] = ""
    scope: Literal["", "platform", "tenant"] = Field("", description="platform, tenant, or both (empty).")
    limit: int = Field(20, ge=1, le=50)


@tool("list_blueprints", action="view", args=ListBlueprintsArgs)
def list_blueprints(identity: TokenIdentity, args: ListBlueprintsArgs) -> dict[str, Any]:
    """The blueprint library: curated platform blueprints and the tenant's own, with their stacks and
    current approved version. Requests that match one reuse it."""
    qs = blueprint_library(
        identity.user,
        tenant=identity.tenant,
        query=args.query,
        stack=args.stack,
        status=args.status,
        scope=args.scope,
    )
    blueprints = list(qs[: args.limit + 1])
    out = []
    for blueprint in blueprints[: args.limit]:
        version = blueprint.latest_approved_version()
        out.append(
            {
                "id": blueprint.pk,
                "name": blueprint.name,
                "slug": blueprint.slug,
                "stack": blueprint.stack,
                "status": blueprint.status,
                "scope": "tenant" if blueprint.tenant_id else "platform",
                "description": (blueprint.description or "")[:300],
                "usage_count": blueprint.usage_count,
                "approved_version": version.number if version is not None else None,
            }
        )
    return {"blueprints": out, "count": len(out), "truncated": len(blueprints) > args.limit}
