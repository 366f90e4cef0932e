"""The periodic sweep: lost workers → interrupted (lock kept and flagged), approval windows → expired,
waiting runs nudged, leaked locks tidied."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from runs.models import Approval, Run, WorkspaceLock
from runs.reconciler import reconcile
from runs.states import RunStatus
from runs.tests.factories import RunFactory, planned_run

S = RunStatus


def leased(world, status, *, beat_seconds_ago):
    now = timezone.now()
    run = RunFactory(
        config=world.dev,
        status=status,
        worker_lease="token",
        lease_expires_at=now - timedelta(seconds=1),
        heartbeat_at=now - timedelta(seconds=beat_seconds_ago),
    )
    WorkspaceLock.objects.create(tenant=world.tenant, workspace_key=run.workspace_key, run=run)
    return run


@pytest.mark.parametrize("status", [S.GENERATING, S.VALIDATING, S.PLANNING, S.POLICY_CHECK, S.APPLYING])
def test_stale_heartbeat_is_interrupted_and_lock_flagged(
    own, status, sent, django_capture_on_commit_callbacks
):
    run = leased(own, status, beat_seconds_ago=600)
    with django_capture_on_commit_callbacks(execute=True):
        report = reconcile()
    run.refresh_from_db()
    assert report.interrupted == [run.pk]
    assert run.status == S.INTERRUPTED and run.worker_lease == "" and run.error_category == "interrupted"
    lock = WorkspaceLock.objects.get(run=run)
    assert lock.flagged and status in lock.flag_reason
    assert (
        "run_notify",
        {"run_id": run.pk, "tenant_id": own.tenant.pk, "countdown": None, "event": "interrupted"},
    ) in sent
    # nothing retries it, and a second sweep leaves it alone
    assert reconcile().interrupted == [] and WorkspaceLock.objects.get(run=run).flagged


def test_fresh_heartbeat_is_left_alone(own):
    run = leased(own, S.PLANNING, beat_seconds_ago=5)
    assert reconcile().interrupted == []
    assert Run.objects.get(pk=run.pk).status == S.PLANNING


def test_timeout_is_a_setting(own, settings):
    settings.GANTRY_HEARTBEAT_TIMEOUT_SECONDS = 10
    run = leased(own, S.PLANNING, beat_seconds_ago=30)
    assert reconcile().interrupted == [run.pk]


def test_approval_window_expires(own, settings):
    run = planned_run(own)
    Approval.objects.create(
        tenant=own.tenant,
        run=run,
        approver=own.user("approver"),
        decision="approve",
        plan_sha256=run.plan_sha256,
        config_version=1,
    )
    assert reconcile().expired == []
    later = timezone.now() + timedelta(hours=73)
    assert reconcile(now=later).expired == [run.pk]
    run.refresh_from_db()
    assert run.status == S.EXPIRED
    assert Approval.objects.get(run=run).voided_at is not None


def test_approved_but_not_applied_also_expires(own):
    run = planned_run(own, status=S.APPROVED)
    assert reconcile(now=timezone.now() + timedelta(hours=73)).expired == [run.pk]


def test_window_is_a_setting(own, settings):
    settings.GANTRY_APPROVAL_WINDOW_HOURS = 1
    from runs.services import approval_window

    assert approval_window() == timedelta(hours=1)


def test_waiting_runs_are_nudged(own, sent):
    run = RunFactory(config=own.dev, status=S.VALIDATING)
    Run.objects.filter(pk=run.pk).update(updated_at=timezone.now() - timedelta(hours=1))
    assert reconcile().nudged == [run.pk]
    assert sent == [("run_plan", {"run_id": run.pk, "tenant_id": own.tenant.pk})]


def test_lock_of_an_ended_run_is_released_or_flagged(own):
    clean = RunFactory(config=own.dev, status=S.CANCELLED)
    WorkspaceLock.objects.create(tenant=own.tenant, workspace_key=clean.workspace_key, run=clean)
    vanished = RunFactory(
        config=own.prod,
        status=S.CANCELLED,
        worker_lease="t",
        lease_expires_at=timezone.now() - timedelta(minutes=5),
    )
    WorkspaceLock.objects.create(tenant=own.tenant, workspace_key=vanished.workspace_key, run=vanished)
    report = reconcile()
    assert len(report.locks_released) == 1 and len(report.locks_flagged) == 1
    assert not WorkspaceLock.objects.filter(run=clean).exists()
    assert WorkspaceLock.objects.get(run=vanished).flagged
