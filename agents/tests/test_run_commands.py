"""`manage.py approve` and `manage.py apply`: the run page's services as a named member, scriptable."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from runs.models import Approval, AuditEvent, Run
from runs.states import RunStatus
from runs.tests.factories import planned_run

S = RunStatus


@pytest.fixture(autouse=True)
def sent(monkeypatch, settings, tmp_path):
    """Tasks are recorded instead of sent."""
    from runs import tasks

    recorded: list[str] = []
    monkeypatch.setattr(tasks, "dispatch", lambda name, **kw: recorded.append(name))
    monkeypatch.setattr(tasks, "dispatch_webhook", lambda **kw: None)
    settings.GANTRY_HEARTBEAT_SECONDS = 0
    settings.GANTRY_WORK_ROOT = tmp_path / "work"
    return recorded


def command(name: str, *argv) -> tuple[int, str]:
    """(exit code, what it printed: stdout, or the error message)."""
    out = StringIO()
    try:
        call_command(name, *[str(a) for a in argv], stdout=out, stderr=StringIO())
    except CommandError as exc:
        return exc.returncode, str(exc)
    return 0, out.getvalue()


def _unchanged(run: Run) -> None:
    fresh = Run.objects.get(pk=run.pk)
    assert fresh.status == run.status and fresh.apply_requested_at is None
    assert not Approval.objects.filter(run=run).exists()


def test_approve_then_apply(own, sent, django_capture_on_commit_callbacks):
    run = planned_run(own)
    code, out = command(
        "approve",
        run.pk,
        "--user",
        own.user("approver").email,
        "--comment",
        "looks right",
        "--ticket",
        "CHG-1",
    )
    assert code == 0, out
    assert f"Run #{run.pk} approved by approver@acme.test (1 of 1)" in out
    approval = Approval.objects.get(run=run)
    assert approval.approver == own.user("approver") and approval.plan_sha256 == run.plan_sha256
    assert approval.comment == "looks right" and approval.change_ticket == "CHG-1"
    assert Run.objects.get(pk=run.pk).status == S.APPROVED
    assert AuditEvent.objects.filter(action="run.approval.approve", object_id=str(run.pk)).exists()

    with django_capture_on_commit_callbacks(execute=True):
        code, out = command("apply", run.pk, "--user", own.user("operator").email)
    assert code == 0, out
    assert f"Apply requested for run #{run.pk}" in out
    fresh = Run.objects.get(pk=run.pk)
    assert fresh.apply_requested_by == own.user("operator") and fresh.apply_requested_at is not None
    assert sent == ["run_apply"]
    assert AuditEvent.objects.filter(action="run.apply_requested", object_id=str(run.pk)).exists()


@pytest.mark.parametrize(("role", "message"), [("viewer", "run.approve"), ("operator", "run.approve")])
def test_approve_needs_an_approver(own, role, message):
    run = planned_run(own)
    code, out = command("approve", run.pk, "--user", own.user(role).email)
    assert code == 1 and message in out
    _unchanged(run)


def test_another_tenants_run_is_not_found(own, other):
    run = planned_run(other)
    code, out = command("approve", run.pk, "--user", own.user("admin").email)
    assert (code, out) == (1, f"Run #{run.pk} not found.")
    code, out = command("apply", run.pk, "--user", own.user("admin").email)
    assert (code, out) == (1, f"Run #{run.pk} not found.")
    _unchanged(run)


def test_prod_needs_a_change_ticket(own):
    run = planned_run(own, env="prod")
    code, out = command("approve", run.pk, "--user", own.user("approver").email)
    assert code == 1 and "change ticket is required for prod" in out
    _unchanged(run)


def test_gate_warnings_must_be_acknowledged(own):
    from runs.tests.factories import gate, warning

    run = planned_run(own, gates=[gate("safety"), gate("checkov_code", "warn", [warning("CKV_AWS_1")])])
    code, out = command("approve", run.pk, "--user", own.user("approver").email)
    assert code == 1 and "checkov_code:CKV_AWS_1:aws_s3_bucket.this" in out
    _unchanged(run)
    code, out = command(
        "approve",
        run.pk,
        "--user",
        own.user("approver").email,
        "--acknowledge",
        "checkov_code:CKV_AWS_1:aws_s3_bucket.this",
    )
    assert code == 0, out
    assert Approval.objects.get(run=run).acknowledged_warnings == [
        "checkov_code:CKV_AWS_1:aws_s3_bucket.this"
    ]


def test_the_requester_cannot_approve_their_own_run(own):
    run = planned_run(own, requester=own.user("approver"))
    code, out = command("approve", run.pk, "--user", own.user("approver").email)
    assert code == 1 and "someone else has to approve it" in out
    _unchanged(run)


def test_apply_refusals(own, sent):
    approved = planned_run(own, status=S.APPROVED)
    code, out = command("apply", approved.pk, "--user", own.user("viewer").email)
    assert code == 1 and "run.apply" in out
    waiting = planned_run(own)
    code, out = command("apply", waiting.pk, "--user", own.user("operator").email)
    assert code == 1 and "only an approved run can be applied" in out
    assert Run.objects.get(pk=approved.pk).apply_requested_at is None
    assert Run.objects.get(pk=waiting.pk).status == S.AWAITING_APPROVAL and sent == []


def test_apply_of_a_run_found_stale_exits_1(own, sent):
    run = planned_run(own, status=S.APPROVED)  # approved, but no approval binds its plan
    code, out = command("apply", run.pk, "--user", own.user("operator").email)
    assert code == 1 and "Not applied" in out and "Stale" in out
    assert Run.objects.get(pk=run.pk).status == S.STALE and sent == []


def test_unknown_user_or_run(own):
    run = planned_run(own)
    assert command("approve", run.pk, "--user", "nobody@acme.test") == (1, "No user nobody@acme.test.")
    assert command("apply", 999999, "--user", own.user("operator").email) == (1, "Run #999999 not found.")
    _unchanged(run)
