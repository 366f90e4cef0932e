"""The lifecycle table and `transition`: every legal move, a sample of illegal ones, and the records each
move leaves (a RunEvent and an AuditEvent, in the same transaction)."""

from __future__ import annotations

import itertools

import pytest
from django.db import transaction

from runs.audit import verify_chain
from runs.models import AuditEvent, Run, RunEvent, WorkspaceLock
from runs.services import UnexpectedStatus, transition
from runs.states import END_STATES, MAIN_LINE, TRANSITIONS, IllegalTransition, RunStatus, check_transition
from runs.tests.factories import RunFactory

S = RunStatus
LEGAL = sorted((a, b) for a, targets in TRANSITIONS.items() for b in targets)


def test_table_covers_every_status_and_the_main_line_is_legal():
    assert set(TRANSITIONS) == set(S.values)
    for a, b in itertools.pairwise(MAIN_LINE):
        check_transition(a, b)
    for end in END_STATES:
        assert TRANSITIONS[end] == frozenset()
    check_transition(S.NEEDS_CLARIFICATION, S.QUEUED)


@pytest.mark.parametrize(("from_status", "to_status"), LEGAL)
def test_every_legal_transition(own, from_status, to_status):
    run = RunFactory(config=own.dev, status=from_status)
    actor = own.user("operator")
    moved = transition(run.pk, to_status, actor=actor, message="step", data={"k": 1})
    assert moved.status == to_status
    event = RunEvent.objects.get(run=run)
    assert (event.from_status, event.to_status, event.seq, event.actor) == (from_status, to_status, 1, actor)
    audit = AuditEvent.objects.get(object_id=str(run.pk), action=f"run.{to_status}")
    assert audit.tenant == own.tenant and audit.data["from"] == from_status and audit.data["k"] == 1
    assert (moved.finished_at is not None) == (to_status in END_STATES)


ILLEGAL = [
    (S.QUEUED, S.APPLIED),
    (S.QUEUED, S.APPROVED),
    (S.QUEUED, S.PLANNING),
    (S.GENERATING, S.AWAITING_APPROVAL),
    (S.VALIDATING, S.APPLYING),
    (S.AWAITING_APPROVAL, S.APPLYING),
    (S.AWAITING_APPROVAL, S.APPLIED),
    (S.APPROVED, S.APPLIED),
    (S.APPLYING, S.CANCELLED),
    (S.APPLYING, S.APPROVED),
    (S.APPLIED, S.QUEUED),
    (S.FAILED, S.QUEUED),
    (S.INTERRUPTED, S.PLANNING),
    (S.STALE, S.APPLYING),
    (S.CANCELLED, S.QUEUED),
    (S.NEEDS_CLARIFICATION, S.GENERATING),
]


@pytest.mark.parametrize(("from_status", "to_status"), ILLEGAL)
def test_illegal_transitions_refused_and_nothing_written(own, from_status, to_status):
    run = RunFactory(config=own.dev, status=from_status)
    with pytest.raises(IllegalTransition, match=f"from {from_status} to {to_status}"):
        transition(run.pk, to_status)
    run.refresh_from_db()
    assert run.status == from_status
    assert not RunEvent.objects.filter(run=run).exists()
    assert not AuditEvent.objects.filter(object_id=str(run.pk), object_type="runs.run").exists()


def test_unknown_status_and_unknown_field(own):
    run = RunFactory(config=own.dev)
    with pytest.raises(IllegalTransition, match="not a run status"):
        transition(run.pk, "exploded")
    with pytest.raises(Exception, match="no field"):
        transition(run.pk, S.GENERATING, no_such_field=1)
    with pytest.raises(TypeError):
        transition(run.pk, S.GENERATING, status=S.APPLIED)


def test_expect_from_refuses_a_late_caller(own):
    run = RunFactory(config=own.dev, status=S.CANCELLED)
    with pytest.raises(UnexpectedStatus, match="expected the run to be queued"):
        transition(run.pk, S.GENERATING, expect_from=S.QUEUED)


def test_fields_are_set_with_the_move(own):
    run = RunFactory(config=own.dev, status=S.GENERATING)
    moved = transition(run.pk, S.FAILED, error="boom", error_category="internal")
    moved.refresh_from_db()
    assert (moved.error, moved.error_category) == ("boom", "internal")


def test_rollback_leaves_neither_event_nor_audit(own):
    run = RunFactory(config=own.dev)
    before = AuditEvent.objects.count()
    with pytest.raises(RuntimeError), transaction.atomic():
        transition(run.pk, S.GENERATING)
        raise RuntimeError("the caller's transaction fails later")
    run.refresh_from_db()
    assert run.status == S.QUEUED
    assert not RunEvent.objects.filter(run=run).exists()
    assert AuditEvent.objects.count() == before
    assert verify_chain(str(own.tenant.pk)).ok


def test_seq_increases_and_chain_verifies(own):
    run = RunFactory(config=own.dev)
    for status in (S.GENERATING, S.VALIDATING, S.PLANNING):
        transition(run.pk, status)
    assert list(RunEvent.objects.filter(run=run).values_list("seq", flat=True)) == [1, 2, 3]
    assert Run.objects.get(pk=run.pk).last_event_seq == 3
    assert verify_chain(str(own.tenant.pk)).ok


def test_enqueue_happens_after_commit_with_ids_only(own, sent, django_capture_on_commit_callbacks):
    run = RunFactory(config=own.dev, status=S.GENERATING)
    with django_capture_on_commit_callbacks(execute=True):
        transition(run.pk, S.VALIDATING, enqueue="run_plan")
    assert ("run_plan", {"run_id": run.pk, "tenant_id": own.tenant.pk, "countdown": None}) in sent


def test_enqueue_dropped_on_rollback(own, sent, django_capture_on_commit_callbacks):
    run = RunFactory(config=own.dev, status=S.GENERATING)
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        transition(run.pk, S.VALIDATING, enqueue="run_plan")
        raise RuntimeError
    assert callbacks == [] and sent == []


def test_end_state_releases_the_lock_interrupted_flags_it(own):
    done = RunFactory(config=own.dev, status=S.PLANNING)
    WorkspaceLock.objects.create(tenant=own.tenant, workspace_key=done.workspace_key, run=done)
    transition(done.pk, S.FAILED)
    assert not WorkspaceLock.objects.exists()

    lost = RunFactory(config=own.dev, status=S.PLANNING)
    WorkspaceLock.objects.create(tenant=own.tenant, workspace_key=lost.workspace_key, run=lost)
    transition(lost.pk, S.INTERRUPTED, message="worker lost")
    lock = WorkspaceLock.objects.get()
    assert lock.flagged and lock.flag_reason == "worker lost"
