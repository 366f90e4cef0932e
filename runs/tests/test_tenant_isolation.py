"""Every run service given another tenant's id answers DoesNotExist (404) and changes nothing; the
selectors never show another tenant's rows."""

from __future__ import annotations

import threading
import time

import pytest
from django.utils import timezone

from runs import selectors, services, worker
from runs.approvals import run_approve, run_reject
from runs.models import Approval, AuditEvent, Notification, Run, RunEvent, WorkspaceLock
from runs.states import RunStatus
from runs.tests.factories import RunFactory, planned_run

S = RunStatus


def state():
    return (
        list(Run.objects.order_by("pk").values_list("pk", "status", "last_event_seq", "apply_requested_at")),
        RunEvent.objects.count(),
        AuditEvent.objects.count(),
        Approval.objects.count(),
        WorkspaceLock.objects.count(),
    )


CALLS = {
    "answer": lambda user, run: services.run_answer_clarification(
        user=user, run_id=run.pk, answers={"a": "b"}
    ),
    "cancel": lambda user, run: services.run_cancel(user=user, run_id=run.pk),
    "discard": lambda user, run: services.run_discard(user=user, run_id=run.pk),
    "replan": lambda user, run: services.run_replan(user=user, run_id=run.pk),
    "request_apply": lambda user, run: services.run_request_apply(user=user, run_id=run.pk),
    "approve": lambda user, run: run_approve(user=user, run_id=run.pk, change_ticket="CHG"),
    "reject": lambda user, run: run_reject(user=user, run_id=run.pk, comment="no"),
}


@pytest.mark.parametrize("status", [S.NEEDS_CLARIFICATION, S.AWAITING_APPROVAL, S.APPROVED])
@pytest.mark.parametrize("call", sorted(CALLS))
def test_other_tenants_admin_gets_does_not_exist(own, other, call, status):
    run = planned_run(own, status=status)
    before = state()
    with pytest.raises(Run.DoesNotExist):
        CALLS[call](other.user("admin"), run)
    assert state() == before


def test_selectors_are_scoped(own, other):
    mine = planned_run(own)
    theirs = planned_run(other)
    user = own.user("viewer")
    assert list(selectors.runs_for_user(user)) == [mine]
    with pytest.raises(Run.DoesNotExist):
        selectors.run_for_user(user, theirs.pk)
    assert list(selectors.runs_awaiting_my_approval(own.user("approver"))) == [mine]
    assert list(selectors.runs_awaiting_my_approval(own.user("operator"))) == []
    Notification.objects.create(tenant=other.tenant, user=user, run=theirs, kind="x", message="x")
    assert selectors.notifications_for_user(user).count() == 0  # a membership is needed too


def test_runs_list_filters(own):
    queued = RunFactory(config=own.dev, status=S.QUEUED)
    waiting = planned_run(own)
    done = RunFactory(config=own.prod, status=S.APPLIED)
    viewer = own.user("viewer")
    assert set(selectors.runs_for_user(viewer, state="active")) == {queued}
    assert set(selectors.runs_for_user(viewer, state="waiting")) == {waiting}
    assert set(selectors.runs_for_user(viewer, state="finished")) == {done}
    assert set(selectors.runs_for_user(viewer, config_id=own.prod.pk)) == {done}
    assert selectors.run_status_payload(done)["finished"] is True


@pytest.mark.django_db(transaction=True)
def test_heartbeat_thread_beats_and_notices_cancellation(own, settings):
    run = RunFactory(config=own.dev, status=S.PLANNING)
    token = services.lease_acquire(run.pk, statuses=[S.PLANNING], seconds=30)
    Run.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timezone.timedelta(minutes=5))
    cancel = threading.Event()
    log = worker.LogTail()
    with worker.Heartbeat(run.pk, token, cancel_event=cancel, log=log, interval=0.05):
        log("terraform is planning")
        deadline = time.monotonic() + 10
        while Run.objects.get(pk=run.pk).log_tail != "terraform is planning" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert Run.objects.get(pk=run.pk).heartbeat_at > timezone.now() - timezone.timedelta(seconds=5)
        services.transition(run.pk, S.CANCELLED)
        assert cancel.wait(10)
    assert Run.objects.get(pk=run.pk).log_tail == "terraform is planning"
