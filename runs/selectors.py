"""Scoped reads for runs. Lists, the CSV export and the API share these, so each shows the same rows."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from .audit import audit_record
from .models import Approval, Artifact, GateResult, Notification, Run, RunEvent, WorkspaceLock
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
    """The artifact if the user may download it (else Artifact.DoesNotExist); writes the audit event."""
    artifact = (
        Artifact.objects.for_user(user, "artifact.download")
        .select_related("run", "tenant")
        .get(pk=artifact_id)
    )
    Run.objects.for_user(user, "view").get(pk=artifact.run_id)
    audit_record(
        tenant=artifact.tenant,
        action="artifact.downloaded",
        actor=user,
        target=artifact,
        summary=f"{artifact.kind} of run #{artifact.run_id}",
        data={"kind": artifact.kind, "sha256": artifact.sha256, "run": artifact.run_id},
    )
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
