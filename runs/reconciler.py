"""The periodic sweep (Celery beat → `runs.runs_reconcile`).

- A run in a worker stage whose worker holds a lease but whose heartbeat is older than
  GANTRY_HEARTBEAT_TIMEOUT_SECONDS is `interrupted` (never retried automatically); its workspace lock is
  kept and flagged for an admin, because Terraform's state lock may still be held.
- Runs awaiting approval (or approved and not yet applied) past their approval window are `expired`.
- Runs waiting for a worker with no lease (queued, validating, or approved with an apply requested) for
  longer than GANTRY_RUN_NUDGE_SECONDS are enqueued again (the tasks are idempotent).
- A lock held by an ended run is released; if that run's worker vanished without cleaning up, it is
  flagged instead.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import asdict, dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from . import locks
from .models import Run, WorkspaceLock
from .services import transition
from .states import END_STATES, IN_FLIGHT, IllegalTransition, RunStatus

logger = logging.getLogger(__name__)
S = RunStatus


@dataclass
class ReconcileReport:
    interrupted: list[int] = field(default_factory=list)
    expired: list[int] = field(default_factory=list)
    nudged: list[int] = field(default_factory=list)
    locks_released: list[int] = field(default_factory=list)
    locks_flagged: list[int] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def heartbeat_timeout() -> timedelta:
    return timedelta(seconds=int(getattr(settings, "GANTRY_HEARTBEAT_TIMEOUT_SECONDS", 120)))


def nudge_after() -> timedelta:
    return timedelta(seconds=int(getattr(settings, "GANTRY_RUN_NUDGE_SECONDS", 600)))


def reconcile(*, now=None) -> ReconcileReport:
    now = now or timezone.now()
    report = ReconcileReport()
    _interrupt_lost(now, report)
    _expire_approvals(now, report)
    _nudge_waiting(now, report)
    _tidy_locks(now, report)
    if any(report.as_dict().values()):
        logger.info("reconciler: %s", report.as_dict())
    return report


def _interrupt_lost(now, report: ReconcileReport) -> None:
    cutoff = now - heartbeat_timeout()
    lost = (
        Run.objects.filter(status__in=list(IN_FLIGHT))
        .exclude(worker_lease="")
        .filter(Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, updated_at__lt=cutoff))
    )
    for run in lost.only("pk", "status"):
        stage = run.status
        try:
            transition(
                run.pk,
                S.INTERRUPTED,
                message=f"The worker stopped reporting during {stage}; the workspace lock is kept for review",
                data={"stage": stage},
                expect_from=stage,
                worker_lease="",
                lease_expires_at=None,
                error=f"Worker lost during {stage}.",
                error_category="interrupted",
            )
        except IllegalTransition:
            continue
        report.interrupted.append(run.pk)


def _expire_approvals(now, report: ReconcileReport) -> None:
    due = Run.objects.filter(
        status__in=[S.AWAITING_APPROVAL, S.APPROVED], approval_deadline__lte=now, worker_lease=""
    )
    for run in due.only("pk", "status"):
        try:
            transition(
                run.pk,
                S.EXPIRED,
                message="The approval window passed",
                expect_from=run.status,
            )
        except IllegalTransition:
            continue
        report.expired.append(run.pk)


def _nudge_waiting(now, report: ReconcileReport) -> None:
    from . import tasks

    cutoff = now - nudge_after()
    waiting = (
        Run.objects.filter(worker_lease="", updated_at__lt=cutoff)
        .filter(
            Q(status__in=[S.QUEUED, S.VALIDATING]) | Q(status=S.APPROVED, apply_requested_at__isnull=False)
        )
        .only("pk", "tenant_id", "status")
    )
    names = {S.QUEUED: "run_generate", S.VALIDATING: "run_plan", S.APPROVED: "run_apply"}
    for run in waiting:
        tasks.dispatch(names[run.status], run_id=run.pk, tenant_id=run.tenant_id)
        report.nudged.append(run.pk)


def _tidy_locks(now, report: ReconcileReport) -> None:
    from .worker import workdir_for

    for lock in WorkspaceLock.objects.filter(flagged=False).select_related("run"):
        run = lock.run
        if run.status not in END_STATES:
            continue
        lease_live = (
            bool(run.worker_lease) and run.lease_expires_at is not None and run.lease_expires_at > now
        )
        if lease_live:
            continue  # the worker is still winding down
        if run.worker_lease:
            locks.flag_for_run(
                run, f"Run #{run.pk} ended ({run.status}) without its worker releasing the lock"
            )
            report.locks_flagged.append(lock.pk)
        else:
            locks.release_for_run(run)
            shutil.rmtree(workdir_for(run), ignore_errors=True)
            report.locks_released.append(lock.pk)
