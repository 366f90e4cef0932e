"""Request-side services: create, clarify, cancel, discard, re-plan, request apply, force unlock; role
and tenant checks (another tenant's id is DoesNotExist and changes nothing)."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from guardian.shortcuts import assign_perm

from runs import services
from runs.models import Approval, AuditEvent, Run, RunEvent, WorkspaceLock
from runs.services import (
    run_cancel,
    run_create,
    run_discard,
    run_replan,
    run_request_apply,
    transition,
    workspace_force_unlock,
)
from runs.states import IllegalTransition, RunStatus
from runs.tests.factories import RunFactory, planned_run

S = RunStatus


def snapshot():
    return (
        Run.objects.count(),
        RunEvent.objects.count(),
        AuditEvent.objects.count(),
        Approval.objects.count(),
        WorkspaceLock.objects.count(),
        list(Run.objects.order_by("pk").values_list("status", flat=True)),
    )


# --- create -----------------------------------------------------------------------------------------


def test_operator_creates_a_queued_run(own, sent, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        run = run_create(
            user=own.user("operator"),
            config_id=own.dev.pk,
            request_text="create an s3 bucket named acme-logs",
        )
    assert run.status == S.QUEUED and run.tenant == own.tenant
    assert run.intent["action"] == "create" and run.parser in ("offline", "llm")
    assert run.workspace_key == f"{own.tenant.pk}/{own.dev.workspace}"
    assert run.events.get().to_status == S.QUEUED
    assert AuditEvent.objects.filter(action="run.created", object_id=str(run.pk)).exists()
    assert sent == [("run_generate", {"run_id": run.pk, "tenant_id": own.tenant.pk, "countdown": None})]


def test_ambiguous_request_needs_clarification_and_is_not_enqueued(own, sent, monkeypatch):
    questions = [{"field": "targets", "question": "Which ones?", "options": ["all"]}]
    monkeypatch.setattr(
        services,
        "_understand",
        lambda text, config, tenant=None: {
            "intent": {"action": "modify"},
            "parser": "offline",
            "belief": {},
            "questions": questions,
            "kind": "change",
        },
    )
    run = run_create(user=own.user("operator"), config_id=own.dev.pk, request_text="make it bigger")
    assert run.status == S.NEEDS_CLARIFICATION
    assert run.clarification == {"questions": questions, "answers": {}}
    assert sent == []


def test_answering_clarification_queues_the_run(own, sent, django_capture_on_commit_callbacks):
    # The issue names this request as one that must ask before anything runs.
    run = run_create(user=own.user("operator"), config_id=own.dev.pk, request_text="Check my compliance")
    assert run.status == S.NEEDS_CLARIFICATION
    fields = [q["field"] for q in run.clarification["questions"]]
    answers = {}
    for q in run.clarification["questions"]:
        answers[q["field"]] = q["options"][0] if q.get("options") else "ap-south-1"
    with django_capture_on_commit_callbacks(execute=True):
        run = services.run_answer_clarification(user=own.user("operator"), run_id=run.pk, answers=answers)
    assert fields
    assert run.status in (S.QUEUED, S.NEEDS_CLARIFICATION)
    if run.status == S.QUEUED:
        assert sent[-1][0] == "run_generate"
        assert run.clarification["answers"]


def test_answer_on_a_run_without_a_readable_intent_is_refused_and_changes_nothing(own, sent):
    run = RunFactory(config=own.dev, status=S.NEEDS_CLARIFICATION, intent={})
    with pytest.raises(ValidationError, match="no readable intent"):
        services.run_answer_clarification(user=own.user("operator"), run_id=run.pk, answers={"region": "x"})
    run.refresh_from_db()
    assert run.status == S.NEEDS_CLARIFICATION and run.intent == {} and sent == []


def test_answer_on_a_run_not_waiting_is_refused(own):
    run = RunFactory(config=own.dev, status=S.QUEUED)
    with pytest.raises(IllegalTransition):
        services.run_answer_clarification(user=own.user("operator"), run_id=run.pk, answers={"region": "x"})


@pytest.mark.parametrize("text", ["", "   "])
def test_empty_request_refused(own, text):
    with pytest.raises(ValidationError):
        run_create(user=own.user("operator"), config_id=own.dev.pk, request_text=text)


def test_viewer_cannot_create(own):
    before = snapshot()
    with pytest.raises(PermissionDenied):
        run_create(user=own.user("viewer"), config_id=own.dev.pk, request_text="create a bucket")
    assert snapshot() == before


def test_other_tenants_config_is_not_found(own, other):
    before = snapshot()
    with pytest.raises(own.dev.__class__.DoesNotExist):
        run_create(user=own.user("admin"), config_id=other.dev.pk, request_text="create a bucket")
    assert snapshot() == before


def test_restricted_config_needs_a_grant(own):
    own.prod.restricted = True
    own.prod.save()
    operator = own.user("operator")
    with pytest.raises(PermissionDenied, match="restricted"):
        run_create(user=operator, config_id=own.prod.pk, request_text="create an s3 bucket named x-logs")
    assign_perm("tenants.use_config", operator, own.prod)
    run = run_create(user=operator, config_id=own.prod.pk, request_text="create an s3 bucket named x-logs")
    assert run.config == own.prod


def test_restricted_config_runs_are_not_actionable_without_grant(own):
    own.prod.restricted = True
    own.prod.save()
    run = RunFactory(config=own.prod, status=S.QUEUED)
    operator = own.user("operator")
    assert Run.objects.for_user(operator, "view").filter(pk=run.pk).exists()
    assert not Run.objects.for_user(operator, "run.cancel").filter(pk=run.pk).exists()
    with pytest.raises(PermissionDenied):
        run_cancel(user=operator, run_id=run.pk)
    assert Run.objects.for_user(own.user("admin"), "run.cancel").filter(pk=run.pk).exists()


# --- cancel / discard -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "status",
    [
        S.NEEDS_CLARIFICATION,
        S.QUEUED,
        S.GENERATING,
        S.VALIDATING,
        S.PLANNING,
        S.POLICY_CHECK,
        S.AWAITING_APPROVAL,
        S.APPROVED,
    ],
)
def test_cancel_any_unfinished_run(own, status):
    run = RunFactory(config=own.dev, status=status)
    run = run_cancel(user=own.user("operator"), run_id=run.pk, reason="not needed")
    assert run.status == S.CANCELLED and run.finished_at


@pytest.mark.parametrize("status", [S.APPLYING, S.APPLIED, S.FAILED, S.CANCELLED])
def test_cancel_refused_for_applying_and_ended(own, status):
    run = RunFactory(config=own.dev, status=status)
    with pytest.raises(IllegalTransition):
        run_cancel(user=own.user("operator"), run_id=run.pk)


def test_cancel_roles_and_tenants(own, other):
    run = RunFactory(config=own.dev, status=S.QUEUED)
    with pytest.raises(PermissionDenied):
        run_cancel(user=own.user("viewer"), run_id=run.pk)
    before = snapshot()
    with pytest.raises(Run.DoesNotExist):
        run_cancel(user=other.user("admin"), run_id=run.pk)
    assert snapshot() == before


def test_cancel_mid_stage_keeps_the_lock_for_the_worker(own):
    from django.utils import timezone

    run = RunFactory(
        config=own.dev,
        status=S.PLANNING,
        worker_lease="abc",
        lease_expires_at=timezone.now() + timezone.timedelta(seconds=60),
    )
    WorkspaceLock.objects.create(tenant=own.tenant, workspace_key=run.workspace_key, run=run)
    run_cancel(user=own.user("operator"), run_id=run.pk)
    assert WorkspaceLock.objects.filter(run=run).exists()  # the worker releases it once Terraform stopped


def test_cancel_of_a_waiting_run_releases_lock_and_voids_approvals(own):
    run = planned_run(own)
    approval = Approval.objects.create(
        tenant=own.tenant,
        run=run,
        approver=own.user("approver"),
        decision="approve",
        plan_sha256=run.plan_sha256,
        config_version=1,
    )
    run_cancel(user=own.user("operator"), run_id=run.pk)
    approval.refresh_from_db()
    assert approval.voided_at is not None


def test_discard_only_waiting_runs(own):
    waiting = planned_run(own)
    assert run_discard(user=own.user("operator"), run_id=waiting.pk).status == S.CANCELLED
    busy = RunFactory(config=own.dev, status=S.PLANNING)
    with pytest.raises(IllegalTransition, match="discarded"):
        run_discard(user=own.user("operator"), run_id=busy.pk)


# --- re-plan ----------------------------------------------------------------------------------------


def test_replan_supersedes_waiting_run_and_voids_approvals(own, sent, django_capture_on_commit_callbacks):
    run = planned_run(own)
    approval = Approval.objects.create(
        tenant=own.tenant,
        run=run,
        approver=own.user("approver"),
        decision="approve",
        plan_sha256=run.plan_sha256,
        config_version=1,
    )
    with django_capture_on_commit_callbacks(execute=True):
        new = run_replan(user=own.user("operator"), run_id=run.pk)
    run.refresh_from_db()
    approval.refresh_from_db()
    assert run.status == S.SUPERSEDED and new.status == S.QUEUED and new.replaces == run
    assert approval.voided_at is not None and "superseded" in approval.void_reason
    assert ("run_generate", {"run_id": new.pk, "tenant_id": own.tenant.pk, "countdown": None}) in sent


def test_replan_of_an_ended_run_leaves_it(own):
    run = RunFactory(config=own.dev, status=S.STALE)
    new = run_replan(user=own.user("operator"), run_id=run.pk)
    run.refresh_from_db()
    assert run.status == S.STALE and new.replaces == run


def test_replan_refused_mid_stage_and_across_tenants(own, other):
    run = RunFactory(config=own.dev, status=S.PLANNING)
    with pytest.raises(IllegalTransition):
        run_replan(user=own.user("operator"), run_id=run.pk)
    before = snapshot()
    with pytest.raises(Run.DoesNotExist):
        run_replan(user=other.user("operator"), run_id=run.pk)
    assert snapshot() == before


# --- request apply ----------------------------------------------------------------------------------


def test_request_apply_enqueues_once(own, sent, django_capture_on_commit_callbacks):
    run = planned_run(own, status=S.APPROVED)
    Approval.objects.create(
        tenant=own.tenant,
        run=run,
        approver=own.user("approver"),
        decision="approve",
        plan_sha256=run.plan_sha256,
        spec_sha256=run.spec_sha256,
        source_sha256=run.source_sha256,
        config_version=run.config_version,
        gate_digest=run.gate_digest,
    )
    with django_capture_on_commit_callbacks(execute=True):
        run_request_apply(user=own.user("operator"), run_id=run.pk)
        run_request_apply(user=own.user("operator"), run_id=run.pk)  # a double click
    assert [name for name, _ in sent] == ["run_apply"]
    run.refresh_from_db()
    assert run.apply_requested_at and run.apply_requested_by == own.user("operator")


def test_request_apply_on_stale_run_moves_it_to_stale(own):
    run = planned_run(own, status=S.APPROVED)  # no approvals at all
    run = run_request_apply(user=own.user("operator"), run_id=run.pk)
    assert run.status == S.STALE


def test_request_apply_needs_approved(own):
    run = planned_run(own)
    with pytest.raises(IllegalTransition):
        run_request_apply(user=own.user("operator"), run_id=run.pk)
    with pytest.raises(PermissionDenied):
        run_request_apply(user=own.user("viewer"), run_id=run.pk)


# --- force unlock -----------------------------------------------------------------------------------


def _flagged_lock(world):
    run = RunFactory(config=world.dev, status=S.PLANNING)
    WorkspaceLock.objects.create(tenant=world.tenant, workspace_key=run.workspace_key, run=run)
    transition(run.pk, S.INTERRUPTED, message="worker lost")
    WorkspaceLock.objects.filter(run=run).update(terraform_lock_id="tf-lock-1")
    return WorkspaceLock.objects.get(run=run)


def test_force_unlock_admin_only_with_lock_id(own):
    lock = _flagged_lock(own)
    with pytest.raises(PermissionDenied):
        workspace_force_unlock(user=own.user("approver"), lock_id=lock.pk, terraform_lock_id="tf-lock-1")
    with pytest.raises(ValidationError):
        workspace_force_unlock(user=own.user("admin"), lock_id=lock.pk, terraform_lock_id="")
    with pytest.raises(ValidationError):
        workspace_force_unlock(user=own.user("admin"), lock_id=lock.pk, terraform_lock_id="wrong")
    workspace_force_unlock(
        user=own.user("admin"), lock_id=lock.pk, terraform_lock_id="tf-lock-1", reason="checked"
    )
    assert not WorkspaceLock.objects.exists()
    event = AuditEvent.objects.get(action="workspace.force_unlocked")
    assert event.data["terraform_lock_id"] == "tf-lock-1" and event.actor == own.user("admin")


def test_force_unlock_other_tenant_not_found(own, other):
    lock = _flagged_lock(own)
    before = snapshot()
    with pytest.raises(WorkspaceLock.DoesNotExist):
        workspace_force_unlock(user=other.user("admin"), lock_id=lock.pk, terraform_lock_id="tf-lock-1")
    assert snapshot() == before


def test_a_model_parse_is_shared_by_the_preview_and_the_submit(own, settings, monkeypatch):
    from agents import llm_parser
    from agents.offline_parser import parse

    settings.GANTRY_LLM_MODEL = "openai/gpt-test"
    calls = []

    def fake_parse(text, **kwargs):
        calls.append(text)
        return llm_parser.ParseResult(intent=parse(text), parser=parser)

    monkeypatch.setattr(llm_parser, "parse_request", fake_parse)
    parser = "llm"
    first = services._understand("create an s3 bucket named acme-logs", own.dev, tenant=own.tenant)
    again = services._understand("create an s3 bucket named acme-logs", own.dev, tenant=own.tenant)
    assert calls == ["create an s3 bucket named acme-logs"] and first == again
    # A fallback (offline) parse is not cached: the model is asked again next time.
    parser = "offline"
    services._understand("create an s3 bucket named acme-data", own.dev, tenant=own.tenant)
    services._understand("create an s3 bucket named acme-data", own.dev, tenant=own.tenant)
    assert calls.count("create an s3 bucket named acme-data") == 2
