"""A request through the real pipeline: the offline parser, the infra agent, the renderer, every gate and
`terraform plan`/`apply` against the embedded sandbox (moto on loopback)."""

from __future__ import annotations

import secrets
import shutil

import pytest

from portal.testing.requirements import requires
from runs import worker
from runs.approvals import run_approve, warnings_to_acknowledge
from runs.models import AppliedPlan, Artifact, GateResult
from runs.services import run_create, run_request_apply
from runs.states import RunStatus

S = RunStatus

pytestmark = [
    pytest.mark.terraform,
    requires("terraform"),
]


def test_request_plan_approve_apply(own, sandbox_settings):
    name = f"acme-e2e-{secrets.token_hex(4)}"
    run = run_create(
        user=own.user("operator"), config_id=own.dev.pk, request_text=f"create an s3 bucket named {name}"
    )
    assert run.status == S.QUEUED, run.clarification
    assert worker.run_generate(run.pk, tenant_id=own.tenant.pk) == S.VALIDATING
    outcome = worker.run_plan(run.pk, tenant_id=own.tenant.pk)
    run.refresh_from_db()
    gates = {g.name: g.status for g in GateResult.objects.filter(run=run)}
    assert outcome == S.AWAITING_APPROVAL, (run.error, gates, run.log_tail[-2000:])
    assert run.plan_sha256 and run.source_sha256 and run.gate_digest and run.has_changes
    assert list(gates) == ["safety", "fmt", "validate", "checkov_code", "opa", "checkov_plan", "cost"]
    kinds = set(Artifact.objects.filter(run=run).values_list("kind", flat=True))
    assert {"source_archive", "plan_file", "plan_json_redacted", "plan_text", "gate_report"} <= kinds

    keys = [w.key for w in warnings_to_acknowledge(run)]
    run_approve(user=own.user("approver"), run_id=run.pk, acknowledged_warnings=keys)
    run_request_apply(user=own.user("operator"), run_id=run.pk)
    # as if the apply worker were another machine: the work dir is rebuilt from the stored artifacts
    shutil.rmtree(worker.workdir_for(run))
    assert worker.run_apply(run.pk, tenant_id=own.tenant.pk) == S.APPLIED, run.error
    run.refresh_from_db()
    assert AppliedPlan.objects.filter(run=run).exists() and "Apply complete" in run.log_tail
