"""Scoped reads for runs. Lists, the CSV export and the API share these, so each shows the same rows."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connections
from django.db.models import Q, QuerySet

from .models import (
    Approval,
    Artifact,
    AuditEvent,
    GateResult,
    Notification,
    Run,
    RunEvent,
    WorkspaceLock,
)
from .states import AWAITING_PEOPLE, END_STATES, IN_FLIGHT, RunStatus


def runs_for_user(
    user,
    *,
    tenant=None,
    status: str | list[str] | None = None,
    config_id: int | None = None,
    kind: str | None = None,
    requested_by_id: int | None = None,
    state: str | None = None,  # "active" | "waiting" | "finished"
) -> QuerySet[Run]:
    qs = Run.objects.for_user(user, "view").select_related("config", "requested_by", "tenant")
    if tenant is not None:
        qs = qs.filter(tenant=tenant)
    if status:
        qs = qs.filter(status__in=[status] if isinstance(status, str) else status)
    if config_id:
        qs = qs.filter(config_id=config_id)
    if kind:
        qs = qs.filter(kind=kind)
    if requested_by_id:
        qs = qs.filter(requested_by_id=requested_by_id)
    if state == "active":
        qs = qs.filter(status__in=[RunStatus.QUEUED, *IN_FLIGHT])
    elif state == "waiting":
        qs = qs.filter(status__in=list(AWAITING_PEOPLE))
    elif state == "finished":
        qs = qs.filter(status__in=list(END_STATES))
    return qs.order_by("-created_at", "-id")


def run_for_user(user, run_id: int, action: str = "view") -> Run:
    """Run.DoesNotExist (404) unless the user may take `action` on it."""
    return (
        Run.objects.for_user(user, action)
        .select_related("config", "config__account", "tenant")
        .get(pk=run_id)
    )


def run_timeline(run: Run) -> QuerySet[RunEvent]:
    return RunEvent.objects.filter(run=run).select_related("actor").order_by("seq")


def run_gates(run: Run) -> QuerySet[GateResult]:
    return GateResult.objects.filter(run=run).order_by("order")


def run_approvals(run: Run, *, live_only: bool = False) -> QuerySet[Approval]:
    qs = Approval.objects.filter(run=run).select_related("approver").order_by("created_at")
    return qs.filter(voided_at__isnull=True) if live_only else qs


def run_artifacts(run: Run) -> QuerySet[Artifact]:
    return Artifact.objects.filter(run=run).order_by("kind", "-created_at")


def runs_awaiting_my_approval(user, *, tenant=None) -> QuerySet[Run]:
    """Runs the user may approve now and has not decided on yet (excluding their own when forbidden)."""
    qs = Run.objects.for_user(user, "run.approve").filter(status=RunStatus.AWAITING_APPROVAL)
    if tenant is not None:
        qs = qs.filter(tenant=tenant)
    decided = Approval.objects.filter(approver=user, voided_at__isnull=True).values("run_id")
    qs = qs.exclude(pk__in=decided).exclude(requested_by=user, tenant__forbid_self_approval=True)
    return qs.select_related("config").order_by("approval_deadline", "created_at")


def artifact_for_download(user, artifact_id: int) -> Artifact:
    """The artifact if the user may download it (else Artifact.DoesNotExist). Read-only: the download
    itself is recorded by `runs.artifacts.artifact_download`."""
    artifact = (
        Artifact.objects.for_user(user, "artifact.download")
        .select_related("run", "tenant")
        .get(pk=artifact_id)
    )
    Run.objects.for_user(user, "view").get(pk=artifact.run_id)
    return artifact


def notifications_for_user(user, *, unread_only: bool = False) -> QuerySet[Notification]:
    qs = Notification.objects.for_user(user, "view").filter(user=user).select_related("run")
    return qs.filter(read_at__isnull=True) if unread_only else qs


def workspace_locks(user, *, tenant=None, flagged_only: bool = False) -> QuerySet[WorkspaceLock]:
    qs = WorkspaceLock.objects.for_user(user, "view").select_related("run")
    if tenant is not None:
        qs = qs.filter(tenant=tenant)
    return qs.filter(flagged=True) if flagged_only else qs


def run_status_payload(run: Run) -> dict[str, Any]:
    """What the polling partial and the API show about a run's progress (from the row, never Celery)."""
    return {
        "id": run.pk,
        "status": run.status,
        "finished": run.status in END_STATES,
        "stage_timings": run.stage_timings,
        "error": run.error,
        "error_category": run.error_category,
        "heartbeat_at": run.heartbeat_at.isoformat() if run.heartbeat_at else None,
        "updated_at": run.updated_at.isoformat() if run.updated_at else None,
    }


# --- audit search -----------------------------------------------------------------------------------
# The audit page, its CSV export and the REST API start from these two scoped querysets and narrow them
# with `runs.filtersets`, so all three show exactly the same rows.


def audit_runs_for_user(user, *, tenant=None, action: str = "audit.view") -> QuerySet[Run]:
    """Runs of the tenants where the user's role allows `action` (reading or exporting the audit),
    newest first."""
    qs = Run.objects.for_user(user, action)
    if tenant is not None:
        qs = qs.filter(tenant=tenant)
    return qs.select_related("tenant", "config", "config__account", "requested_by").order_by(
        "-created_at", "-id"
    )


def audit_events_for_user(user, *, tenant=None, action: str = "audit.view") -> QuerySet[AuditEvent]:
    """Audit events of the tenants where the user's role allows `action`; platform-chain events (no
    tenant) are never included. Newest first."""
    qs = AuditEvent.objects.for_user(user, action)
    if tenant is not None:
        qs = qs.filter(tenant=tenant)
    return qs.select_related("tenant").order_by("-created_at", "-id")


def audit_event_for_user(user, event_id: int, *, tenant=None) -> AuditEvent:
    """AuditEvent.DoesNotExist (404) unless the event is in a tenant where the user may read the audit."""
    return audit_events_for_user(user, tenant=tenant).select_related("actor").get(pk=event_id)


# --- keyset pagination ------------------------------------------------------------------------------
# Audit lists reach millions of rows: pages are cut by (created_at, id) from a cursor, never by OFFSET,
# and the total is never counted over the whole table.


class InvalidCursor(ValueError):
    """A page link that was tampered with or truncated."""


@dataclass(frozen=True)
class Cursor:
    created_at: datetime
    id: int

    def encode(self) -> str:
        raw = json.dumps([self.created_at.isoformat(), self.id]).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> Cursor:
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            stamp, pk = json.loads(raw)
            moment = datetime.fromisoformat(stamp)
            if moment.tzinfo is None or not isinstance(pk, int):
                raise ValueError
        except (ValueError, TypeError, binascii.Error, json.JSONDecodeError) as exc:
            raise InvalidCursor("This page link is not valid; showing the newest rows.") from exc
        return cls(moment, pk)

    @classmethod
    def of(cls, row) -> Cursor:
        return cls(row.created_at, row.pk)


@dataclass(frozen=True)
class KeysetPage:
    rows: list
    newer: str | None  # cursor of the page before (newer rows), None on the first page
    older: str | None  # cursor of the next page (older rows), None on the last page


def keyset_page(
    queryset: QuerySet, *, older_than: str = "", newer_than: str = "", size: int = 50
) -> KeysetPage:
    """One page of `queryset` in (-created_at, -id) order, after or before a cursor.

    Fetches size + 1 rows to know whether another page exists, so no COUNT is ever needed.
    """
    ordered = queryset.order_by("-created_at", "-id")
    if newer_than:
        mark = Cursor.decode(newer_than)
        newer = Q(created_at__gt=mark.created_at) | Q(created_at=mark.created_at, pk__gt=mark.id)
        chunk = list(ordered.filter(newer, created_at__gte=mark.created_at).reverse()[: size + 1])
        has_newer, rows = len(chunk) > size, chunk[:size][::-1]
        has_older = True
    else:
        if older_than:
            mark = Cursor.decode(older_than)
            older = Q(created_at__lt=mark.created_at) | Q(created_at=mark.created_at, pk__lt=mark.id)
            ordered = ordered.filter(older, created_at__lte=mark.created_at)
        chunk = list(ordered[: size + 1])
        has_older, rows = len(chunk) > size, chunk[:size]
        has_newer = bool(older_than)
    if not rows:
        return KeysetPage(rows=[], newer=None, older=None)
    return KeysetPage(
        rows=rows,
        newer=Cursor.of(rows[0]).encode() if has_newer else None,
        older=Cursor.of(rows[-1]).encode() if has_older else None,
    )


@dataclass(frozen=True)
class RowEstimate:
    value: int
    exact: bool
    at_least: bool = False  # `value` is only a lower bound (no planner estimate on this database)

    def __str__(self) -> str:
        if self.exact:
            return f"{self.value:,}"
        return f"more than {self.value:,}" if self.at_least else f"about {self.value:,}"


def estimate_rows(queryset: QuerySet, *, exact_up_to: int = 1000) -> RowEstimate:
    """An exact count when it is small (a bounded scan), else PostgreSQL's planner estimate; never a full
    COUNT(*). Elsewhere (SQLite) a large result is reported as "more than" the bound."""
    bounded = queryset.order_by().values("pk")[: exact_up_to + 1].count()
    if bounded <= exact_up_to:
        return RowEstimate(bounded, exact=True)
    connection = connections[queryset.db]
    if connection.vendor == "postgresql":
        sql, params = queryset.order_by().values("pk").query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
            plan = cursor.fetchone()[0]
        plan = json.loads(plan) if isinstance(plan, str) else plan
        return RowEstimate(max(int(plan[0]["Plan"]["Plan Rows"]), exact_up_to + 1), exact=False)
    return RowEstimate(exact_up_to, exact=False, at_least=True)
