"""The destroy and reconcile pages, the drift report on a drift run's page, and run kind badges.

Each new view gets the role × own/other-tenant matrix: status code, and nothing created or changed on
refusal (the services themselves are covered in test_destroy.py and test_drift.py)."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse
from django.utils import timezone

from iac.redaction import MASK
from runs import artifacts
from runs.models import AuditEvent, Run, RunKind
from runs.states import RunStatus
from runs.tests.factories import SPEC, RunFactory, planned_run

S = RunStatus
ROLES = ["viewer", "operator", "approver", "admin"]
PLANNERS = ["operator", "approver", "admin"]
BUCKET = "module.stack.module.bucket.aws_s3_bucket.this"
PLANNED = {
    "planned_values": {
        "root_module": {
            "child_modules": [
                {
                    "address": "module.stack",
                    "resources": [{"address": "module.stack.data.aws_caller_identity.me", "mode": "data"}],
                    "child_modules": [
                        {
                            "address": "module.stack.module.bucket",
                            "resources": [
                                {"address": BUCKET, "mode": "managed"},
                                {"address": f"{BUCKET}_versioning", "mode": "managed"},
                            ],
                        }
                    ],
                }
            ]
        }
    }
}


MALLORY = {
    "event": "PutBucketTagging",
    "user": "mallory",
    "source": "s3.amazonaws.com",
    "time": "2026-11-20T10:00:00+00:00",
}


def signed_in(client_as, world, role):
    return client_as(world.user(role), tenant=world.tenant, config=world.dev)


def applied_run(world, *, ago_minutes: int = 60) -> Run:
    run = RunFactory(
        config=world.dev,
        requested_by=world.user("operator"),
        status=S.APPLIED,
        kind=RunKind.CHANGE,
        spec=SPEC,
        finished_at=timezone.now() - timezone.timedelta(minutes=ago_minutes),
    )
    artifacts.artifact_store(run=run, kind="plan_json_redacted", content=json.dumps(PLANNED).encode())
    return run


def drift_run(world, *, cloudtrail=None, status=S.AWAITING_APPROVAL) -> Run:
    resources = [
        {
            "address": BUCKET,
            "type": "aws_s3_bucket",
            "name": "this",
            "actions": ["update"],
            "id": "acme-logs",
            "differences": [
                {"attribute": "tags.Owner", "before": "team", "after": "someone-else"},
                {"attribute": "policy", "before": MASK, "after": MASK},
            ],
            "masked": True,
            "changed_by": [MALLORY] if cloudtrail == "available" else [],
        }
    ]
    trail = (
        {"status": "available"}
        if cloudtrail == "available"
        else {"status": "unavailable", "reason": "CloudTrail LookupEvents failed: not implemented"}
    )
    drift = {
        "resources": resources,
        "since": "2026-11-20T09:00:00+00:00",
        "applied_run": None,
        "cloudtrail": trail,
    }
    summary = {"drifted": 1, "drift": drift}
    return RunFactory(
        config=world.dev,
        requested_by=None,
        status=status,
        kind=RunKind.DRIFT,
        agent="drift",
        spec=SPEC,
        plan_summary=summary,
        request_text="Drift check of static_bucket on dev",
    )


def snapshot():
    return Run.objects.count(), AuditEvent.objects.count()


# --- destroy: the confirmation page -------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_destroy_confirmation_page_by_role(client_as, own, role):
    run = applied_run(own)
    before = snapshot()
    response = signed_in(client_as, own, role).get(reverse("run_destroy", args=[run.pk]))
    assert snapshot() == before
    if role == "viewer":
        assert response.status_code == 403
        return
    assert response.status_code == 200
    body = response.content.decode()
    assert 'data-testid="destroy-form"' in body and "static_bucket" in body
    # what goes: every managed resource the last apply left, not the data sources
    assert response.context["resources"] == [BUCKET, f"{BUCKET}_versioning"]
    assert "module.stack.data.aws_caller_identity.me" not in body
    # and that it still needs approvals before anything is removed
    assert "1 approval" in body and "Nothing is removed now" in body


@pytest.mark.parametrize("role", ROLES)
def test_destroy_of_another_tenants_run_is_not_found(client_as, own, other, role):
    run = applied_run(own)
    before = snapshot()
    client = signed_in(client_as, other, role)
    assert client.get(reverse("run_destroy", args=[run.pk])).status_code == 404
    response = client.post(reverse("run_destroy", args=[run.pk]), {"confirm": "static_bucket"})
    assert response.status_code == 404
    assert snapshot() == before


# --- destroy: the POST ---------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_destroy_post_by_role(client_as, own, role, sent):
    run = applied_run(own)
    before = snapshot()
    client = signed_in(client_as, own, role)
    response = client.post(reverse("run_destroy", args=[run.pk]), {"confirm": "static_bucket"})
    if role == "viewer":
        assert response.status_code == 403
        assert snapshot() == before and sent == []
        return
    destroy = Run.objects.get(kind=RunKind.DESTROY)
    assert response.status_code == 302 and response["Location"] == reverse("run_detail", args=[destroy.pk])
    assert destroy.status == S.QUEUED and destroy.spec == run.spec and destroy.config_id == run.config_id
    assert destroy.requested_by == own.user(role)
    assert Run.objects.get(pk=run.pk).status == S.APPLIED  # nothing is removed until approved and applied
    page = client.get(response["Location"])
    assert 'data-kind="destroy"' in page.content.decode()


@pytest.mark.parametrize("typed", ["", "static-bucket", "yes"])
def test_destroy_needs_the_stack_name_typed(client_as, own, typed, sent):
    run = applied_run(own)
    before = snapshot()
    response = signed_in(client_as, own, "operator").post(
        reverse("run_destroy", args=[run.pk]), {"confirm": typed}
    )
    assert response.status_code == 400
    assert response.context["form"].errors["confirm"]
    assert 'data-testid="destroy-form"' in response.content.decode()
    assert snapshot() == before and sent == []


def test_destroy_is_offered_only_from_the_stacks_last_apply(client_as, own, sent):
    older = applied_run(own)
    newer = applied_run(own, ago_minutes=1)
    client = signed_in(client_as, own, "operator")
    assert 'data-testid="destroy-link"' in client.get(reverse("run_detail", args=[newer.pk])).content.decode()
    assert (
        'data-testid="destroy-link"'
        not in client.get(reverse("run_detail", args=[older.pk])).content.decode()
    )
    page = client.get(reverse("run_destroy", args=[older.pk]))
    assert page.status_code == 302 and page["Location"] == reverse("run_detail", args=[older.pk])
    before = snapshot()
    response = client.post(reverse("run_destroy", args=[older.pk]), {"confirm": "static_bucket"}, follow=True)
    assert f"Run #{newer.pk} applied this stack since" in response.content.decode()
    assert snapshot() == before and sent == []


def test_destroy_is_not_offered_for_unapplied_runs_or_to_viewers(client_as, own):
    waiting = planned_run(own)
    applied = applied_run(own)
    operator = signed_in(client_as, own, "operator")
    assert (
        'data-testid="destroy-link"'
        not in operator.get(reverse("run_detail", args=[waiting.pk])).content.decode()
    )
    viewer = signed_in(client_as, own, "viewer")
    assert (
        'data-testid="destroy-link"'
        not in viewer.get(reverse("run_detail", args=[applied.pk])).content.decode()
    )


# --- reconcile -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_reconcile_by_role(client_as, own, role, sent):
    drift = drift_run(own)
    before = snapshot()
    client = signed_in(client_as, own, role)
    page = client.get(reverse("run_detail", args=[drift.pk])).content.decode()
    assert ('data-testid="reconcile-button"' in page) == (role != "viewer")
    response = client.post(reverse("run_reconcile", args=[drift.pk]))
    if role == "viewer":
        assert response.status_code == 403
        assert snapshot() == before and sent == []
        assert Run.objects.get(pk=drift.pk).status == S.AWAITING_APPROVAL
        return
    reconcile = Run.objects.get(kind=RunKind.RECONCILE)
    assert response.status_code == 302 and response["Location"] == reverse("run_detail", args=[reconcile.pk])
    assert reconcile.status == S.QUEUED and reconcile.spec == drift.spec and reconcile.replaces_id == drift.pk
    assert Run.objects.get(pk=drift.pk).status == S.SUPERSEDED


@pytest.mark.parametrize("role", ROLES)
def test_reconcile_of_another_tenants_drift_is_not_found(client_as, own, other, role, sent):
    drift = drift_run(own)
    before = snapshot()
    response = signed_in(client_as, other, role).post(reverse("run_reconcile", args=[drift.pk]))
    assert response.status_code == 404
    assert snapshot() == before and sent == []
    assert Run.objects.get(pk=drift.pk).status == S.AWAITING_APPROVAL


@pytest.mark.parametrize("status", [S.NO_CHANGES, S.SUPERSEDED])
def test_reconcile_needs_an_open_drift_run(client_as, own, status, sent):
    drift = drift_run(own, status=status)
    change = applied_run(own)
    client = signed_in(client_as, own, "operator")
    assert (
        'data-testid="reconcile-button"'
        not in client.get(reverse("run_detail", args=[drift.pk])).content.decode()
    )
    before = snapshot()
    for run in (drift, change):
        response = client.post(reverse("run_reconcile", args=[run.pk]), follow=True)
        assert (
            response.status_code == 200 and "Only a drift run that found drift" in response.content.decode()
        )
    assert snapshot() == before and sent == []


def test_reconcile_is_a_post(client_as, own):
    drift = drift_run(own)
    response = signed_in(client_as, own, "admin").get(reverse("run_reconcile", args=[drift.pk]))
    assert response.status_code == 405
    assert Run.objects.count() == 1


# --- the drift report ------------------------------------------------------------------------------------


def test_drift_report_shows_differences_masked_and_why_no_attribution(client_as, own):
    drift = drift_run(own)
    body = signed_in(client_as, own, "viewer").get(reverse("run_detail", args=[drift.pk])).content.decode()
    assert 'data-testid="drift-report"' in body and 'data-testid="plan-diff"' not in body
    assert f'data-address="{BUCKET}"' in body
    assert "tags.Owner" in body and "team" in body and "someone-else" in body
    assert body.count('class="attr-masked"') == 1 and MASK in body  # the secret stays masked
    assert "Who changed it: not available (CloudTrail LookupEvents failed: not implemented)" in body
    assert 'data-kind="drift"' in body


def test_drift_report_names_who_changed_it_when_cloudtrail_answers(client_as, own):
    drift = drift_run(own, cloudtrail="available")
    body = signed_in(client_as, own, "viewer").get(reverse("run_detail", args=[drift.pk])).content.decode()
    assert "mallory" in body and "PutBucketTagging" in body and "not available" not in body


def test_drift_report_when_clean_and_while_checking(client_as, own):
    nothing = {"drifted": 0, "drift": {"resources": [], "cloudtrail": {"status": "not_needed"}}}
    clean = RunFactory(
        config=own.dev, status=S.NO_CHANGES, kind=RunKind.DRIFT, spec=SPEC, plan_summary=nothing
    )
    checking = RunFactory(config=own.dev, status=S.PLANNING, kind=RunKind.DRIFT, spec=SPEC)
    client = signed_in(client_as, own, "viewer")
    assert 'data-testid="drift-none"' in client.get(reverse("run_detail", args=[clean.pk])).content.decode()
    body = client.get(reverse("run_detail", args=[checking.pk])).content.decode()
    assert 'data-testid="drift-report"' in body and "Differences appear here" in body


# --- kind badges -----------------------------------------------------------------------------------------


def test_kind_badges_on_list_page_and_approval_queue(client_as, own):
    drift = drift_run(own)
    change = planned_run(own)
    destroy = planned_run(own, kind=RunKind.DESTROY)
    client = signed_in(client_as, own, "approver")
    listing = client.get(reverse("run_list")).content.decode()
    assert 'data-kind="drift"' in listing and 'data-kind="destroy"' in listing
    assert listing.count('data-testid="run-kind"') == 2  # a change needs no badge
    queue = client.get(reverse("approval_queue")).content.decode()
    assert f'data-testid="approval-row-{destroy.pk}"' in queue and 'data-kind="destroy"' in queue
    assert f'data-testid="approval-row-{change.pk}"' in queue
    assert 'data-kind="drift"' in client.get(reverse("run_detail", args=[drift.pk])).content.decode()
