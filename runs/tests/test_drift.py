"""Drift without Terraform: the schedule, what a drift run records (differences, CloudTrail or its absence),
notifications, and the reconcile service with its permission matrix (real Terraform:
test_drift_terraform.py)."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from iac.pipeline import PipelineResult, PipelineStatus, Stage
from iac.redaction import MASK
from runs import drift, plan_variants, worker
from runs.models import Run, RunKind
from runs.notifications import _message
from runs.services import run_reconcile_request
from runs.states import RunStatus
from runs.tests.factories import SPEC, RunFactory
from tenants.roles import Role

S = RunStatus

DRIFTED_PLAN = {
    "resource_drift": [
        {
            "address": "module.bucket.aws_s3_bucket.this",
            "type": "aws_s3_bucket",
            "name": "this",
            "change": {
                "actions": ["update"],
                "before": {"id": "acme-logs", "tags": {"Owner": "team"}, "password": "old"},
                "after": {"id": "acme-logs", "tags": {"Owner": "someone"}, "password": "new"},
                "before_sensitive": {"password": True},
                "after_sensitive": {"password": True},
            },
        },
        {
            "address": "aws_kms_key.this",
            "type": "aws_kms_key",
            "name": "this",
            "change": {"actions": ["delete"], "before": {"id": "key-1"}, "after": None},
        },
    ],
    "resource_changes": [],
}


def applied(world, *, config=None, kind=RunKind.CHANGE, ago=timedelta(days=2), spec=None):
    return RunFactory(
        config=config or world.dev,
        status=S.APPLIED,
        kind=kind,
        spec=spec or SPEC,
        finished_at=timezone.now() - ago,
    )


# --- the schedule ------------------------------------------------------------------------------------


def test_interval_per_environment_and_setting(settings):
    assert drift.drift_interval("prod") == timedelta(hours=6)
    assert drift.drift_interval("dev") == timedelta(hours=24)
    settings.GANTRY_DRIFT_CHECK_HOURS = {"dev": 0, "prod": 1}
    assert drift.drift_interval("dev") is None and drift.drift_interval("prod") == timedelta(hours=1)


def test_sweep_starts_one_check_per_due_stack(own, sent, django_capture_on_commit_callbacks):
    stack = applied(own)
    with django_capture_on_commit_callbacks(execute=True):
        (run_id,) = drift.drift_sweep()
    check = Run.objects.get(pk=run_id)
    assert check.kind == RunKind.DRIFT and check.status == S.QUEUED and check.requested_by is None
    assert check.spec == stack.spec and check.config_id == stack.config_id
    assert check.events.get().data == {"applied_run": stack.pk, "stack": "static_bucket"}
    assert sent == [("run_generate", {"run_id": run_id, "tenant_id": own.tenant.pk, "countdown": None})]
    assert drift.drift_sweep() == []  # the check is still open

    Run.objects.filter(pk=run_id).update(status=S.NO_CHANGES)
    assert drift.drift_sweep() == []  # checked just now
    assert len(drift.drift_sweep(now=timezone.now() + timedelta(hours=25))) == 1


def test_sweep_follows_each_environments_interval(own):
    applied(own, config=own.dev, ago=timedelta(hours=7))
    prod = applied(own, config=own.prod, ago=timedelta(hours=7))
    (run_id,) = drift.drift_sweep()
    assert Run.objects.get(pk=run_id).config_id == prod.config_id


def test_destroyed_or_never_applied_stacks_are_not_checked(own, other):
    applied(own, ago=timedelta(days=3))
    applied(own, kind=RunKind.DESTROY, ago=timedelta(days=2))
    RunFactory(config=other.dev, status=S.FAILED, spec=SPEC)
    assert drift.applied_stacks() == [] and drift.drift_sweep() == []


# --- what a drift run records ------------------------------------------------------------------------


def test_drift_is_masked_and_listed_per_attribute():
    redacted = plan_variants.redact_plan(DRIFTED_PLAN)
    resources = plan_variants.drifted_resources(DRIFTED_PLAN, redacted)
    bucket, key = resources
    differences = {d["attribute"]: d for d in bucket["differences"]}
    assert differences["tags.Owner"] == {"attribute": "tags.Owner", "before": "team", "after": "someone"}
    assert differences["password"]["before"] == MASK and differences["password"]["after"] == MASK
    assert bucket["masked"] and bucket["id"] == "acme-logs" and bucket["actions"] == ["update"]
    assert key["differences"] == [{"attribute": "(resource)", "before": "exists", "after": "deleted"}]
    assert "old" not in str(redacted["resource_drift"])


def drift_result(spec, plan=DRIFTED_PLAN):
    return SimpleNamespace(plan_json=plan, plan_json_redacted=plan_variants.redact_plan(plan), spec=spec)


@pytest.fixture
def trail(sandbox_settings):
    """seed(events) -> the own account's CloudTrail history in the sandbox, in the spec's region."""
    from iac import sandbox_trail

    yield lambda account, events: sandbox_trail.seed_events(account.account_id, SPEC["region"], events)
    sandbox_trail.clear_events()


def test_cloudtrail_names_who_changed_it_leaving_out_gantry(own, trail):
    stack = applied(own)
    check = RunFactory(config=own.dev, kind=RunKind.DRIFT, status=S.POLICY_CHECK, spec=SPEC)
    when = timezone.now() - timedelta(hours=1)
    bucket = [{"ResourceType": "AWS::S3::Bucket", "ResourceName": "acme-logs"}]
    trail(own.account, [
        {"EventName": "PutBucketTagging", "Username": "alice", "EventSource": "s3.amazonaws.com",
         "EventTime": when, "Resources": bucket},
        {"EventName": "PutBucketTagging", "Username": f"gantry-acme-{stack.pk}", "EventTime": when,
         "Resources": bucket},
        {"EventName": "DeleteBucketPolicy", "Username": "bob", "EventTime": stack.finished_at - timedelta(hours=1),
         "Resources": bucket},  # before the last apply: not this drift
        {"EventName": "PutBucketTagging", "Username": "carol", "EventTime": when,
         "Resources": [{"ResourceName": "another-bucket"}]},
    ])  # fmt: skip
    message, fields = drift.drift_fields(check, drift_result(SPEC), summary={"add": 0})
    assert message.startswith("Drift detected in 2 resource(s): module.bucket.aws_s3_bucket.this")
    summary = fields["plan_summary"]
    assert summary["add"] == 0 and summary["drifted"] == 2
    assert summary["drift"]["cloudtrail"] == {"status": "available"}
    assert summary["drift"]["applied_run"] == stack.pk
    by_address = {r["address"]: r for r in summary["drift"]["resources"]}
    assert by_address["module.bucket.aws_s3_bucket.this"]["changed_by"] == [
        {"event": "PutBucketTagging", "user": "alice", "source": "s3.amazonaws.com", "time": when.isoformat()}
    ]
    assert by_address["aws_kms_key.this"]["changed_by"] == []  # CloudTrail answers: nobody touched it


def test_cloudtrail_without_the_event_history_is_reported_not_fatal(own, sandbox_settings):
    """The sandbox as it is (moto has no LookupEvents): drift is recorded, attribution says why not."""
    applied(own)
    check = RunFactory(config=own.dev, kind=RunKind.DRIFT, status=S.POLICY_CHECK, spec=SPEC)
    _, fields = drift.drift_fields(check, drift_result(SPEC), summary={})
    cloudtrail = fields["plan_summary"]["drift"]["cloudtrail"]
    assert cloudtrail["status"] == "unavailable" and "LookupEvents failed" in cloudtrail["reason"]
    assert "(500)" in cloudtrail["reason"]  # moto: the action is not implemented
    assert all(r["changed_by"] == [] for r in fields["plan_summary"]["drift"]["resources"])


def fake_refresh(plan_json, changes=True):
    def plan(spec, *, workdir, on_stage, **kwargs):
        workdir = Path(workdir)
        workdir.mkdir(parents=True)
        (workdir / "plan.tfplan").write_bytes(b"refresh plan")
        on_stage("plan", "started", {})
        return PipelineResult(
            status=PipelineStatus.PASSED if changes else PipelineStatus.NO_CHANGES,
            spec_sha256=spec.sha256(),
            render=SimpleNamespace(source_sha256="s" * 64, files={}, to_dict=dict),
            stages=[Stage("plan", "ok", 30)],
            changes=changes,
            plan_file=str(workdir / "plan.tfplan"),
            plan_sha256=hashlib.sha256(b"refresh plan").hexdigest(),
            plan_json=plan_json,
            plan_json_redacted=plan_variants.redact_plan(plan_json),
            gate_digest="d" * 64,
        )

    return plan


@pytest.mark.parametrize("changes", [True, False])
def test_a_drift_run_through_the_worker(
    own, monkeypatch, sent, changes, django_capture_on_commit_callbacks, trail
):
    from iac.spec import build_spec

    spec = build_spec("static_bucket", {"bucket_name": "acme-logs"}, account=own.account, config=own.dev)
    applied(own, spec=spec.model_dump(mode="json"))
    plan = DRIFTED_PLAN if changes else {"resource_changes": []}
    monkeypatch.setattr(plan_variants, "refresh_plan", fake_refresh(plan, changes))
    trail(own.account, [])  # CloudTrail answers, with nothing
    (run_id,) = drift.drift_sweep()
    assert worker.run_generate(run_id, tenant_id=own.tenant.pk) == S.VALIDATING
    with django_capture_on_commit_callbacks(execute=True):
        outcome = worker.run_plan(run_id, tenant_id=own.tenant.pk)
    check = Run.objects.get(pk=run_id)
    if changes:
        assert outcome == S.AWAITING_APPROVAL and check.plan_summary["drifted"] == 2
        assert check.events.order_by("-seq").first().message.startswith("Drift detected in 2")
        assert ("run_notify", {"run_id": run_id, "tenant_id": own.tenant.pk, "countdown": None,
                               "event": S.AWAITING_APPROVAL}) in sent  # fmt: skip
        assert _message(check, S.AWAITING_APPROVAL).startswith("Drift on dev: 2 resource(s) changed")
    else:
        assert outcome == S.NO_CHANGES and check.events.order_by("-seq").first().message == "No drift"
        assert not any(name == "run_notify" for name, _ in sent)


# --- reconcile ---------------------------------------------------------------------------------------


def drift_run(world, status=S.AWAITING_APPROVAL):
    return RunFactory(config=world.dev, kind=RunKind.DRIFT, status=status, spec=SPEC)


@pytest.mark.parametrize("role", [Role.VIEWER, Role.OPERATOR, Role.APPROVER, Role.ADMIN])
def test_reconcile_permission_matrix_own_tenant(own, role, sent, django_capture_on_commit_callbacks):
    found = drift_run(own)
    if role == Role.VIEWER:
        with pytest.raises(PermissionDenied):
            run_reconcile_request(user=own.user(role), run_id=found.pk)
        assert Run.objects.count() == 1 and Run.objects.get(pk=found.pk).status == S.AWAITING_APPROVAL
        return
    with django_capture_on_commit_callbacks(execute=True):
        new = run_reconcile_request(user=own.user(role), run_id=found.pk)
    assert new.kind == RunKind.RECONCILE and new.status == S.QUEUED and new.replaces_id == found.pk
    assert new.spec == found.spec and new.requested_by == own.user(role)
    found.refresh_from_db()
    assert found.status == S.SUPERSEDED
    assert ("run_generate", {"run_id": new.pk, "tenant_id": own.tenant.pk, "countdown": None}) in sent


@pytest.mark.parametrize("role", [Role.VIEWER, Role.OPERATOR, Role.APPROVER, Role.ADMIN])
def test_reconcile_another_tenants_drift_is_not_found(own, other, role):
    found = drift_run(own)
    with pytest.raises(Run.DoesNotExist):
        run_reconcile_request(user=other.user(role), run_id=found.pk)
    assert Run.objects.count() == 1 and Run.objects.get(pk=found.pk).status == S.AWAITING_APPROVAL


def test_only_open_drift_can_be_reconciled(own):
    for run in (drift_run(own, status=S.NO_CHANGES), RunFactory(config=own.dev, status=S.AWAITING_APPROVAL)):
        with pytest.raises(ValidationError):
            run_reconcile_request(user=own.user("operator"), run_id=run.pk)
    assert not Run.objects.filter(kind=RunKind.RECONCILE).exists()


def test_outputs_alone_differing_is_no_drift(own, monkeypatch):
    """A refresh-only plan exits 2 when only output values differ; no resource drifted, so no drift."""
    from iac.spec import build_spec

    spec = build_spec("static_bucket", {"bucket_name": "acme-logs"}, account=own.account, config=own.dev)
    applied(own, spec=spec.model_dump(mode="json"))
    outputs_only = {"resource_changes": [], "output_changes": {"bucket_id": {"actions": ["update"]}}}
    monkeypatch.setattr(plan_variants, "refresh_plan", fake_refresh(outputs_only, changes=True))
    (run_id,) = drift.drift_sweep()
    worker.run_generate(run_id, tenant_id=own.tenant.pk)
    assert worker.run_plan(run_id, tenant_id=own.tenant.pk) == S.NO_CHANGES
    assert Run.objects.get(pk=run_id).plan_summary["drifted"] == 0
