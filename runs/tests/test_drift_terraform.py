"""Drift, reconcile and destroy with the real Terraform CLI against the embedded sandbox (moto server).

One stack lives through it all: `static_bucket` is applied; a check right after finds no drift; its tags are
changed behind Terraform's back with boto3; the drift sweep starts a check that finds exactly that
difference; a reconcile run plans the
bucket back to its code and is applied; the next check finds no drift; a destroy run removes the stack.
"""

from __future__ import annotations

import json
import secrets

import pytest
from django.utils import timezone

from iac import sandbox_trail
from iac.spec import build_spec
from portal.testing.requirements import requires
from runs import worker
from runs.approvals import run_approve, warnings_to_acknowledge
from runs.drift import applied_stacks, drift_sweep
from runs.models import Notification, Run, RunKind
from runs.services import _create_run, run_destroy_request, run_reconcile_request, run_request_apply
from runs.states import RunStatus
from tenants.aws import session_for_account

S = RunStatus

pytestmark = [
    pytest.mark.terraform,
    requires("terraform"),
]


def plan(run: Run) -> Run:
    assert worker.run_generate(run.pk, tenant_id=run.tenant_id) == S.VALIDATING
    worker.run_plan(run.pk, tenant_id=run.tenant_id)
    run.refresh_from_db()
    return run


def approve_and_apply(world, run: Run) -> Run:
    assert run.status == S.AWAITING_APPROVAL, (run.error, run.log_tail[-2000:])
    keys = [w.key for w in warnings_to_acknowledge(run)]
    run_approve(user=world.user("approver"), run_id=run.pk, acknowledged_warnings=keys)
    run_request_apply(user=world.user("operator"), run_id=run.pk)
    assert worker.run_apply(run.pk, tenant_id=run.tenant_id) == S.APPLIED, Run.objects.get(pk=run.pk).error
    run.refresh_from_db()
    return run


def check_drift(now) -> Run:
    (run_id,) = drift_sweep(now=now)
    return plan(Run.objects.get(pk=run_id))


def bucket_tags(account, bucket: str) -> dict[str, str]:
    s3 = session_for_account(account).client("s3")
    return {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=bucket)["TagSet"]}


@pytest.fixture(autouse=True)
def _no_trail_left_behind():
    yield
    sandbox_trail.clear_events()


def test_drift_found_reconciled_then_destroyed(own, sandbox_settings, sent):
    bucket = f"acme-drift-{secrets.token_hex(4)}"
    spec = build_spec("static_bucket", {"bucket_name": bucket, "force_destroy": True},
                      account=own.account, config=own.dev)  # fmt: skip
    change = _create_run(
        config=own.dev,
        user=own.user("operator"),
        request_text=f"create an s3 bucket named {bucket}",
        status=S.QUEUED,
        message="test",
        spec=spec.model_dump(mode="json"),
    )
    change = approve_and_apply(own, plan(change))
    # 1. outputs stored after apply, with their sensitivity
    assert change.outputs["bucket_id"] == {"value": bucket, "sensitive": False, "type": "string"}
    assert change.stage_timings["apply"]["status"] == "passed"
    assert [r.pk for r in applied_stacks()] == [change.pk]

    # Not due yet: nothing is checked before the environment's interval has passed.
    assert drift_sweep(now=timezone.now()) == []
    later = timezone.now() + timezone.timedelta(days=2)

    # 2. A check right after the apply is clean: the apply refreshed the state under the workspace lock,
    # so the attributes the aws provider only fills on refresh (aws_s3_bucket's legacy versioning,
    # encryption, policy and lifecycle, set by the separate resources) are not reported as drift.
    assert change.stage_timings["refresh"]["status"] == "passed", change.stage_timings
    clean = check_drift(later)
    assert clean.kind == RunKind.DRIFT and clean.stage_timings["plan"]["status"] == "passed"
    assert clean.status == S.NO_CHANGES, json.dumps(clean.plan_summary)[:4000]
    assert clean.plan_summary["drifted"] == 0 and clean.plan_summary["drift"]["resources"] == []
    assert clean.plan_summary["drift"]["cloudtrail"] == {"status": "not_needed"}

    # 3. someone edits the bucket's tags outside Terraform
    s3 = session_for_account(own.account).client("s3")
    tags = {**bucket_tags(own.account, bucket), "Owner": "someone-else"}
    s3.put_bucket_tagging(
        Bucket=bucket, Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in tags.items()]}
    )
    # ... and CloudTrail records who (the sandbox keeps no event history of its own: it is seeded)
    edited_at = timezone.now()
    bucket_resource = [{"ResourceType": "AWS::S3::Bucket", "ResourceName": bucket}]
    sandbox_trail.seed_events(own.account.account_id, spec.region, [
        {"EventName": "PutBucketTagging", "Username": "someone-else", "EventSource": "s3.amazonaws.com",
         "EventTime": edited_at, "Resources": bucket_resource},
        {"EventName": "PutBucketTagging", "Username": f"gantry-acme-{change.pk}", "EventTime": edited_at,
         "Resources": bucket_resource},  # Gantry's own session: not a suspect
    ])  # fmt: skip

    drifted = check_drift(later + timezone.timedelta(days=2))
    assert drifted.plan_summary["drifted"] == 1, json.dumps(drifted.plan_summary)[:4000]
    assert drifted.status == S.AWAITING_APPROVAL, (drifted.error, drifted.log_tail[-2000:])
    drift = drifted.plan_summary["drift"]
    by_address = {r["address"]: r for r in drift["resources"]}
    assert "module.stack.module.bucket.aws_s3_bucket.this" in by_address, list(by_address)
    differences = {
        d["attribute"]: d for d in by_address["module.stack.module.bucket.aws_s3_bucket.this"]["differences"]
    }
    assert differences["tags.Owner"]["before"] == "team"
    assert differences["tags.Owner"]["after"] == "someone-else"
    # who changed it, from CloudTrail (without the history, see test_drift.py: reported unavailable)
    assert drift["cloudtrail"] == {"status": "available"}
    assert by_address["module.stack.module.bucket.aws_s3_bucket.this"]["changed_by"] == [
        {"event": "PutBucketTagging", "user": "someone-else", "source": "s3.amazonaws.com",
         "time": edited_at.isoformat()}
    ]  # fmt: skip
    assert drifted.events.order_by("-seq").first().message.startswith("Drift detected in")
    # approvers are told (that the task is queued on commit is covered in test_drift.py)
    from runs.notifications import notify_run

    notify_run(drifted, event=S.AWAITING_APPROVAL)
    notified = set(Notification.objects.filter(run=drifted).values_list("user__username", flat=True))
    assert notified == {"acme-approver", "acme-admin"}

    # 4. reconcile: a normal plan of the applied code puts the tag back
    reconcile = run_reconcile_request(user=own.user("operator"), run_id=drifted.pk)
    assert Run.objects.get(pk=drifted.pk).status == S.SUPERSEDED
    reconcile = plan(reconcile)
    assert reconcile.kind == RunKind.RECONCILE and reconcile.plan_summary["change"] >= 1
    approve_and_apply(own, reconcile)
    assert bucket_tags(own.account, bucket)["Owner"] == "team"
    after = check_drift(later + timezone.timedelta(days=4))
    assert after.status == S.NO_CHANGES, json.dumps(after.plan_summary)[:4000]

    # 5. destroy: same gates and approvals, applied like a change
    destroy = plan(run_destroy_request(user=own.user("operator"), run_id=reconcile.pk))
    assert destroy.kind == RunKind.DESTROY and destroy.plan_summary["destroy"] >= 2, destroy.plan_summary
    gates = list(destroy.gate_results.values_list("name", flat=True))
    assert gates == ["safety", "fmt", "validate", "checkov_code", "opa", "cost"]
    destroy = approve_and_apply(own, destroy)
    assert destroy.outputs == {}
    assert bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert applied_stacks() == []  # nothing left to check for drift
