"""The approval matrix: roles, tenants, self-approval, prod's two approvals and change ticket, warnings
acknowledged one by one, exactly-once `approved`, the database constraint, rejects, staleness."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction

from runs.approvals import RunStale, run_approve, run_reject, warnings_to_acknowledge
from runs.models import Approval, AuditEvent, Run, RunEvent
from runs.states import IllegalTransition, RunStatus
from runs.tests.factories import gate, planned_run, warning
from tenants.services import config_update

S = RunStatus


def test_approver_approves_dev_run(own, sent, django_capture_on_commit_callbacks):
    run = planned_run(own)
    with django_capture_on_commit_callbacks(execute=True):
        approval = run_approve(user=own.user("approver"), run_id=run.pk, comment="lgtm")
    run.refresh_from_db()
    assert run.status == S.APPROVED
    assert (approval.plan_sha256, approval.spec_sha256, approval.source_sha256) == (
        run.plan_sha256,
        run.spec_sha256,
        run.source_sha256,
    )
    assert (approval.config_version, approval.gate_digest) == (run.config_version, run.gate_digest)
    assert AuditEvent.objects.filter(action="run.approval.approve", object_id=str(run.pk)).exists()
    assert AuditEvent.objects.filter(action="run.approved", object_id=str(run.pk)).exists()
    assert (
        "run_notify",
        {"run_id": run.pk, "tenant_id": own.tenant.pk, "countdown": None, "event": "approved"},
    ) in sent


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_viewer_and_operator_refused(own, role):
    run = planned_run(own)
    with pytest.raises(PermissionDenied):
        run_approve(user=own.user(role), run_id=run.pk)
    assert not Approval.objects.exists()
    run.refresh_from_db()
    assert run.status == S.AWAITING_APPROVAL


def test_admin_may_approve(own):
    run = planned_run(own)
    run_approve(user=own.user("admin"), run_id=run.pk)
    assert Run.objects.get(pk=run.pk).status == S.APPROVED


def test_other_tenant_not_found_and_nothing_changed(own, other):
    run = planned_run(own)
    events = RunEvent.objects.count()
    with pytest.raises(Run.DoesNotExist):
        run_approve(user=other.user("admin"), run_id=run.pk)
    assert not Approval.objects.exists() and RunEvent.objects.count() == events


def test_self_approval_refused_when_forbidden(own):
    approver = own.user("approver")
    run = planned_run(own, requester=approver)
    with pytest.raises(PermissionDenied, match="someone else"):
        run_approve(user=approver, run_id=run.pk)
    own.tenant.forbid_self_approval = False
    own.tenant.save()
    run_approve(user=approver, run_id=run.pk)
    assert Run.objects.get(pk=run.pk).status == S.APPROVED


def test_prod_needs_a_ticket_and_two_approvals(own):
    run = planned_run(own, env="prod")
    assert run.approvals_required == 2
    with pytest.raises(ValidationError, match="change ticket"):
        run_approve(user=own.user("approver"), run_id=run.pk)
    run_approve(user=own.user("approver"), run_id=run.pk, change_ticket="CHG-1")
    run.refresh_from_db()
    assert run.status == S.AWAITING_APPROVAL
    run_approve(user=own.user("admin"), run_id=run.pk, change_ticket="CHG-1")
    run.refresh_from_db()
    assert run.status == S.APPROVED
    assert RunEvent.objects.filter(run=run, to_status=S.APPROVED).count() == 1


def test_approvals_required_follows_the_setting(own, settings):
    from runs.services import approvals_required_for

    settings.GANTRY_APPROVALS_REQUIRED = {"prod": 3, "staging": 2}
    assert (
        approvals_required_for("prod"),
        approvals_required_for("staging"),
        approvals_required_for("dev"),
    ) == (3, 2, 1)


def test_same_approver_twice_is_idempotent_and_does_not_count_twice(own):
    run = planned_run(own, env="prod")
    first = run_approve(user=own.user("approver"), run_id=run.pk, change_ticket="CHG-1")
    again = run_approve(user=own.user("approver"), run_id=run.pk, change_ticket="CHG-1")
    assert first.pk == again.pk
    assert Approval.objects.filter(run=run).count() == 1
    assert Run.objects.get(pk=run.pk).status == S.AWAITING_APPROVAL


def test_database_refuses_a_second_live_approval(own):
    run = planned_run(own)
    user = own.user("approver")
    values = {
        "tenant": own.tenant,
        "run": run,
        "approver": user,
        "plan_sha256": run.plan_sha256,
        "config_version": 1,
    }
    Approval.objects.create(decision="approve", **values)
    with pytest.raises(IntegrityError), transaction.atomic():
        Approval.objects.create(decision="approve", **values)
    with pytest.raises(IntegrityError), transaction.atomic():
        Approval.objects.create(decision="reject", **values)
    # a voided approval no longer counts against the constraint
    Approval.objects.filter(run=run).update(voided_at="2026-01-01T00:00:00Z")
    Approval.objects.create(decision="approve", **values)
    # another plan of the same run is another approval
    Approval.objects.create(decision="approve", **{**values, "plan_sha256": "f" * 64})


def test_double_click_after_approved_returns_the_approval(own):
    run = planned_run(own)
    first = run_approve(user=own.user("approver"), run_id=run.pk)
    again = run_approve(user=own.user("approver"), run_id=run.pk)
    assert first.pk == again.pk and Approval.objects.count() == 1
    assert RunEvent.objects.filter(run=run, to_status=S.APPROVED).count() == 1
    with pytest.raises(IllegalTransition):
        run_approve(user=own.user("admin"), run_id=run.pk)  # not awaiting any more


def test_warnings_must_be_acknowledged_one_by_one(own):
    gates = [gate("safety"), gate("checkov_plan", "warn", [warning("CKV_AWS_1"), warning("CKV_AWS_2")])]
    run = planned_run(own, gates=gates)
    keys = [w.key for w in warnings_to_acknowledge(run)]
    assert keys == ["checkov_plan:CKV_AWS_1:aws_s3_bucket.this", "checkov_plan:CKV_AWS_2:aws_s3_bucket.this"]
    with pytest.raises(ValidationError, match="CKV_AWS_1"):
        run_approve(user=own.user("approver"), run_id=run.pk)
    with pytest.raises(ValidationError, match="CKV_AWS_2"):
        run_approve(user=own.user("approver"), run_id=run.pk, acknowledged_warnings=keys[:1])
    with pytest.raises(ValidationError, match="Not warnings"):
        run_approve(user=own.user("approver"), run_id=run.pk, acknowledged_warnings=[*keys, "bogus"])
    approval = run_approve(user=own.user("approver"), run_id=run.pk, acknowledged_warnings=keys)
    assert approval.acknowledged_warnings == keys


def test_reject_needs_a_reason_and_ends_the_run(own):
    run = planned_run(own)
    with pytest.raises(ValidationError):
        run_reject(user=own.user("approver"), run_id=run.pk, comment="")
    run_reject(user=own.user("approver"), run_id=run.pk, comment="wrong bucket")
    run.refresh_from_db()
    assert run.status == S.REJECTED


def test_config_edited_before_approval_makes_the_run_stale(own):
    run = planned_run(own)
    config_update(actor_membership=own.members["admin"], config_id=own.dev.pk, default_tags={"Owner": "x"})
    with pytest.raises(RunStale, match="changed"):
        run_approve(user=own.user("approver"), run_id=run.pk)
    run.refresh_from_db()
    assert run.status == S.STALE and not Approval.objects.exists()


def test_plan_changed_under_the_approver(own):
    run = planned_run(own)
    with pytest.raises(ValidationError, match="plan changed"):
        run_approve(user=own.user("approver"), run_id=run.pk, plan_sha256="0" * 64)
    run_approve(user=own.user("approver"), run_id=run.pk, plan_sha256=run.plan_sha256)


def test_restricted_config_approver_needs_grant(own):
    from guardian.shortcuts import assign_perm

    own.prod.restricted = True
    own.prod.save()
    run = planned_run(own, env="prod")
    with pytest.raises(PermissionDenied, match="restricted"):
        run_approve(user=own.user("approver"), run_id=run.pk, change_ticket="CHG-2")
    assign_perm("tenants.use_config", own.user("approver"), own.prod)
    run_approve(user=own.user("approver"), run_id=run.pk, change_ticket="CHG-2")
