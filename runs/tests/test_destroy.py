"""Destroy runs: who may ask, which stack, and that the run takes the normal gates and approval path with a
destroy plan (the Terraform side is in test_drift_terraform.py)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from iac.pipeline import PipelineResult, PipelineStatus, Stage
from runs import plan_variants, worker
from runs.models import Run, RunKind
from runs.services import run_destroy_request
from runs.states import RunStatus
from runs.tests.factories import SPEC, RunFactory
from tenants.roles import Role

S = RunStatus


def applied(world, *, config=None, kind=RunKind.CHANGE, ago_minutes=60, spec=None):
    return RunFactory(
        config=config or world.dev,
        requested_by=world.user("operator"),
        status=S.APPLIED,
        kind=kind,
        spec=spec or SPEC,
        finished_at=timezone.now() - timezone.timedelta(minutes=ago_minutes),
    )


@pytest.mark.parametrize("role", [Role.VIEWER, Role.OPERATOR, Role.APPROVER, Role.ADMIN])
def test_permission_matrix_own_tenant(own, role, sent, django_capture_on_commit_callbacks):
    run = applied(own)
    if role == Role.VIEWER:
        with pytest.raises(PermissionDenied):
            run_destroy_request(user=own.user(role), run_id=run.pk)
        assert Run.objects.count() == 1 and sent == []
        return
    with django_capture_on_commit_callbacks(execute=True):
        destroy = run_destroy_request(user=own.user(role), run_id=run.pk)
    assert destroy.kind == RunKind.DESTROY and destroy.status == S.QUEUED
    assert destroy.spec == run.spec and destroy.config_id == run.config_id
    assert destroy.requested_by == own.user(role)
    assert destroy.events.get().data == {"destroys": run.pk, "stack": "static_bucket"}
    assert sent == [("run_generate", {"run_id": destroy.pk, "tenant_id": own.tenant.pk, "countdown": None})]


@pytest.mark.parametrize("role", [Role.VIEWER, Role.OPERATOR, Role.APPROVER, Role.ADMIN])
def test_another_tenants_run_is_not_found_and_nothing_changes(own, other, role, sent):
    run = applied(own)
    with pytest.raises(Run.DoesNotExist):
        run_destroy_request(user=other.user(role), run_id=run.pk)
    assert Run.objects.count() == 1 and sent == []


def test_only_the_stacks_last_applied_run_can_be_destroyed(own):
    older = applied(own, ago_minutes=120)
    newer = applied(own, ago_minutes=10)
    with pytest.raises(ValidationError, match=f"Run #{newer.pk} applied this stack since"):
        run_destroy_request(user=own.user("operator"), run_id=older.pk)
    applied(own, kind=RunKind.DESTROY, ago_minutes=1)
    with pytest.raises(ValidationError, match="destroyed already"):
        run_destroy_request(user=own.user("operator"), run_id=newer.pk)


@pytest.mark.parametrize("status", [S.AWAITING_APPROVAL, S.FAILED, S.NO_CHANGES])
def test_a_run_that_was_not_applied_cannot_be_destroyed(own, status):
    run = RunFactory(config=own.dev, status=status, spec=SPEC)
    with pytest.raises(ValidationError, match="Only an applied run"):
        run_destroy_request(user=own.user("operator"), run_id=run.pk)


def test_a_destroy_request_in_plain_words_is_refused_clearly(own, sent):
    from runs.services import run_create

    run = run_create(
        user=own.user("operator"), config_id=own.dev.pk, request_text="create an s3 bucket named acme-x"
    )
    Run.objects.filter(pk=run.pk).update(kind=RunKind.DESTROY)
    assert worker.run_generate(run.pk, tenant_id=own.tenant.pk) == S.FAILED
    assert "from its applied run" in Run.objects.get(pk=run.pk).error


def fake_destroy_plan(calls):
    def plan(spec, *, workdir, on_stage, **kwargs):
        calls.append(spec.stack)
        workdir = Path(workdir)
        workdir.mkdir(parents=True)
        (workdir / "main.tf").write_text("# rendered")
        planfile = workdir / "plan.tfplan"
        planfile.write_bytes(b"destroy plan")
        on_stage("plan", "started", {})
        from iac.gates.base import GateResult as Gate

        return PipelineResult(
            status=PipelineStatus.PASSED,
            spec_sha256=spec.sha256(),
            render=SimpleNamespace(source_sha256="s" * 64, files={"main.tf": ""}, to_dict=dict),
            stages=[Stage("plan", "ok", 40)],
            gates=[Gate("safety"), Gate("opa"), Gate("cost")],
            changes=True,
            plan_file=str(planfile),
            plan_sha256=hashlib.sha256(b"destroy plan").hexdigest(),
            plan_json_redacted={"resource_changes": [{"change": {"actions": ["delete"]}}] * 2},
            plan_text="- destroy",
            gate_digest="d" * 64,
        )

    return plan


@pytest.mark.parametrize("env, approvals", [("dev", 1), ("prod", 2)])
def test_a_destroy_run_is_planned_with_a_destroy_plan_and_needs_the_envs_approvals(
    own, monkeypatch, env, approvals
):
    from iac.spec import build_spec

    config = own.prod if env == "prod" else own.dev
    spec = build_spec("static_bucket", {"bucket_name": "acme-gone"}, account=own.account, config=config)
    run = applied(own, config=config, spec=spec.model_dump(mode="json"))
    calls: list[str] = []
    monkeypatch.setattr(plan_variants, "destroy_plan", fake_destroy_plan(calls))
    destroy = run_destroy_request(user=own.user("operator"), run_id=run.pk)
    assert worker.run_generate(destroy.pk, tenant_id=own.tenant.pk) == S.VALIDATING
    assert worker.run_plan(destroy.pk, tenant_id=own.tenant.pk) == S.AWAITING_APPROVAL
    destroy.refresh_from_db()
    assert calls == ["static_bucket"]
    assert destroy.plan_summary["destroy"] == 2 and destroy.approvals_required == approvals
    statuses = list(destroy.events.values_list("to_status", flat=True))
    assert statuses == [S.QUEUED, S.GENERATING, S.VALIDATING, S.PLANNING, S.POLICY_CHECK, S.AWAITING_APPROVAL]
