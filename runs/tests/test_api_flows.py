"""The request flow through the API does what the pages do: same services, same audit, same rules."""

from __future__ import annotations

import csv
import io

import pytest
from rest_framework.test import APIClient

from runs.models import Approval, AuditEvent, Run
from runs.states import RunStatus
from runs.tests.factories import PLAN_BYTES, gate, planned_run, warning
from tenants.roles import Role
from tenants.tokens import token_create

pytestmark = pytest.mark.django_db


def api(world, role) -> APIClient:
    _, raw = token_create(user=world.user(role), tenant=world.tenant, name="flow", role=role)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def test_nl_intent_parses_classifies_and_creates_nothing(own):
    client = api(own, Role.OPERATOR)
    before = (Run.objects.count(), AuditEvent.objects.count())
    response = client.post(
        "/api/v1/nl/intent", {"text": "create 3 t3.medium behind an alb in ap-south-1"}, format="json"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["understood"] and body["domain"] == "infra" and body["action"] == "create"
    assert body["agent"] and body["config_id"] == own.dev.pk  # the default (non-prod) config
    assert set(body["safety"]) == {"allowed", "refusals", "regrets"}
    assert (Run.objects.count(), AuditEvent.objects.count()) == before


def test_generate_creates_a_run_and_queues_it(own, sent):
    response = api(own, Role.OPERATOR).post(
        "/api/v1/iac/generate",
        {"request_text": "create an s3 bucket named acme-api-logs", "config_id": own.dev.pk},
        format="json",
    )
    assert response.status_code == 201, response.content
    run = Run.objects.get(pk=response.json()["id"])
    assert run.requested_by == own.user(Role.OPERATOR) and run.config == own.dev
    assert AuditEvent.objects.filter(action="run.created", object_id=str(run.pk)).exists()
    assert response.json()["status"] in {RunStatus.QUEUED, RunStatus.NEEDS_CLARIFICATION}


def test_plan_replaces_a_waiting_run(own):
    run = planned_run(own)
    response = api(own, Role.OPERATOR).post("/api/v1/iac/plan", {"run_id": run.pk}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["replaces"] == run.pk
    run.refresh_from_db()
    assert run.status == RunStatus.SUPERSEDED


def test_plan_needs_exactly_one_of_run_or_request(own):
    client = api(own, Role.OPERATOR)
    for body in ({}, {"run_id": 1, "request_text": "x"}):
        response = client.post("/api/v1/iac/plan", body, format="json")
        assert response.status_code == 400 and response.json()["error"]["code"] == "validation_error"


def test_apply_requires_the_approvals(own, sent, django_capture_on_commit_callbacks):
    run = planned_run(own, gates=[gate("safety"), gate("opa", "warn", [warning("S3_VERSIONING")])])
    operator, approver = api(own, Role.OPERATOR), api(own, Role.APPROVER)

    refused = operator.post("/api/v1/iac/apply", {"run_id": run.pk}, format="json")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "illegal_transition"
    detail = approver.get(f"/api/v1/runs/{run.pk}/").json()
    keys = [w["key"] for w in detail["warnings"]]
    assert keys == ["opa:S3_VERSIONING:aws_s3_bucket.this"]

    unacknowledged = approver.post(f"/api/v1/approvals/{run.pk}/approve", {}, format="json")
    assert unacknowledged.status_code == 400
    assert "acknowledged_warnings" in unacknowledged.json()["error"]["details"]
    assert not Approval.objects.exists()

    approved = approver.post(
        f"/api/v1/approvals/{run.pk}/approve",
        {"acknowledged_warnings": keys, "comment": "fine", "plan_sha256": detail["plan_sha256"]},
        format="json",
    )
    assert approved.status_code == 200 and approved.json()["status"] == RunStatus.APPROVED
    assert approved.json()["approvals_given"] == 1

    with django_capture_on_commit_callbacks(execute=True):
        applied = operator.post("/api/v1/iac/apply", {"run_id": run.pk}, format="json")
    assert applied.status_code == 202, applied.content
    assert applied.json()["apply_requested_at"] is not None
    assert ("run_apply", {"run_id": run.pk, "tenant_id": run.tenant_id, "countdown": None}) in sent


def test_requester_cannot_approve_own_run(own):
    run = planned_run(own, requester=own.user(Role.APPROVER))
    response = api(own, Role.APPROVER).post(f"/api/v1/approvals/{run.pk}/approve", {}, format="json")
    assert response.status_code == 403
    assert not Approval.objects.exists()


def test_reject_needs_a_comment_and_ends_the_run(own):
    run = planned_run(own)
    client = api(own, Role.APPROVER)
    assert client.post(f"/api/v1/approvals/{run.pk}/reject", {}, format="json").status_code == 400
    response = client.post(f"/api/v1/approvals/{run.pk}/reject", {"comment": "wrong region"}, format="json")
    assert response.status_code == 200 and response.json()["status"] == RunStatus.REJECTED


def test_approval_queue_lists_what_waits_for_me(own, other):
    mine = planned_run(own)
    planned_run(other)
    assert [r["id"] for r in api(own, Role.APPROVER).get("/api/v1/approvals/").json()["results"]] == [mine.pk]
    assert api(own, Role.VIEWER).get("/api/v1/approvals/").json()["results"] == []


def test_artifact_download_streams_and_is_audited(own):
    run = planned_run(own)
    artifact = run.artifacts.get(kind="plan_file")
    response = api(own, Role.VIEWER).get(f"/api/v1/artifacts/{artifact.pk}/download")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PLAN_BYTES
    assert response["X-Content-SHA256"] == artifact.sha256
    event = AuditEvent.objects.get(action="artifact.downloaded")
    assert event.object_id == str(artifact.pk) and event.actor == own.user(Role.VIEWER)


def test_audit_list_export_and_filters_share_the_filterset(own, other):
    run = planned_run(own)
    planned_run(other)
    client = api(own, Role.VIEWER)
    client.post(f"/api/v1/runs/{run.pk}/cancel", {}, format="json")  # refused (viewer): no event

    listed = client.get("/api/v1/audit?action=token.*").json()["results"]
    assert [e["action"] for e in listed] == ["token.created"]
    assert client.get("/api/v1/audit?created_after=2026-13-01").status_code == 400
    assert client.get(f"/api/v1/audit?config={other.dev.pk}").status_code == 400  # not a choice here

    runs = client.get("/api/v1/audit/runs").json()["results"]
    assert [r["id"] for r in runs] == [run.pk]

    response = client.get("/api/v1/audit/export.csv?scope=runs")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert rows[0][0] == "request_id" and [row[0] for row in rows[1:]] == [str(run.pk)]
    exported = AuditEvent.objects.get(action="audit.exported")
    assert exported.tenant == own.tenant and exported.data["scope"] == "runs"
    assert client.get("/api/v1/audit/export.csv?scope=bogus").status_code == 400
