"""Run tasks: ids in, `runs.worker` / services called, nothing returned through the result backend.

Queues (routed by `portal.celery_routes.CELERY_TASK_ROUTES`): `agents` (generation), `plan` (render, gates,
plan), `apply` (apply only), `default` (notifications, the reconciler). Every task reloads the run and
refuses when the run belongs to another tenant than the `tenant_id` it was sent with. Plans retry with backoff on transient AWS errors (each retry
starts from an empty work dir); applies are never retried.
"""

from __future__ import annotations

import logging

from celery import shared_task

from . import worker

logger = logging.getLogger(__name__)

PLAN_MAX_RETRIES = 3


def _refuse(name: str, exc: Exception) -> str:
    logger.warning("%s refused: %s", name, exc)
    return "refused"


@shared_task(name="runs.run_generate", acks_late=True)
def run_generate(run_id: int, tenant_id: int | None = None) -> str:
    try:
        return worker.run_generate(run_id, tenant_id=tenant_id)
    except worker.TenantMismatch as exc:
        return _refuse("run_generate", exc)


@shared_task(
    name="runs.run_plan",
    bind=True,
    acks_late=True,
    max_retries=PLAN_MAX_RETRIES,
)
def run_plan(self, run_id: int, tenant_id: int | None = None) -> str:
    final = self.request.retries >= self.max_retries
    try:
        return worker.run_plan(run_id, tenant_id=tenant_id, final_attempt=final)
    except worker.TenantMismatch as exc:
        return _refuse("run_plan", exc)
    except worker.TransientError as exc:
        countdown = min(300, 15 * 2**self.request.retries)
        raise self.retry(exc=exc, countdown=countdown) from exc


@shared_task(name="runs.run_apply", acks_late=False, max_retries=0)
def run_apply(run_id: int, tenant_id: int | None = None) -> str:
    # acks_late off: a worker lost mid-apply must not have the message redelivered (the reconciler marks
    # the run interrupted instead). The lease and the run status make a duplicate a no-op anyway.
    try:
        return worker.run_apply(run_id, tenant_id=tenant_id)
    except worker.TenantMismatch as exc:
        return _refuse("run_apply", exc)


@shared_task(name="runs.run_notify")
def run_notify(run_id: int, tenant_id: int | None = None, event: str = "") -> str:
    from .notifications import notify_run

    try:
        run = worker.load_run(run_id, tenant_id)
    except worker.TenantMismatch as exc:
        return _refuse("run_notify", exc)
    if run is None:
        return "noop"
    notify_run(run, event=event or run.status)
    return "sent"


@shared_task(name="runs.webhook_deliver", bind=True, max_retries=5)
def webhook_deliver(self, tenant_id: int, payload: dict) -> str:
    from .notifications import WebhookError, deliver_webhook

    try:
        return deliver_webhook(tenant_id=tenant_id, payload=payload)
    except WebhookError as exc:
        if exc.retry:
            raise self.retry(exc=exc, countdown=min(600, 30 * 2**self.request.retries)) from exc
        return "failed"


@shared_task(name="runs.runs_reconcile")
def runs_reconcile() -> dict:
    from .reconciler import reconcile

    return reconcile().as_dict()


@shared_task(name="runs.drift_sweep")
def drift_sweep() -> list[int]:
    """Start the drift checks that are due (each one is a run of kind `drift` on the normal queues)."""
    from .drift import drift_sweep as sweep

    return sweep()


TASKS = {
    "run_generate": run_generate,
    "run_plan": run_plan,
    "run_apply": run_apply,
    "run_notify": run_notify,
}


def dispatch(name: str, *, run_id: int, tenant_id: int | None, countdown: int | None = None, **extra) -> None:
    """Send a run task by name with ids only (called after commit by `runs.services`). Tests replace
    this to record what would be sent."""
    TASKS[name].apply_async(kwargs={"run_id": run_id, "tenant_id": tenant_id, **extra}, countdown=countdown)


def dispatch_webhook(*, tenant_id: int, payload: dict) -> None:
    webhook_deliver.apply_async(kwargs={"tenant_id": tenant_id, "payload": payload})
